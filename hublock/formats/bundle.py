"""The bundle format: a lock's archives in one plain tar, to carry across an air gap.

Members, in this order (``tar tf`` lists them; nothing else is needed to unpack one)::

    index.json      what it holds: the digest of hub.lock, and each archive's sha256, size and
                    the locked models it is the archive of
    hub.lock        the lock the archives belong to
    hub.toml        the manifest, when the project had one
    sha256/<hex>    each archive, named by its digest (the layout of a content-addressed mirror)

A directory holding the same names (an unpacked bundle) reads the same way. Reading is random
access: the tar's headers are read once, each archive is then read in place, never extracted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from hublock.core import BundleError, Event, NotInSyncError, OnEvent, ignore
from hublock.formats.lockfile import Lockfile, parse_lockfile

FORMAT = "hublock-bundle"
VERSION = 1
INDEX = "index.json"
LOCK = "hub.lock"
MANIFEST = "hub.toml"
ARCHIVES = "sha256/"
_HEX = frozenset("0123456789abcdef")


def archive_member(sha256: str) -> str:
    """The name of an archive in a bundle (and under a content-addressed mirror's root)."""
    return ARCHIVES + sha256


def is_sha256(text: str) -> bool:
    return len(text) == 64 and set(text) <= _HEX


@dataclass(frozen=True)
class BundledArchive:
    """One archive in a bundle: its sha256 (hex), size, and the locked models it is the archive of."""

    sha256: str
    size: int
    models: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "models": list(self.models)}


@dataclass(frozen=True)
class BundleIndex:
    """``index.json``: the bundle's table of contents."""

    lock: str  # "sha256:<hex>" of hub.lock's bytes
    archives: tuple[BundledArchive, ...]

    def find(self, sha256: str) -> BundledArchive | None:
        return next((a for a in self.archives if a.sha256 == sha256), None)

    def to_json(self) -> bytes:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "lock": self.lock,
            "archives": [a.to_dict() for a in self.archives],
        }
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes, source: str) -> BundleIndex:
        """Parse ``index.json``; anything else than what ``to_json`` writes is a BundleError."""
        where = f"{source}: {INDEX}"
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BundleError(f"{where} is not JSON ({exc})", path=source) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise BundleError(f"{where}: not a hublock bundle index", path=source)
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise BundleError(f"{where}: missing or invalid 'version'", path=source)
        if version > VERSION:
            raise BundleError(
                f"{where}: format version {version}, written by a newer hublock; this one reads "
                f"version {VERSION}",
                path=source,
                hint="upgrade hublock (pip install -U hublock)",
            )
        lock, raw = doc.get("lock"), doc.get("archives")
        if not isinstance(lock, str) or not lock.startswith("sha256:") or not is_sha256(lock[7:]):
            raise BundleError(f"{where}: 'lock' must be 'sha256:<64 hex digits>'", path=source)
        if not isinstance(raw, list):
            raise BundleError(f"{where}: 'archives' must be a list", path=source)
        archives = []
        for i, entry in enumerate(raw):
            at = f"{where}: archives[{i}]"
            if not isinstance(entry, dict):
                raise BundleError(f"{at}: expected an object", path=source)
            sha, size, models = entry.get("sha256"), entry.get("size"), entry.get("models")
            if not isinstance(sha, str) or not is_sha256(sha):
                raise BundleError(f"{at}.sha256: expected 64 hex digits", path=source)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise BundleError(f"{at}.size: expected a size in bytes", path=source)
            if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
                raise BundleError(f"{at}.models: expected a list of model names", path=source)
            archives.append(BundledArchive(sha, size, tuple(models)))
        if len({a.sha256 for a in archives}) != len(archives):
            raise BundleError(f"{where}: an archive is listed twice", path=source)
        return cls(lock, tuple(archives))


DAMAGED_HINT = "make the bundle again on the connected side (`hublock bundle OUT`) and carry that one over"


def member_problem(name: str, *, regular: bool, index: BundleIndex | None) -> str | None:
    """What breaks the bundle's rules in one member (a tar member, or a file of an unpacked
    bundle), or None: the one set of rules that ``bundle --verify``, ``sync --from`` and
    ``lock --check --from`` apply. ``regular``: a plain file (not a link, a directory, a device);
    ``index``: the bundle's index, once read (an archive it does not list is extra)."""
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "\\" in name:
        return "an absolute or '..' name"
    if not regular:
        return "not a plain file (a link, a directory or a device)"
    if name in (INDEX, LOCK, MANIFEST):
        return None
    if not name.startswith(ARCHIVES):
        return "not part of a bundle"
    digest = name[len(ARCHIVES) :]
    if not is_sha256(digest):
        return f"not named {ARCHIVES}<64 hex digits>"
    if index is not None and index.find(digest) is None:
        return "an archive its index does not list"
    return None


