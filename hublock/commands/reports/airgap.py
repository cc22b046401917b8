"""What ``bundle`` and ``mirror`` wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # only named in annotations: this module's import loads no reader
    from hublock.formats import BundledArchive


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
