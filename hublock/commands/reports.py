"""What each command did, as data: frozen, built whole, and serialising itself.

``to_dict()`` is exactly the ``--format json`` document of the command (the CLI prints it and
builds no JSON of its own); the package ships a JSON Schema for each (``hublock/schemas/``), and
the tests check every command's output against it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hublock.caches import CacheChoice, Inspection, State
from hublock.commands.plan import Action, SyncStep
from hublock.core import HF_HUB_CACHE, KAGGLEHUB_CACHE, TFHUB_CACHE_DIR, Loader, Setting, redact
from hublock.formats import LockedModel, Lockfile

if TYPE_CHECKING:
    # only named in annotations: a sync, which imports this module, loads neither reader
    from hublock.formats import BundledArchive, ModelApi, ModelDiff


class LockState(enum.StrEnum):
    """What ``lock`` did to one entry."""

    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class LockResult:
    """What ``lock`` did: the new lock, and which names were re-resolved, changed or removed."""

    lockfile: Lockfile
    resolved: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    written: bool
    path: Path
    warnings: tuple[str, ...] = ()
    previous: Lockfile = field(default_factory=Lockfile)
    apis: Mapping[str, ModelApi] = field(default_factory=dict)
    """The readable forms of the old and new APIs known here, by digest (for ``diff``)."""

    def state(self, name: str) -> LockState:
        new, old = self.lockfile.get(name), self.previous.get(name)
        if old is None:
            return LockState.ADDED
        return LockState.UNCHANGED if old == new else LockState.CHANGED

    def diff(self, name: str) -> str:
        """What changed for one model, for people: version, url, archive digests (16 hex), exact
        sizes, the tree, and the API change signature by signature (one indented line each)."""
        from hublock.formats import (
            diff_model,  # lock's alone: the other commands need not import it
        )

        found = diff_model(name, self.previous.get(name), self.lockfile.get(name), self.apis.get)
        return redact("\n    ".join([found.describe(), *(found.api or ())]))

    def to_dict(self) -> dict[str, Any]:
        from hublock.formats import diff_model

        models = {}
        for model in self.lockfile.models:
            state = self.state(model.name)
            before = self.previous.get(model.name)
            changed = state is LockState.CHANGED
            found = diff_model(model.name, before, model, self.apis.get) if changed else None
            models[model.name] = {
                "state": state.value,
                **model.to_dict(),
                "previous": before.to_dict() if before is not None and changed else None,
                "changes": list(found.changes) if found else [],
                "api_changes": list(found.api) if found and found.api is not None else None,
            }
        return {
            "lockfile": str(self.path),
            "written": self.written,
            "models": models,
            "removed": list(self.removed),
        }


class Outcome(enum.StrEnum):
    """What ``sync`` did to one model."""

    FETCHED = "fetched"
    REPLACED = "replaced"
    PRESENT = "present"  # verified by its stamp: nothing done
    VERIFIED = "verified"  # an unstamped copy re-hashed and kept
    REMOTE = "remote"  # an uncompressed model: read in place at load


@dataclass(frozen=True)
class SyncResult:
    """One model after ``sync``: what was done, and where it is now."""

    name: str
    outcome: Outcome
    path: str
    cache: Loader = "tfhub"
    """Whose cache: ``tfhub``, ``kagglehub`` or ``huggingface``."""
    warning: str = ""
    """What the user should know (the host re-compressed the archive, say)."""


@dataclass(frozen=True)
class SyncReport:
    """The plan ``sync`` made (``steps``), and on a real run what happened (``results``)."""

    cache: CacheChoice
    steps: tuple[SyncStep, ...]
    results: tuple[SyncResult, ...] = ()
    dry_run: bool = False
    paths: tuple[tuple[str, str], ...] = ()
    """Where each model is (or would be): name -> cache path or remote URL."""
    warnings: tuple[str, ...] = ()
    taken: tuple[tuple[str, str], ...] = ()
    """Models replaced with ``force`` although another live project had verified them there:
    (name, that project)."""
    kagglehub: SyncReport | None = None
    """The same for kagglehub's cache, when any model goes there."""
    huggingface: SyncReport | None = None
    """The same for huggingface_hub's cache, when any model goes there."""

    @property
    def pending(self) -> tuple[SyncStep, ...]:
        return tuple(s for s in self.steps if s.action not in (Action.SKIP, Action.REMOTE))

    @property
    def parts(self) -> tuple[SyncReport, ...]:
        """One report per cache: tensorflow_hub's, then kagglehub's when there is one."""
        return (self, *(p for p in (self.kagglehub, self.huggingface) if p is not None))

    def to_dict(self) -> dict[str, Any]:
        if self.dry_run:
            states = {s.model.name: s.action.value for s in self.steps}
        else:
            states = {r.name: r.outcome.value for r in self.results}
        paths = dict(self.paths)
        return {
            "cache": self.cache.to_dict(),
            "dry_run": self.dry_run,
            "models": {
                name: {"state": state, "path": paths.get(name)} for name, state in sorted(states.items())
            },
            "pending": len(self.pending),
            "warnings": list(self.warnings),
            "taken_from": [{"name": name, "project": project} for name, project in self.taken],
            **({"kagglehub": self.kagglehub.to_dict()} if self.kagglehub is not None else {}),
            **({"huggingface": hf.to_dict()} if (hf := self.huggingface) is not None else {}),
        }


