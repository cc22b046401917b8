"""Keeping up with upstream: what changed between two locks (``hublock diff``), and what
happened upstream since the lock was made (``hublock audit``: unchanged, re-compressed, changed
under a fixed version, gone, or a newer version published)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hublock.commands.project import Project, default_lockfile
from hublock.core.digest import FileEntry, TreeDigest, hash_directory
from hublock.core.errors import (
    FetchError,
    HublockError,
    IntegrityError,
    LockfileError,
    ManifestError,
)
from hublock.core.events import Event, OnEvent, bytes_of, ignore
from hublock.core.parallel import run_parallel
from hublock.formats.handles import KAGGLE_SCHEME, handle_kind, parse_kaggle_handle, trailing_version
from hublock.formats.lock_diff import ModelDiff, diff_locks
from hublock.formats.lockfile import LockedModel, Lockfile, parse_lockfile, read_lockfile
from hublock.formats.saved_model_api import ModelApi, api_changes
from hublock.remote import Fetcher, HashedArchive, source_url

if TYPE_CHECKING:
    import httpx

    from hublock.caches.downloads import DownloadCache

NEWER_PROBES = 20  # versions tried past the locked one, each until the hub answers 404


# -- diff ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffReport:
    """``hublock diff``: each model's change between two locks."""

    old: str
    new: str
    models: tuple[ModelDiff, ...]

    @property
    def changed(self) -> tuple[ModelDiff, ...]:
        return tuple(m for m in self.models if m.state != "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "models": {m.name: m.to_dict() for m in self.models}}


def diff(
    old: str | os.PathLike[str] | None = None,
    new: str | os.PathLike[str] | None = None,
    *,
    lockfile: str | os.PathLike[str] | None = None,
    download_cache: str | os.PathLike[str] | None = None,
) -> DiffReport:
    """What changed per model from lock OLD to lock NEW (files; ``/dev/null`` for none). By
    default OLD is hub.lock as git HEAD has it, NEW hub.lock in the working tree."""
    path = Path(lockfile) if lockfile is not None else default_lockfile("hub.toml")
    if old is None:
        old_lock, old_label = _from_git_head(path), f"HEAD:{path.name}"
    else:
        old_lock, old_label = _read(Path(old)), str(old)
    new_lock, new_label = (_read(Path(new)), str(new)) if new is not None else (_read(path), str(path))
    project = Project.load(download_cache=download_cache)
    apis = api_lookup(project.downloads(), (old_lock, new_lock))
    return DiffReport(old_label, new_label, diff_locks(old_lock, new_lock, apis))


def _read(path: Path) -> Lockfile:
    if str(path) == os.devnull:
        return Lockfile()
    return read_lockfile(path)


def _from_git_head(path: Path) -> Lockfile:
    """hub.lock as the last commit has it: an empty lock when it is not committed yet."""
    folder = path.resolve().parent
    try:
        shown = subprocess.run(
            ["git", "-C", str(folder), "show", f"HEAD:./{path.name}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ManifestError(
            f"cannot ask git for HEAD:{path.name}: {exc}", path=str(path), hint="give OLD as a file"
        ) from exc
    if shown.returncode != 0:
        said = shown.stderr.strip().splitlines()[-1] if shown.stderr.strip() else "git failed"
        if "does not exist" in said or "exists on disk, but not in" in said:
            return Lockfile()
        raise ManifestError(
            f"cannot read {path.name} from git HEAD: {said}",
            path=str(path),
            hint="run it inside the project's git repository, or give OLD as a file",
        )
    return parse_lockfile(shown.stdout, source=f"HEAD:{path.name}")


def api_lookup(downloads: DownloadCache, locks: Collection[Lockfile]) -> Callable[[str], ModelApi | None]:
    """The readable form of each API these locks record: kept in the download cache by ``lock``,
    else read again from the model's archive there, if it still is."""
    archives: dict[str, str] = {
        m.api: m.archive for lock in locks for m in lock.models if m.api and m.archive
    }
    found: dict[str, ModelApi | None] = {}

    def lookup(digest: str) -> ModelApi | None:
        if digest not in found:
            api = downloads.read_api(digest)
            archive = archives.get(digest)
            if api is None and archive is not None:
                api = _api_of_archive(downloads, archive.removeprefix("sha256:"))
            found[digest] = api if api is not None and api.digest == digest else None
        return found[digest]

    return lookup


def _read_cached(downloads: DownloadCache, sha256: str) -> HashedArchive | None:
    """An archive of the download cache, read once (its files and API), if it is there."""
    if downloads.get(sha256) is None:
        return None
    try:
        return Fetcher(downloads, offline=True).hash_archive([], cached_sha256=sha256)
    except (HublockError, OSError):
        return None


def _api_of_archive(downloads: DownloadCache, sha256: str) -> ModelApi | None:
    read = _read_cached(downloads, sha256)
    if read is None or read.api is None:
        return None
    downloads.write_api(read.api)
    return read.api


# -- audit --------------------------------------------------------------------------------------

CONTENT_STATES = ("unchanged", "recompressed", "changed", "gone")


@dataclass(frozen=True)
class AuditResult:
    """One model, as upstream serves it now. ``content``: ``unchanged``, ``recompressed`` (other
    archive bytes, identical files), ``changed`` (other files under the same handle), ``gone``
    (404/410, or no such Kaggle version), ``unreachable`` (any other failure), or ``skipped``.
    ``newer``: the handle of a newer version, when one is published. ``state`` sums both up."""

    name: str
    handle: str
    content: str
    detail: str = ""
    files: tuple[str, ...] = ()
    """The files that differ (``changed``), when the locked archive could be read here."""
    newer: str | None = None
    api: tuple[str, ...] | None = None
    """With ``--fetch-newer``: the newer version's API changes against the locked one."""

    @property
    def state(self) -> str:
        if self.content in ("changed", "gone", "unreachable"):
            return self.content
        return "newer" if self.newer else self.content

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "content": self.content,
            "handle": self.handle,
            "detail": self.detail,
            "files": list(self.files),
            "newer": self.newer,
            "api": None if self.api is None else list(self.api),
        }


@dataclass(frozen=True)
class AuditReport:
    results: tuple[AuditResult, ...]
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """3 when a locked model changed, is gone or cannot be reached; else 0."""
        return 3 if any(r.state in ("changed", "gone", "unreachable") for r in self.results) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": {r.name: r.to_dict() for r in self.results},
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
        }


