"""hublock: pip-tools for TF Hub and Kaggle models.

Lock model handles listed in hub.toml into hub.lock (URLs, sizes, archive and tree digests), then
sync them into the tensorflow_hub cache so that unchanged ``hub.load(handle)`` calls work offline
and load exactly what was locked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hublock.core.lazy import exports as _exports

if TYPE_CHECKING:
    from hublock.caches.base import (
        CacheChoice,
    )
    from hublock.caches.inspection import (
        Change,
        FileChange,
        Inspection,
        State,
    )
    from hublock.caches.layout import (
        cache_key,
    )
    from hublock.commands.airgap import (
        bundle,
        check_with_bundles,
        export_cyclonedx,
        mirror,
        verify_bundle,
    )
    from hublock.commands.audit import (
        audit,
    )
    from hublock.commands.diff import (
        diff,
    )
    from hublock.commands.edit import (
        add,
        init,
        remove,
    )
    from hublock.commands.gc import (
        gc,
    )
    from hublock.commands.inspect import (
        environment,
        status,
        verify,
    )
    from hublock.commands.lock import (
        check,
        lock,
    )
    from hublock.commands.plan import (
        Action,
        SyncStep,
    )
    from hublock.commands.reports import (
        AuditReport,
        AuditResult,
        AuditState,
        BundleReport,
        DiffReport,
        Edit,
        EditResult,
        Environment,
        Garbage,
        GcReport,
        Kept,
        LockResult,
        LockState,
        MirrorReport,
        ModelCheck,
        ModelStatus,
        Outcome,
        Status,
        StatusReport,
        SyncReport,
        SyncResult,
        VerifyReport,
    )
    from hublock.commands.sync import (
        sync,
    )
    from hublock.core.config import (
        Setting,
        Variable,
    )
    from hublock.core.digest import (
        Digest,
        TreeDigest,
        hash_directory,
        tree_hash,
    )
    from hublock.core.errors import (
        BundleError,
        CacheError,
        FetchError,
        HublockError,
        IntegrityError,
        LockfileError,
        ManifestError,
        ModelErrors,
        NotInSyncError,
        SavedModelError,
        UnsafeArchiveError,
    )
    from hublock.core.events import (
        Event,
    )
    from hublock.formats.bundle import (
        BundledArchive,
    )
    from hublock.formats.lock_diff import (
        ModelDiff,
    )
    from hublock.formats.lockfile import (
        LockedModel,
        Lockfile,
        RemoteObject,
        dump_lockfile,
        parse_lockfile,
        read_lockfile,
    )
    from hublock.formats.manifest import (
        Handle,
        Manifest,
        ModelSpec,
        load_manifest,
        parse_manifest,
    )
    from hublock.formats.saved_model_api import (
        ModelApi,
        Signature,
        Tensor,
    )
    from hublock.hooks.activate import (
        activate,
        deactivate,
    )
    from hublock.hooks.environment import (
        run_environment,
    )
    from hublock.hooks.guard import (
        Guard,
    )
    from hublock.hooks.kagglehub import (
        KaggleResolver,
    )
    from hublock.hooks.tfhub import (
        LockedResolver,
    )

__version__ = "0.1.0"

# Every public name, and the private module that defines it. They are imported on first use
# (PEP 562), so that each CLI command imports only the modules it needs: `hublock --version`
# or a no-op `sync` does not pay for bundles, audits or the load hooks.
_WHERE: dict[str, str] = {
    "Action": "hublock.commands.plan",
    "AuditReport": "hublock.commands.reports",
    "AuditResult": "hublock.commands.reports",
    "AuditState": "hublock.commands.reports",
    "BundleError": "hublock.core.errors",
    "BundleReport": "hublock.commands.reports",
    "BundledArchive": "hublock.formats.bundle",
    "CacheChoice": "hublock.caches.base",
    "CacheError": "hublock.core.errors",
    "Change": "hublock.caches.inspection",
    "DiffReport": "hublock.commands.reports",
    "Digest": "hublock.core.digest",
    "Edit": "hublock.commands.reports",
    "EditResult": "hublock.commands.reports",
    "Environment": "hublock.commands.reports",
    "Event": "hublock.core.events",
    "FetchError": "hublock.core.errors",
    "FileChange": "hublock.caches.inspection",
    "Garbage": "hublock.commands.reports",
    "GcReport": "hublock.commands.reports",
    "Guard": "hublock.hooks.guard",
    "Handle": "hublock.formats.manifest",
    "HublockError": "hublock.core.errors",
    "Inspection": "hublock.caches.inspection",
    "IntegrityError": "hublock.core.errors",
    "KaggleResolver": "hublock.hooks.kagglehub",
    "Kept": "hublock.commands.reports",
    "LockResult": "hublock.commands.reports",
    "LockState": "hublock.commands.reports",
    "LockedModel": "hublock.formats.lockfile",
    "LockedResolver": "hublock.hooks.tfhub",
    "Lockfile": "hublock.formats.lockfile",
    "LockfileError": "hublock.core.errors",
    "Manifest": "hublock.formats.manifest",
    "ManifestError": "hublock.core.errors",
    "MirrorReport": "hublock.commands.reports",
    "ModelApi": "hublock.formats.saved_model_api",
    "ModelCheck": "hublock.commands.reports",
    "ModelDiff": "hublock.formats.lock_diff",
    "ModelErrors": "hublock.core.errors",
    "ModelSpec": "hublock.formats.manifest",
    "ModelStatus": "hublock.commands.reports",
    "NotInSyncError": "hublock.core.errors",
    "Outcome": "hublock.commands.reports",
    "RemoteObject": "hublock.formats.lockfile",
    "SavedModelError": "hublock.core.errors",
    "Setting": "hublock.core.config",
    "Signature": "hublock.formats.saved_model_api",
    "State": "hublock.caches.inspection",
    "Status": "hublock.commands.reports",
    "StatusReport": "hublock.commands.reports",
    "SyncReport": "hublock.commands.reports",
    "SyncResult": "hublock.commands.reports",
    "SyncStep": "hublock.commands.plan",
    "Tensor": "hublock.formats.saved_model_api",
    "TreeDigest": "hublock.core.digest",
    "UnsafeArchiveError": "hublock.core.errors",
    "Variable": "hublock.core.config",
    "VerifyReport": "hublock.commands.reports",
    "activate": "hublock.hooks.activate",
    "add": "hublock.commands.edit",
    "audit": "hublock.commands.audit",
    "bundle": "hublock.commands.airgap",
    "cache_key": "hublock.caches.layout",
    "check": "hublock.commands.lock",
    "check_with_bundles": "hublock.commands.airgap",
    "deactivate": "hublock.hooks.activate",
    "diff": "hublock.commands.diff",
    "dump_lockfile": "hublock.formats.lockfile",
    "environment": "hublock.commands.inspect",
    "export_cyclonedx": "hublock.commands.airgap",
    "gc": "hublock.commands.gc",
    "hash_directory": "hublock.core.digest",
    "init": "hublock.commands.edit",
    "load_manifest": "hublock.formats.manifest",
    "lock": "hublock.commands.lock",
    "mirror": "hublock.commands.airgap",
    "parse_lockfile": "hublock.formats.lockfile",
    "parse_manifest": "hublock.formats.manifest",
    "read_lockfile": "hublock.formats.lockfile",
    "remove": "hublock.commands.edit",
    "run_environment": "hublock.hooks.environment",
    "status": "hublock.commands.inspect",
    "sync": "hublock.commands.sync",
    "tree_hash": "hublock.core.digest",
    "verify": "hublock.commands.inspect",
    "verify_bundle": "hublock.commands.airgap",
}


__getattr__, __dir__ = _exports(__name__, _WHERE)


__all__ = [
    "Action",
    "AuditReport",
    "AuditResult",
    "AuditState",
    "BundleError",
    "BundleReport",
    "BundledArchive",
    "CacheChoice",
    "CacheError",
    "Change",
    "DiffReport",
    "Digest",
    "Edit",
    "EditResult",
    "Environment",
    "Event",
    "FetchError",
    "FileChange",
    "Garbage",
    "GcReport",
    "Guard",
    "Handle",
    "HublockError",
    "Inspection",
    "IntegrityError",
    "KaggleResolver",
    "Kept",
    "LockResult",
    "LockState",
    "LockedModel",
    "LockedResolver",
    "Lockfile",
    "LockfileError",
    "Manifest",
    "ManifestError",
    "MirrorReport",
    "ModelApi",
    "ModelCheck",
    "ModelDiff",
    "ModelErrors",
    "ModelSpec",
    "ModelStatus",
    "NotInSyncError",
    "Outcome",
    "RemoteObject",
    "SavedModelError",
    "Setting",
    "Signature",
    "State",
    "Status",
    "StatusReport",
    "SyncReport",
    "SyncResult",
    "SyncStep",
    "Tensor",
    "TreeDigest",
    "UnsafeArchiveError",
    "Variable",
    "VerifyReport",
    "__version__",
    "activate",
    "add",
    "audit",
    "bundle",
    "cache_key",
    "check",
    "check_with_bundles",
    "deactivate",
    "diff",
    "dump_lockfile",
    "environment",
    "export_cyclonedx",
    "gc",
    "hash_directory",
    "init",
    "load_manifest",
    "lock",
    "mirror",
    "parse_lockfile",
    "parse_manifest",
    "read_lockfile",
    "remove",
    "run_environment",
    "status",
    "sync",
    "tree_hash",
    "verify",
    "verify_bundle",
]
