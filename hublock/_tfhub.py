"""The verify-on-load hook: the only module that imports tensorflow_hub.

``activate()`` adds one resolver to tensorflow_hub's registry. The registry asks the most recently
added resolver first, so every ``hub.load`` / ``hub.resolve`` / ``hub.KerasLayer(handle)`` of a
locked handle comes here: the model's directory in the cache is checked against hub.lock and its
path returned (tensorflow_hub then loads it as usual, ``LoadOptions`` and all). ``deactivate()``
removes exactly that resolver again. That one registration is hublock's only global state.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Literal

import tensorflow_hub  # noqa: F401 - the registry below must exist before we add to it
from tensorflow_hub import registry

from hublock import _config as config
from hublock._bucket import check_remote
from hublock._cache import Cache
from hublock._errors import HublockError, IntegrityError, NotInSyncError
from hublock._lockfile import LockedModel
from hublock._plan import Action, SyncStep
from hublock._project import Project
from hublock._sync import sync_model
from hublock._verify import Inspection, State

Verify = Literal["fast", "full", "off"]
Unlocked = Literal["allow", "warn", "error"]
_VERIFY = ("fast", "full", "off")
_UNLOCKED = ("allow", "warn", "error")


class LockedResolver:
    """A tensorflow_hub resolver that answers for the handles in one hub.lock."""

    def __init__(
        self,
        lockfile: Path,
        *,
        cache: str | None,
        verify: Verify,
        unlocked: Unlocked,
        offline: bool,
    ) -> None:
        self.lockfile = lockfile
        self.project = Project.beside(lockfile, cache=cache, offline=offline)
        self.models: dict[str, LockedModel] = {m.handle: m for m in self.project.lock().models}
        self.verify = verify
        self.unlocked = unlocked
        self.offline = offline
        self._fetching = threading.Lock()

    def __repr__(self) -> str:
        return f"<hublock.LockedResolver {self.lockfile} verify={self.verify} unlocked={self.unlocked}>"

    def is_supported(self, handle: str) -> bool:
        if handle in self.models:
            return True
        if self.unlocked == "warn":
            warnings.warn(f"{handle!r} is not in {self.lockfile}: loaded unverified", stacklevel=4)
        return self.unlocked == "error"

    def __call__(self, handle: str) -> str:
        model = self.models.get(handle)
        if model is None:
            raise NotInSyncError(
                f"{handle!r} is not in {self.lockfile}, and unlocked handles are refused: add it to "
                "hub.toml and run `hublock lock && hublock sync`"
            )
        if model.uncompressed:
            return self._remote(model)
        choice, cache = self.project.open_cache()  # at each load, as tensorflow_hub decides it
        path = cache.model_path(handle)
        if self.verify == "off":
            found = cache.inspect(model)
            if found.state is not State.MISSING:
                found = Inspection(State.OK)
        else:
            found = cache.inspect(model, full=self.verify == "full")
            if found.state is State.UNSTAMPED:
                found = cache.inspect(model, full=True)  # no stamp to compare with: hash instead
        if found.state is State.MISSING:
            self._fetch(model, cache, choice.location)
        elif not found.ok:
            raise IntegrityError(
                f"{handle!r} (model {model.name!r} in {self.lockfile}, {model.tree}): the copy in "
                f"{path} is {found.state.value.replace('_', ' ')}: {found.detail}",
                model=model.name,
                handle=handle,
                path=path,
                expected=model.tree,
                hint=f"run `hublock sync` (with the cache {choice.location}) to repair it",
            )
        return str(path)

    def _remote(self, model: LockedModel) -> str:
        """An uncompressed model is read in place from gs://: check the store's metadata (or,
        with verify="full", the bytes) against the lock, then hand tensorflow_hub the location."""
        if self.verify != "off":
            found = check_remote(model, self.project.cache_options, full=self.verify == "full")
            if not found.ok:
                raise IntegrityError(
                    f"{model.handle!r} (model {model.name!r} in {self.lockfile}): the objects at "
                    f"{model.url} are {found.state.value.replace('_', ' ')}: {found.detail}. The "
                    "model changed where it is published: re-lock it (`hublock lock --upgrade "
                    f"{model.name}`) if the change is expected."
                )
        return model.url

    def _fetch(self, model: LockedModel, cache: Cache, where: str) -> None:
        if self.offline:
            raise NotInSyncError(
                f"{model.handle!r} (model {model.name!r} in {self.lockfile}) is not in the cache "
                f"{where}, and hublock is offline",
                model=model.name,
                handle=model.handle,
                path=where,
                hint="run `hublock sync` first",
            )
        # Downloaded the way `hublock sync` does it, so it is verified before it becomes visible.
        cache.ensure_root()
        with self._fetching, self.project.fetcher() as fetcher:
            sync_model(SyncStep(model, Action.FETCH), cache, fetcher, self.project.mirrors)


_active: LockedResolver | None = None


def activate(
    lockfile: str | os.PathLike[str] | None = None,
    *,
    cache: str | None = None,
    verify: Verify | None = None,
    unlocked: Unlocked | None = None,
    offline: bool | None = None,
) -> LockedResolver:
    """Guard every tensorflow_hub load of a locked handle; idempotent (a second call replaces the
    first). Arguments not given come from ``HUBLOCK_LOCKFILE`` (default ``hub.lock``),
    ``HUBLOCK_VERIFY`` (``fast``), ``HUBLOCK_UNLOCKED`` (``allow``) and ``HUBLOCK_OFFLINE`` (off).
    The cache is ``cache``, else ``TFHUB_CACHE_DIR``, else ``[cache] dir`` of the hub.toml beside
    the lock, else tensorflow_hub's default, decided at each load as tensorflow_hub does.
    """
    global _active
    path = Path(lockfile or config.HUBLOCK_LOCKFILE.get() or "hub.lock").resolve()
    verify_mode = verify or config.HUBLOCK_VERIFY.get() or "fast"
    unlocked_mode = unlocked or config.HUBLOCK_UNLOCKED.get() or "allow"
    if verify_mode not in _VERIFY:
        raise HublockError(f"verify={verify_mode!r}: expected one of {', '.join(_VERIFY)}")
    if unlocked_mode not in _UNLOCKED:
        raise HublockError(f"unlocked={unlocked_mode!r}: expected one of {', '.join(_UNLOCKED)}")
    if offline is None:
        offline = config.HUBLOCK_OFFLINE.flag()
    resolver = LockedResolver(
        path,
        cache=cache,
        verify=verify_mode,  # type: ignore[arg-type]
        unlocked=unlocked_mode,  # type: ignore[arg-type]
        offline=offline,
    )
    deactivate()
    registry.resolver.add_implementation(resolver)
    _active = resolver
    return resolver


def deactivate() -> None:
    """Remove the resolver ``activate`` added (and nothing else); a no-op when none is active."""
    global _active
    if _active is not None:
        # tensorflow_hub's registry has no public removal; _impls is its list of resolvers.
        impls = registry.resolver._impls
        for i in reversed(range(len(impls))):
            if impls[i] is _active:
                del impls[i]
        _active = None
