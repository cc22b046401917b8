"""What ``verify``, ``status`` and ``env`` found."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from hublock.caches import CacheChoice, Inspection, State
from hublock.core import HF_HUB_CACHE, KAGGLEHUB_CACHE, TFHUB_CACHE_DIR, Setting
from hublock.formats import LockedModel


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
