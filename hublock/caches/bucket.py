"""A tensorflow_hub cache in a bucket: ``gs://bucket/prefix`` (gcsfs), ``s3://`` (s3fs),
``memory://`` or any other fsspec URL, laid out exactly as on disk so that
``TFHUB_CACHE_DIR=gs://bucket/prefix`` works on TPU workers.

Object stores have no atomic directory rename, and tensorflow_hub calls any non-empty
``<sha1>/`` present. So a model is uploaded (from the verified local staging directory) under
``<sha1>.<uuid>.tmp/``, checked against the checksums the store reports, then copied server-side
into ``<sha1>/`` with ``saved_model.pb`` (the file ``hub.load`` opens first) copied last: a reader
that comes early finds no SavedModel and fails, never loads a half-copied one. hublock's stamp is
written after that, and checked first by ``hublock verify`` and the load hook.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from hublock.caches.inspection import (
    FileStat,
    Inspection,
    Stamp,
    State,
    check_hashes,
    check_stamp,
    differences,
)
from hublock.caches.layout import (
    LOCK_TIMEOUT_SEC,
    TFHUB,
    Entry,
    Kind,
    Layout,
    descriptor_text,
    lock_contents,
    owner_is_dead,
)
from hublock.caches.roots import Root
from hublock.core import (
    CHUNK,
    CacheError,
    FileEntry,
    HublockError,
    IntegrityError,
    TreeDigest,
    config,
    remove_tree,
    tree_digest,
    unique_id,
)
from hublock.formats import LockedModel

LAST = ("saved_model.pb", "tfhub_module.pb")  # what tensorflow_hub reads first: copied last
UPLOAD_THREADS = 8
READ_CHUNK = 8 << 20


def filesystem(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """An fsspec file system for ``url`` with sane defaults, and the path inside it."""
    opts = dict(options)
    if url.startswith("gs://"):
        # gcsfs >= 2025.x defaults to a gRPC-based file system that stalls for a minute per call
        # against anything but the real service; the plain JSON API client is what works
        # everywhere. Must be set before gcsfs is imported.
        os.environ.setdefault(config.GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT.name, "false")
        if "token" not in opts and config.STORAGE_EMULATOR_HOST.get():
            opts["token"] = "anon"  # an emulator needs no credentials; don't probe for them
        _check_reachable(url, str(opts.get("endpoint_url") or config.STORAGE_EMULATOR_HOST.get() or GCS))
    try:
        import fsspec.core

        fs, root = fsspec.core.url_to_fs(url, **opts)
    except ImportError as exc:
        extra = {"gs": "gcs", "s3": "s3"}.get(url.split(":", 1)[0], "")
        hint = f"pip install 'hublock[{extra}]'" if extra else "install its fsspec implementation"
        raise HublockError(f"cache {url}: {exc}; {hint}") from exc
    except (ValueError, TypeError) as exc:
        raise HublockError(f"cache {url}: {exc}") from exc
    return fs, root.rstrip("/")


GCS = "https://storage.googleapis.com"
_REACHED: set[tuple[str, int]] = set()
_PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _check_reachable(url: str, endpoint: str) -> None:
    """gcsfs retries an unreachable endpoint six times with growing waits (about a minute) before
    it gives up: try one connection first, and say at once what is wrong. Not behind a proxy,
    where only the client knows the way."""
    if any(os.environ.get(name) for name in _PROXIES):
        return
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    if (host, port) in _REACHED:
        return  # once per process: the load hook opens the cache at every load
    try:
        socket.create_connection((host, port), timeout=config.HUBLOCK_TIMEOUT.number()).close()
        _REACHED.add((host, port))
    except OSError as exc:
        raise CacheError(
            f"cache {url}: cannot reach {host}:{port} ({exc.strerror or exc})",
            path=url,
            hint="check the network (and STORAGE_EMULATOR_HOST or [cache] options.endpoint_url "
            "if you use another endpoint), then run the command again",
        ) from exc


def fingerprint(info: Mapping[str, Any]) -> FileStat:
    """What the store says identifies an object's content: size and md5/crc32c/etag."""
    for key in ("md5Hash", "crc32c", "ETag", "etag", "created", "mtime"):
        if info.get(key) is not None:
            return (int(info["size"]), str(info[key]))
    return (int(info["size"]),)


