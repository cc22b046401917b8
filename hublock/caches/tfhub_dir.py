"""A tensorflow_hub cache directory on the local file system, laid out by ``_layout.TFHUB``.

tensorflow_hub treats any non-empty ``<sha1>/`` as complete, so a model only ever appears there
by one rename of a finished, verified directory. Correctness comes from that rename; the lock
file only keeps a concurrent ``hub.load`` or sync from doing the same work twice.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from hublock.caches.inspection import Inspection, Stamp, check_fast, check_full, file_stats
from hublock.caches.layout import (
    LOCK_TIMEOUT_SEC,
    TFHUB,
    Entry,
    Kind,
    Layout,
    descriptor_text,
    lock_contents,
    lock_uid,
    owner_is_dead,
)
from hublock.caches.roots import Root, read_roots, write_root
from hublock.core import (
    CacheError,
    TreeDigest,
    atomic_write,
    hash_directory,
    remove_tree,
    temp_path,
    unique_id,
)
from hublock.formats import LockedModel


class LocalCache:
    """A tensorflow_hub cache directory on the local file system."""

    def __init__(self, root: str | os.PathLike[str], layout: Layout = TFHUB) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.layout = layout

    def __str__(self) -> str:
        return self.location

    def model_dir(self, handle: str) -> Path:
        return self.root / self.layout.model(handle)

    def model_path(self, handle: str) -> str:
        return str(self.model_dir(handle))

    def read_stamp(self, handle: str) -> Stamp | None:
        try:
            stamp = Stamp.from_json((self.root / self.layout.stamp(handle)).read_text("utf-8"))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        return stamp if stamp.handle == handle else None

    def address(self, model: LockedModel) -> str:
        """The handle this cache's loader knows the model by."""
        found = self.layout.address(model)
        if found is None:
            raise CacheError(f"{model.name} does not go in {self.layout.name}'s cache {self.location}")
        return found

    def path_of(self, model: LockedModel) -> str:
        return self.model_path(self.address(model))

    def inspect(self, model: LockedModel, *, full: bool = False, jobs: int = 2) -> Inspection:
        """Check one model against its lock entry: by its stamp's file stats (fast), or by
        re-hashing every file (full)."""
        handle = self.address(model)
        directory = self.model_dir(handle)
        stamp = self.read_stamp(handle)
        return check_full(directory, stamp, model, jobs) if full else check_fast(directory, stamp, model)

    def adopt(self, model: LockedModel) -> bool:
        tree = hash_directory(self.model_dir(self.address(model)), jobs=2)
        if tree.tree != model.tree:
            return False
        self.write_stamp(model, tree)
        return True

    def ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(
                f"cannot create the cache directory {self.root}: {exc}", path=str(self.root)
            ) from exc

    @contextmanager
    def staging(self, handle: str, uid: str, *, local: bool = True) -> Iterator[LocalStaging]:
        """``<sha1>.<uid>.tmp/`` beside the model, removed on exit (published or not)."""
        directory = self.root / self.layout.staging(handle, uid)
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir()
        try:
            yield LocalStaging(self, directory)
        finally:
            remove_tree(directory)

    def write_stamp(self, model: LockedModel, tree: TreeDigest) -> None:
        """Record what was verified (``tree`` must match the lock) and the files' stats now."""
        handle = self.address(model)
        stamp = Stamp.of(model, tree, file_stats(self.model_dir(handle)), handle)
        atomic_write(self.root / self.layout.stamp(handle), stamp.to_json())

    def publish(self, model: LockedModel, staging: Path, tree: TreeDigest) -> None:
        """Make ``staging`` the model's directory with one rename; replace what was there."""
        handle = self.address(model)
        if (descriptor := self.layout.descriptor(handle)) is not None:
            atomic_write(self.root / descriptor, descriptor_text(handle))
        aside = self.replace_dir(handle, staging)
        self.write_stamp(model, tree)
        if aside is not None:
            remove_tree(aside)

    def replace_dir(self, handle: str, staging: Path) -> Path | None:
        """Rename ``staging`` to the model's directory; what was there is moved aside (under a
        staging name, so that a crash leaves only what gc cleans) and returned for removal."""
        final = self.model_dir(handle)
        (self.root / self.layout.stamp(handle)).unlink(missing_ok=True)
        aside = None
        if final.exists() or final.is_symlink():
            aside = self.root / self.layout.staging(handle, unique_id())
            os.rename(final, aside)
        os.rename(staging, final)
        return aside

    def entries(self) -> list[Entry]:
        if not self.root.is_dir():
            return []
        return [self.entry(Path(item.path)) for item in os.scandir(self.root)]

    def entry(self, path: Path) -> Entry:
        """A name in the cache, as gc judges it: its size (a folder's in all), its age, and for a
        lock file its content."""
        name = path.relative_to(self.root).as_posix()
        st = path.lstat()
        size = dir_size(path) if path.is_dir() and not path.is_symlink() else st.st_size
        content = ""
        if self.layout.kind(name) is Kind.LOCK:
            with suppress(OSError, UnicodeDecodeError):
                content = path.read_text()
        return Entry(name, size, st.st_mtime, content)

    def remove(self, name: str) -> None:
        path = self.root / name
        if path.is_dir() and not path.is_symlink():
            remove_tree(path)
        else:
            path.unlink(missing_ok=True)

    def roots(self) -> list[Root]:
        return read_roots(self.root / self.layout.roots())

    def write_root(self, root: Root) -> None:
        write_root(self.root / self.layout.roots(), root)

    def remove_root(self, root_id: str) -> None:
        (self.root / self.layout.roots() / f"{root_id}.json").unlink(missing_ok=True)

    @contextmanager
    def guard(self, *, exclusive: bool) -> Iterator[None]:
        """An flock on ``.hublock-roots/gc.lock`` (advisory; a read-only cache goes unguarded:
        nothing there can be removed either)."""
        path = self.root / self.layout.roots() / "gc.lock"
        try:
            path.parent.mkdir(exist_ok=True)  # never the cache itself
            handle = open(path, "a+b")  # noqa: SIM115 - closed below
        except OSError:
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            handle.close()  # releases the flock

    @contextmanager
    def model_lock(self, handle: str, timeout: float = LOCK_TIMEOUT_SEC) -> Iterator[str]:
        """Hold tensorflow_hub's ``<sha1>.lock`` for a handle; yields the lock's uuid."""
        lock_file = self.root / self.layout.lock(handle)
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        uid = unique_id()
        contents = lock_contents(uid)
        _acquire(lock_file, contents, lambda holder: self.root / self.layout.staging(handle, holder), timeout)
        try:
            yield uid
        finally:
            with suppress(OSError):
                if lock_file.read_text() == contents:
                    lock_file.unlink()


@dataclass(frozen=True)
class LocalStaging:
    """A staging directory of a LocalCache: extract into it, then publish it with one rename."""

    cache: LocalCache
    destination: Path

    def publish(self, model: LockedModel, tree: TreeDigest) -> None:
        self.cache.publish(model, self.destination, tree)


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _acquire(lock_file: Path, contents: str, staging_of: Callable[[str], Path], timeout: float) -> None:
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
        now = (holder, dir_size(staging_of(lock_uid(holder))))
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