def audit(
    names: Collection[str] = (),
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    mirrors: Mapping[str, str] | None = None,
    offline: bool = False,
    fetch_newer: bool = False,
    jobs: int = 4,
    download_cache: str | Path | None = None,
    on_event: OnEvent = ignore,
    transport: httpx.BaseTransport | None = None,
) -> AuditReport:
    """Re-resolve every locked model (``names`` only) upstream, through the mirrors and auth in
    force, and classify what the host serves now. Writes nothing: not hub.lock, not the caches,
    not the download cache."""
    started = time.perf_counter()
    if offline:
        raise FetchError(
            "audit asks the hosts what they serve now, and --offline forbids the network",
            hint="run it where the hubs (or their mirrors) can be reached",
        )
    project = Project.load(
        manifest, lockfile, mirrors=mirrors, download_cache=download_cache, transport=transport
    )
    lock = project.lock()
    models = lock.select(names, project.lockfile_path)
    downloads = project.downloads()
    apis = api_lookup(downloads, [lock])
    locked = _locked_files(project, downloads)
    with project.fetcher() as fetcher:

        def one(model: LockedModel, cancel: threading.Event) -> AuditResult:
            return audit_model(model, project.mirrors, fetcher, locked, apis, on_event, fetch_newer)

        results = run_parallel(one, models, jobs)
    return AuditReport(tuple(results), time.perf_counter() - started)


def _upstream(model: LockedModel, mirrors: Mapping[str, str]) -> str:
    """Where the host serves a locked handle now (through its mirror, never a content-addressed
    one: that serves the locked bytes by construction)."""
    if model.in_tfhub:
        return source_url(model.handle, mirrors)
    return source_url(KAGGLE_SCHEME + (model.kaggle or ""), mirrors)


