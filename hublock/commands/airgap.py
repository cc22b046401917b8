"""Carrying a lock's models across an air gap: bundles (one checked file), content-addressed
mirrors (``DEST/sha256/<hex>``, for any static file server or bucket), and the ML-BOM a
reviewer reads before the models go in."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tarfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from hublock.commands.lock import check_project
from hublock.commands.project import Project
from hublock.commands.reports import BundleReport, MirrorReport
from hublock.core import (
    BundleError,
    CacheError,
    Event,
    HublockError,
    IntegrityError,
    NotInSyncError,
    OnEvent,
    bytes_of,
    ignore,
    run_parallel,
    temp_path,
)
from hublock.formats import (
    ARCHIVES,
    INDEX,
    LOCK,
    MANIFEST,
    BundledArchive,
    BundleIndex,
    BundleReader,
    LockedModel,
    Lockfile,
    archive_member,
    check_held,
    cyclonedx_bom,
    damaged,
    is_sha256,
    iter_archives,
    lock_digest,
    member_problem,
    portable_manifest,
    require_same_lock,
)
from hublock.remote import Fetcher, content_sources

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 20


# -- which archives --------------------------------------------------------------------------


def locked_archives(
    lock: Lockfile, only: Collection[str], lockfile: Path
) -> tuple[list[BundledArchive], list[str]]:
    """The content objects of the locked models (``only`` those named: each archive, each file
    of a Hugging Face model), one per digest, in the lock's order; and the models that have none
    (UNCOMPRESSED)."""
    chosen = lock.select(only, lockfile)
    by_digest: dict[str, tuple[int, list[str]]] = {}
    for model in chosen:
        for sha256, size in model.contents:
            by_digest.setdefault(sha256, (size, []))[1].append(model.name)
    archives = [BundledArchive(sha, size, tuple(names)) for sha, (size, names) in by_digest.items()]
    return archives, [m.name for m in chosen if not m.contents]


def _first_models(lock: Lockfile, archives: Sequence[BundledArchive]) -> dict[str, LockedModel]:
    return {a.sha256: model for a in archives if (model := lock.get(a.models[0])) is not None}


def _in_download_cache(
    project: Project, action: str, only: Collection[str], jobs: int, on_event: OnEvent
) -> tuple[list[BundledArchive], list[str], tuple[str, ...], dict[str, LockedModel]]:
    """The locked archives (``only`` those named), each in the download cache when this returns:
    the archives, the models without one, the models downloaded now, a model of each archive."""
    lock = project.lock()
    project.require_in_sync(lock, action)
    archives, skipped = locked_archives(lock, only, project.lockfile_path)
    fetched = download_missing(project, lock, archives, jobs, on_event)
    return archives, skipped, fetched, _first_models(lock, archives)


def download_missing(
    project: Project, lock: Lockfile, archives: Sequence[BundledArchive], jobs: int, on_event: OnEvent
) -> tuple[str, ...]:
    """Bring every archive into the download cache (from the mirrors, else upstream), each
    checked against its digest before it is kept; returns the models fetched."""
    downloads = project.downloads()
    missing = [a for a in archives if downloads.get(a.sha256) is None]
    if not missing:
        return ()
    models = _first_models(lock, missing)

    def fetch(archive: BundledArchive, cancel: threading.Event, fetcher: Fetcher) -> None:
        model = models[archive.sha256]
        on_event(Event(model.name, "start", f"fetching {model.handle}", total=archive.size))
        try:
            with fetcher.open_archive(
                content_sources(model, archive.sha256, project.mirrors),
                max_bytes=archive.size,
                progress=bytes_of(on_event, model.name),
            ) as stream:
                for _ in stream:
                    if cancel.is_set():
                        return
                if stream.sha256 != archive.sha256:
                    raise IntegrityError(
                        "the archive differs from hub.lock",
                        path=stream.url,
                        expected=f"sha256:{archive.sha256}",
                        actual=f"sha256:{stream.sha256}",
                        hint=f"`hublock audit {model.name}` shows what changed upstream; "
                        f"`hublock lock --upgrade {model.name}` takes it after review",
                    )
                stream.keep()
        except HublockError as exc:
            exc.about(model=model.name, handle=model.handle)
            raise
        on_event(Event(model.name, "done", "downloaded"))

    with project.fetcher() as fetcher:
        run_parallel(lambda a, cancel: fetch(a, cancel, fetcher), missing, jobs)
    return tuple(models[a.sha256].name for a in missing)


def sha256_of(f: IO[bytes], label: str, on_event: OnEvent) -> str:
    """The sha256 (hex) of what is left in ``f``, read in large steps, progress reported."""
    reader = _Hashing(f, bytes_of(on_event, label))
    while reader.read(CHUNK):
        pass
    return reader.sha256.hexdigest()


class _Hashing:
    """A file read through: its bytes hashed and counted on the way (one pass)."""

    def __init__(self, f: IO[bytes], progress: Callable[[int], None]) -> None:
        self._f, self._progress = f, progress
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self.sha256.update(chunk)
        self._progress(len(chunk))
        return chunk


def _cached(project: Project, archive: BundledArchive, model: LockedModel) -> Path:
    path = project.downloads().get(archive.sha256)
    if path is None or path.stat().st_size != archive.size:
        raise IntegrityError(
            "the download cache's copy of the archive is missing or has the wrong size",
            model=model.name,
            path=str(path or project.downloads().path(archive.sha256)),
            expected=f"{archive.size} bytes",
            actual=f"{path.stat().st_size} bytes" if path else "no file",
            hint="run the command again (it downloads what the download cache lacks)",
        )
    return path


def _copy_out(
    project: Project,
    archive: BundledArchive,
    model: LockedModel,
    write: Callable[[BundledArchive, _Hashing], None],
    doing: str,
    done: str,
    on_event: OnEvent,
) -> None:
    """Hand the download cache's copy of an archive to ``write`` (a bundle, a mirror), hashed
    as it is read: a copy whose bytes are not the locked ones is an error, and nothing is
    published (a mirror checks the digest before its rename; a bundle's temp file is removed)."""
    path = _cached(project, archive, model)
    on_event(Event(model.name, "start", doing, total=archive.size))
    with open(path, "rb") as f:
        reader = _Hashing(f, bytes_of(on_event, model.name))
        write(archive, reader)
    if reader.sha256.hexdigest() != archive.sha256:
        raise IntegrityError(
            "the download cache's copy of the archive is damaged",
            model=model.name,
            path=str(path),
            expected=f"sha256:{archive.sha256}",
            actual=f"sha256:{reader.sha256.hexdigest()}",
            hint=f"delete {path} and run the command again",
        )
    on_event(Event(model.name, "done", done))


# -- bundle ------------------------------------------------------------------------------------


def _entry(name: str, size: int) -> tarfile.TarInfo:
    """A member as every bundle writes it: the same bytes for the same content (no time, owner)."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def bundle(
    out: str | os.PathLike[str],
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    only: Collection[str] = (),
    offline: bool = False,
    mirrors: Mapping[str, str] | None = None,
    download_cache: str | Path | None = None,
    jobs: int = 4,
    on_event: OnEvent = ignore,
    transport: httpx.BaseTransport | None = None,
) -> BundleReport:
    """Write one file holding hub.lock, hub.toml and every locked archive (``only`` those of the
    models named), for ``sync --from`` on the other side of an air gap. Archives come from the
    download cache; what it lacks is downloaded first (checked against hub.lock). The file is
    written beside ``out`` and renamed into place: ``out`` is whole or absent."""
    project = Project.load(
        manifest,
        lockfile,
        mirrors=mirrors,
        offline=offline,
        download_cache=download_cache,
        transport=transport,
    )
    return bundle_project(project, Path(out), only=only, jobs=jobs, on_event=on_event)


def bundle_project(
    project: Project, out: Path, *, only: Collection[str] = (), jobs: int = 4, on_event: OnEvent = ignore
) -> BundleReport:
    started = time.perf_counter()
    archives, skipped, fetched, models = _in_download_cache(project, "bundle", only, jobs, on_event)
    lock_bytes = project.lockfile_path.read_bytes()
    index = BundleIndex(lock_digest(lock_bytes), tuple(archives))
    manifest = None
    if project.manifest_path.is_file():  # without a mirror's password: it goes to another site
        manifest = portable_manifest(project.manifest_path.read_text("utf-8")).encode()
    tmp = temp_path(out)
    try:
        with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # 16 KiB by default
            for name, data in ((INDEX, index.to_json()), (LOCK, lock_bytes), (MANIFEST, manifest)):
                if data is not None:
                    tar.addfile(_entry(name, len(data)), io.BytesIO(data))
            for archive in archives:
                _copy_out(
                    project,
                    archive,
                    models[archive.sha256],
                    lambda a, reader: tar.addfile(_entry(archive_member(a.sha256), a.size), reader),
                    "bundling",
                    f"bundled {archive.size} bytes",
                    on_event,
                )
        os.replace(tmp, out)
    except OSError as exc:
        raise CacheError(f"cannot write the bundle {out}: {exc}", path=str(out)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return BundleReport(out, tuple(archives), tuple(skipped), fetched, time.perf_counter() - started)


# -- reading bundles -------------------------------------------------------------------------


def verify_bundle(path: str | os.PathLike[str], *, on_event: OnEvent = ignore) -> BundleReport:
    """Check a bundle file without extracting it, in one sequential read: its index, its
    hub.lock, every archive's digest and size against both, nothing missing, nothing extra."""
    started = time.perf_counter()
    bundle = Path(path)
    if bundle.is_dir():
        return _verify_directory(bundle, on_event, started)
    texts: dict[str, bytes] = {}
    seen: dict[str, tuple[str, int]] = {}  # member hex -> (actual sha256, size)
    problems: list[str] = []
    index: BundleIndex | None = None  # the first member: what each archive is for
    names: set[str] = set()
    try:
        for member, data in iter_archives(bundle):
            problem = member_problem(member.name, regular=member.isfile(), index=index)
            if member.name in names:
                problem = "a second member of this name"
            names.add(member.name)
            if problem is not None or data is None:
                problems.append(f"{member.name}: {problem}")
            elif member.name.startswith(ARCHIVES):
                listed = index.find(member.name[len(ARCHIVES) :]) if index is not None else None
                label = ", ".join(listed.models) if listed is not None else member.name
                on_event(Event(label, "start", "checking", total=member.size))
                seen[member.name[len(ARCHIVES) :]] = (sha256_of(data, label, on_event), member.size)
                on_event(Event(label, "done", "checked"))
            else:
                texts[member.name] = data.read()
                if member.name == INDEX:
                    index = BundleIndex.parse(texts[INDEX], str(bundle))
    except FileNotFoundError:
        raise BundleError(f"{bundle}: no such file", path=str(bundle)) from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BundleError(f"{bundle}: damaged or truncated: {exc}", path=str(bundle)) from None
    if index is None or LOCK not in texts:
        raise BundleError(f"{bundle}: no {INDEX} or {LOCK} in it: not a hublock bundle", path=str(bundle))
    return _checked(bundle, index, texts[LOCK], seen, problems, started)


def _verify_directory(bundle: Path, on_event: OnEvent, started: float) -> BundleReport:
    reader = BundleReader(bundle)  # index and lock read and matched
    seen: dict[str, tuple[str, int]] = {}
    problems: list[str] = []
    folder = bundle / ARCHIVES
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        with open(entry, "rb") as f:
            seen[entry.name] = (sha256_of(f, entry.name, on_event), entry.stat().st_size)
    return _checked(bundle, reader.index, reader.lock_bytes, seen, problems, started)


def _checked(
    bundle: Path,
    index: BundleIndex,
    lock_bytes: bytes,
    seen: Mapping[str, tuple[str, int]],
    problems: list[str],
    started: float,
) -> BundleReport:
    """The report of a bundle whose archives were read (``seen``), or every problem found."""
    problems = problems + _check_contents(index, lock_bytes, seen, str(bundle))
    if problems:
        raise damaged(bundle, problems)
    return BundleReport(bundle, index.archives, seconds=time.perf_counter() - started)


def _check_contents(
    index: BundleIndex, lock_bytes: bytes, seen: Mapping[str, tuple[str, int]], where: str
) -> list[str]:
    from hublock.formats import parse_lockfile

    problems = []
    if lock_digest(lock_bytes) != index.lock:
        problems.append(f"its {LOCK} is not the one its index lists (tampered?)")
    lock = parse_lockfile(lock_bytes.decode("utf-8", "replace"), source=f"{where}:{LOCK}")
    for archive in index.archives:
        found = seen.get(archive.sha256)
        if found is None:
            problems.append(f"{archive_member(archive.sha256)} ({', '.join(archive.models)}) is missing")
            continue
        actual, size = found
        if actual != archive.sha256:
            problems.append(
                f"{archive_member(archive.sha256)} ({', '.join(archive.models)}) holds other bytes"
            )
        elif size != archive.size:
            problems.append(f"{archive_member(archive.sha256)}: {size} bytes, the index says {archive.size}")
        for name in archive.models:
            model = lock.get(name)
            if model is None or archive.sha256 not in dict(model.contents):
                problems.append(f"{name}: its hub.lock entry does not name {archive_member(archive.sha256)}")
    for name in sorted(set(seen) - {a.sha256 for a in index.archives}):
        problems.append(
            f"{ARCHIVES}{name}: not in the index" + ("" if is_sha256(name) else " (not a digest)")
        )
    return problems


def check_with_bundles(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    bundles: Sequence[str | os.PathLike[str]],
    on_event: OnEvent = ignore,
) -> BundleReport:
    """``lock --check --from``: hub.lock matches hub.toml, the bundles were made from it, and
    together they hold every locked archive with the locked digest (each read once, no network)."""
    started = time.perf_counter()
    project = Project.load(manifest, lockfile, manifest_required=True)
    check_project(project)
    lock = project.lock()
    readers = [BundleReader(path) for path in bundles]
    for reader in readers:
        require_same_lock(reader, lock, project.lockfile_path)
    archives, skipped = locked_archives(lock, (), project.lockfile_path)
    missing = [
        f"{', '.join(archive.models)} (sha256:{archive.sha256[:16]}...)"
        for archive in check_held(readers, archives, on_event)
    ]
    if missing:
        raise NotInSyncError(
            "no bundle given holds the archive of " + "; ".join(missing),
            path=", ".join(map(str, bundles)),
            hint="bundle those models too (`hublock bundle OUT`, without --only)",
        )
    return BundleReport(
        Path(bundles[0]) if bundles else Path(),
        tuple(archives),
        tuple(skipped),
        seconds=time.perf_counter() - started,
    )


@contextmanager
def _opened(reader: BundleReader, sha256: str) -> Iterator[BinaryIO]:
    f = reader.open(sha256)
    assert f is not None
    with f:
        yield f


# -- content-addressed mirrors ---------------------------------------------------------------


def mirror(
    destination: str,
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    only: Collection[str] = (),
    offline: bool = False,
    mirrors: Mapping[str, str] | None = None,
    download_cache: str | Path | None = None,
    jobs: int = 4,
    on_event: OnEvent = ignore,
    transport: httpx.BaseTransport | None = None,
) -> MirrorReport:
    """Export the locked archives to a content-addressed mirror, ``DEST/sha256/<hex>``: a
    directory or any fsspec URL (gs://, s3://). An archive already there with its bytes is left
    as it is; an object of its name with other bytes is replaced (``replaced``). Each is checked
    against hub.lock on the way; a directory gets it by rename (whole or absent), a bucket by
    one upload (objects appear when complete)."""
    project = Project.load(
        manifest,
        lockfile,
        mirrors=mirrors,
        offline=offline,
        download_cache=download_cache,
        transport=transport,
    )
    started = time.perf_counter()
    archives, skipped, fetched, models = _in_download_cache(project, "mirror", only, jobs, on_event)
    store = _Store.open(destination)
    exported, present = [], []
    replaced = []
    for archive in archives:
        model = models[archive.sha256]
        wrong = store.wrong(archive, functools.partial(_cached, project, archive, model))
        if wrong is None:
            present.append(archive)
            continue
        if wrong:  # an object of this name with other bytes: a corrupt copy is never kept
            replaced.append(archive.sha256)
            on_event(
                Event(model.name, "done", f"{store.describe(archive.sha256)} held {wrong}: replacing it")
            )
        _copy_out(
            project,
            archive,
            model,
            lambda a, reader: store.put(a.sha256, reader),
            f"exporting to {destination}",
            f"exported {archive.size} bytes",
            on_event,
        )
        exported.append(archive)
    return MirrorReport(
        destination,
        tuple(exported),
        tuple(present),
        tuple(skipped),
        fetched,
        time.perf_counter() - started,
        tuple(replaced),
    )


class _Store:
    """A content-addressed mirror's root: a local directory, or an fsspec filesystem."""

    def __init__(self, destination: str, fs: Any, root: str) -> None:
        self.destination, self._fs, self._root = destination, fs, root

    @classmethod
    def open(cls, destination: str) -> _Store:
        if "://" not in destination or destination.startswith("file://"):
            return cls(destination, None, destination.removeprefix("file://"))
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is a dependency
            raise HublockError(f"{destination}: {exc}") from exc
        try:
            fs, root = fsspec.core.url_to_fs(destination)
        except (ImportError, ValueError) as exc:
            raise HublockError(
                f"{destination}: {exc}",
                path=destination,
                hint="for gs:// install hublock[gcs]; for s3:// hublock[s3]",
            ) from exc
        return cls(destination, fs, root.rstrip("/"))

    def _path(self, sha256: str) -> str:
        if self._fs is None:
            return os.path.join(self._root, archive_member(sha256))
        return f"{self._root}/{archive_member(sha256)}"

    def size(self, sha256: str) -> int | None:
        try:
            if self._fs is None:
                return os.stat(self._path(sha256)).st_size
            return int(self._fs.size(self._path(sha256)))
        except OSError:
            return None

    def describe(self, sha256: str) -> str:
        return f"{self.destination.rstrip('/')}/{archive_member(sha256)}"

    def wrong(self, archive: BundledArchive, local: Callable[[], Path]) -> str | None:
        """None when the mirror holds exactly this archive; "" when it holds nothing of this name;
        else what it holds instead. A size that matches is not enough: the bytes are checked, by
        the store's MD5 against the local copy's where it keeps one (GCS: no download), else by
        reading them."""
        size = self.size(archive.sha256)
        if size is None:
            return ""
        if size != archive.size:
            return f"{size} bytes, not {archive.size}"
        path = self._path(archive.sha256)
        try:
            same = None
            if self._fs is not None:
                from hublock.caches import holds_local_file  # a bucket's: only a bucket gets here

                same = holds_local_file(self._fs.info(path), local())
            if same is None:
                with open(path, "rb") if self._fs is None else self._fs.open(path, "rb") as f:
                    same = hashlib.file_digest(f, "sha256").hexdigest() == archive.sha256
        except OSError as exc:
            return f"an object that cannot be read ({exc})"
        return None if same else "other bytes of the same size"

    def put(self, sha256: str, data: _Hashing) -> None:
        """Write ``data`` under its digest; published only if its bytes have that digest."""

        def matches() -> bool:
            return data.sha256.hexdigest() == sha256

        target = self._path(sha256)
        try:
            if self._fs is None:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                tmp = temp_path(Path(target))
                try:
                    with open(tmp, "wb") as out:
                        while chunk := data.read(CHUNK):
                            out.write(chunk)
                    if matches():
                        os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
                return
            with self._fs.open(target, "wb") as out:
                while chunk := data.read(CHUNK):
                    out.write(chunk)
            if not matches():
                self._fs.rm(target)
        except OSError as exc:
            raise CacheError(f"cannot write to the mirror {self.destination}: {exc}", path=target) from exc


# -- the BOM ---------------------------------------------------------------------------------


def export_cyclonedx(manifest: str | Path = "hub.toml", lockfile: str | Path | None = None) -> dict[str, Any]:
    """hub.lock as a CycloneDX 1.6 JSON BOM (``machine-learning-model`` components)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool_version = version("hublock")
    except PackageNotFoundError:  # run from a source tree
        tool_version = "unknown"
    project = Project.load(manifest, lockfile)
    lock = project.lock()
    name = project.lockfile_path.resolve().parent.name or "project"
    return cyclonedx_bom(lock, project=name, tool_version=tool_version)