def damaged(bundle: Path | str, problems: list[str]) -> BundleError:
    """The error of a bundle that breaks its rules: it names the bundle and each member."""
    return BundleError(
        f"{bundle}: damaged or tampered with: " + "; ".join(problems), path=str(bundle), hint=DAMAGED_HINT
    )


def lock_digest(text: bytes) -> str:
    return "sha256:" + hashlib.sha256(text).hexdigest()


class _Slice(io.RawIOBase):
    """``size`` bytes of an open file from its current position, then end of file."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f, self._left = f, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n: int = self._f.readinto(memoryview(buffer)[: min(len(buffer), self._left)])  # type: ignore[attr-defined]
        if not n and self._left:
            raise BundleError(
                f"{self._f.name}: ends in the middle of an archive (truncated?)", path=str(self._f.name)
            )
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


class BundleReader:
    """A bundle file, or an unpacked one (a directory), opened for reading archives by digest.
    What it says is not trusted: every archive read from it is checked against hub.lock by
    whoever unpacks it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._members: dict[str, tuple[int, int]] = {}  # sha256 -> (offset of the data, size)
        if self.path.is_dir():
            index = self._read_file(INDEX)
            self.lock_bytes = self._read_file(LOCK)
            manifest = self.path / MANIFEST
            self.manifest_bytes = manifest.read_bytes() if manifest.is_file() else None
        else:
            index, self.lock_bytes, self.manifest_bytes = self._scan()
        self.index = BundleIndex.parse(index, str(self.path))
        if lock_digest(self.lock_bytes) != self.index.lock:
            raise damaged(self.path, [f"{LOCK}: not the one its index was written with"])
        self.lock = parse_lockfile(self.lock_bytes.decode("utf-8", "replace"), source=f"{self.path}:{LOCK}")
        self._check_members()

    def _read_file(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except OSError as exc:
            raise BundleError(
                f"{self.path}: no {name} in it: not an unpacked bundle ({exc.strerror})", path=str(self.path)
            ) from None

    def _scan(self) -> tuple[bytes, bytes, bytes | None]:
        texts: dict[str, bytes] = {}
        problems: list[str] = []
        names: set[str] = set()
        try:
            with tarfile.open(self.path, "r:") as tar:
                for member in tar:
                    problem = member_problem(member.name, regular=member.isfile(), index=None)
                    if member.name in names:
                        problem = "a second member of this name"
                    names.add(member.name)
                    if problem is not None:
                        problems.append(f"{member.name}: {problem}")
                    elif member.name.startswith(ARCHIVES):
                        self._members[member.name[len(ARCHIVES) :]] = (member.offset_data, member.size)
                    else:
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        texts[member.name] = extracted.read()
        except FileNotFoundError:
            raise BundleError(f"{self.path}: no such file", path=str(self.path)) from None
        except (tarfile.TarError, EOFError) as exc:
            raise BundleError(
                f"{self.path}: not a readable bundle (a plain tar): {exc}", path=str(self.path)
            ) from None
        except OSError as exc:
            raise BundleError(f"{self.path}: cannot read: {exc}", path=str(self.path)) from None
        if problems:
            raise damaged(self.path, problems)
        if INDEX not in texts or LOCK not in texts:
            raise BundleError(
                f"{self.path}: no {INDEX if INDEX not in texts else LOCK} in it: not a hublock bundle",
                path=str(self.path),
            )
        return texts[INDEX], texts[LOCK], texts.get(MANIFEST)

    def _check_members(self) -> None:
        """The rules, for what only the index tells: every archive is one it lists. In an
        unpacked bundle, also every file of ``sha256/`` by name and kind."""
        problems = []
        if self.path.is_dir():
            folder = self.path / ARCHIVES
            entries = sorted(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []
            for entry in entries:
                name = ARCHIVES + entry.name
                regular = entry.is_file() and not entry.is_symlink()
                if (problem := member_problem(name, regular=regular, index=self.index)) is not None:
                    problems.append(f"{name}: {problem}")
            if folder.is_symlink():
                problems.append(f"{ARCHIVES}: a link")
        else:
            for digest in self._members:
                if (
                    problem := member_problem(archive_member(digest), regular=True, index=self.index)
                ) is not None:
                    problems.append(f"{archive_member(digest)}: {problem}")
        if problems:
            raise damaged(self.path, problems)

    def has(self, sha256: str) -> bool:
        if self.path.is_dir():
            return is_sha256(sha256) and (self.path / archive_member(sha256)).is_file()
        return sha256 in self._members

    def open(self, sha256: str) -> BinaryIO | None:
        """The archive's bytes, or None when this bundle does not hold it."""
        if not is_sha256(sha256):
            return None
        if self.path.is_dir():
            try:
                return open(self.path / archive_member(sha256), "rb")
            except FileNotFoundError:
                return None
        if sha256 not in self._members:
            return None
        offset, size = self._members[sha256]
        f = open(self.path, "rb")  # noqa: SIM115 - closed with the slice
        f.seek(offset)
        return io.BufferedReader(_Slice(f, size), 1 << 20)

    def __str__(self) -> str:
        return str(self.path)


def lock_differences(mine: Lockfile, theirs: Lockfile) -> list[str]:
    """How the models of two locks differ, in words (what a model *is*: handle, kagglehub pin,
    archive, tree; not the hints around it, such as ``url``)."""
    out = []
    for name in sorted({m.name for m in mine.models} | {m.name for m in theirs.models}):
        a, b = mine.get(name), theirs.get(name)
        if a is None:
            out.append(f"{name}: only in the bundle's hub.lock")
        elif b is None:
            out.append(f"{name}: not in the bundle's hub.lock")
        else:
            for field in ("handle", "kaggle", "format", "archive", "tree"):
                if getattr(a, field) != getattr(b, field):
                    out.append(f"{name}: {field} {getattr(b, field)} in the bundle, {getattr(a, field)} here")
    return out


def require_same_lock(bundle: BundleReader, lock: Lockfile, lockfile: Path) -> None:
    """Refuse a bundle made from another lock than this project's."""
    differences = lock_differences(lock, bundle.lock)
    if differences:
        raise NotInSyncError(
            f"{bundle.path} was made from another hub.lock than {lockfile}:\n  " + "\n  ".join(differences),
            path=str(bundle.path),
            hint="make the bundle from this project's hub.lock (`hublock bundle`), or take the "
            f"bundle's own: tar xf {bundle.path} {LOCK} {MANIFEST}",
        )


def check_held(
    readers: Sequence[BundleReader], archives: Iterable[BundledArchive], on_event: OnEvent = ignore
) -> list[BundledArchive]:
    """Read each of ``archives`` from the first of ``readers`` that holds it and check its size
    and sha256: one that differs makes the bundle damaged or tampered with (a BundleError naming
    it and the member), found before anything is unpacked. Returns the archives none holds."""
    missing = []
    for archive in archives:
        holder = next((r for r in readers if r.has(archive.sha256)), None)
        opened = holder.open(archive.sha256) if holder is not None else None
        if holder is None or opened is None:
            missing.append(archive)
            continue
        label = archive.models[0] if archive.models else archive_member(archive.sha256)
        on_event(Event(label, "start", f"checking in {holder.path}", total=archive.size))
        digest, size = hashlib.sha256(), 0
        with opened:
            while chunk := opened.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
                on_event(Event(label, "bytes", amount=len(chunk)))
        if digest.hexdigest() != archive.sha256 or size != archive.size:
            found = f"sha256:{digest.hexdigest()[:16]}..., {size} bytes"
            raise damaged(
                holder.path,
                [
                    f"{archive_member(archive.sha256)} ({', '.join(archive.models)}): other bytes than "
                    f"hub.lock's archive ({found}; hub.lock: {archive.size} bytes)"
                ],
            )
        on_event(Event(label, "done", f"matches hub.lock (in {holder.path})"))
    return missing


def iter_archives(path: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Every member of a bundle file, in order, with its bytes as a stream (``--verify``: one
    sequential read of the file, nothing extracted; the file is opened for random access only so
    that member data is read straight from it, in large reads)."""
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            # a link's "bytes" would be its target's: only a plain file is read
            yield member, tar.extractfile(member) if member.isfile() else None
