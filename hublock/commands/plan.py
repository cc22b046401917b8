"""Plans: what `lock` must resolve and what `sync` must do. Pure functions over data, so they
are tested directly and printed as they are by ``--dry-run``."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from hublock.caches import Inspection, State
from hublock.core import ManifestError
from hublock.formats import LockedModel, Lockfile, Manifest, ModelSpec, did_you_mean


@dataclass(frozen=True)
class LockPlan:
    keep: tuple[LockedModel, ...]
    resolve: tuple[ModelSpec, ...]
    drop: tuple[LockedModel, ...]


def plan_lock(
    manifest: Manifest,
    lock: Lockfile,
    upgrade: bool | Collection[str] = False,
    environ: Mapping[str, str] | None = None,
) -> LockPlan:
    """Keep every entry whose manifest line (and load format) is unchanged, unless upgraded."""
    if not isinstance(upgrade, bool):
        for name in upgrade:
            if name not in manifest.names:
                raise ManifestError(
                    f"--upgrade {name}: no model named {name!r} in hub.toml"
                    f"{did_you_mean(name, manifest.names)}"
                )
    keep, resolve = [], []
    for spec in manifest.models:
        locked = lock.get(spec.name)
        upgraded = upgrade is True or (not isinstance(upgrade, bool) and spec.name in upgrade)
        if locked is not None and _matches(spec, locked, environ or {}) and not upgraded:
            keep.append(locked)
        else:
            resolve.append(spec)
    drop = tuple(m for m in lock.models if m.name not in manifest.names)
    return LockPlan(tuple(keep), tuple(resolve), drop)


def _matches(spec: ModelSpec, locked: LockedModel, environ: Mapping[str, str]) -> bool:
    return (
        not locked.hand_edited
        and locked.manifest == spec.entry_digest
        and locked.handle == spec.handle
        and locked.format == spec.load_format(environ)
    )


class Problem(enum.StrEnum):
    """Why a lock entry does not match hub.toml."""

    MISSING = "missing"  # listed in hub.toml, not locked
    STALE = "stale"  # hub.toml's entry changed since it was locked
    HAND_EDITED = "hand_edited"  # its seal does not match its fields
    FORMAT = "format"  # locked in another load format than TFHUB_MODEL_LOAD_FORMAT asks for
    EXTRA = "extra"  # locked, no longer in hub.toml


@dataclass(frozen=True)
class LockProblem:
    """One entry of hub.lock that does not match hub.toml: which, why, and what it says."""

    name: str
    problem: Problem
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}"


def lock_problems(
    manifest: Manifest, lock: Lockfile, environ: Mapping[str, str] | None = None
) -> list[LockProblem]:
    """Why the lock does not match the manifest (empty when it does). No network, no I/O.
    ``environ`` supplies TFHUB_MODEL_LOAD_FORMAT for entries that do not set a format."""
    problems = []
    for spec in manifest.models:
        locked = lock.get(spec.name)
        if locked is None:
            problems.append(LockProblem(spec.name, Problem.MISSING, "missing from hub.lock"))
        elif locked.manifest != spec.entry_digest or locked.handle != spec.handle:
            problems.append(
                LockProblem(spec.name, Problem.STALE, "stale (hub.toml changed since it was locked)")
            )
        elif locked.hand_edited:
            problems.append(
                LockProblem(
                    spec.name,
                    Problem.HAND_EDITED,
                    "edited by hand: its seal does not match its fields (url, size, archive, tree, files"
                    + (f"; it records url {locked.url}" if locked.url else "")
                    + "); `hublock lock` resolves it again",
                )
            )
        elif locked.format != spec.load_format(environ or {}):
            problems.append(
                LockProblem(
                    spec.name,
                    Problem.FORMAT,
                    f"locked {locked.format}, but TFHUB_MODEL_LOAD_FORMAT asks for "
                    f"{spec.load_format(environ or {})}",
                )
            )
    for locked in lock.models:
        if locked.name not in manifest.names:
            problems.append(LockProblem(locked.name, Problem.EXTRA, "in hub.lock but no longer in hub.toml"))
    return problems


class Action(enum.Enum):
    SKIP = "present"  # verified by its stamp: nothing to do
    CHECK = "check"  # present without a stamp: re-hash, then stamp it or replace it
    FETCH = "fetch"  # missing
    REPLACE = "replace"  # present but stale or modified
    REMOTE = "remote"  # an uncompressed model: tensorflow_hub reads it from gs:// at load


@dataclass(frozen=True)
class SyncStep:
    model: LockedModel
    action: Action
    reason: str = ""
    inspection: Inspection | None = None
    """What the fast check of the cache found (None for models read in place)."""


_ACTIONS = {
    State.OK: Action.SKIP,
    State.UNSTAMPED: Action.CHECK,
    State.MISSING: Action.FETCH,
    State.STALE: Action.REPLACE,
    State.MODIFIED: Action.REPLACE,
    State.EXTRA_FILES: Action.REPLACE,
}


def plan_sync(lock: Lockfile, inspections: Mapping[str, Inspection]) -> list[SyncStep]:
    """One step per locked model, from what a fast inspection of the cache found."""
    steps = []
    for model in lock.models:
        if model.uncompressed:
            steps.append(SyncStep(model, Action.REMOTE, f"read from {model.url} at load"))
            continue
        found = inspections[model.name]
        steps.append(SyncStep(model, _ACTIONS[found.state], found.detail, found))
    return steps
