"""``hublock.activate()`` / ``deactivate()``: hook one hub.lock's ``Guard`` into the loaders.

tensorflow_hub (``_tfhub``) and kagglehub (``_kagglehub``, which keras_hub presets load through)
each get one resolver. A loader is hooked when it is already imported or hub.lock has models for
it (and it is installed): a lock of kagglehub models never makes a process import TensorFlow.
``hublock run`` hooks each loader the moment the program imports it. Those registrations are
hublock's only global state.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Collection
from pathlib import Path

from hublock.core import (
    LOADER_MODULES,
    UNLOCKED_MODES,
    VERIFY_MODES,
    HublockError,
    Unlocked,
    Verify,
    config,
    one_of,
)
from hublock.hooks.guard import Guard

LOADERS = tuple(LOADER_MODULES.values())  # tensorflow_hub, kagglehub
TFHUB_MODULE = LOADER_MODULES["tfhub"]

_active: Guard | None = None


def activate(
    lockfile: str | os.PathLike[str] | None = None,
    *,
    cache: str | None = None,
    kaggle_cache: str | None = None,
    hf_cache: str | None = None,
    verify: Verify | None = None,
    unlocked: Unlocked | None = None,
    offline: bool | None = None,
    loaders: Collection[str] | None = None,
) -> Guard:
    """Guard every load of a locked model; idempotent (a second call replaces the first).
    Arguments not given come from ``HUBLOCK_LOCKFILE`` (default ``hub.lock``),
    ``HUBLOCK_VERIFY`` (``fast``), ``HUBLOCK_UNLOCKED`` (``allow``) and ``HUBLOCK_OFFLINE`` (off).
    The caches are ``cache`` / ``kaggle_cache``, else ``TFHUB_CACHE_DIR`` / ``KAGGLEHUB_CACHE``,
    else ``[cache]`` of the hub.toml beside the lock, else the loaders' defaults, decided at each
    load as the loaders do. ``loaders``: which to hook (``tensorflow_hub``, ``kagglehub``);
    default: each one already imported, or installed and needed by hub.lock.
    """
    global _active
    path = Path(lockfile or config.HUBLOCK_LOCKFILE.get() or "hub.lock").resolve()
    given_verify = verify or config.HUBLOCK_VERIFY.get() or "fast"
    given_unlocked = unlocked or config.HUBLOCK_UNLOCKED.get() or "allow"
    verify_mode = one_of(given_verify, VERIFY_MODES)
    unlocked_mode = one_of(given_unlocked, UNLOCKED_MODES)
    if verify_mode is None:
        raise HublockError(f"verify={given_verify!r}: expected one of {', '.join(VERIFY_MODES)}")
    if unlocked_mode is None:
        raise HublockError(f"unlocked={given_unlocked!r}: expected one of {', '.join(UNLOCKED_MODES)}")
    for name in loaders or ():
        if name not in LOADERS:
            raise HublockError(f"loaders: {name!r} is not one of {', '.join(LOADERS)}")
    guard = Guard(
        path,
        cache=cache,
        kaggle_cache=kaggle_cache,
        hf_cache=hf_cache,
        verify=verify_mode,
        unlocked=unlocked_mode,
        offline=config.HUBLOCK_OFFLINE.flag() if offline is None else offline,
    )
    wanted = set(loaders) if loaders is not None else _wanted(guard)
    if not wanted:
        raise HublockError(
            f"nothing to guard: {path} locks {len(guard.models)} model(s), and no loader they need "
            "(tensorflow_hub, kagglehub, huggingface_hub) is installed or imported in this Python",
            hint="install the loader your code uses, or name it: activate(loaders=[...])",
        )
    previous, _active = _active, None
    if previous is not None:
        _unregister(previous)
    if TFHUB_MODULE in wanted:
        import hublock.hooks.tfhub as _tfhub

        guard.tfhub = _tfhub.register(guard)
    if "kagglehub" in wanted:
        import hublock.hooks.kagglehub as _kagglehub

        guard.kagglehub = _kagglehub.register(guard)
    if "huggingface_hub" in wanted:
        import hublock.hooks.huggingface as _huggingface

        guard.huggingface = _huggingface.register(guard)
    _active = guard
    return guard


def _wanted(guard: Guard) -> set[str]:
    """Loaders already imported, or installed and needed by the lock's models."""
    needs = {
        TFHUB_MODULE: any(m.in_tfhub for m in guard.models),
        "kagglehub": any(m.kaggle for m in guard.models),
        "huggingface_hub": any(m.from_hf for m in guard.models),
    }
    return {
        name
        for name in LOADERS
        if name in sys.modules or (needs[name] and importlib.util.find_spec(name) is not None)
    }


def deactivate() -> None:
    """Remove the resolvers ``activate`` added (and nothing else); a no-op when none is active."""
    global _active
    if _active is not None:
        _unregister(_active)
        _active = None


def _unregister(guard: Guard) -> None:
    if guard.tfhub is not None:
        import hublock.hooks.tfhub as _tfhub

        _tfhub.unregister(guard.tfhub)
    if guard.kagglehub is not None:
        import hublock.hooks.kagglehub as _kagglehub

        _kagglehub.unregister(guard.kagglehub)
    if guard.huggingface is not None:
        import hublock.hooks.huggingface as _huggingface

        _huggingface.unregister(guard.huggingface)
