"""Where models go: a tensorflow_hub cache directory, laid out exactly as tensorflow_hub lays it.

    <cache>/<sha1(handle)>/                 the archive's files, nothing else (what hub.load reads)
    <cache>/<sha1>.descriptor.txt           tensorflow_hub's informational descriptor
    <cache>/<sha1>.lock                     tensorflow_hub's download lock ("host.pid.uuid")
    <cache>/<sha1>.<uuid>.tmp/              a download in progress (ours use the lock's uuid)
    <cache>/<sha1>.hublock.json             hublock's stamp: what was verified, and file stats

tensorflow_hub treats any non-empty ``<sha1>/`` as complete, so a model only ever appears there
by one rename of a finished, verified directory. Correctness comes from that rename; the lock
file only keeps a concurrent ``hub.load`` or sync from doing the same work twice.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from hublock._digest import TreeDigest, hash_directory, walk_files
from hublock._errors import CacheError
from hublock._lockfile import LockedModel

STAMP_FORMAT = 1
LOCK_TIMEOUT_SEC = 10 * 60  # tensorflow_hub's own LOCK_FILE_TIMEOUT_SEC


def cache_key(handle: str) -> str:
    """tensorflow_hub's cache key: sha1 of the handle exactly as written."""
    return hashlib.sha1(handle.encode("utf8")).hexdigest()


def tfhub_default_cache() -> str:
    return os.path.join(tempfile.gettempdir(), "tfhub_modules")


@dataclass(frozen=True)
class CacheChoice:
    """The cache a command uses, and why (printed so nobody has to guess)."""

    location: str
    reason: str


def choose_cache(option: str | None, manifest_cache: str | None) -> CacheChoice:
    """``--cache``, then ``TFHUB_CACHE_DIR``, then ``[cache] dir``, then tensorflow_hub's default."""
    if option:
        return CacheChoice(_expand(option), "--cache")
    env = os.environ.get("TFHUB_CACHE_DIR", "")
    if env:
        return CacheChoice(_expand(env), "TFHUB_CACHE_DIR")
    if manifest_cache:
        return CacheChoice(manifest_cache, "[cache] dir in hub.toml")
    return CacheChoice(tfhub_default_cache(), "tensorflow_hub's default")


def _expand(location: str) -> str:
    if "://" in location:
        return location[len("file://") :] if location.startswith("file://") else location
    return os.path.abspath(os.path.expanduser(location))


class State(enum.Enum):
    """What a cache holds for one locked model."""

    OK = "ok"  # present, stamp matches the lock and the files on disk
    UNSTAMPED = "unstamped"  # present, no (valid) stamp: sync re-hashes it
    MODIFIED = "modified"  # present, files differ from the stamp
    STALE = "stale"  # present, verified against another lock entry
    MISSING = "missing"


@dataclass(frozen=True)
class Inspection:
    state: State
    detail: str = ""


@dataclass(frozen=True)
class Stamp:
    """What sync verified: the lock digests and each file's (size, mtime_ns, ctime_ns, inode)."""

    handle: str
    archive: str
    tree: str
    files: dict[str, tuple[int, int, int, int]]

    def to_json(self) -> str:
        files = [[path, *stat] for path, stat in sorted(self.files.items())]
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
        files = {str(f[0]): (int(f[1]), int(f[2]), int(f[3]), int(f[4])) for f in data["files"]}
        return cls(str(data["handle"]), str(data["archive"]), str(data["tree"]), files)


def file_stats(root: Path) -> dict[str, tuple[int, int, int, int]]:
    stats = {}
    for path in walk_files(root):
        st = os.lstat(root / path)
        stats[path] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return stats


def stamp_differences(stamp: Stamp, root: Path) -> list[str]:
    """Files that are new, gone or changed since the stamp was written (as git's index sees it)."""
    now = file_stats(root)
    changed = [f"{p} (changed)" for p in sorted(now.keys() & stamp.files.keys()) if now[p] != stamp.files[p]]
    added = [f"{p} (added)" for p in sorted(now.keys() - stamp.files.keys())]
    gone = [f"{p} (deleted)" for p in sorted(stamp.files.keys() - now.keys())]
    return gone + changed + added


