"""What every wing uses: errors with fields, events, secrets masked, the environment variables,
atomic file writes, digests and the worker pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hublock.core.lazy import exports

if TYPE_CHECKING:
    from hublock.core.config import (
        KAGGLEHUB_CACHE,
        TFHUB_CACHE_DIR,
        Setting,
        settings,
    )
    from hublock.core.digest import (
        CHUNK,
        Digest,
        FileEntry,
        TreeDigest,
        hash_directory,
        sha256_digest,
        sha256_file,
        tree_digest,
        walk_files,
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
        OnEvent,
        bytes_of,
        ignore,
    )
    from hublock.core.fsutil import (
        atomic_write,
        remove_tree,
        temp_owner,
        temp_path,
    )
    from hublock.core.parallel import (
        CancelFlag,
        Inline,
        ReadAhead,
        processes_pay_off,
        profiled,
        raise_if_cancelled,
        run_parallel,
        run_processes,
    )
    from hublock.core.redaction import (
        redact,
        strip_secrets,
    )
    from hublock.core.types import (
        LOADER_MODULES,
        UNLOCKED_MODES,
        VERIFY_MODES,
        Loader,
        Unlocked,
        Verify,
        one_of,
    )

# What other wings use, and the module that defines it: imported on first use (core.lazy).
_WHERE: dict[str, str] = {
    "BundleError": "hublock.core.errors",
    "CHUNK": "hublock.core.digest",
    "CacheError": "hublock.core.errors",
    "CancelFlag": "hublock.core.parallel",
    "Digest": "hublock.core.digest",
    "Event": "hublock.core.events",
    "FetchError": "hublock.core.errors",
    "FileEntry": "hublock.core.digest",
    "HublockError": "hublock.core.errors",
    "Inline": "hublock.core.parallel",
    "IntegrityError": "hublock.core.errors",
    "KAGGLEHUB_CACHE": "hublock.core.config",
    "LOADER_MODULES": "hublock.core.types",
    "Loader": "hublock.core.types",
    "LockfileError": "hublock.core.errors",
    "ManifestError": "hublock.core.errors",
    "ModelErrors": "hublock.core.errors",
    "NotInSyncError": "hublock.core.errors",
    "OnEvent": "hublock.core.events",
    "ReadAhead": "hublock.core.parallel",
    "SavedModelError": "hublock.core.errors",
    "Setting": "hublock.core.config",
    "TFHUB_CACHE_DIR": "hublock.core.config",
    "TreeDigest": "hublock.core.digest",
    "UNLOCKED_MODES": "hublock.core.types",
    "Unlocked": "hublock.core.types",
    "UnsafeArchiveError": "hublock.core.errors",
    "VERIFY_MODES": "hublock.core.types",
    "Verify": "hublock.core.types",
    "atomic_write": "hublock.core.fsutil",
    "bytes_of": "hublock.core.events",
    "hash_directory": "hublock.core.digest",
    "ignore": "hublock.core.events",
    "one_of": "hublock.core.types",
    "processes_pay_off": "hublock.core.parallel",
    "profiled": "hublock.core.parallel",
    "raise_if_cancelled": "hublock.core.parallel",
    "redact": "hublock.core.redaction",
    "remove_tree": "hublock.core.fsutil",
    "run_parallel": "hublock.core.parallel",
    "run_processes": "hublock.core.parallel",
    "settings": "hublock.core.config",
    "sha256_digest": "hublock.core.digest",
    "sha256_file": "hublock.core.digest",
    "strip_secrets": "hublock.core.redaction",
    "temp_owner": "hublock.core.fsutil",
    "temp_path": "hublock.core.fsutil",
    "tree_digest": "hublock.core.digest",
    "walk_files": "hublock.core.digest",
}
_getattr, __dir__ = exports(__name__, _WHERE)


def __getattr__(name: str) -> Any:
    return _getattr(name)


__all__ = [
    "CHUNK",
    "KAGGLEHUB_CACHE",
    "LOADER_MODULES",
    "TFHUB_CACHE_DIR",
    "UNLOCKED_MODES",
    "VERIFY_MODES",
    "BundleError",
    "CacheError",
    "CancelFlag",
    "Digest",
    "Event",
    "FetchError",
    "FileEntry",
    "HublockError",
    "Inline",
    "IntegrityError",
    "Loader",
    "LockfileError",
    "ManifestError",
    "ModelErrors",
    "NotInSyncError",
    "OnEvent",
    "ReadAhead",
    "SavedModelError",
    "Setting",
    "TreeDigest",
    "Unlocked",
    "UnsafeArchiveError",
    "Verify",
    "atomic_write",
    "bytes_of",
    "hash_directory",
    "ignore",
    "one_of",
    "processes_pay_off",
    "profiled",
    "raise_if_cancelled",
    "redact",
    "remove_tree",
    "run_parallel",
    "run_processes",
    "settings",
    "sha256_digest",
    "sha256_file",
    "strip_secrets",
    "temp_owner",
    "temp_path",
    "tree_digest",
    "walk_files",
]
