"""Where models go: a tensorflow_hub cache directory, laid out exactly as tensorflow_hub lays it.

    <cache>/<sha1(handle)>/                 the archive's files, nothing else (what hub.load reads)
    <cache>/<sha1>.descriptor.txt           tensorflow_hub's informational descriptor
    <cache>/<sha1>.lock                     tensorflow_hub's download lock ("host.pid.uuid")
    <cache>/<sha1>.<uuid>.tmp/              a download in progress (ours use the lock's uuid)
    <cache>/<sha1>.hublock.json             hublock's stamp: what was verified, and file stats

tensorflow_hub treats any non-empty ``<sha1>/`` as complete, so a model only ever appears there
by one rename of a finished, verified directory. Correctness comes from that rename; the lock
file only keeps a concurrent ``hub.load`` or sync from doing the same work twice.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hublock._digest import TreeDigest, hash_directory
from hublock._errors import CacheError
from hublock._files import atomic_write, temp_path
from hublock._lockfile import LockedModel
from hublock._verify import Inspection, Stamp, check_fast, check_full, file_stats

LOCK_TIMEOUT_SEC = 10 * 60  # tensorflow_hub's own LOCK_FILE_TIMEOUT_SEC


@dataclass(frozen=True)
class Entry:
    """One name at the top of a cache: its total size, age and, for a lock file, its content."""

    name: str
    size: int
    mtime: float
    content: str = ""


def cache_key(handle: str) -> str:
    """tensorflow_hub's cache key: sha1 of the handle exactly as written."""
    return hashlib.sha1(handle.encode("utf8")).hexdigest()


def tfhub_default_cache() -> str:
    return os.path.join(tempfile.gettempdir(), "tfhub_modules")


@dataclass(frozen=True)
class CacheChoice:
    """The cache a command uses, and why (printed so nobody has to guess)."""

    location: str
    reason: str


def choose_cache(option: str | None, manifest_cache: str | None) -> CacheChoice:
    """``--cache``, then ``TFHUB_CACHE_DIR``, then ``[cache] dir``, then tensorflow_hub's default."""
    if option:
        return CacheChoice(_expand(option), "--cache")
    env = os.environ.get("TFHUB_CACHE_DIR", "")
    if env:
        return CacheChoice(_expand(env), "TFHUB_CACHE_DIR")
    if manifest_cache:
        return CacheChoice(manifest_cache, "[cache] dir in hub.toml")
    return CacheChoice(tfhub_default_cache(), "tensorflow_hub's default")


def _expand(location: str) -> str:
    if "://" in location:
        return location[len("file://") :] if location.startswith("file://") else location
    return os.path.abspath(os.path.expanduser(location))


class Cache(Protocol):
    """A tensorflow_hub cache: a local directory (LocalCache) or any fsspec URL (BucketCache)."""

    location: str

    def model_path(self, handle: str) -> str:
        """Where tensorflow_hub looks for the handle: ``<cache>/<sha1(handle)>``."""
        ...

    def inspect(self, model: LockedModel, *, full: bool = False, jobs: int = 2) -> Inspection: ...

    def adopt(self, model: LockedModel) -> bool:
        """Re-hash an unstamped copy; stamp it and return True if it matches the lock."""
        ...

    def ensure_root(self) -> None: ...

    def model_lock(self, handle: str) -> AbstractContextManager[str]: ...

    def staging_dir(self, handle: str, uid: str) -> Path:
        """A new local directory to extract into."""
        ...

    def publish(self, model: LockedModel, staging: Path, tree: TreeDigest) -> None:
        """Make the verified ``staging`` the model's directory, so no reader sees it half-done."""
        ...

    def entries(self) -> list[Entry]:
        """Every name at the top of the cache, with its size, age and (for locks) content."""
        ...

    def remove(self, name: str) -> None:
        """Delete a top-level name (a model, staging, a lock or a sidecar file)."""
        ...


def open_cache(location: str, options: Mapping[str, Any] | None = None) -> Cache:
    """The cache at a local path or an fsspec URL (``gs://bucket/prefix``, ``memory://...``)."""
    if "://" in location:
        from hublock._bucket import BucketCache

        return BucketCache(location, options or {})
    return LocalCache(location)


