"""What ``gc`` removed and kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hublock.caches import CacheChoice


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
