"""hublock: pip-tools for TF Hub and Kaggle models.

Lock model handles listed in hub.toml into hub.lock (URLs, sizes, archive and tree digests), then
sync them into the tensorflow_hub cache so that unchanged ``hub.load(handle)`` calls work offline
and load exactly what was locked.
"""

from typing import TYPE_CHECKING

from hublock._airgap import (
    BundleReport,
    MirrorReport,
    bundle,
    check_with_bundles,
    export_cyclonedx,
    mirror,
    verify_bundle,
)
from hublock._api import ModelApi, Signature, Tensor
from hublock._bundle_file import BundledArchive
from hublock._cache import CacheChoice
from hublock._config import Setting, Variable
from hublock._diff import ModelDiff
from hublock._digest import Digest, TreeDigest, hash_directory, tree_hash
from hublock._edit import add, init, remove
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
from hublock._events import Event
from hublock._gc import gc
from hublock._guard import Guard
from hublock._layout import cache_key
from hublock._locker import check, lock
from hublock._lockfile import (
    LockedModel,
    Lockfile,
    RemoteObject,
    dump_lockfile,
    parse_lockfile,
    read_lockfile,
)
from hublock._manifest import Handle, Manifest, ModelSpec, load_manifest, parse_manifest
from hublock._plan import Action, SyncStep
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
from hublock._status import environment, status, verify
from hublock._sync import sync
from hublock._upstream import AuditReport, AuditResult, DiffReport, audit, diff
from hublock._verify import Change, FileChange, Inspection, State

if TYPE_CHECKING:
    from hublock._hook import activate, deactivate
    from hublock._kagglehub import KaggleResolver
    from hublock._tfhub import LockedResolver
else:

    def __getattr__(name: str) -> object:
        # The hooks import the loaders (tensorflow_hub imports TensorFlow): only when asked for.
        if name in ("activate", "deactivate"):
            from hublock import _hook

            return getattr(_hook, name)
        if name == "LockedResolver":
            from hublock._tfhub import LockedResolver

            return LockedResolver
        if name == "KaggleResolver":
            from hublock._kagglehub import KaggleResolver

            return KaggleResolver
        raise AttributeError(f"module 'hublock' has no attribute {name!r}")


__version__ = "0.1.0"

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