@dataclass(frozen=True)
class ModelCheck:
    """One locked model, where it is, and what the check found."""

    model: LockedModel
    path: str
    inspection: Inspection
    signature: str | None = None
    """The signer ``verify --signatures`` checked the copy's signature against; None: not checked."""


@dataclass(frozen=True)
class VerifyReport:
    cache: CacheChoice
    checks: tuple[ModelCheck, ...]
    kagglehub: VerifyReport | None = None
    """The same for kagglehub's cache, when any model goes there."""
    huggingface: VerifyReport | None = None
    """The same for huggingface_hub's cache, when any model goes there."""

    @property
    def parts(self) -> tuple[VerifyReport, ...]:
        """One report per cache: tensorflow_hub's, then kagglehub's when there is one."""
        return (self, *(p for p in (self.kagglehub, self.huggingface) if p is not None))

    @property
    def ok(self) -> bool:
        return all(c.inspection.ok for part in self.parts for c in part.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cache": self.cache.to_dict(),
            "ok": self.ok,
            "models": {
                c.model.name: {
                    "state": c.inspection.state.value,
                    "handle": c.model.handle,
                    "path": c.path,
                    "files": [str(f) for f in c.inspection.files],
                    "detail": c.inspection.detail,
                    "signature": c.signature,
                }
                for c in self.checks
            },
            **({"kagglehub": self.kagglehub.to_dict()} if self.kagglehub is not None else {}),
            **({"huggingface": hf.to_dict()} if (hf := self.huggingface) is not None else {}),
        }


class Status(enum.StrEnum):
    """A model as ``hublock status`` shows it: a cache ``State``, or where hub.toml and hub.lock
    disagree."""

    OK = "ok"
    MISSING = "missing"
    MODIFIED = "modified"
    EXTRA_FILES = "extra_files"
    STALE_STAMP = "stale_stamp"
    UNSTAMPED = "unstamped"
    REMOTE = "remote"  # an uncompressed model whose objects match
    STALE = "stale"  # hub.toml changed since it was locked
    NOT_LOCKED = "not_locked"
    NOT_IN_MANIFEST = "not_in_manifest"

    @classmethod
    def of(cls, state: State) -> Status:
        return cls(state.value)


@dataclass(frozen=True)
class ModelStatus:
    """One model as ``hublock status`` shows it."""

    name: str
    handle: str
    state: Status
    size: int | None
    path: str | None
    detail: str = ""
    signer: str | None = None
    """Who signed it, as hub.lock records it ("key sha256:...", ``LockedSignature``); None: unsigned."""


