"""The safe, streaming tar reader: model archive in, plain files in a private directory out.

Only regular files and directories are accepted, as tensorflow_hub does, and more strictly: a
member whose name is absolute, climbs with ``..``, is not UTF-8, repeats an earlier name, or
would exceed the byte or member budget stops the whole extraction. The caller owns ``dest`` and
removes it on any error, so nothing half-extracted is ever left where a loader could see it.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from typing import BinaryIO, Protocol

from hublock._digest import CHUNK, FileEntry, TreeDigest, tree_digest
from hublock._errors import IntegrityError, UnsafeArchiveError

DEFAULT_MAX_MEMBERS = 200_000


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Sink(Protocol):
    """Where extracted files go: a local directory, or a prefix in a bucket."""

    def mkdir(self, path: str) -> None: ...

    def open(self, path: str) -> BinaryIO:
        """A new file for writing; it must not exist yet."""
        ...


class LocalSink:
    def __init__(self, root: str) -> None:
        self.root = root

    def mkdir(self, path: str) -> None:
        os.makedirs(os.path.join(self.root, path), exist_ok=True)

    def open(self, path: str) -> BinaryIO:
        target = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        return open(target, "xb")


def member_path(name: str) -> str:
    """The normalised slash path of a tar member, or UnsafeArchiveError saying why not."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeArchiveError(f"member name is not UTF-8: {name!r}") from None
    if "\\" in name or "\x00" in name or "\n" in name or "\r" in name:
        raise UnsafeArchiveError(f"member name has a forbidden character: {name!r}")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"member has an absolute path: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"member path climbs out of the model directory: {name!r}")
    return "/".join(parts)


def extract_archive(
    fileobj: Readable,
    dest: str | Sink | None,
    *,
    max_bytes: int,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> TreeDigest:
    """Extract a (gzipped) tar stream into ``dest`` (an existing empty directory, or a Sink) and
    return the tree digest of its files. With ``dest=None`` nothing is written: files are only hashed.
    """
    sink = LocalSink(dest) if isinstance(dest, str) else dest
    files: list[FileEntry] = []
    kinds: dict[str, str] = {}  # path -> "f" or "d", to catch duplicates and file/dir clashes
    total = 0
    try:
        with tarfile.open(mode="r|*", fileobj=fileobj) as tar:  # type: ignore[call-overload]
            for count, member in enumerate(tar, start=1):
                if count > max_members:
                    raise UnsafeArchiveError(f"archive has more than {max_members} members")
                path = member_path(member.name)
                if member.isdir():
                    if path:
                        _claim(kinds, path, "d")
                        if sink is not None:
                            sink.mkdir(path)
                    continue
                if not member.isfile() or member.issparse():
                    raise UnsafeArchiveError(
                        f"member {member.name!r} is not a regular file or directory "
                        "(links, devices and FIFOs are refused)"
                    )
                if not path:
                    raise UnsafeArchiveError(f"member {member.name!r} has an empty name")
                _claim(kinds, path, "f")
                total += member.size
                if total > max_bytes:
                    raise UnsafeArchiveError(
                        f"archive expands past {max_bytes} bytes (a compression bomb, or a "
                        "different archive than the one locked)"
                    )
                files.append(_copy_member(tar, member, path, sink))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a local disk error, not a bad archive: the caller reports it as such
        raise IntegrityError(f"not a valid tar archive: {exc}") from exc
    if not files:
        raise IntegrityError("the archive holds no files")
    return tree_digest(files)


def _claim(kinds: dict[str, str], path: str, kind: str) -> None:
    previous = kinds.get(path)
    if previous is not None and (previous == "f" or kind == "f"):
        raise UnsafeArchiveError(f"archive lists {path!r} twice")
    parts = path.split("/")
    for i in range(1, len(parts)):
        if kinds.get("/".join(parts[:i])) == "f":
            raise UnsafeArchiveError(f"member {path!r} lies below a file of the same archive")
        kinds.setdefault("/".join(parts[:i]), "d")
    kinds[path] = kind


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, sink: Sink | None) -> FileEntry:
    src = tar.extractfile(member)
    assert src is not None  # isfile() members always have a data stream
    h = hashlib.sha256()
    size = 0
    out = sink.open(path) if sink is not None else None
    try:
        while chunk := src.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    if size != member.size:
        raise IntegrityError(f"member {path!r} is truncated ({size} of {member.size} bytes)")
    return FileEntry(path, size, h.hexdigest())
