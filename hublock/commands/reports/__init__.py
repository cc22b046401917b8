"""What each command did, as data: frozen, built whole, and serialising itself.

``to_dict()`` is exactly the ``--format json`` document of the command (the CLI prints it and
builds no JSON of its own); the package ships a JSON Schema for each (``hublock/schemas/``), and
the tests check every command's output against it. One module per command: each command imports
only its own reports (building ~30 frozen dataclasses at every start cost a no-op sync 15 ms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hublock.core.lazy import exports

if TYPE_CHECKING:
    from hublock.commands.reports.airgap import BundleReport, MirrorReport
    from hublock.commands.reports.audit import (
        AUDIT_FAILURES,
        AuditReport,
        AuditResult,
        AuditState,
        DiffReport,
    )
    from hublock.commands.reports.edit import Edit, EditResult
    from hublock.commands.reports.gc import Garbage, GcReport, Kept
    from hublock.commands.reports.inspect import (
        Environment,
        ModelCheck,
        ModelStatus,
        Status,
        StatusReport,
        VerifyReport,
    )
    from hublock.commands.reports.lock import LockResult, LockState
    from hublock.commands.reports.parts import joined
    from hublock.commands.reports.sync import Outcome, SyncReport, SyncResult

__getattr__, __dir__ = exports(
    __name__,
    {
        "LockState": "hublock.commands.reports.lock",
        "LockResult": "hublock.commands.reports.lock",
        "Outcome": "hublock.commands.reports.sync",
        "SyncResult": "hublock.commands.reports.sync",
        "SyncReport": "hublock.commands.reports.sync",
        "ModelCheck": "hublock.commands.reports.inspect",
        "VerifyReport": "hublock.commands.reports.inspect",
        "Status": "hublock.commands.reports.inspect",
        "ModelStatus": "hublock.commands.reports.inspect",
        "StatusReport": "hublock.commands.reports.inspect",
        "Environment": "hublock.commands.reports.inspect",
        "Garbage": "hublock.commands.reports.gc",
        "Kept": "hublock.commands.reports.gc",
        "GcReport": "hublock.commands.reports.gc",
        "Edit": "hublock.commands.reports.edit",
        "EditResult": "hublock.commands.reports.edit",
        "DiffReport": "hublock.commands.reports.audit",
        "AuditState": "hublock.commands.reports.audit",
        "AUDIT_FAILURES": "hublock.commands.reports.audit",
        "AuditResult": "hublock.commands.reports.audit",
        "AuditReport": "hublock.commands.reports.audit",
        "BundleReport": "hublock.commands.reports.airgap",
        "MirrorReport": "hublock.commands.reports.airgap",
        "joined": "hublock.commands.reports.parts",
    },
)

__all__ = [
    "AUDIT_FAILURES",
    "AuditReport",
    "AuditResult",
    "AuditState",
    "BundleReport",
    "DiffReport",
    "Edit",
    "EditResult",
    "Environment",
    "Garbage",
    "GcReport",
    "Kept",
    "LockResult",
    "LockState",
    "MirrorReport",
    "ModelCheck",
    "ModelStatus",
    "Outcome",
    "Status",
    "StatusReport",
    "SyncReport",
    "SyncResult",
    "VerifyReport",
    "joined",
]
