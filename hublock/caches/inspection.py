"""Is a cached model still what hub.lock says? Two ways to ask.

fast: compare each file's (size, mtime_ns, ctime_ns, inode) with the stamp that sync wrote after
      verifying the tree hash, as git's index does. Unchanged stats: no file is read. ctime cannot
      be set from user space, so a file rewritten and re-dated with ``os.utime`` is noticed; files
      whose stats moved are re-hashed and pass only if their content is what was verified.
full: re-hash every file (on several threads) and compare the tree hash with the lock; the
      stamp's per-file digests then name the files that differ.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hublock.core import FileEntry, TreeDigest, hash_directory, sha256_file, walk_files
from hublock.formats import LockedModel

STAMP_FORMAT = 1
SHOWN = 5  # how many differing files a message names

FileStat = tuple[int | str, ...]
"""What identifies a file version without reading it: (size, mtime_ns, ctime_ns, inode) on a
local disk; (size, md5/crc32c/etag) in a bucket."""


class State(enum.Enum):
    """What a cache holds for one locked model (the ``value`` is what JSON output shows)."""

    OK = "ok"  # present and matching the lock
    MISSING = "missing"  # no directory, or an empty one (tensorflow_hub would download it)
    MODIFIED = "modified"  # files changed or deleted since they were verified
    EXTRA_FILES = "extra_files"  # files added since they were verified
    STALE = "stale_stamp"  # verified against another lock entry (hub.lock changed since sync)
    UNSTAMPED = "unstamped"  # present, but not put there (or not stamped) by hublock sync


class Change(enum.StrEnum):
    DELETED = "deleted"
    CHANGED = "changed"
    ADDED = "added"


@dataclass(frozen=True)
class FileChange:
    """One file that differs from what was verified, and how."""

    path: str
    change: Change

    def __str__(self) -> str:
        return f"{self.path} ({self.change})"


@dataclass(frozen=True)
class Inspection:
    """A verdict, with the files that differ."""

    state: State
    files: tuple[FileChange, ...] = ()
    note: str = ""
    restamp: bool = False  # stats moved but content did not: the stamp is worth refreshing
    verified: str = ""
    """The tree the stamp says was verified there (set when it is not the locked one: STALE)."""
    hashed: tuple[FileEntry, ...] = field(default=(), compare=False, repr=False)
    """Each file's digest, when a full check hashed them and found the locked tree: what
    ``verify --signatures`` compares with a signature, without reading the model again."""

    @property
    def ok(self) -> bool:
        return self.state is State.OK

    @property
    def detail(self) -> str:
        shown = ", ".join(map(str, self.files[:SHOWN])) + (
            f" and {len(self.files) - SHOWN} more" if len(self.files) > SHOWN else ""
        )
        return "; ".join(part for part in (shown, self.note) if part)


@dataclass(frozen=True)
class Stamp:
    """What sync verified: the lock's digests, and each file's stat and sha256 at that moment."""

    handle: str
    archive: str
    tree: str
    files: dict[str, FileStat]
    sha256: dict[str, str]

    @classmethod
    def of(
        cls, model: LockedModel, tree: TreeDigest, files: dict[str, FileStat], handle: str | None = None
    ) -> Stamp:
        """``handle``: the model's address in the cache (default: its tensorflow_hub handle)."""
        return cls(
            handle or model.handle,
            model.archive or "",
            tree.tree,
            files,
            {f.path: f.sha256 for f in tree.files},
        )

    def to_json(self) -> str:
        files = [[path, *stat, self.sha256.get(path, "")] for path, stat in sorted(self.files.items())]
        data = {
            "hublock_stamp": STAMP_FORMAT,
            "handle": self.handle,
            "archive": self.archive,
            "tree": self.tree,
            "files": files,
        }
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Stamp:
        data = json.loads(text)
        if data.get("hublock_stamp") != STAMP_FORMAT:
            raise ValueError("unknown stamp format")
        files = {str(f[0]): tuple(f[1:-1]) for f in data["files"]}
        sha256 = {str(f[0]): str(f[-1]) for f in data["files"]}
        return cls(str(data["handle"]), str(data["archive"]), str(data["tree"]), files, sha256)


def file_stats(root: Path, *, follow: bool = False) -> dict[str, FileStat]:
    """Each file's (size, mtime, ctime, inode) below ``root``: of the file itself, or with
    ``follow`` of what its link points at (a huggingface_hub snapshot's blobs; a link that points
    nowhere is left out, so it counts as deleted). Paths are joined as strings: pathlib's joins
    cost more than the stat itself."""
    stats: dict[str, FileStat] = {}
    base = str(root)
    stat = os.stat if follow else os.lstat
    for path in walk_files(base):
        try:
            st = stat(f"{base}/{path}")
        except FileNotFoundError:
            if not follow:
                raise
            continue
        stats[path] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return stats