@contextmanager
def store_errors(location: str) -> Iterator[None]:
    """Errors of the store's client (gcsfs, s3fs, aiohttp: no common base but Exception) become
    one CacheError naming the location, instead of a traceback."""
    try:
        yield
    except (HublockError, FileNotFoundError):
        raise
    except Exception as exc:
        raise CacheError(f"{location}: {type(exc).__name__}: {exc}") from exc


def list_objects(fs: Any, base: str) -> dict[str, dict[str, Any]]:
    """Objects under ``base/`` by relative path, as the store lists them now."""
    base = base.rstrip("/") + "/"
    fs.invalidate_cache()  # fsspec caches listings; a check must see the store as it is now
    try:
        with store_errors(f"{fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol}://{base}"):
            found = fs.find(base, detail=True)
    except FileNotFoundError:
        return {}
    return {
        path[len(base) :]: info
        for path, info in found.items()
        if path.startswith(base) and info.get("type", "file") != "directory"
    }


def hash_objects(fs: Any, base: str, listing: Mapping[str, Mapping[str, Any]], jobs: int) -> TreeDigest:
    """Read and sha256 every listed object (``jobs`` at a time): their tree digest."""

    def entry(rel: str) -> FileEntry:
        # Explicit range reads, memory flat in object size; fsspec's buffered file objects
        # (and their background prefetcher) were seen to stall when used from threads.
        path = f"{base.rstrip('/')}/{rel}"
        size = int(listing[rel]["size"])
        h = hashlib.sha256()
        for start in range(0, size, READ_CHUNK):
            h.update(fs.cat_file(path, start=start, end=min(start + READ_CHUNK, size)))
        return FileEntry(rel, size, h.hexdigest())

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return tree_digest(pool.map(entry, sorted(listing)))


def object_checksum(info: Mapping[str, Any]) -> str:
    """The content checksum a store reports for an object, labelled by kind."""
    for key, label in (("md5Hash", "md5"), ("crc32c", "crc32c"), ("ETag", "etag"), ("etag", "etag")):
        if info.get(key):
            return f"{label}:{info[key]}"
    return "none"


def remote_objects(location: str, options: Mapping[str, Any]) -> tuple[Any, str, dict[str, dict[str, Any]]]:
    fs, root = filesystem(location, options)
    return fs, root, list_objects(fs, root)


def check_remote(model: LockedModel, options: Mapping[str, Any], *, full: bool = False) -> Inspection:
    """An uncompressed model, where tensorflow_hub will read it: the store's sizes and checksums
    against the lock (fast), or every object re-hashed against the tree hash (full)."""
    fs, root, listing = remote_objects(model.url, options)
    if not listing:
        return Inspection(State.MISSING, note=f"nothing at {model.url}")
    if full:
        return check_hashes(None, model, hash_objects(fs, root, listing, 4))
    locked = {o.path: (o.size, o.checksum) for o in model.objects}
    now = {rel: (int(info["size"]), object_checksum(info)) for rel, info in listing.items()}
    state, files = differences(dict(locked), dict(now))
    return Inspection(state, files)