class LocalCache:
    """A tensorflow_hub cache directory on the local file system."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def __str__(self) -> str:
        return self.location

    def model_dir(self, handle: str) -> Path:
        return self.root / cache_key(handle)

    def model_path(self, handle: str) -> str:
        return str(self.model_dir(handle))

    def _stamp_path(self, key: str) -> Path:
        return self.root / f"{key}.hublock.json"

    def read_stamp(self, handle: str) -> Stamp | None:
        try:
            stamp = Stamp.from_json(self._stamp_path(cache_key(handle)).read_text("utf-8"))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        return stamp if stamp.handle == handle else None

    def inspect(self, model: LockedModel, *, full: bool = False, jobs: int = 2) -> Inspection:
        """Check one model against its lock entry: by its stamp's file stats (fast), or by
        re-hashing every file (full)."""
        directory = self.model_dir(model.handle)
        stamp = self.read_stamp(model.handle)
        return check_full(directory, stamp, model, jobs) if full else check_fast(directory, stamp, model)

    def adopt(self, model: LockedModel) -> bool:
        tree = hash_directory(self.model_dir(model.handle), jobs=2)
        if tree.tree != model.tree:
            return False
        self.write_stamp(model, tree)
        return True

    def ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the cache directory {self.root}: {exc}") from exc

    def staging_dir(self, handle: str, uid: str) -> Path:
        """tensorflow_hub's temp-dir name, so its stale-lock check sees our progress."""
        return self.root / f"{cache_key(handle)}.{uid}.tmp"

    def write_stamp(self, model: LockedModel, tree: TreeDigest) -> None:
        """Record what was verified (``tree`` must match the lock) and the files' stats now."""
        stamp = Stamp.of(model, tree, file_stats(self.model_dir(model.handle)))
        atomic_write(self._stamp_path(cache_key(model.handle)), stamp.to_json())

    def publish(self, model: LockedModel, staging: Path, tree: TreeDigest) -> None:
        """Make ``staging`` the model's directory with one rename; replace what was there."""
        key = cache_key(model.handle)
        final = self.root / key
        atomic_write(self.root / f"{key}.descriptor.txt", descriptor(model.handle))
        self._stamp_path(key).unlink(missing_ok=True)
        aside = None
        if final.exists() or final.is_symlink():
            # Moved aside under a temp-dir name, so that a crash leaves only what gc cleans.
            aside = self.root / f"{key}.{uuid.uuid4().hex}.tmp"
            os.rename(final, aside)
        os.rename(staging, final)
        self.write_stamp(model, tree)
        if aside is not None:
            remove_tree(aside)

    def entries(self) -> list[Entry]:
        if not self.root.is_dir():
            return []
        found = []
        for item in os.scandir(self.root):
            st = item.stat(follow_symlinks=False)
            size = _dir_size(Path(item.path)) if item.is_dir(follow_symlinks=False) else st.st_size
            content = ""
            if item.name.endswith(".lock"):
                with suppress(OSError, UnicodeDecodeError):
                    content = Path(item.path).read_text()
            found.append(Entry(item.name, size, st.st_mtime, content))
        return found

    def remove(self, name: str) -> None:
        path = self.root / name
        if path.is_dir() and not path.is_symlink():
            remove_tree(path)
        else:
            path.unlink(missing_ok=True)

    @contextmanager
    def model_lock(self, handle: str, timeout: float = LOCK_TIMEOUT_SEC) -> Iterator[str]:
        """Hold tensorflow_hub's ``<sha1>.lock`` for a handle; yields the lock's uuid."""
        key = cache_key(handle)
        lock_file = self.root / f"{key}.lock"
        uid = uuid.uuid4().hex
        contents = lock_contents(uid)
        _acquire(lock_file, contents, self.root / key, timeout)
        try:
            yield uid
        finally:
            with suppress(OSError):
                if lock_file.read_text() == contents:
                    lock_file.unlink()


def descriptor(handle: str) -> str:
    """tensorflow_hub's ``<sha1>.descriptor.txt`` (informational: nothing reads it)."""
    return (
        f"Module: {handle}\nDownload Time: {datetime.datetime.today()}\n"
        f"Downloader Hostname: {socket.gethostname()} (PID:{os.getpid()})"
    )


def lock_contents(uid: str) -> str:
    """tensorflow_hub's lock file content: ``host.pid.uuid``."""
    return f"{socket.gethostname()}.{os.getpid()}.{uid}"


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def owner_is_dead(contents: str) -> bool:
    """True when the lock was written on this host by a process that no longer exists."""
    host, _, rest = contents.rpartition(".")[0].rpartition(".")
    if host != socket.gethostname() or not rest.isdigit():
        return False
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _acquire(lock_file: Path, contents: str, module_dir: Path, timeout: float) -> None:
    """Create the lock file atomically (link of a finished temp file), or wait for its owner.

    Like tensorflow_hub, a lock whose owner made no progress for ``timeout`` seconds is taken
    over; unlike it, a lock left by a dead process on this host is taken over at once.
    """
    progress: tuple[str, int] | None = None
    progress_time = time.monotonic()
    while True:
        tmp = temp_path(lock_file)
        try:
            tmp.write_text(contents)
            os.link(tmp, lock_file)
            return
        except FileExistsError:
            pass
        except OSError as exc:
            raise CacheError(f"cannot create the lock file {lock_file}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        try:
            holder = lock_file.read_text()
        except FileNotFoundError:
            continue
        except OSError:
            holder = ""
        if owner_is_dead(holder):
            _remove_if_unchanged(lock_file, holder)
            continue
        uid = holder.rpartition(".")[2]
        now = (holder, _dir_size(module_dir.with_name(f"{module_dir.name}.{uid}.tmp")))
        if now != progress:
            progress, progress_time = now, time.monotonic()
        elif time.monotonic() - progress_time > timeout:
            _remove_if_unchanged(lock_file, holder)
            continue
        time.sleep(0.2)


def _remove_if_unchanged(lock_file: Path, holder: str) -> None:
    with suppress(OSError):
        if lock_file.read_text() == holder:
            lock_file.unlink()
