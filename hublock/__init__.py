"""hublock: pip-tools for TF Hub and Kaggle models.

Lock model handles listed in hub.toml into hub.lock (URLs, sizes, archive and tree digests), then
sync them into the tensorflow_hub cache so that unchanged ``hub.load(handle)`` calls work offline
and load exactly what was locked.
"""

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
from hublock._locker import LockResult, check, lock
from hublock._lockfile import LockedModel, Lockfile, dump_lockfile, parse_lockfile, read_lockfile
from hublock._manifest import Handle, Manifest, ModelSpec, load_manifest, parse_manifest
from hublock._sync import SyncReport, SyncResult, sync
from hublock._targets import cache_key

__version__ = "0.1.0"

__all__ = [
    "CacheError",
    "Digest",
    "Event",
    "FetchError",
    "Handle",
    "HublockError",
    "IntegrityError",
    "LockResult",
    "LockedModel",
    "Lockfile",
    "LockfileError",
    "Manifest",
    "ManifestError",
    "ModelSpec",
    "NotInSyncError",
    "SyncReport",
    "SyncResult",
    "UnsafeArchiveError",
    "__version__",
    "cache_key",
    "check",
    "dump_lockfile",
    "hash_directory",
    "load_manifest",
    "lock",
    "parse_lockfile",
    "parse_manifest",
    "read_lockfile",
    "sync",
    "tree_hash",
]
