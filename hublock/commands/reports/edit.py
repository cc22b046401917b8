"""What ``init``, ``add`` and ``remove`` did to hub.toml."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
