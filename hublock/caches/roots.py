"""Cache roots, as Nix has gc roots: which project needs which models in a shared cache.

Every ``sync`` records, in the cache it fills, a root: the project (its hub.lock's path, on which
host) and the models it locked there (handle and content). Every ``lock`` and ``sync`` records the
same in the download cache. ``gc`` then removes only what no live project needs, and ``sync``
refuses to replace a model another live project verified (a conflict), unless told to.

A project is the absolute path of its hub.lock: the same path on another host is the same
project. A root is live while its hub.lock still exists and still lists the model with the same
content. A root written on another host cannot be checked from here, so it is kept as live (and
named when it keeps something). Pure apart from the reader of other projects' locks, which is passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from hublock.core import LockfileError, atomic_write, host_name
from hublock.formats import Lockfile, read_lockfile

ROOT_FORMAT = 1


@dataclass(frozen=True)
class RootModel:
    """One model a project needs: its handle, and the content it locked."""

    name: str
    handle: str
    archive: str
    tree: str
    url: str = ""
    """Where it was locked from (secrets stripped): what a rebuilt hub.lock records again."""
    kaggle: str = ""
    """Its pinned kagglehub handle, if it has one (kagglehub's cache keys it by that)."""


@dataclass(frozen=True)
class Root:
    """A project that uses a cache, and what it needs from it."""

    host: str
    lockfile: str
    models: tuple[RootModel, ...]

    @property
    def id(self) -> str:
        """The root's file name: one per project (host and hub.lock path), rewritten by each sync."""
        return root_id(self.host, self.lockfile)

    @property
    def label(self) -> str:
        """How messages name the project."""
        return self.lockfile if self.host == host_name() else f"{self.lockfile} on {self.host}"

    @classmethod
    def of(cls, lockfile: Path, lock: Lockfile) -> Root:
        models = tuple(
            RootModel(m.name, m.handle, m.archive or "", m.tree, m.url, m.kaggle or "") for m in lock.models
        )
        return cls(host_name(), str(lockfile.resolve()), models)

    def to_json(self) -> str:
        data = {
            "hublock_root": ROOT_FORMAT,
            "host": self.host,
            "lockfile": self.lockfile,
            "models": [
                [m.name, m.handle, m.archive, m.tree, m.url, *([m.kaggle] if m.kaggle else [])]
                for m in self.models
            ],
        }
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Root | None:
        """A root as written by ``to_json``; None for anything else (a root from a newer hublock
        or a damaged file is not trusted to keep or to lose anything)."""
        try:
            data = json.loads(text)
            if data.get("hublock_root") != ROOT_FORMAT:
                return None
            models = tuple(RootModel(*(str(v) for v in m)) for m in data["models"])
            return cls(str(data["host"]), str(data["lockfile"]), models)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def root_id(host: str, lockfile: str) -> str:
    return hashlib.sha256(f"{host}\0{lockfile}".encode()).hexdigest()[:24]


LockReader = Callable[[str], Lockfile | None]
"""Reads another project's hub.lock: None when it no longer exists; raises LockfileError when it
cannot be read (a merge conflict being resolved), and then the root keeps everything it names."""


@dataclass(frozen=True)
class LiveRoot:
    """A root, and which of its models its project still needs."""

    root: Root
    needed: tuple[RootModel, ...]


def live_roots(roots: Iterable[Root], read_lock: LockReader, *, mine: str = "") -> list[LiveRoot]:
    """Each other project's root with the models it still needs. ``mine``: the asking project's
    hub.lock path; a root with the same path is the same project, on whatever host (CI runners,
    TPU workers and containers share a cache under one path with ever new host names)."""
    here = host_name()
    found = []
    for root in roots:
        if root.lockfile == mine:
            continue
        if root.host != here:
            found.append(LiveRoot(root, root.models))  # cannot be checked from here: kept
            continue
        try:
            lock = read_lock(root.lockfile)
        except LockfileError:
            found.append(LiveRoot(root, root.models))
            continue
        if lock is None:
            found.append(LiveRoot(root, ()))
            continue
        still = {(m.handle, m.tree) for m in lock.models}
        found.append(LiveRoot(root, tuple(m for m in root.models if (m.handle, m.tree) in still)))
    return found


def read_lock_or_none(path: str) -> Lockfile | None:
    """The default LockReader."""
    return read_lockfile(path) if Path(path).exists() else None


def read_roots(folder: Path) -> list[Root]:
    """The roots in a local directory (a cache's ``.hublock-roots``, a download cache's ``roots``);
    a file that cannot be read or parsed is skipped, never trusted."""
    found = []
    with suppress(FileNotFoundError, NotADirectoryError):
        for path in sorted(folder.glob("*.json")):
            with suppress(OSError, UnicodeDecodeError):
                if (root := Root.from_json(path.read_text("utf-8"))) is not None:
                    found.append(root)
    return found


def write_root(folder: Path, root: Root) -> None:
    """Record a root; one that already says the same is left alone (a no-op sync writes nothing,
    and a read-only cache that already has it is not a problem)."""
    path, text = folder / f"{root.id}.json", root.to_json()
    with suppress(OSError, UnicodeDecodeError):
        if path.read_text("utf-8") == text:
            return
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
