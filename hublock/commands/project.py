"""A project: hub.toml, its hub.lock, the cache it fills, its mirrors, and the one way to fetch.

Every command and the load hook start here, so the rules live once: hub.lock sits beside
hub.toml unless ``--lockfile`` says otherwise; a lock shipped without its hub.toml (a Docker build
stage) is a project too; ``--mirror`` options override hub.toml's ``[mirrors]``; the cache is
``--cache``, ``TFHUB_CACHE_DIR``, ``[cache] dir`` or tensorflow_hub's default, decided when asked
(a process may change ``TFHUB_CACHE_DIR`` between two loads, as tensorflow_hub allows).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hublock.caches import (
    HUGGINGFACE,
    KAGGLEHUB,
    Cache,
    CacheChoice,
    DownloadCache,
    Layout,
    choose_cache,
    choose_hf_cache,
    choose_kaggle_cache,
    open_cache,
)
from hublock.commands.plan import LockProblem, lock_problems
from hublock.core import Loader, NotInSyncError
from hublock.formats import Lockfile, Manifest, check_mirror, handle_kind, load_manifest, read_lockfile

if TYPE_CHECKING:
    import httpx

    from hublock.remote import Fetcher

MANIFEST = "hub.toml"
_worker_fetchers: dict[tuple[object, ...], Fetcher] = {}  # see Project.worker_fetcher
LOCKFILE = "hub.lock"


def default_lockfile(manifest_path: str | os.PathLike[str]) -> Path:
    """hub.lock beside hub.toml."""
    return Path(manifest_path).parent / LOCKFILE


@dataclass(frozen=True)
class Project:
    """One project, loaded once. ``manifest`` is None when only hub.lock was shipped."""

    manifest_path: Path
    lockfile_path: Path
    manifest: Manifest | None
    mirrors: Mapping[str, str] = field(default_factory=dict)
    """hub.toml's ``[mirrors]`` with the ``--mirror`` options on top."""
    cache_option: str | None = None
    kaggle_cache_option: str | None = None
    hf_cache_option: str | None = None
    offline: bool = False
    download_cache: Path | None = None
    transport: httpx.BaseTransport | None = field(default=None, compare=False, repr=False)
    bundles: tuple[Path, ...] = ()
    """Bundles archives are taken from (``sync --from``)."""

    @classmethod
    def load(
        cls,
        manifest: str | os.PathLike[str] = MANIFEST,
        lockfile: str | os.PathLike[str] | None = None,
        *,
        cache: str | None = None,
        kaggle_cache: str | None = None,
        hf_cache: str | None = None,
        mirrors: Mapping[str, str] | None = None,
        offline: bool = False,
        download_cache: str | os.PathLike[str] | None = None,
        transport: httpx.BaseTransport | None = None,
        manifest_required: bool = False,
        bundles: Sequence[str | os.PathLike[str]] = (),
    ) -> Project:
        """Read hub.toml (when it exists, or always with ``manifest_required``); hub.lock is read
        when asked for (``lock()``), since ``hublock lock`` may be about to write it."""
        manifest_path = Path(manifest)
        spec = load_manifest(manifest_path) if manifest_required or manifest_path.exists() else None
        merged = dict(spec.mirrors) if spec else {}
        for prefix, target in (mirrors or {}).items():
            merged[prefix] = check_mirror(prefix, target, f"--mirror {prefix}", Path.cwd())
        return cls(
            manifest_path=manifest_path,
            lockfile_path=Path(lockfile) if lockfile is not None else default_lockfile(manifest_path),
            manifest=spec,
            mirrors=merged,
            cache_option=cache,
            kaggle_cache_option=kaggle_cache,
            hf_cache_option=hf_cache,
            offline=offline,
            download_cache=Path(download_cache) if download_cache is not None else None,
            transport=transport,
            bundles=tuple(Path(b) for b in bundles),
        )

    @classmethod
    def beside(cls, lockfile: str | os.PathLike[str], **options: Any) -> Project:
        """The project of a hub.lock: the hub.toml beside it, if there is one (the load hook)."""
        path = Path(lockfile)
        return cls.load(path.parent / MANIFEST, path, **options)

    def need_manifest(self) -> Manifest:
        """hub.toml, for the commands that cannot work from hub.lock alone (lock, check)."""
        return self.manifest if self.manifest is not None else load_manifest(self.manifest_path)

    @property
    def auth(self) -> Mapping[str, str]:
        return self.manifest.auth if self.manifest else {}

    @property
    def cache_options(self) -> Mapping[str, Any]:
        return self.manifest.cache_options if self.manifest else {}

    def lock(self) -> Lockfile:
        """hub.lock as it is now (an error if it is missing or unreadable)."""
        return read_lockfile(self.lockfile_path)

    def current_lock(self) -> Lockfile:
        """hub.lock as it is now, or an empty lock when there is none yet."""
        return self.lock() if self.lockfile_path.exists() else Lockfile()

    def problems(self, lock: Lockfile) -> list[LockProblem]:
        """Why ``lock`` does not match hub.toml (nothing without a hub.toml)."""
        if self.manifest is None:
            return []
        return lock_problems(self.manifest, lock, os.environ)

    def require_in_sync(self, lock: Lockfile, action: str) -> None:
        """Refuse to act on a lock that no longer says what hub.toml asks for."""
        problems = self.problems(lock)
        if problems:
            raise NotInSyncError(
                f"{self.lockfile_path} is out of date with {self.manifest_path}:\n  "
                + "\n  ".join(map(str, problems)),
                path=str(self.lockfile_path),
                hint=f"run `hublock lock`, then {action} again",
            )

    def cache_choice(self) -> CacheChoice:
        """The cache this project uses now, and why."""
        return choose_cache(self.cache_option, self.manifest.cache_dir if self.manifest else None)

    def open_cache(self) -> tuple[CacheChoice, Cache]:
        choice = self.cache_choice()
        return choice, open_cache(choice.location, self.cache_options)

    def kaggle_cache_choice(self) -> CacheChoice:
        """The kagglehub cache this project fills now, and why."""
        return choose_kaggle_cache(
            self.kaggle_cache_option, self.manifest.kaggle_cache_dir if self.manifest else None
        )

    def open_kaggle_cache(self) -> tuple[CacheChoice, Cache]:
        choice = self.kaggle_cache_choice()
        return choice, open_cache(choice.location, loader="kagglehub")

    def hf_cache_choice(self) -> CacheChoice:
        """The huggingface_hub cache this project fills now, and why."""
        return choose_hf_cache(self.hf_cache_option, self.manifest.hf_cache_dir if self.manifest else None)

    def open_hf_cache(self) -> tuple[CacheChoice, Cache]:
        choice = self.hf_cache_choice()
        return choice, open_cache(choice.location, loader="huggingface")

    def open_loader_cache(self, loader: Loader) -> tuple[CacheChoice, Cache]:
        """The cache a loader reads (tensorflow_hub's, kagglehub's or huggingface_hub's)."""
        if loader == "kagglehub":
            return self.open_kaggle_cache()
        if loader == "huggingface":
            return self.open_hf_cache()
        return self.open_cache()

    def targets(self, lock: Lockfile, *, recorded: bool = False) -> list[tuple[CacheChoice, Cache]]:
        """Every cache this lock's models go to: tensorflow_hub's always (it is the default
        target), kagglehub's and huggingface_hub's when a model goes there; with ``recorded``
        (gc) also one where some project recorded a root, though this one needs nothing there."""
        found = [self.open_cache()]
        others: tuple[tuple[bool, CacheChoice, Layout], ...] = (
            (self.uses_kagglehub(lock), self.kaggle_cache_choice(), KAGGLEHUB),
            (self.uses_hf(lock), self.hf_cache_choice(), HUGGINGFACE),
        )
        for needed, choice, layout in others:  # opened only when used: a choice may not be openable
            if needed or (recorded and Path(choice.location, layout.roots()).is_dir()):
                found.append(self.open_loader_cache(choice.loader))
        return found

    def uses_hf(self, lock: Lockfile) -> bool:
        """Whether any model goes to huggingface_hub's cache (locked, or listed in hub.toml)."""
        listed = self.manifest.models if self.manifest else ()
        return any(m.from_hf for m in lock.models) or any(handle_kind(s.handle) == "hf" for s in listed)

    def uses_kagglehub(self, lock: Lockfile) -> bool:
        """Whether any model goes to kagglehub's cache (locked, or listed in hub.toml)."""
        listed = self.manifest.models if self.manifest else ()
        return any(m.kaggle for m in lock.models) or any(s.kaggle for s in listed)

    def downloads(self) -> DownloadCache:
        return DownloadCache(self.download_cache)

    def worker_fetcher(self) -> Fetcher:
        """The fetcher of a worker process: made at its first model, kept (with its connections)
        for the worker's life, never closed (the process ends). Kept per process and per what a
        fetcher is made of: a process that locks or syncs several projects (the Python API, a
        notebook) and the workers it forks never reuse another project's download cache or
        bundles."""
        key = (
            os.getpid(),
            str(self.downloads().root),
            self.offline,
            self.bundles,
            tuple(sorted(self.auth.items())),
            id(self.transport),
        )
        if key not in _worker_fetchers:
            _worker_fetchers[key] = self.fetcher()
        return _worker_fetchers[key]

    def fetcher(self) -> Fetcher:
        """The one way this project downloads: its download cache, auth, offline switch and
        transport. Use it as a context manager (it owns a connection pool)."""
        from hublock.remote import Fetcher  # here: a sync with nothing to fetch never imports it

        return Fetcher(
            self.downloads(),
            offline=self.offline,
            transport=self.transport,
            auth=self.auth,
            bundles=self.bundles,
        )
