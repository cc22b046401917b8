"""Every name a loader's cache uses beside a model, in one place, and its parser (for gc).

tensorflow_hub's cache (``TFHUB``), as tensorflow_hub itself lays it out::

    <cache>/<sha1(handle)>/                 the archive's files, nothing else (what hub.load reads)
    <cache>/<sha1>.descriptor.txt           tensorflow_hub's informational descriptor
    <cache>/<sha1>.lock                     tensorflow_hub's download lock ("host.pid.uuid")
    <cache>/<sha1>.<uuid>.tmp/              a download in progress (ours use the lock's uuid)
    <cache>/<sha1>.hublock.json             hublock's stamp: what was verified, and file stats
    <cache>/.<name>.<pid>-<uuid>@<host>.part   a file being written (see ``_files.temp_path``)
    <cache>/.hublock-roots/<id>.json        which project needs which models (``roots.py``)
    <cache>/.hublock-roots/gc.lock          held shared by sync, exclusively by gc (local caches)

A cache (local directory or bucket) asks its ``Layout`` for every name and never spells one
itself; ``parse`` reads a name back, so gc knows what it looks at. Another loader's cache
(kagglehub's ``models/<owner>/<model>/<framework>/<variation>/<version>/`` with ``.complete``
markers) is another ``Layout``.

The lock protocol lives here too: its file content is what gc reads to tell a live lock from one
left by a dead process.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Protocol

from hublock.core import Loader, host_name, temp_owner
from hublock.formats import handle_kind

LOCK_TIMEOUT_SEC = 10 * 60  # tensorflow_hub's own LOCK_FILE_TIMEOUT_SEC


class Kind(enum.Enum):
    """What a name in a cache is."""

    MODEL = "model"
    STAGING = "staging"
    LOCK = "lock"
    DESCRIPTOR = "descriptor"
    STAMP = "stamp"
    TEMP = "temp"
    ROOTS = "roots"
    MARKER = "marker"  # kagglehub's completion markers (the whole model's, or its files')


@dataclass(frozen=True)
class CacheName:
    """A name in a cache, read back: its kind, the model key it belongs to, and for staging the
    uuid of the lock that owns it (for a temp file, its writer ``host.pid.uuid``)."""

    kind: Kind
    key: str = ""
    owner: str = ""


@dataclass(frozen=True)
class Entry:
    """One name at the top of a cache: its total size, age and, for a lock file, its content."""

    name: str
    size: int
    mtime: float
    content: str = ""


class Addressed(Protocol):
    """A model as locked or recorded in a root: its tensorflow_hub handle and pinned kagglehub
    handle (None or empty when it has none)."""

    @property
    def handle(self) -> str: ...

    @property
    def kaggle(self) -> str | None: ...


class Layout(Protocol):
    """The names a loader's cache uses for one model, relative to the cache root. The ``handle``
    each method takes is the model's address in this cache (``address``)."""

    name: Loader
    """The loader: ``tfhub`` or ``kagglehub``."""

    def address(self, model: Addressed) -> str | None:
        """The handle this loader knows the model by, or None when it does not go in this cache."""
        ...

    def key(self, handle: str) -> str:
        """The model's key: the one part of every name below that depends on the handle."""
        ...

    def model(self, handle: str) -> str:
        """The directory the loader reads."""
        ...

    def lock(self, handle: str) -> str: ...

    def staging(self, handle: str, uid: str) -> str:
        """A download in progress, owned by the lock with this uuid."""
        ...

    def stamp(self, handle: str) -> str:
        """hublock's record of what it verified."""
        ...

    def descriptor(self, handle: str) -> str | None:
        """The loader's informational descriptor, if it keeps one."""
        ...

    def roots(self) -> str:
        """The directory of the cache's roots: which project needs which models."""
        ...

    def parse(self, name: str) -> CacheName | None:
        """What a name at the top of the cache is; None for a name this layout never makes."""
        ...

    def kind(self, name: str) -> Kind | None:
        """What kind of name it is (``parse`` without the details)."""
        ...


def cache_key(handle: str) -> str:
    """tensorflow_hub's cache key: sha1 of the handle exactly as written."""
    return hashlib.sha1(handle.encode("utf8")).hexdigest()


