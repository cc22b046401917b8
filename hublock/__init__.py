"""hublock: pip-tools for TF Hub and Kaggle models.

Lock model handles listed in hub.toml into hub.lock (URLs, sizes, archive and tree digests), then
sync them into the tensorflow_hub cache so that unchanged ``hub.load(handle)`` calls work offline
and load exactly what was locked.
"""

from typing import TYPE_CHECKING

from hublock._digest import Digest, hash_directory, tree_hash
from hublock._errors import (
    CacheError,
    FetchError,
    HublockError,
    IntegrityError,
    LockfileError,
    ManifestError,
    NotInSyncError,
    UnsafeArchiveError,
)
from hublock._events import Event
from hublock._gc import GcReport, gc
from hublock._locker import LockResult, check, lock
from hublock._lockfile import LockedModel, Lockfile, dump_lockfile, parse_lockfile, read_lockfile
from hublock._manifest import Handle, Manifest, ModelSpec, load_manifest, parse_manifest
from hublock._sync import ModelCheck, ModelStatus, SyncReport, SyncResult, VerifyReport, status, sync, verify
from hublock._targets import cache_key
from hublock._verify import Inspection, State

if TYPE_CHECKING:
    from hublock._tfhub import LockedResolver, activate, deactivate
else:

    def __getattr__(name: str) -> object:
        # The hook imports tensorflow_hub (and so TensorFlow): only when it is asked for.
        if name in ("activate", "deactivate", "LockedResolver"):
            from hublock import _tfhub

            return getattr(_tfhub, name)
        raise AttributeError(f"module 'hublock' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "CacheError",
    "Digest",
    "Event",
    "FetchError",
    "GcReport",
    "Handle",
    "HublockError",
    "Inspection",
    "IntegrityError",
    "LockResult",
    "LockedModel",
    "LockedResolver",
    "Lockfile",
    "LockfileError",
    "Manifest",
    "ManifestError",
    "ModelCheck",
    "ModelSpec",
    "ModelStatus",
    "NotInSyncError",
    "State",
    "SyncReport",
    "SyncResult",
    "UnsafeArchiveError",
    "VerifyReport",
    "__version__",
    "activate",
    "cache_key",
    "check",
    "deactivate",
    "dump_lockfile",
    "gc",
    "hash_directory",
    "load_manifest",
    "lock",
    "parse_lockfile",
    "parse_manifest",
    "read_lockfile",
    "status",
    "sync",
    "tree_hash",
    "verify",
]
