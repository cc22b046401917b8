"""``hublock audit``: what happened upstream since the lock was made: unchanged, re-compressed,
changed under a fixed version, gone, or a newer version published."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hublock.commands.diff import api_lookup, read_cached
from hublock.commands.project import Project
from hublock.commands.reports import AuditReport, AuditResult, AuditState
from hublock.commands.trust import signer_change
from hublock.core import (
    Event,
    FetchError,
    FileEntry,
    HublockError,
    IntegrityError,
    LockfileError,
    OnEvent,
    TreeDigest,
    bytes_of,
    hash_directory,
    ignore,
    run_parallel,
)
from hublock.formats import (
    KAGGLE_SCHEME,
    LockedModel,
    ModelApi,
    api_changes,
    handle_kind,
    parse_kaggle_handle,
    trailing_version,
)
from hublock.remote import Fetcher, source_url

if TYPE_CHECKING:
    import httpx

    from hublock.caches import DownloadCache

NEWER_PROBES = 20  # versions tried past the locked one, each until the hub answers 404


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
    if model.from_hf:
        return _audit_hf(model, mirrors, fetcher, on_event)
    if model.uncompressed or not model.archive:
        return AuditResult(
            name, handle, AuditState.SKIPPED, "UNCOMPRESSED: read in place from gs://, not audited"
        )
    on_event(Event(name, "start", f"auditing {handle}", total=model.size))
    try:
        signature = (model.signature.path,) if model.signature is not None else ()
        upstream = [_upstream(model, mirrors)]
        now = fetcher.hash_archive(upstream, progress=bytes_of(on_event, name), files=signature)
    except FetchError as exc:
        if not exc.gone:
            on_event(Event(name, "done", "unreachable"))
            return AuditResult(name, handle, AuditState.UNREACHABLE, str(exc))
        on_event(Event(name, "done", "gone"))
        return AuditResult(name, handle, AuditState.GONE, str(exc), newer=_newer(model, fetcher, mirrors))
    except IntegrityError as exc:
        on_event(Event(name, "done", "unreachable"))
        return AuditResult(name, handle, AuditState.UNREACHABLE, str(exc))
    files: tuple[str, ...] = ()
    if f"sha256:{now.sha256}" == model.archive:
        content, detail = AuditState.UNCHANGED, "the same archive, byte for byte"
    elif now.tree.tree == model.tree:
        content = AuditState.RECOMPRESSED
        detail = f"other archive bytes (sha256:{now.sha256[:16]}), identical files: harmless"
    else:
        content = AuditState.CHANGED
        files = _files_that_differ(locked, model, now.tree)
        detail = (
            f"the host replaced the model under this handle: tree {model.tree} -> {now.tree.tree}; "
            f"`hublock lock --upgrade {name}` takes it after review"
        )
        if model.signature is not None:
            change = signer_change(model.signature, now.kept.get(model.signature.path))
            detail = f"{detail}; {change}" if change else detail
    newer = _newer(model, fetcher, mirrors)
    api = None
    if newer is not None and fetch_newer:
        api = _newer_api(model, newer, fetcher, mirrors, apis, on_event)
    on_event(Event(name, "done", content + (f", newer: {newer}" if newer else "")))
    return AuditResult(name, handle, content, detail, files, newer, api)


def _audit_hf(
    model: LockedModel, mirrors: Mapping[str, str], fetcher: Fetcher, on_event: OnEvent
) -> AuditResult:
    """A Hugging Face model: where its revision points now (one API call, no download). A branch
    that moved is ``newer`` (the lock still names a commit the Hub keeps); a tag that moved is
    ``changed`` (a fixed name now means other files); a repo or revision gone is ``gone``."""
    name, handle, revision = model.name, model.handle, model.revision or "main"
    on_event(Event(name, "start", f"auditing {handle} ({revision})"))
    try:
        now = fetcher.hf_revision(model.hf_repo, revision, mirrors)
    except FetchError as exc:
        state = AuditState.GONE if exc.gone else AuditState.UNREACHABLE
        on_event(Event(name, "done", state))
        return AuditResult(name, handle, state, str(exc))
    if now.commit == model.commit:
        on_event(Event(name, "done", AuditState.UNCHANGED))
        return AuditResult(name, handle, AuditState.UNCHANGED, f"{revision} is still {model.commit}")
    before = {o.path: o.blob for o in model.objects}
    after = {f.path: f.blob for f in now.files}
    files = tuple(sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p)))
    moved = f"{revision} moved from {model.commit} to {now.commit}"
    if not files:
        detail, content = f"{moved}, with the same files: harmless", AuditState.UNCHANGED
    elif _is_branch(model, fetcher, mirrors):
        detail, content = (
            f"{moved}; `hublock lock --upgrade {name}` takes it after review",
            AuditState.UNCHANGED,
        )
    else:
        detail = (
            f"the tag {revision} was moved to other files ({moved}); review before `lock --upgrade {name}`"
        )
        content = AuditState.CHANGED
    newer = f"{handle}@{now.commit}" if files and content is AuditState.UNCHANGED else None
    on_event(Event(name, "done", content + (", newer" if newer else "")))
    return AuditResult(name, handle, content, detail, files, newer)


def _is_branch(model: LockedModel, fetcher: Fetcher, mirrors: Mapping[str, str]) -> bool:
    """Whether a revision names a branch: ``main`` and ``refs/heads/...`` do; otherwise the Hub's
    ``refs/heads/<name>`` answers for a branch and not for a tag."""
    revision = model.revision or "main"
    if revision == "main" or revision.startswith("refs/heads/"):
        return True
    if revision.startswith("refs/tags/"):
        return False
    try:
        fetcher.hf_revision(model.hf_repo, f"refs/heads/{revision}", mirrors)
    except FetchError:
        return False
    return True


def _locked_files(project: Project, downloads: DownloadCache) -> Callable[[LockedModel], TreeDigest | None]:
    """The files a model was locked with, each with its digest: from its archive in the download
    cache, else from its copy in a local cache (when that copy still hashes to the locked tree)."""

    def files(model: LockedModel) -> TreeDigest | None:
        read = read_cached(downloads, (model.archive or "").removeprefix("sha256:"))
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