class LocalCache:
    """A tensorflow_hub cache directory on the local file system."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def model_dir(self, handle: str) -> Path:
        return self.root / cache_key(handle)

    def _stamp_path(self, key: str) -> Path:
        return self.root / f"{key}.hublock.json"

    def read_stamp(self, handle: str) -> Stamp | None:
        try:
            return Stamp.from_json(self._stamp_path(cache_key(handle)).read_text("utf-8"))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def inspect(self, model: LockedModel) -> Inspection:
        """Fast check of one model against its lock entry: stats only, no hashing."""
        directory = self.model_dir(model.handle)
        try:
            if not any(directory.iterdir()):
                return Inspection(State.MISSING, "empty directory")
        except FileNotFoundError:
            return Inspection(State.MISSING)
        except NotADirectoryError:
            return Inspection(State.MODIFIED, f"{directory} is a file")
        stamp = self.read_stamp(model.handle)
        if stamp is None or stamp.handle != model.handle:
            return Inspection(State.UNSTAMPED, "no hublock stamp")
        if stamp.tree != model.tree or stamp.archive != model.archive:
            return Inspection(State.STALE, f"holds {stamp.tree}, hub.lock wants {model.tree}")
        diffs = stamp_differences(stamp, directory)
        if diffs:
            return Inspection(State.MODIFIED, ", ".join(diffs[:5]) + (" ..." if len(diffs) > 5 else ""))
        return Inspection(State.OK)

    def rehash(self, model: LockedModel) -> TreeDigest:
        return hash_directory(self.model_dir(model.handle))

    def ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the cache directory {self.root}: {exc}") from exc

    def staging_dir(self, handle: str, uid: str) -> Path:
        """tensorflow_hub's temp-dir name, so its stale-lock check sees our progress."""
        return self.root / f"{cache_key(handle)}.{uid}.tmp"

    def write_stamp(self, model: LockedModel) -> None:
        directory = self.model_dir(model.handle)
        stamp = Stamp(model.handle, model.archive, model.tree, file_stats(directory))
        _atomic_write(self._stamp_path(cache_key(model.handle)), stamp.to_json())

    def publish(self, model: LockedModel, staging: Path) -> None:
        """Make ``staging`` the model's directory with one rename; replace what was there."""
        key = cache_key(model.handle)
        final = self.root / key
        descriptor = (
            f"Module: {model.handle}\nDownload Time: {datetime.datetime.today()}\n"
            f"Downloader Hostname: {socket.gethostname()} (PID:{os.getpid()})"
        )
        _atomic_write(self.root / f"{key}.descriptor.txt", descriptor)
        self._stamp_path(key).unlink(missing_ok=True)
        aside = None
        if final.exists() or final.is_symlink():
            # Moved aside under a temp-dir name, so that a crash leaves only what gc cleans.
            aside = self.root / f"{key}.{uuid.uuid4().hex}.tmp"
            os.rename(final, aside)
        os.rename(staging, final)
        self.write_stamp(model)
        if aside is not None:
            remove_tree(aside)

    @contextmanager
    def model_lock(self, handle: str, timeout: float = LOCK_TIMEOUT_SEC) -> Iterator[str]:
        """Hold tensorflow_hub's ``<sha1>.lock`` for a handle; yields the lock's uuid."""
        key = cache_key(handle)
        lock_file = self.root / f"{key}.lock"
        uid = uuid.uuid4().hex
        contents = f"{socket.gethostname()}.{os.getpid()}.{uid}"
        _acquire(lock_file, contents, self.root / key, timeout)
        try:
            yield uid
        finally:
            with suppress(OSError):
                if lock_file.read_text() == contents:
                    lock_file.unlink()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _owner_is_dead(contents: str) -> bool:
    """True when the lock was written on this host by a process that no longer exists."""
    host, _, rest = contents.rpartition(".")[0].rpartition(".")
    if host != socket.gethostname() or not rest.isdigit():
        return False
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _acquire(lock_file: Path, contents: str, module_dir: Path, timeout: float) -> None:
    """Create the lock file atomically (link of a finished temp file), or wait for its owner.

    Like tensorflow_hub, a lock whose owner made no progress for ``timeout`` seconds is taken
    over; unlike it, a lock left by a dead process on this host is taken over at once.
    """
    progress: tuple[str, int] | None = None
    progress_time = time.monotonic()
    while True:
        tmp = lock_file.with_name(f"{lock_file.name}.{uuid.uuid4().hex}.part")
        try:
            tmp.write_text(contents)
            os.link(tmp, lock_file)
            return
        except FileExistsError:
            pass
        except OSError as exc:
            raise CacheError(f"cannot create the lock file {lock_file}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        try:
            holder = lock_file.read_text()
        except FileNotFoundError:
            continue
        except OSError:
            holder = ""
        if _owner_is_dead(holder):
            _remove_if_unchanged(lock_file, holder)
            continue
        uid = holder.rpartition(".")[2]
        now = (holder, _dir_size(module_dir.with_name(f"{module_dir.name}.{uid}.tmp")))
        if now != progress:
            progress, progress_time = now, time.monotonic()
        elif time.monotonic() - progress_time > timeout:
            _remove_if_unchanged(lock_file, holder)
            continue
        time.sleep(0.2)


def _remove_if_unchanged(lock_file: Path, holder: str) -> None:
    with suppress(OSError):
        if lock_file.read_text() == holder:
            lock_file.unlink()
