"""What ``sync`` did (and, with ``--dry-run``, would do)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from hublock.caches import CacheChoice
from hublock.commands.plan import Action, SyncStep
from hublock.core import Loader


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