def audit_model(
    model: LockedModel,
    mirrors: Mapping[str, str],
    fetcher: Fetcher,
    locked: Callable[[LockedModel], TreeDigest | None],
    apis: Callable[[str], ModelApi | None],
    on_event: OnEvent,
    fetch_newer: bool,
) -> AuditResult:
    name, handle = model.name, model.handle
    if model.uncompressed or not model.archive:
        return AuditResult(name, handle, "skipped", "UNCOMPRESSED: read in place from gs://, not audited")
    on_event(Event(name, "start", f"auditing {handle}", total=model.size))
    try:
        now = fetcher.hash_archive([_upstream(model, mirrors)], progress=bytes_of(on_event, name))
    except FetchError as exc:
        if not exc.gone:
            on_event(Event(name, "done", "unreachable"))
            return AuditResult(name, handle, "unreachable", str(exc))
        on_event(Event(name, "done", "gone"))
        return AuditResult(name, handle, "gone", str(exc), newer=_newer(model, fetcher, mirrors))
    except IntegrityError as exc:
        on_event(Event(name, "done", "unreachable"))
        return AuditResult(name, handle, "unreachable", str(exc))
    files: tuple[str, ...] = ()
    if f"sha256:{now.sha256}" == model.archive:
        content, detail = "unchanged", "the same archive, byte for byte"
    elif now.tree.tree == model.tree:
        content = "recompressed"
        detail = f"other archive bytes (sha256:{now.sha256[:16]}), identical files: harmless"
    else:
        content = "changed"
        files = _files_that_differ(locked, model, now.tree)
        detail = (
            f"the host replaced the model under this handle: tree {model.tree} -> {now.tree.tree}; "
            f"`hublock lock --upgrade {name}` takes it after review"
        )
    newer = _newer(model, fetcher, mirrors)
    api = None
    if newer is not None and fetch_newer:
        api = _newer_api(model, newer, fetcher, mirrors, apis, on_event)
    on_event(Event(name, "done", content + (f", newer: {newer}" if newer else "")))
    return AuditResult(name, handle, content, detail, files, newer, api)


def _locked_files(project: Project, downloads: DownloadCache) -> Callable[[LockedModel], TreeDigest | None]:
    """The files a model was locked with, each with its digest: from its archive in the download
    cache, else from its copy in a local cache (when that copy still hashes to the locked tree)."""

    def files(model: LockedModel) -> TreeDigest | None:
        read = _read_cached(downloads, (model.archive or "").removeprefix("sha256:"))
        if read is not None:
            return read.tree
        with contextlib.suppress(HublockError, OSError):
            _, cache = project.open_cache() if model.in_tfhub else project.open_kaggle_cache()
            where = cache.path_of(model)
            if "://" not in where and Path(where).is_dir():
                found = hash_directory(where, jobs=2)
                return found if found.tree == model.tree else None
        return None

    return files


def _files_that_differ(
    locked: Callable[[LockedModel], TreeDigest | None], model: LockedModel, now: TreeDigest
) -> tuple[str, ...]:
    """The paths whose content differs (or that exist on one side only), when the locked files
    can be read here."""
    then = locked(model)
    if then is None:
        return ()
    before: dict[str, FileEntry] = {e.path: e for e in then.files}
    after: dict[str, FileEntry] = {e.path: e for e in now.files}
    return tuple(sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p)))


def _newer(model: LockedModel, fetcher: Fetcher, mirrors: Mapping[str, str]) -> str | None:
    """The newest version published past the locked one: the Kaggle API's current version for a
    kagglehub handle; else, for a handle ending in a version number (tfhub.dev, kaggle.com), the
    following numbers, tried until the hub answers 404."""
    if model.kaggle:
        pinned = parse_kaggle_handle(model.kaggle)
        try:
            current = fetcher.kaggle_version(pinned.with_version(None))
        except FetchError:
            return None
        return str(pinned.with_version(current)) if pinned.version and current > pinned.version else None
    if handle_kind(model.handle) != "http":
        return None
    found = trailing_version(model.handle)
    if found is None:
        return None
    base, version = found
    newest = None
    for n in range(version + 1, version + 1 + NEWER_PROBES):
        candidate = f"{base}/{n}"
        try:
            with fetcher.open_archive([source_url(candidate, mirrors)]):
                newest = candidate  # it answered: the bytes are not needed
        except FetchError:
            break
    return newest


def _newer_api(
    model: LockedModel,
    newer: str,
    fetcher: Fetcher,
    mirrors: Mapping[str, str],
    apis: Callable[[str], ModelApi | None],
    on_event: OnEvent,
) -> tuple[str, ...] | None:
    """The API changes from the locked version to ``newer`` (downloaded, not kept)."""
    locked = apis(model.api) if model.api else None
    source = KAGGLE_SCHEME + newer if model.kaggle else newer
    try:
        fetched = fetcher.hash_archive([source_url(source, mirrors)], progress=bytes_of(on_event, model.name))
    except (FetchError, IntegrityError, LockfileError):
        return None
    if locked is None or fetched.api is None:
        return None
    return tuple(api_changes(locked, fetched.api))