def absent(directory: Path) -> Inspection | None:
    """None when the directory is there and non-empty (what tensorflow_hub calls present),
    else why not."""
    try:
        if not any(directory.iterdir()):
            return Inspection(State.MISSING, note="empty directory")
    except FileNotFoundError:
        return Inspection(State.MISSING)
    except NotADirectoryError:
        return Inspection(State.MODIFIED, note=f"{directory} is a file, not a directory")
    return None


def differences(before: dict[str, object], now: dict[str, object]) -> tuple[State, tuple[FileChange, ...]]:
    """Compare two ``{path: version}`` maps: MODIFIED, EXTRA_FILES or OK, and the files."""
    gone = [FileChange(p, Change.DELETED) for p in sorted(before.keys() - now.keys())]
    changed = [
        FileChange(p, Change.CHANGED) for p in sorted(before.keys() & now.keys()) if before[p] != now[p]
    ]
    added = [FileChange(p, Change.ADDED) for p in sorted(now.keys() - before.keys())]
    return _verdict((*gone, *changed, *added)), (*gone, *changed, *added)


def _verdict(files: tuple[FileChange, ...]) -> State:
    if any(f.change is not Change.ADDED for f in files):
        return State.MODIFIED
    return State.EXTRA_FILES if files else State.OK


def check_stamp(
    stamp: Stamp | None,
    model: LockedModel,
    now: dict[str, FileStat],
    rehash: Callable[[str], str] | None = None,
) -> Inspection:
    """Compare what is there now with what sync verified. Files whose stats changed are re-hashed
    with ``rehash`` (when given) and pass if their content is what was verified: as git does
    for "racily clean" entries. A `docker COPY`, `cp -a` or a touch changes inode or ctime, not
    content; a rewrite (even one re-dated with os.utime) changes ctime and is caught by the hash."""
    if stamp is None:
        return Inspection(State.UNSTAMPED, note="no hublock stamp: not synced by hublock")
    if stamp.tree != model.tree or stamp.archive != (model.archive or ""):
        return Inspection(
            State.STALE, note=f"verified as {stamp.tree}, hub.lock wants {model.tree}", verified=stamp.tree
        )
    state, files = differences(dict(stamp.files), dict(now))
    if state is State.MODIFIED and rehash is not None:
        same = {
            f.path for f in files if f.change is Change.CHANGED and rehash(f.path) == stamp.sha256.get(f.path)
        }
        if same:
            files = tuple(f for f in files if f.path not in same)
            state = _verdict(files)
            note = f"{len(same)} file(s) with new stats re-hashed: content unchanged"
            return Inspection(state, files, note, restamp=True)
    return Inspection(state, files)


def check_hashes(stamp: Stamp | None, model: LockedModel, tree: TreeDigest) -> Inspection:
    """Compare freshly computed file digests with the lock (and the stamp, to name files)."""
    if tree.tree == model.tree:
        return Inspection(State.OK, hashed=tree.files)
    note = f"tree hash is {tree.tree}, hub.lock wants {model.tree}"
    if stamp is None or stamp.tree != model.tree:
        return Inspection(State.MODIFIED, note=note)
    state, files = differences(dict(stamp.sha256), {f.path: f.sha256 for f in tree.files})
    return Inspection(state if state is not State.OK else State.MODIFIED, files, note)


def check_fast(directory: Path, stamp: Stamp | None, model: LockedModel) -> Inspection:
    """Compare local file stats with the stamp: microseconds per file. The walk is the presence
    check (one directory read, not two): ``absent`` decides only when it finds nothing."""
    try:
        now: dict[str, FileStat] | None = file_stats(directory)
    except OSError:
        now = None
    if not now:
        missing = absent(directory)
        if missing is not None:
            return missing
        now = file_stats(directory) if now is None else now  # there after all: its error, if any
    return check_stamp(stamp, model, now, lambda path: sha256_file(directory / path)[0])


def check_full(directory: Path, stamp: Stamp | None, model: LockedModel, jobs: int = 2) -> Inspection:
    """Re-hash every file and compare the tree hash with the lock."""
    missing = absent(directory)
    if missing is not None:
        return missing
    return check_hashes(stamp, model, hash_directory(directory, jobs=jobs))
