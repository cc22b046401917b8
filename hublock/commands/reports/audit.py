"""What ``diff`` and ``audit`` found."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # only named in annotations: this module's import loads no reader
    from hublock.formats import ModelDiff


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
