"""Verify-on-load, whatever the loader: one hub.lock, and the check every load of a locked model
goes through before the loader is handed its path.

The loaders' own hooks (``_tfhub`` for tensorflow_hub, ``_kagglehub`` for kagglehub and so
keras_hub) only translate their handles into a locked model and ask a ``Guard``; the rules
(fast or full check, a missing model fetched the way ``sync`` does or refused offline, a drifted
one refused, unlocked handles allowed, warned about or refused) live here once.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path
from types import FrameType

from hublock.caches import LOADER_CACHES, Cache, CacheChoice, Inspection, State
from hublock.commands import Action, Project, SyncStep, sync_model
from hublock.core import IntegrityError, Loader, NotInSyncError, Unlocked, Verify
from hublock.formats import KaggleHandle, LockedModel, parse_kaggle_handle


class Guard:
    """One hub.lock, checked at every load: what ``hublock.activate()`` returns. ``tfhub`` and
    ``kagglehub`` are the resolvers it added to each loader's registry (None where it added none)."""

    def __init__(
        self,
        lockfile: Path,
        *,
        cache: str | None = None,
        kaggle_cache: str | None = None,
        hf_cache: str | None = None,
        verify: Verify = "fast",
        unlocked: Unlocked = "allow",
        offline: bool = False,
    ) -> None:
        self.lockfile = lockfile
        self.project = Project.beside(
            lockfile, cache=cache, kaggle_cache=kaggle_cache, hf_cache=hf_cache, offline=offline
        )
        self.models = self.project.lock().models
        self.verify = verify
        self.unlocked = unlocked
        self.offline = offline
        self.tfhub: object | None = None
        self.kagglehub: object | None = None
        self.huggingface: object | None = None
        self._by_handle: dict[str, LockedModel] = {m.handle: m for m in self.models if m.in_tfhub}
        self._by_kaggle = {parse_kaggle_handle(m.kaggle).identity: m for m in self.models if m.kaggle}
        self._by_hf = {m.hf_repo: m for m in self.models if m.from_hf}
        self._fetching = threading.Lock()

    def __repr__(self) -> str:
        return f"<hublock.Guard {self.lockfile} verify={self.verify} unlocked={self.unlocked}>"

    def tfhub_model(self, handle: str) -> LockedModel | None:
        """The locked model tensorflow_hub loads by this handle (spelled exactly as locked)."""
        return self._by_handle.get(handle)

    def hf_model(self, repo: str) -> LockedModel | None:
        """The locked Hugging Face model of a repo (``org/name``)."""
        return self._by_hf.get(repo)

    def kaggle_model(self, handle: KaggleHandle) -> LockedModel | None:
        """The locked model a kagglehub handle names: the same version, or without a version the
        one version locked (the framework matched as Kaggle does, without regard to case)."""
        if handle.pinned:
            return self._by_kaggle.get(handle.identity)
        found = [m for key, m in self._by_kaggle.items() if key[:4] == handle.identity[:4]]
        if len(found) > 1:
            # the entry hub.toml lists without a version is the one an unversioned load means
            # (another entry may pin an older version of the same model beside it)
            manifest = self.project.manifest
            unpinned = {
                spec.name
                for spec in (manifest.models if manifest is not None else ())
                if spec.kaggle and not parse_kaggle_handle(spec.kaggle).pinned
            }
            found = [m for m in found if m.name in unpinned] or found
        if len(found) > 1:
            versions = ", ".join(sorted(str(m.kaggle) for m in found))
            raise NotInSyncError(
                f"kaggle://{handle} has no version, and {self.lockfile} locks several ({versions})",
                handle=f"kaggle://{handle}",
                hint="write the version you mean in the handle your code loads",
            )
        return found[0] if found else None

    def allows(self, handle: str) -> bool:
        """Whether a handle that is not locked may be loaded anyway (``unlocked``). The warning
        points at the caller's line, not inside the loader."""
        if self.unlocked == "warn":
            warnings.warn(
                f"{handle!r} is not in {self.lockfile}: it is not verified against the lock",
                stacklevel=_callers_level(),
            )
        return self.unlocked != "error"

    def refuse(self, handle: str) -> NotInSyncError:
        return NotInSyncError(
            f"{handle!r} is not in {self.lockfile}, and unlocked handles are refused: add it to "
            "hub.toml and run `hublock lock && hublock sync`",
            handle=handle,
        )

    def path(self, model: LockedModel, loader: Loader, *, full: bool = False) -> str:
        """The model's directory in the loader's cache (decided now, as the loader decides it),
        after checking it against the lock; a missing model is fetched the way ``sync`` does,
        unless offline. ``full``: re-hash whatever ``verify`` says."""
        choice, cache = self.project.open_loader_cache(loader)
        path = cache.path_of(model)
        if self.verify == "off" and not full:
            found = cache.inspect(model)
            if found.state is not State.MISSING:
                found = Inspection(State.OK)
        else:
            found = cache.inspect(model, full=full or self.verify == "full")
            if found.state is State.UNSTAMPED:
                found = cache.inspect(model, full=True)  # no stamp to compare with: hash instead
        if found.state is State.MISSING:
            self._fetch(model, cache, choice)
        elif not found.ok:
            shown = f"kaggle://{model.kaggle}" if loader == "kagglehub" else model.handle
            raise IntegrityError(
                f"{shown!r} (model {model.name!r} in {self.lockfile}, {model.tree}): the copy in "
                f"{path} is {found.state.value.replace('_', ' ')}: {found.detail}",
                model=model.name,
                handle=shown,
                path=path,
                expected=model.tree,
                hint=f"run `hublock sync` (with the cache {choice.location}) to repair it",
            )
        return path

    def _fetch(self, model: LockedModel, cache: Cache, choice: CacheChoice) -> None:
        if self.offline:
            raise NotInSyncError(
                f"{model.handle!r} (model {model.name!r} in {self.lockfile}) is not in the "
                f"{LOADER_CACHES[choice.loader].label} {choice.location}, "
                "and hublock is offline",
                model=model.name,
                handle=model.handle,
                path=choice.location,
                hint="run `hublock sync` first",
            )
        # Downloaded the way `hublock sync` does it, so it is verified before it becomes visible.
        cache.ensure_root()
        with self._fetching, self.project.fetcher() as fetcher:
            sync_model(SyncStep(model, Action.FETCH), cache, fetcher, self.project.mirrors)


def inside(base: str, path: str) -> str | None:
    """``path`` (as a loader's caller gave it) within the model directory ``base``, or None when
    it climbs out of it."""
    joined = os.path.normpath(os.path.join(base, path.lstrip("/")))
    return joined if joined == base or joined.startswith(base.rstrip(os.sep) + os.sep) else None


# The packages between a user's line and the guard: a warning skips their frames.
_LOADER_PACKAGES = ("hublock", "tensorflow_hub", "tensorflow", "tf_keras", "keras", "keras_hub", "kagglehub")


def _callers_level() -> int:
    """The ``stacklevel`` of the first frame, counting from ``allows``'s caller, that belongs to
    none of the loaders' packages nor hublock: the user's line that asked for the model."""
    frame: FrameType | None = sys._getframe(2)  # the caller of allows()
    level = 2
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".")[0] not in _LOADER_PACKAGES:
            return level
        frame = frame.f_back
        level += 1
    return 2
