"""What ``lock`` did."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hublock.core import redact
from hublock.formats import Lockfile

if TYPE_CHECKING:
    # only named in annotations: this module's import loads no reader
    from hublock.formats import ModelApi


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
