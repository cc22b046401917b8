"""The kagglehub hook: the only module that imports kagglehub (keras_hub presets load through
kagglehub, so they are covered too).

One resolver in ``kagglehub.registry.model_resolver``, asked before kagglehub's own (the
registry asks the newest first). A locked handle, with its version or without one (then the
locked version answers: no call to the Kaggle API, so it works offline and never drifts), is
checked by the ``Guard`` and its path in kagglehub's cache returned. ``model_download(handle,
path)`` of a file the locked model does not have raises ``FileNotFoundError`` at once, as
keras_hub's probes for optional files (``tokenizer.json``...) expect, with no network.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import kagglehub  # noqa: F401 - the registry below must exist before we add to it
from kagglehub import registry
from kagglehub.handle import ModelHandle
from kagglehub.tracker import register_datasource_access

from hublock.formats import KaggleHandle, LockedModel, parse_kaggle_handle
from hublock.hooks.guard import Guard, inside


class KaggleResolver:
    """A kagglehub model resolver that answers for the kagglehub handles in one hub.lock."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def __repr__(self) -> str:
        return f"<hublock.KaggleResolver {self.guard.lockfile} verify={self.guard.verify}>"

    def _locked(self, h: ModelHandle) -> LockedModel | None:
        return self.guard.kaggle_model(KaggleHandle(h.owner, h.model, h.framework, h.variation, h.version))

    def is_supported(self, h: ModelHandle, path: str | None = None, **_: Any) -> bool:
        return self._locked(h) is not None or not self.guard.allows(f"kaggle://{h}")

    def __call__(
        self,
        h: ModelHandle,
        path: str | None = None,
        *,
        force_download: bool | None = False,
        output_dir: str | None = None,
    ) -> tuple[str, int | None]:
        model = self._locked(h)
        if model is None:
            raise self.guard.refuse(f"kaggle://{h}")
        # force_download asks for fresh bytes: the locked ones, re-hashed, are what it gets
        base = self.guard.path(model, "kagglehub", full=bool(force_download))
        version = parse_kaggle_handle(str(model.kaggle)).version
        found = inside(base, path) if path else base
        if found is None or not os.path.exists(found):
            raise FileNotFoundError(
                f"{path!r} is not a file of {model.name!r} (kaggle://{model.kaggle}, locked in "
                f"{self.guard.lockfile})"
            )
        if output_dir:  # a copy where the caller asked for one, of what was just verified
            target = os.path.join(output_dir, path.lstrip("/")) if path else output_dir
            if os.path.isdir(found):
                shutil.copytree(found, target, dirs_exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                shutil.copy2(found, target)
            found = target
        # kagglehub's own resolvers record each access (kagglehub.get_accessed_datasources): so do we
        register_datasource_access(h, version)
        return found, version


def register(guard: Guard) -> KaggleResolver:
    resolver = KaggleResolver(guard)
    registry.model_resolver.add_implementation(resolver)
    return resolver


def unregister(resolver: object) -> None:
    """Remove exactly that resolver (kagglehub's registry has no public removal)."""
    impls = registry.model_resolver._impls
    for i in reversed(range(len(impls))):
        if impls[i] is resolver:
            del impls[i]
