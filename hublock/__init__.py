"""hublock: pip-tools for TF Hub and Kaggle models.

Lock model handles listed in hub.toml into hub.lock (URLs, sizes, archive and tree digests), then
sync them into the tensorflow_hub cache so that unchanged ``hub.load(handle)`` calls work offline
and load exactly what was locked.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hublock._airgap import (
        BundleReport,
        MirrorReport,
        bundle,
        check_with_bundles,
        export_cyclonedx,
        mirror,
        verify_bundle,
    )
    from hublock._api import (
        ModelApi,
        Signature,
        Tensor,
    )
    from hublock._bundle_file import (
        BundledArchive,
    )
    from hublock._cache import (
        CacheChoice,
    )
    from hublock._config import (
        Setting,
        Variable,
    )
    from hublock._diff import (
        ModelDiff,
    )
    from hublock._digest import (
        Digest,
        TreeDigest,
        hash_directory,
        tree_hash,
    )
    from hublock._edit import (
        add,
        init,
        remove,
    )
    from hublock._errors import (
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
    from hublock._events import (
        Event,
    )
    from hublock._gc import (
        gc,
    )
    from hublock._guard import (
        Guard,
    )
    from hublock._hook import (
        activate,
        deactivate,
    )
    from hublock._kagglehub import (
        KaggleResolver,
    )
    from hublock._layout import (
        cache_key,
    )
    from hublock._locker import (
        check,
        lock,
    )
    from hublock._lockfile import (
        LockedModel,
        Lockfile,
        RemoteObject,
        dump_lockfile,
        parse_lockfile,
        read_lockfile,
    )
    from hublock._manifest import (
        Handle,
        Manifest,
        ModelSpec,
        load_manifest,
        parse_manifest,
    )
    from hublock._plan import (
        Action,
        SyncStep,
    )
    from hublock._reports import (
        Edit,
        EditResult,
        Environment,
        Garbage,
        GcReport,
        Kept,
        LockResult,
        LockState,
        ModelCheck,
        ModelStatus,
        Outcome,
        Status,
        StatusReport,
        SyncReport,
        SyncResult,
        VerifyReport,
    )
    from hublock._status import (
        environment,
        status,
        verify,
    )
    from hublock._sync import (
        sync,
    )
    from hublock._tfhub import (
        LockedResolver,
    )
    from hublock._upstream import (
        AuditReport,
        AuditResult,
        DiffReport,
        audit,
        diff,
    )
    from hublock._verify import (
        Change,
        FileChange,
        Inspection,
        State,
    )

__version__ = "0.1.0"

# Every public name, and the private module that defines it. They are imported on first use
# (PEP 562), so that each CLI command imports only the modules it needs: `hublock --version`
# or a no-op `sync` does not pay for bundles, audits or the load hooks.
_WHERE: dict[str, str] = {
    "Action": "hublock._plan",
    "AuditReport": "hublock._upstream",
    "AuditResult": "hublock._upstream",
    "BundleError": "hublock._errors",
    "BundleReport": "hublock._airgap",
    "BundledArchive": "hublock._bundle_file",
    "CacheChoice": "hublock._cache",
    "CacheError": "hublock._errors",
    "Change": "hublock._verify",
    "DiffReport": "hublock._upstream",
    "Digest": "hublock._digest",
    "Edit": "hublock._reports",
    "EditResult": "hublock._reports",
    "Environment": "hublock._reports",
    "Event": "hublock._events",
    "FetchError": "hublock._errors",
    "FileChange": "hublock._verify",
    "Garbage": "hublock._reports",
    "GcReport": "hublock._reports",
    "Guard": "hublock._guard",
    "Handle": "hublock._manifest",
    "HublockError": "hublock._errors",
    "Inspection": "hublock._verify",
    "IntegrityError": "hublock._errors",
    "KaggleResolver": "hublock._kagglehub",
    "Kept": "hublock._reports",
    "LockResult": "hublock._reports",
    "LockState": "hublock._reports",
    "LockedModel": "hublock._lockfile",
    "LockedResolver": "hublock._tfhub",
    "Lockfile": "hublock._lockfile",
    "LockfileError": "hublock._errors",
    "Manifest": "hublock._manifest",
    "ManifestError": "hublock._errors",
    "MirrorReport": "hublock._airgap",
    "ModelApi": "hublock._api",
    "ModelCheck": "hublock._reports",
    "ModelDiff": "hublock._diff",
    "ModelErrors": "hublock._errors",
    "ModelSpec": "hublock._manifest",
    "ModelStatus": "hublock._reports",
    "NotInSyncError": "hublock._errors",
    "Outcome": "hublock._reports",
    "RemoteObject": "hublock._lockfile",
    "SavedModelError": "hublock._errors",
    "Setting": "hublock._config",
    "Signature": "hublock._api",
    "State": "hublock._verify",
    "Status": "hublock._reports",
    "StatusReport": "hublock._reports",
    "SyncReport": "hublock._reports",
    "SyncResult": "hublock._reports",
    "SyncStep": "hublock._plan",
    "Tensor": "hublock._api",
    "TreeDigest": "hublock._digest",
    "UnsafeArchiveError": "hublock._errors",
    "Variable": "hublock._config",
    "VerifyReport": "hublock._reports",
    "activate": "hublock._hook",
    "add": "hublock._edit",
    "audit": "hublock._upstream",
    "bundle": "hublock._airgap",
    "cache_key": "hublock._layout",
    "check": "hublock._locker",
    "check_with_bundles": "hublock._airgap",
    "deactivate": "hublock._hook",
    "diff": "hublock._upstream",
    "dump_lockfile": "hublock._lockfile",
    "environment": "hublock._status",
    "export_cyclonedx": "hublock._airgap",
    "gc": "hublock._gc",
    "hash_directory": "hublock._digest",
    "init": "hublock._edit",
    "load_manifest": "hublock._manifest",
    "lock": "hublock._locker",
    "mirror": "hublock._airgap",
    "parse_lockfile": "hublock._lockfile",
    "parse_manifest": "hublock._manifest",
    "read_lockfile": "hublock._lockfile",
    "remove": "hublock._edit",
    "status": "hublock._status",
    "sync": "hublock._sync",
    "tree_hash": "hublock._digest",
    "verify": "hublock._status",
    "verify_bundle": "hublock._airgap",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hublock' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Action",
    "AuditReport",
    "AuditResult",
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
    "status",
    "sync",
    "tree_hash",
    "verify",
    "verify_bundle",
]
