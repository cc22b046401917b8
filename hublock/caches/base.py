"""Which cache a command uses, and what every cache can do.

A cache is a local directory (``LocalCache``) or any fsspec URL (``BucketCache``), laid out by a
``Layout``. ``sync`` talks to the ``Cache`` protocol only: it extracts into whatever ``staging``
gives it and calls ``publish``; how a cache makes a verified tree appear at once (one rename on
disk, a copy with the readers' first file last in a bucket) is the cache's business.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hublock.caches.inspection import Inspection
from hublock.caches.kagglehub import KagglehubCache
from hublock.caches.layout import Entry, Layout
from hublock.caches.roots import Root
from hublock.caches.tfhub_dir import LocalCache
from hublock.core import CacheError, Loader, TreeDigest, config
from hublock.formats import LockedModel

if TYPE_CHECKING:  # formats.archive (tarfile) is imported only where a model is unpacked
    from hublock.formats import Sink


class Staging(Protocol):
    """Where one model is extracted before it is published."""

    @property
    def destination(self) -> Path | Sink:
        """A local directory, or a sink that writes elsewhere (a bucket prefix)."""
        ...

    def publish(self, model: LockedModel, tree: TreeDigest) -> None:
        """Make the verified tree the model's directory, so no reader sees it half-done."""
        ...


class Cache(Protocol):
    """A tensorflow_hub cache: a local directory (LocalCache) or any fsspec URL (BucketCache)."""

    location: str
    layout: Layout
    """The loader's names for every path beside a model (gc reads them back with it)."""

    def model_path(self, handle: str) -> str:
        """Where the loader looks for the handle (its address here): ``<cache>/<sha1(handle)>``."""
        ...

    def address(self, model: LockedModel) -> str:
        """The handle this cache's loader knows the model by (``layout.address``)."""
        ...

    def path_of(self, model: LockedModel) -> str:
        """``model_path`` of the model's address."""
        ...

    def inspect(self, model: LockedModel, *, full: bool = False, jobs: int = 2) -> Inspection: ...

    def adopt(self, model: LockedModel) -> bool:
        """Re-hash an unstamped copy; stamp it and return True if it matches the lock."""
        ...

    def ensure_root(self) -> None: ...

    def model_lock(self, handle: str) -> AbstractContextManager[str]:
        """Hold the loader's lock for a handle; yields the lock's uuid."""
        ...

    def staging(self, handle: str, uid: str, *, local: bool = True) -> AbstractContextManager[Staging]:
        """A new, empty staging area for the model, removed on exit whatever happened. ``local``
        False lets a bucket receive the files directly (no local copy of the tree)."""
        ...

    def entries(self) -> list[Entry]:
        """Every name at the top of the cache, with its size, age and (for locks) content."""
        ...

    def roots(self) -> list[Root]:
        """Every project's record of what it needs from this cache (unreadable ones skipped)."""
        ...

    def write_root(self, root: Root) -> None:
        """Record (replace) one project's root."""
        ...

    def remove_root(self, root_id: str) -> None: ...

    def guard(self, *, exclusive: bool) -> AbstractContextManager[None]:
        """Held shared by every sync from the moment it records its root until it is done, and
        exclusively by gc: a gc never decides from roots a running sync has not written yet."""
        ...

    def remove(self, name: str) -> None:
        """Delete a top-level name (a model, staging, a lock or a sidecar file)."""
        ...


@dataclass(frozen=True)
class CacheChoice:
    """The cache a command uses, and why (printed so nobody has to guess)."""

    location: str
    reason: str
    loader: Loader = "tfhub"
    """Whose cache it is: ``tfhub`` (tensorflow_hub) or ``kagglehub``."""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.location, "source": self.reason}


@dataclass(frozen=True)
class LoaderCache:
    """How one loader's cache is named, everywhere a message or a choice names it."""

    label: str
    """What messages call it (``cache``, ``kagglehub cache``...)."""
    reader: str
    """Who reads ``variable`` (``hub.load``, ``kagglehub``...)."""
    option: str
    variable: config.Variable
    default: str
    """The reason given when the loader's own default is chosen."""