@dataclass(frozen=True)
class StatusReport:
    cache: CacheChoice
    models: tuple[ModelStatus, ...]
    kagglehub: StatusReport | None = None
    """The same for kagglehub's cache, when any model goes there."""
    huggingface: StatusReport | None = None
    """The same for huggingface_hub's cache, when any model goes there."""

    @property
    def parts(self) -> tuple[StatusReport, ...]:
        return (self, *(p for p in (self.kagglehub, self.huggingface) if p is not None))

    def to_dict(self) -> dict[str, Any]:
        return {
            "cache": self.cache.to_dict(),
            "models": {
                m.name: {
                    "state": m.state.value,
                    "handle": m.handle,
                    "size": m.size,
                    "path": m.path,
                    "detail": m.detail,
                    "signer": m.signer,
                }
                for m in self.models
            },
            **({"kagglehub": self.kagglehub.to_dict()} if self.kagglehub is not None else {}),
            **({"huggingface": hf.to_dict()} if (hf := self.huggingface) is not None else {}),
        }


@dataclass(frozen=True)
class Garbage:
    """Something gc removes (or would), and why."""

    name: str
    reason: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "bytes": self.size}


@dataclass(frozen=True)
class Kept:
    """A model this project does not list, kept because other live projects need it."""

    name: str
    projects: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "projects": list(self.projects)}


@dataclass(frozen=True)
class GcReport:
    cache: CacheChoice
    garbage: tuple[Garbage, ...]
    downloads: tuple[Garbage, ...]
    dry_run: bool
    kept: tuple[Kept, ...] = ()
    kagglehub: GcReport | None = None
    """The same for kagglehub's cache (its ``downloads`` are always empty)."""
    huggingface: GcReport | None = None
    """The same for huggingface_hub's cache."""

    @property
    def parts(self) -> tuple[GcReport, ...]:
        return (self, *(p for p in (self.kagglehub, self.huggingface) if p is not None))

    @property
    def freed(self) -> int:
        return sum(g.size for part in self.parts for g in part.garbage + part.downloads)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cache": self.cache.location,
            "dry_run": self.dry_run,
            "removed": [g.to_dict() for g in self.garbage],
            "downloads": [g.to_dict() for g in self.downloads],
            "freed_bytes": self.freed,
            "kept": [k.to_dict() for k in self.kept],
            **({"kagglehub": self.kagglehub.to_dict()} if self.kagglehub is not None else {}),
            **({"huggingface": self.huggingface.to_dict()} if self.huggingface is not None else {}),
        }


class Edit(enum.StrEnum):
    INIT = "init"
    ADD = "add"
    REMOVE = "remove"


@dataclass(frozen=True)
class EditResult:
    """What ``init``, ``add`` or ``remove`` did to hub.toml."""

    edit: Edit
    manifest: Path
    name: str = ""
    handle: str = ""
    kaggle: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.edit is Edit.INIT:
            return {"manifest": str(self.manifest), "written": True}
        if self.edit is Edit.ADD:
            added = {"name": self.name, "handle": self.handle}
            if self.kaggle is not None:
                added["kaggle"] = self.kaggle
            return {"manifest": str(self.manifest), "added": added}
        return {"manifest": str(self.manifest), "removed": self.name}


@dataclass(frozen=True)
class Environment:
    """What ``hublock env`` prints: the variable that points plain ``hub.load`` at the synced
    cache, and with ``--all`` every variable hublock reads or sets."""

    cache: CacheChoice
    settings: tuple[Setting, ...] = ()
    kaggle_cache: CacheChoice | None = None
    """kagglehub's cache (what KAGGLEHUB_CACHE must say for kagglehub and keras_hub)."""
    inflater: str = ""
    """The gunzip in use (ISA-L, or zlib where no ISA-L wheel installs)."""
    hf_cache: CacheChoice | None = None
    """huggingface_hub's cache (what HF_HUB_CACHE must say for huggingface_hub and keras_hub)."""

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {TFHUB_CACHE_DIR.name: self.cache.location}
        if self.kaggle_cache is not None:
            document[KAGGLEHUB_CACHE.name] = self.kaggle_cache.location
        if self.hf_cache is not None:
            document[HF_HUB_CACHE.name] = self.hf_cache.location
        if self.inflater:
            document["inflater"] = self.inflater
        if self.settings:
            document["variables"] = {s.name: s.to_dict() for s in self.settings}
        return document


