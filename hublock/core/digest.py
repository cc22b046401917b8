"""Digests: streaming sha256 and the ``h1`` tree hash (Go's ``dirhash.Hash1``).

The tree hash of a set of regular files is::

    h1:<base64( sha256( "".join(f"{sha256hex(file)}  {path}\\n" for path in sorted(paths)) ) )>

with ``path`` the file's slash-separated path relative to the model root. Directories (empty or
not) and file modes do not count, so anyone can recompute it over ``<cache>/<sha1>/``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

Digest = NewType("Digest", str)
"""``sha256:<hex>`` for an archive, ``h1:<base64>`` for a tree."""

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One regular file of a model tree: slash path, size in bytes, sha256 hex of its content."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TreeDigest:
    """The tree hash of a set of files, with what it was computed from."""

    tree: Digest
    files: tuple[FileEntry, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def sha256_digest(hexdigest: str) -> Digest:
    return Digest(f"sha256:{hexdigest}")


def tree_hash(entries: Iterable[tuple[str, str]]) -> Digest:
    """The h1 tree hash of ``(path, sha256hex)`` pairs, in any order."""
    summary = hashlib.sha256()
    seen: set[str] = set()
    for path, hexdigest in sorted(entries):
        if "\n" in path:
            raise ValueError(f"file name contains a newline: {path!r}")
        if path in seen:
            raise ValueError(f"file listed twice: {path!r}")
        seen.add(path)
        summary.update(f"{hexdigest}  {path}\n".encode())
    return Digest("h1:" + base64.b64encode(summary.digest()).decode("ascii"))


def tree_digest(files: Iterable[FileEntry]) -> TreeDigest:
    ordered = tuple(sorted(files, key=lambda f: f.path))
    return TreeDigest(tree_hash((f.path, f.sha256) for f in ordered), ordered)


def sha256_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """sha256 hex and size of a file, read in chunks (memory flat in file size)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def walk_files(root: str | os.PathLike[str]) -> list[str]:
    """Slash paths of every regular file below ``root`` (symlinks are reported, not followed)."""
    out: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for entry in it:
                path = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append(path)
                else:
                    out.append(path)
    return out


def hash_directory(root: str | os.PathLike[str], jobs: int = 1) -> TreeDigest:
    """Tree digest of the files under ``root`` as they are on disk now (a full re-hash).

    With ``jobs > 1`` files are hashed on that many threads (hashlib releases the GIL), largest
    first, so a model with several weight shards uses several cores.
    """
    base = Path(root)
    paths = walk_files(base)

    def entry(path: str) -> FileEntry:
        hexdigest, size = sha256_file(base / path)
        return FileEntry(path, size, hexdigest)

    if jobs <= 1 or len(paths) <= 1:
        return tree_digest(map(entry, paths))
    paths.sort(key=lambda p: os.lstat(base / p).st_size, reverse=True)
    from concurrent.futures import ThreadPoolExecutor  # here: it imports logging, ~10 ms a start-up

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return tree_digest(pool.map(entry, paths))
