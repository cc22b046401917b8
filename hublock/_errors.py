"""hublock's exceptions: one tree, each message written for the person who has to act on it.

    HublockError                 exit 2 unless a subclass says otherwise
    ├── ManifestError            hub.toml is unreadable, malformed or asks for something unknown
    ├── LockfileError            hub.lock is unreadable, malformed, or from a newer hublock
    ├── NotInSyncError           exit 1: the lock is stale, or the cache would change
    ├── FetchError               exit 3: a handle or URL could not be downloaded
    ├── IntegrityError           exit 3: bytes differ from what hub.lock recorded
    │   └── UnsafeArchiveError   exit 3: the archive tries to write outside its directory, links...
    └── CacheError               exit 4: the cache directory cannot be written (full disk, permissions)

The CLI maps ``exit_code`` to the process exit status; the library only raises.
"""

from __future__ import annotations


class HublockError(Exception):
    """Base class of every error hublock raises on purpose."""

    exit_code: int = 2


class ManifestError(HublockError):
    """hub.toml cannot be read, is not valid TOML, or does not follow hublock's schema."""


class LockfileError(HublockError):
    """hub.lock cannot be read, is malformed, or was written by a newer hublock."""


class NotInSyncError(HublockError):
    """The lock does not match the manifest, or the cache does not match the lock."""

    exit_code = 1


class FetchError(HublockError):
    """A model archive could not be downloaded (HTTP error, network failure, missing file)."""

    exit_code = 3


class IntegrityError(HublockError):
    """Downloaded or cached bytes differ from the digests recorded in hub.lock."""

    exit_code = 3


class UnsafeArchiveError(IntegrityError):
    """An archive holds a member that could escape its directory or is not a plain file."""


class CacheError(HublockError):
    """The cache (or download cache) cannot be written: full disk, permissions, a broken mount."""

    exit_code = 4