# -- diff, audit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffReport:
    """``hublock diff``: each model's change between two locks."""

    old: str
    new: str
    models: tuple[ModelDiff, ...]

    @property
    def changed(self) -> tuple[ModelDiff, ...]:
        return tuple(m for m in self.models if m.state != "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "models": {m.name: m.to_dict() for m in self.models}}


class AuditState(enum.StrEnum):
    """What ``audit`` found upstream for one model."""

    UNCHANGED = "unchanged"
    RECOMPRESSED = "recompressed"
    CHANGED = "changed"
    GONE = "gone"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"
    NEWER = "newer"


AUDIT_FAILURES = frozenset({AuditState.CHANGED, AuditState.GONE, AuditState.UNREACHABLE})
"""The states that fail an audit (exit 3)."""


@dataclass(frozen=True)
class AuditResult:
    """One model, as upstream serves it now. ``content``: ``unchanged``, ``recompressed`` (other
    archive bytes, identical files), ``changed`` (other files under the same handle), ``gone``
    (404/410, or no such Kaggle version), ``unreachable`` (any other failure), or ``skipped``.
    ``newer``: the handle of a newer version, when one is published. ``state`` sums both up."""

    name: str
    handle: str
    content: AuditState
    detail: str = ""
    files: tuple[str, ...] = ()
    """The files that differ (``changed``), when the locked archive could be read here."""
    newer: str | None = None
    api: tuple[str, ...] | None = None
    """With ``--fetch-newer``: the newer version's API changes against the locked one."""

    @property
    def state(self) -> AuditState:
        if self.content in AUDIT_FAILURES:
            return self.content
        return AuditState.NEWER if self.newer else self.content

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "content": self.content,
            "handle": self.handle,
            "detail": self.detail,
            "files": list(self.files),
            "newer": self.newer,
            "api": None if self.api is None else list(self.api),
        }


@dataclass(frozen=True)
class AuditReport:
    results: tuple[AuditResult, ...]
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """3 when a locked model changed, is gone or cannot be reached; else 0."""
        return 3 if any(r.state in AUDIT_FAILURES for r in self.results) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": {r.name: r.to_dict() for r in self.results},
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
        }


# -- bundle, mirror ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleReport:
    """What ``bundle`` wrote, or what ``bundle --verify`` / ``lock --check --from`` checked."""

    path: Path
    archives: tuple[BundledArchive, ...]
    skipped: tuple[str, ...] = ()
    """Locked models with no archive to carry (UNCOMPRESSED: read from gs:// in place)."""
    fetched: tuple[str, ...] = ()
    """Models whose archive was not in the download cache and was downloaded to bundle it."""
    seconds: float = 0.0

    @property
    def size(self) -> int:
        return sum(a.size for a in self.archives)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "archives": [a.to_dict() for a in self.archives],
            "bytes": self.size,
            "skipped": list(self.skipped),
            "fetched": list(self.fetched),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class MirrorReport:
    """What ``mirror`` exported to a content-addressed mirror, and what was there already."""

    destination: str
    exported: tuple[BundledArchive, ...]
    present: tuple[BundledArchive, ...]
    skipped: tuple[str, ...] = ()
    fetched: tuple[str, ...] = ()
    seconds: float = field(default=0.0)
    replaced: tuple[str, ...] = ()
    """The sha256 of each archive whose object at the destination held other bytes: written again."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "exported": [a.to_dict() for a in self.exported],
            "present": [a.to_dict() for a in self.present],
            "replaced": list(self.replaced),
            "skipped": list(self.skipped),
            "fetched": list(self.fetched),
            "seconds": round(self.seconds, 3),
        }


_Part = TypeVar("_Part", SyncReport, VerifyReport, StatusReport)


def joined(parts: list[_Part]) -> _Part:
    """tensorflow_hub's report, with the other caches' reports (kagglehub's, huggingface_hub's)
    inside it, each under its loader's name."""
    main, *rest = parts
    inside: dict[str, Any] = {part.cache.loader: part for part in rest}
    return replace(main, **inside)