LOADER_CACHES: dict[Loader, LoaderCache] = {
    "tfhub": LoaderCache("cache", "hub.load", "--cache", config.TFHUB_CACHE_DIR, "tensorflow_hub's default"),
    "kagglehub": LoaderCache(
        "kagglehub cache", "kagglehub", "--kaggle-cache", config.KAGGLEHUB_CACHE, "kagglehub's default"
    ),
    "huggingface": LoaderCache(
        "huggingface_hub cache",
        "huggingface_hub",
        "--hf-cache",
        config.HF_HUB_CACHE,
        "huggingface_hub's default",
    ),
}


def tfhub_default_cache() -> str:
    import tempfile  # here: it imports shutil, random, bz2 and lzma (~5 ms of a no-op sync)

    return os.path.join(tempfile.gettempdir(), "tfhub_modules")


def choose_cache(option: str | None, manifest_cache: str | None) -> CacheChoice:
    """``--cache``, then ``TFHUB_CACHE_DIR``, then ``[cache] dir``, then tensorflow_hub's default."""
    named = LOADER_CACHES["tfhub"]
    if option:
        return CacheChoice(_expand(option), named.option)
    env = named.variable.get()
    if env:
        return CacheChoice(_expand(env), named.variable.name)
    if manifest_cache:
        return CacheChoice(manifest_cache, "[cache] dir in hub.toml")
    return CacheChoice(tfhub_default_cache(), named.default)


def choose_kaggle_cache(option: str | None, manifest_cache: str | None) -> CacheChoice:
    """``--kaggle-cache``, then ``KAGGLEHUB_CACHE``, then ``[cache] kaggle``, then kagglehub's
    default (``~/.cache/kagglehub``)."""
    named = LOADER_CACHES["kagglehub"]
    if option:
        return CacheChoice(_expand(option), named.option, "kagglehub")
    env = named.variable.get()
    if env:
        return CacheChoice(_expand(env), named.variable.name, "kagglehub")
    if manifest_cache:
        return CacheChoice(manifest_cache, "[cache] kaggle in hub.toml", "kagglehub")
    return CacheChoice(
        os.path.join(os.path.expanduser("~"), ".cache", "kagglehub"), named.default, "kagglehub"
    )


def choose_hf_cache(option: str | None, manifest_cache: str | None) -> CacheChoice:
    """``--hf-cache``, then ``HF_HUB_CACHE``, then ``HF_HOME/hub``, then ``[cache] huggingface``,
    then huggingface_hub's default (``~/.cache/huggingface/hub``, under ``XDG_CACHE_HOME``)."""
    loader: Loader = "huggingface"
    named = LOADER_CACHES[loader]
    if option:
        return CacheChoice(_expand(option), named.option, loader)
    if env := named.variable.get():
        return CacheChoice(_expand(env), named.variable.name, loader)
    if home := os.environ.get("HF_HOME"):
        return CacheChoice(_expand(os.path.join(home, "hub")), "HF_HOME", loader)
    if manifest_cache:
        return CacheChoice(manifest_cache, "[cache] huggingface in hub.toml", loader)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return CacheChoice(os.path.join(base, "huggingface", "hub"), named.default, loader)


def _expand(location: str) -> str:
    if "://" in location:
        return location[len("file://") :] if location.startswith("file://") else location
    return os.path.abspath(os.path.expanduser(location))


# the loaders that read their cache with os.path
_LOCAL_ONLY = ("kagglehub", "huggingface")


def open_cache(location: str, options: Mapping[str, Any] | None = None, loader: Loader = "tfhub") -> Cache:
    """The cache at a local path or an fsspec URL (``gs://bucket/prefix``, ``memory://...``);
    ``loader="kagglehub"``: kagglehub's cache (a local directory)."""
    named = LOADER_CACHES[loader]
    if "://" not in location and os.path.exists(location) and not os.path.isdir(location):
        raise CacheError(
            f"the {named.label} {location} is a file, not a directory",
            path=location,
            hint=f"name the cache's directory ({named.option}, {named.variable.name} or [cache] in hub.toml)",
        )
    if loader in _LOCAL_ONLY:
        if "://" in location:
            raise CacheError(
                f"{named.reader}'s cache must be a local directory, not {location}",
                path=location,
                hint=f"{named.reader} reads its cache with os.path; set {named.variable.name} to a directory",
            )
        if loader == "huggingface":
            from hublock.caches.huggingface import HuggingfaceCache  # most projects have none

            return HuggingfaceCache(location)
        return KagglehubCache(location)
    if "://" in location:
        from hublock.caches.bucket import BucketCache  # fsspec's world: only for a bucket

        return BucketCache(location, options or {})
    return LocalCache(location)
