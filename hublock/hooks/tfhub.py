"""The tensorflow_hub hook: the only module that imports tensorflow_hub.

One resolver in tensorflow_hub's registry. The registry asks the most recently added resolver
first, so every ``hub.load`` / ``hub.resolve`` / ``hub.KerasLayer(handle)`` of a locked handle
comes here: its ``Guard`` checks the model's directory in the cache against hub.lock and the
path is returned (tensorflow_hub then loads it as usual, ``LoadOptions`` and all).
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow_hub  # noqa: F401 - the registry below must exist before we add to it
from tensorflow_hub import registry

from hublock.caches import check_remote
from hublock.core import IntegrityError
from hublock.formats import LockedModel
from hublock.hooks.guard import Guard


class LockedResolver:
    """A tensorflow_hub resolver that answers for the handles in one hub.lock."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def __repr__(self) -> str:
        return f"<hublock.LockedResolver {self.lockfile} verify={self.verify} unlocked={self.unlocked}>"

    @property
    def lockfile(self) -> Path:
        return self.guard.lockfile

    @property
    def verify(self) -> str:
        return self.guard.verify

    @property
    def unlocked(self) -> str:
        return self.guard.unlocked

    @property
    def offline(self) -> bool:
        return self.guard.offline

    def is_supported(self, handle: str) -> bool:
        if self.guard.tfhub_model(handle) is not None:
            return True
        if "://" not in handle and os.path.isdir(handle):
            return False  # a SavedModel directory on disk: nothing is downloaded, nothing to lock
        return not self.guard.allows(handle)

    def __call__(self, handle: str) -> str:
        model = self.guard.tfhub_model(handle)
        if model is None:
            raise self.guard.refuse(handle)
        if model.uncompressed:
            return self._remote(model)
        return self.guard.path(model, "tfhub")

    def _remote(self, model: LockedModel) -> str:
        """An uncompressed model is read in place from gs://: check the store's metadata (or,
        with verify="full", the bytes) against the lock, then hand tensorflow_hub the location."""
        if self.verify != "off":
            found = check_remote(model, self.guard.project.cache_options, full=self.verify == "full")
            if not found.ok:
                raise IntegrityError(
                    f"{model.handle!r} (model {model.name!r} in {self.lockfile}): the objects at "
                    f"{model.url} are {found.state.value.replace('_', ' ')}: {found.detail}. The "
                    "model changed where it is published: re-lock it (`hublock lock --upgrade "
                    f"{model.name}`) if the change is expected."
                )
        return model.url


def register(guard: Guard) -> LockedResolver:
    resolver = LockedResolver(guard)
    registry.resolver.add_implementation(resolver)
    return resolver


def unregister(resolver: object) -> None:
    """Remove exactly that resolver (tensorflow_hub's registry has no public removal; _impls is
    its list of resolvers)."""
    impls = registry.resolver._impls
    for i in reversed(range(len(impls))):
        if impls[i] is resolver:
            del impls[i]