class _Names:
    """What every layout shares: the roots directory, temp files, and ``kind`` from ``parse``."""

    def roots(self) -> str:
        return ".hublock-roots"

    def kind(self, name: str) -> Kind | None:
        parsed = self.parse(name)
        return parsed.kind if parsed is not None else None

    def parse(self, name: str) -> CacheName | None:
        if name == self.roots():
            return CacheName(Kind.ROOTS)
        if (owner := temp_owner(name.rpartition("/")[2])) is not None:
            return CacheName(Kind.TEMP, owner=owner)
        return self._parse_model_name(name)

    def _parse_model_name(self, name: str) -> CacheName | None:
        raise NotImplementedError


class TfhubLayout(_Names):
    """tensorflow_hub's cache: everything keyed by ``sha1(handle)``, flat at the root."""

    name: Loader = "tfhub"

    _NAME = re.compile(
        r"^(?P<key>[0-9a-f]{40})(?:(?P<lock>\.lock)|(?P<descriptor>\.descriptor\.txt)"
        r"|(?P<stamp>\.hublock\.json)|\.(?P<uid>[0-9a-f]{32})\.tmp)?$"
    )

    def address(self, model: Addressed) -> str | None:
        return model.handle if handle_kind(model.handle) not in ("kaggle", "hf") else None

    def key(self, handle: str) -> str:
        return cache_key(handle)

    def model(self, handle: str) -> str:
        return cache_key(handle)

    def lock(self, handle: str) -> str:
        return f"{cache_key(handle)}.lock"

    def staging(self, handle: str, uid: str) -> str:
        """tensorflow_hub's temp-dir name, so its stale-lock check sees our progress."""
        return f"{cache_key(handle)}.{uid}.tmp"

    def stamp(self, handle: str) -> str:
        return f"{cache_key(handle)}.hublock.json"

    def descriptor(self, handle: str) -> str | None:
        return f"{cache_key(handle)}.descriptor.txt"

    def _parse_model_name(self, name: str) -> CacheName | None:
        m = self._NAME.match(name)
        if m is None:
            return None
        key = m["key"]
        if m["lock"]:
            return CacheName(Kind.LOCK, key)
        if m["descriptor"]:
            return CacheName(Kind.DESCRIPTOR, key)
        if m["stamp"]:
            return CacheName(Kind.STAMP, key)
        if m["uid"]:
            return CacheName(Kind.STAGING, key, m["uid"])
        return CacheName(Kind.MODEL, key)


TFHUB = TfhubLayout()


class KagglehubLayout(_Names):
    """kagglehub's cache: ``models/<owner>/<model>/<framework>/<variation>/<version>/`` (the
    framework as the caller spells it), whole-model marker ``<version>.complete`` beside it, one
    marker per file under ``.complete/<version>/<path>.complete``. kagglehub has no lock and no
    temp names of its own (it downloads in place): hublock's lock, stamp and staging sit beside
    the version under names kagglehub never asks for. The key is the version's directory."""

    name: Loader = "kagglehub"
    _NAME = re.compile(
        r"^(?P<dir>models/[^/]+/[^/]+/[^/]+/[^/]+)/(?:"
        r"(?P<version>\d+)(?:(?P<marker>\.complete)|(?P<lock>\.hublock-lock)|(?P<stamp>\.hublock\.json))?"
        r"|\.complete/(?P<markers>\d+)"
        r"|\.(?P<staged>\d+)\.(?P<uid>[0-9a-f]{32})\.tmp)$"
    )

    def address(self, model: Addressed) -> str | None:
        return model.kaggle or None

    def _parent(self, handle: str) -> tuple[str, str]:
        base, _, version = handle.rpartition("/")
        return f"models/{base}", version

    def key(self, handle: str) -> str:
        return self.model(handle)

    def model(self, handle: str) -> str:
        parent, version = self._parent(handle)
        return f"{parent}/{version}"

    def marker(self, handle: str) -> str:
        """The whole model's completion marker: kagglehub's "it is all there"."""
        return f"{self.model(handle)}.complete"

    def file_markers(self, handle: str) -> str:
        """The directory of per-file markers (``model_download(handle, path)`` checks them)."""
        parent, version = self._parent(handle)
        return f"{parent}/.complete/{version}"

    def lock(self, handle: str) -> str:
        return f"{self.model(handle)}.hublock-lock"

    def staging(self, handle: str, uid: str) -> str:
        parent, version = self._parent(handle)
        return f"{parent}/.{version}.{uid}.tmp"

    def stamp(self, handle: str) -> str:
        return f"{self.model(handle)}.hublock.json"

    def descriptor(self, handle: str) -> str | None:
        return None  # kagglehub keeps none

    def _parse_model_name(self, name: str) -> CacheName | None:
        m = self._NAME.match(name)
        if m is None:
            return None
        if m["markers"]:
            return CacheName(Kind.MARKER, f"{m['dir']}/{m['markers']}")
        if m["staged"]:
            return CacheName(Kind.STAGING, f"{m['dir']}/{m['staged']}", m["uid"])
        key = f"{m['dir']}/{m['version']}"
        if m["marker"]:
            return CacheName(Kind.MARKER, key)
        if m["lock"]:
            return CacheName(Kind.LOCK, key)
        if m["stamp"]:
            return CacheName(Kind.STAMP, key)
        return CacheName(Kind.MODEL, key)