def _timestamp(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _md5_b64(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return base64.b64encode(h.digest()).decode()


def holds_local_file(info: Mapping[str, Any], path: Path) -> bool | None:
    """Whether a stored object holds ``path``'s bytes, judged by the MD5 the store keeps of it
    (GCS's ``md5Hash``, the form ``_md5_b64`` computes): no download. None when it keeps none."""
    md5 = info.get("md5Hash")
    return md5 == _md5_b64(path) if isinstance(md5, str) else None


class _Md5Writer:
    """A file being written to the store, whose md5 and size are recorded when it is closed."""

    def __init__(self, raw: Any, path: str, record: dict[str, tuple[int, str]]) -> None:
        self._raw, self._path, self._record = raw, path, record
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0

    def write(self, data: bytes) -> int:
        self._md5.update(data)
        self._size += len(data)
        return int(self._raw.write(data))

    def close(self) -> None:
        self._raw.close()
        self._record[self._path] = (self._size, base64.b64encode(self._md5.digest()).decode())


class RemoteSink:
    """Extracted files written straight into a bucket prefix; what was sent is recorded."""

    def __init__(self, fs: Any, prefix: str) -> None:
        self.fs, self.prefix = fs, prefix
        self.sent: dict[str, tuple[int, str]] = {}

    def mkdir(self, path: str) -> None:
        pass  # object stores have no directories

    def open(self, path: str) -> BinaryIO:
        raw = self.fs.open(f"{self.prefix}/{path}", "wb")
        return _Md5Writer(raw, path, self.sent)  # type: ignore[return-value]


class BucketCache:
    """A tensorflow_hub cache at an fsspec URL."""

    def __init__(self, url: str, options: Mapping[str, Any], layout: Layout = TFHUB) -> None:
        self.location = url.rstrip("/")
        self.layout = layout
        self.fs, self.root = filesystem(self.location, options)

    def __str__(self) -> str:
        return self.location

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def address(self, model: LockedModel) -> str:
        return model.handle

    def path_of(self, model: LockedModel) -> str:
        return self.model_path(model.handle)

    def model_path(self, handle: str) -> str:
        return f"{self.location}/{self.layout.model(handle)}"

    def _listing(self, prefix: str) -> dict[str, dict[str, Any]]:
        return list_objects(self.fs, self._path(prefix))

    def read_stamp(self, handle: str) -> Stamp | None:
        try:
            stamp = Stamp.from_json(self.fs.cat_file(self._path(self.layout.stamp(handle))).decode())
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        return stamp if stamp.handle == handle else None

    def inspect(self, model: LockedModel, *, full: bool = False, jobs: int = 2) -> Inspection:
        """Fast: object sizes and checksums from one listing against the stamp. Full: read and
        hash every object."""
        key = self.layout.model(model.handle)
        listing = self._listing(key)
        if not listing:
            return Inspection(State.MISSING)
        stamp = self.read_stamp(model.handle)
        if full:
            return check_hashes(stamp, model, hash_objects(self.fs, self._path(key), listing, max(jobs, 4)))
        return check_stamp(stamp, model, {rel: fingerprint(info) for rel, info in listing.items()})

    def adopt(self, model: LockedModel) -> bool:
        key = self.layout.model(model.handle)
        tree = hash_objects(self.fs, self._path(key), self._listing(key), 4)
        if tree.tree != model.tree:
            return False
        self._write_stamp(model, tree)
        return True

    def _write_stamp(self, model: LockedModel, tree: TreeDigest) -> None:
        files = {
            rel: fingerprint(info) for rel, info in self._listing(self.layout.model(model.handle)).items()
        }
        self.fs.pipe_file(
            self._path(self.layout.stamp(model.handle)), Stamp.of(model, tree, files).to_json().encode()
        )

    def ensure_root(self) -> None:
        try:
            if not self.fs.exists(self.root):
                self.fs.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the cache {self.location}: {exc}") from exc

    @contextmanager
    def staging(self, handle: str, uid: str, *, local: bool = True) -> Iterator[BucketStaging]:
        """A local directory whose verified files are uploaded on publish, or (``local`` False)
        a staging prefix in the bucket that receives the files as they are extracted. Either
        way the bucket's staging prefix has tensorflow_hub's temp-dir name (gc knows it)."""
        remote = self.layout.staging(handle, unique_id())
        directory = Path(tempfile.gettempdir()) / f"hublock-{self.layout.staging(handle, uid)}"
        try:
            if local:
                directory.mkdir()
                yield BucketStaging(self, remote, directory)
            else:
                yield BucketStaging(self, remote, RemoteSink(self.fs, self._path(remote)))
        finally:
            remove_tree(directory)
            self.discard(remote)

    def upload(self, model: LockedModel, staging: Path, remote: str, tree: TreeDigest) -> None:
        """Upload the verified local ``staging`` directory, check what landed, then commit."""
        paths = [f.path for f in tree.files]

        def put(rel: str) -> None:
            self.fs.put_file(str(staging / rel), self._path(f"{remote}/{rel}"))

        with store_errors(self.location):
            with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
                list(pool.map(put, paths))
            expected = {rel: ((staging / rel).stat().st_size, _md5_b64(staging / rel)) for rel in paths}
            self.commit(model, remote, tree, expected)

    def discard(self, remote: str) -> None:
        with suppress(Exception):
            self.fs.rm(self._path(remote), recursive=True)

    def commit(
        self, model: LockedModel, remote: str, tree: TreeDigest, expected: Mapping[str, tuple[int, str]]
    ) -> None:
        """Check the staged objects against ``expected`` (size, base64 md5) using the store's own
        metadata, then copy them into ``<sha1>/`` (readers' first file last) and stamp."""
        key = self.layout.model(model.handle)
        paths = [f.path for f in tree.files]
        with store_errors(self.location):
            landed = self._listing(remote)
            for rel in paths:
                info = landed.get(rel)
                size, md5 = expected[rel]
                if info is None or int(info["size"]) != size:
                    raise IntegrityError(f"upload of {rel} to {self.location} did not land whole")
                if info.get("md5Hash") and info["md5Hash"] != md5:
                    raise IntegrityError(
                        f"upload of {rel} to {self.location}: md5 differs from what was sent"
                    )
            if (descriptor := self.layout.descriptor(model.handle)) is not None:
                self.fs.pipe_file(self._path(descriptor), descriptor_text(model.handle).encode())
            with suppress(FileNotFoundError):
                self.fs.rm_file(self._path(self.layout.stamp(model.handle)))
            self._replace(key, remote, paths)
            self._write_stamp(model, tree)

    def _replace(self, key: str, remote: str, paths: list[str]) -> None:
        old = self._listing(key)
        # Remove what readers open first, first; copy it last. In between, a reader sees no
        # SavedModel (an error), never a mix of two versions.
        for rel in sorted(old, key=lambda p: p not in LAST):
            with suppress(FileNotFoundError):
                self.fs.rm_file(self._path(f"{key}/{rel}"))
        first = [p for p in paths if p not in LAST]
        last = [p for p in paths if p in LAST]

        def copy(rel: str) -> None:
            self.fs.copy(self._path(f"{remote}/{rel}"), self._path(f"{key}/{rel}"))

        with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
            list(pool.map(copy, first))
        for rel in last:
            copy(rel)

    def entries(self) -> list[Entry]:
        with store_errors(self.location):
            self.fs.invalidate_cache()
            try:
                top = self.fs.ls(self.root, detail=True)
            except FileNotFoundError:
                return []
            found = []
            for info in top:
                name = info["name"].rstrip("/").rsplit("/", 1)[-1]
                if info.get("type") == "directory":
                    size = sum(int(i["size"]) for i in self._listing(name).values())
                    found.append(Entry(name, size, 0.0))
                    continue
                is_lock = self.layout.kind(name) is Kind.LOCK
                content = self.fs.cat_file(info["name"]).decode(errors="replace") if is_lock else ""
                when = info.get("updated") or info.get("mtime") or info.get("created") or 0.0
                mtime = when.timestamp() if hasattr(when, "timestamp") else _timestamp(when)
                found.append(Entry(name, int(info.get("size") or 0), mtime, content))
            return found

    def remove(self, name: str) -> None:
        with store_errors(self.location), suppress(FileNotFoundError):
            self.fs.rm(self._path(name), recursive=True)

    def roots(self) -> list[Root]:
        found = []
        with store_errors(self.location):
            for rel in sorted(list_objects(self.fs, self._path(self.layout.roots()))):
                if not rel.endswith(".json"):
                    continue  # gc's lock
                with suppress(FileNotFoundError):
                    text = self.fs.cat_file(self._path(f"{self.layout.roots()}/{rel}")).decode(
                        errors="replace"
                    )
                    if (root := Root.from_json(text)) is not None:
                        found.append(root)
        return found

    def write_root(self, root: Root) -> None:
        """Record a root, then wait for a gc that is running (see ``guard``)."""
        path, data = self._path(f"{self.layout.roots()}/{root.id}.json"), root.to_json().encode()
        with store_errors(self.location):
            try:
                same = self.fs.cat_file(path) == data  # a no-op sync writes nothing
            except FileNotFoundError:
                same = False
            if not same:
                self.fs.pipe_file(path, data)
            self._await_gc()

    def _gc_lock(self) -> str:
        return self._path(f"{self.layout.roots()}/gc.lock")

    def _await_gc(self, timeout: float = LOCK_TIMEOUT_SEC) -> None:
        """Wait while a live gc holds the bucket (a dead or stuck one is not waited for)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                holder = self.fs.cat_file(self._gc_lock()).decode(errors="replace")
            except FileNotFoundError:
                return
            if owner_is_dead(holder):
                return
            time.sleep(0.5)

    def remove_root(self, root_id: str) -> None:
        with store_errors(self.location), suppress(FileNotFoundError):
            self.fs.rm_file(self._path(f"{self.layout.roots()}/{root_id}.json"))

    @contextmanager
    def guard(self, *, exclusive: bool) -> Iterator[None]:
        """Stores have no shared lock, so a gc and a sync meet through two objects, each written
        before the other is read. gc (``exclusive``) creates ``gc.lock`` (create-only, as a model
        lock), then reads the roots; a sync writes its root, then waits while ``gc.lock`` exists
        (``write_root``). Whichever comes second sees the first: either gc reads the sync's root and
        keeps its models, or the sync waits for gc to finish before it looks at what is present.
        (A sync's own guard is that wait; it needs nothing here.)"""
        if not exclusive:
            yield
            return
        with self._holding(self._gc_lock(), LOCK_TIMEOUT_SEC):
            yield

    def model_lock(self, handle: str, timeout: float = LOCK_TIMEOUT_SEC) -> AbstractContextManager[str]:
        """tensorflow_hub's ``<sha1>.lock`` as an object, created only if absent: on GCS a
        precondition (``ifGenerationMatch=0``) makes the create atomic, so of a fleet of hosts
        syncing one bucket exactly one writes each model while the others wait for it and then
        find it present. Stores without an atomic create get fsspec's check-then-write, and the
        lock is kept only if it reads back its own content; there two writers in the same instant
        may both proceed, which is still safe: the copy protocol, not the lock, keeps readers from
        half-written models."""
        return self._holding(self._path(self.layout.lock(handle)), timeout)

    @contextmanager
    def _holding(self, lock: str, timeout: float) -> Iterator[str]:
        """Hold a lock object (yields its uuid); released only if it is still this holder's."""
        uid = unique_id()
        contents = lock_contents(uid)
        with store_errors(self.location):
            self._acquire(lock, contents, time.monotonic() + timeout)
        try:
            yield uid
        finally:
            with suppress(Exception):
                if self.fs.cat_file(lock).decode() == contents:
                    self.fs.rm_file(lock)

    def _acquire(self, lock: str, contents: str, deadline: float) -> None:
        while True:
            try:
                self.fs.pipe_file(lock, contents.encode(), mode="create")
            except FileExistsError:
                try:
                    holder = self.fs.cat_file(lock).decode()
                except FileNotFoundError:
                    continue  # released in between: create it now
                if owner_is_dead(holder) or time.monotonic() > deadline:
                    self.fs.pipe_file(lock, contents.encode())  # a dead or stuck owner's: taken over
            try:
                if self.fs.cat_file(lock).decode() == contents:
                    return
            except FileNotFoundError:
                continue
            time.sleep(0.5)


class BucketStaging:
    """A model on its way into a bucket: extracted locally (``destination`` a directory) and
    uploaded on publish, or extracted straight into the bucket's staging prefix (a sink)."""

    def __init__(self, cache: BucketCache, remote: str, destination: Path | RemoteSink) -> None:
        self.cache, self.remote, self.destination = cache, remote, destination

    def publish(self, model: LockedModel, tree: TreeDigest) -> None:
        if isinstance(self.destination, RemoteSink):
            self.cache.commit(model, self.remote, tree, self.destination.sent)
        else:
            self.cache.upload(model, self.destination, self.remote, tree)
