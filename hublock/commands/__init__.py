"""What each command does, as a function of a ``Project`` that returns a report (frozen data with
``to_dict()``): lock, sync, verify/status/env, gc, init/add/remove, diff/audit, bundle/mirror."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hublock.core.lazy import exports

if TYPE_CHECKING:
    from hublock.commands.edit import (
        default_name,
        editing,
    )
    from hublock.commands.plan import (
        Action,
        SyncStep,
    )
    from hublock.commands.project import (
        Project,
        default_lockfile,
    )
    from hublock.commands.sync import (
        sync_model,
    )

# What other wings use, and the module that defines it: imported on first use (core.lazy).
_WHERE: dict[str, str] = {
    "Action": "hublock.commands.plan",
    "Project": "hublock.commands.project",
    "SyncStep": "hublock.commands.plan",
    "default_lockfile": "hublock.commands.project",
    "default_name": "hublock.commands.edit",
    "editing": "hublock.commands.edit",
    "sync_model": "hublock.commands.sync",
}
__getattr__, __dir__ = exports(__name__, _WHERE)


__all__ = [
    "Action",
    "Project",
    "SyncStep",
    "default_lockfile",
    "default_name",
    "editing",
    "sync_model",
]