KAGGLEHUB = KagglehubLayout()


class HuggingfaceLayout(_Names):
    """huggingface_hub's cache (``HF_HUB_CACHE``): ``models--<org>--<name>/`` holding ``blobs/``,
    ``snapshots/<commit>/`` and ``refs/<revision>``. huggingface_hub's own locks live in
    ``.locks/``, the one folder ``scan_cache_dir`` skips; hublock's lock, stamp, staging and roots
    sit in ``.locks/hublock/``, so the cache scans clean.

    The address is ``org/name@<commit>`` for a locked model (``org/name`` for a root's record,
    which keeps no commit): snapshots of several commits of one repo live side by side (two
    projects that locked the repo at different times), each with its own stamp; the key, and so
    the lock and gc's judgement, is the repo."""

    name: Loader = "huggingface"
    _HOME = ".locks/hublock"
    _NAME = re.compile(
        r"^(?:(?P<model>models--[^/]+)|\.locks/hublock/(?P<key>models--[^/@]+?)"
        r"(?:(?P<lock>\.lock)|(?P<stamp>(?:@[0-9a-f]{40})?\.json)|\.(?P<uid>[0-9a-f]{32})\.tmp))$"
    )

    def address(self, model: Addressed) -> str | None:
        if handle_kind(model.handle) != "hf":
            return None
        commit = getattr(model, "commit", None)
        repo = model.handle.removeprefix("hf://")
        return f"{repo}@{commit}" if commit else repo

    def key(self, handle: str) -> str:
        return "models--" + handle.partition("@")[0].replace("/", "--")

    def model(self, handle: str) -> str:
        return self.key(handle)

    def lock(self, handle: str) -> str:
        return f"{self._HOME}/{self.key(handle)}.lock"

    def staging(self, handle: str, uid: str) -> str:
        return f"{self._HOME}/{self.key(handle)}.{uid}.tmp"

    def stamp(self, handle: str) -> str:
        commit = handle.partition("@")[2]
        return f"{self._HOME}/{self.key(handle)}{'@' + commit if commit else ''}.json"

    def descriptor(self, handle: str) -> str | None:
        return None

    def roots(self) -> str:
        return f"{self._HOME}/roots"

    def _parse_model_name(self, name: str) -> CacheName | None:
        m = self._NAME.match(name)
        if m is None:
            return None
        if m["model"]:
            return CacheName(Kind.MODEL, m["model"])
        if m["lock"]:
            return CacheName(Kind.LOCK, m["key"])
        if m["stamp"]:
            return CacheName(Kind.STAMP, m["key"])
        return CacheName(Kind.STAGING, m["key"], m["uid"])


HUGGINGFACE = HuggingfaceLayout()


def descriptor_text(handle: str) -> str:
    """tensorflow_hub's ``<sha1>.descriptor.txt`` (informational: nothing reads it)."""
    return (
        f"Module: {handle}\nDownload Time: {datetime.datetime.today()}\n"
        f"Downloader Hostname: {host_name()} (PID:{os.getpid()})"
    )


def lock_contents(uid: str) -> str:
    """tensorflow_hub's lock file content: ``host.pid.uuid``."""
    return f"{host_name()}.{os.getpid()}.{uid}"


def lock_uid(contents: str) -> str:
    """The uuid of a lock's content: the owner's staging directory carries it."""
    return contents.rpartition(".")[2]


def owner_is_dead(contents: str) -> bool:
    """True when the lock was written on this host by a process that no longer exists."""
    host, _, rest = contents.rpartition(".")[0].rpartition(".")
    if host != host_name() or not rest.isdigit():
        return False
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
