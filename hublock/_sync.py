"""``hublock sync``: make a tensorflow_hub cache hold exactly what hub.lock says.

Per model, under tensorflow_hub's own ``<sha1>.lock``: stream the archive (from the download
cache or the network) into ``<sha1>.<uuid>.tmp/``, hashing and unpacking it in one pass, check
archive and tree digests, then publish with one rename. Nothing unverified is ever visible at
``<sha1>/``.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hublock._archive import Sink, extract_archive
from hublock._bucket import BucketCache
from hublock._digest import TreeDigest
from hublock._downloads import DownloadCache
from hublock._errors import CacheError, HublockError, IntegrityError, NotInSyncError
from hublock._events import Event, OnEvent, ignore
from hublock._fetch import ArchiveStream, Fetcher, source_url
from hublock._locker import default_lockfile, unpacked_limit, with_mirrors
from hublock._lockfile import LockedModel, Lockfile, read_lockfile
from hublock._manifest import Manifest, load_manifest
from hublock._parallel import ReadAhead, raise_if_cancelled, run_parallel
from hublock._plan import Action, SyncStep, lock_problems, plan_sync
from hublock._targets import Cache, CacheChoice, choose_cache, open_cache, remove_tree
from hublock._verify import Inspection, State

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class SyncResult:
    """What happened to one model: ``fetched``, ``replaced``, ``present``, ``verified`` (an
    unstamped copy re-hashed and kept), or on a dry run the action that would be taken."""

    name: str
    outcome: str
    path: str


@dataclass(frozen=True)
class SyncReport:
    cache: CacheChoice
    steps: list[SyncStep]
    results: list[SyncResult] = field(default_factory=list)

    @property
    def pending(self) -> list[SyncStep]:
        return [s for s in self.steps if s.action not in (Action.SKIP, Action.REMOTE)]


def project_cache(option: str | None, manifest: Manifest | None) -> tuple[CacheChoice, Cache]:
    """The cache a command uses (``--cache``, TFHUB_CACHE_DIR, ``[cache] dir``, the default),
    opened with hub.toml's storage options."""
    choice = choose_cache(option, manifest.cache_dir if manifest else None)
    return choice, open_cache(choice.location, manifest.cache_options if manifest else None)


def unpack(
    stream: ArchiveStream, staging: Path | Sink, model: LockedModel, cancel: threading.Event
) -> TreeDigest:
    """Extract an archive as it streams in into ``staging``, refusing anything that differs from
    the lock. Three stages on their own threads: reading (socket or file) with the archive's
    sha256, gunzip, then untar with each file's sha256 (``extract_archive``). Only when the whole
    archive matches the lock is it kept in the download cache."""

    def checked() -> Iterator[bytes]:
        for chunk in stream:
            raise_if_cancelled(cancel)
            yield chunk

    with ReadAhead(checked()) as raw:
        tree, failure = None, None
        try:
            dest = str(staging) if isinstance(staging, Path) else staging
            tree = extract_archive(raw, dest, max_bytes=unpacked_limit(model.size))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CacheError(
                    f"{model.name}: no space left while unpacking into {staging}; "
                    f"free at least {model.size * 2} bytes there (the archive is {model.size} "
                    "bytes) and run `hublock sync` again"
                ) from exc
            raise CacheError(f"{model.name}: cannot write into {staging}: {exc}") from exc
        except IntegrityError as exc:
            failure = exc  # judged below: a damaged copy of the right archive is fetched again
        raw.drain()  # the digest covers every byte, also those after the end of the tar
        if raw.failure is not None:  # the transfer itself failed (the archive changed, say):
            raise raw.failure  # that is the error, whichever stage met it first
    actual = f"sha256:{stream.sha256}"
    if actual != model.archive or stream.size != model.size:
        if stream.cached is not None:
            stream.cached.unlink(missing_ok=True)  # a corrupted copy must not be reused
        raise IntegrityError(
            f"archive from {stream.url} has {actual} ({stream.size} bytes), but hub.lock expects "
            f"{model.archive} ({model.size} bytes); nothing was published"
            + ("; the corrupted download was removed, run `hublock sync` again" if stream.cached else "")
        )
    if tree is None:  # the bytes are the locked ones, yet they do not extract: that is the error
        assert failure is not None
        raise failure
    if tree.tree != model.tree or len(tree.files) != model.files:
        raise IntegrityError(
            f"extracted files differ from hub.lock: expected {model.tree} ({model.files} files), "
            f"got {tree.tree} ({len(tree.files)} files)"
        )
    stream.keep()
    return tree


def sync_model(
    step: SyncStep,
    cache: Cache,
    fetcher: Fetcher,
    mirrors: Mapping[str, str],
    *,
    on_event: OnEvent = ignore,
    cancel: threading.Event | None = None,
    local_staging: bool = True,
) -> SyncResult:
    """Bring one model in the cache in line with its lock entry. ``local_staging=False`` extracts
    a bucket target's files straight into its staging prefix (no local copy of the tree)."""
    model = step.model
    stop = cancel or threading.Event()
    path = cache.model_path(model.handle)
    try:
        with cache.model_lock(model.handle) as uid:
            found = cache.inspect(model)  # again, under the lock: another process may have won
            if found.state is State.OK:
                return SyncResult(model.name, "present", path)
            if found.state is State.UNSTAMPED and cache.adopt(model):
                on_event(Event(model.name, "done", "verified the copy already in the cache"))
                return SyncResult(model.name, "verified", path)
            staging = cache.staging_dir(model.handle, uid)
            try:
                _fetch_and_publish(model, cache, fetcher, mirrors, staging, on_event, stop, local_staging)
            finally:
                remove_tree(staging)
    except HublockError as exc:
        raise type(exc)(f"{model.name}: {exc}") from exc
    except OSError as exc:
        raise CacheError(f"{model.name}: cannot write to the cache {cache}: {exc}") from exc
    outcome = "fetched" if found.state is State.MISSING else "replaced"
    on_event(Event(model.name, "done", f"{outcome} -> {path}"))
    return SyncResult(model.name, outcome, path)


def _fetch_and_publish(
    model: LockedModel,
    cache: Cache,
    fetcher: Fetcher,
    mirrors: Mapping[str, str],
    staging: Path,
    on_event: OnEvent,
    cancel: threading.Event,
    local_staging: bool = True,
) -> None:
    assert model.archive is not None  # uncompressed models are never fetched
    sha256 = model.archive.removeprefix("sha256:")

    def progress(n: int) -> None:
        on_event(Event(model.name, "bytes", amount=n))

    for attempt in (1, 2):
        cached = fetcher.downloads.get(sha256) is not None
        what = "unpacking from the download cache" if cached else f"fetching {model.handle}"
        on_event(Event(model.name, "start", what, total=model.size))
        with fetcher.open_archive(
            [source_url(model.handle, mirrors), model.url],
            cached_sha256=sha256,
            max_bytes=model.size,
            progress=progress,
        ) as stream:
            if not local_staging and isinstance(cache, BucketCache):
                remote = cache.remote_prefix(model.handle)
                sink = cache.sink(remote)
                try:
                    tree = unpack(stream, sink, model, cancel)
                    cache.commit(model, remote, tree, sink.sent)
                    return
                finally:
                    cache.discard(remote)
            staging.mkdir()
            try:
                tree = unpack(stream, staging, model, cancel)
                break
            except IntegrityError:
                remove_tree(staging)
                # A bad copy in the download cache is removed by unpack; fetch it once more.
                if attempt == 2 or not cached:
                    raise
    cache.publish(model, staging, tree)


def load_project(manifest: str | Path, lockfile: str | Path | None) -> tuple[Manifest | None, Lockfile, Path]:
    """The manifest (None when only hub.lock was shipped, e.g. into a Docker build) and the lock."""
    lock_path = Path(lockfile) if lockfile is not None else default_lockfile(manifest)
    spec = load_manifest(manifest) if Path(manifest).exists() else None
    return spec, read_lockfile(lock_path), lock_path


def sync(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    dry_run: bool = False,
    offline: bool = False,
    mirrors: Mapping[str, str] | None = None,
    jobs: int = 4,
    download_cache: str | Path | None = None,
    on_event: OnEvent = ignore,
    transport: httpx.BaseTransport | None = None,
    local_staging: bool = True,
) -> SyncReport:
    """Fill the cache from hub.lock. Refuses a lock that no longer matches hub.toml.
    ``local_staging=False``: for a bucket, extract straight into it (no local copy of the tree)."""
    spec, lock, lock_path = load_project(manifest, lockfile)
    if spec is not None:
        problems = lock_problems(spec, lock, os.environ)
        if problems:
            raise NotInSyncError(
                f"{lock_path} is out of date with {manifest}:\n  "
                + "\n  ".join(problems)
                + "\nrun `hublock lock`, then sync again"
            )
        spec = with_mirrors(spec, mirrors)
    choice, target = project_cache(cache, spec)
    found = {m.name: target.inspect(m) for m in lock.models if not m.uncompressed}
    steps = plan_sync(lock, found)
    if not dry_run:
        for step in steps:
            if found.get(step.model.name, Inspection(State.MISSING)).restamp:
                # copied (docker COPY, cp -a) or touched, content re-verified: record the new stats
                with suppress(OSError, HublockError):
                    target.adopt(step.model)
    report = SyncReport(choice, steps)
    if dry_run:
        report.results.extend(
            SyncResult(s.model.name, s.action.value, target.model_path(s.model.handle)) for s in steps
        )
        return report
    if report.pending:
        target.ensure_root()
    all_mirrors = spec.mirrors if spec else with_mirrors(Manifest(()), mirrors).mirrors
    report.results.extend(
        SyncResult(
            s.model.name,
            s.action.value,
            target.model_path(s.model.handle) if not s.model.uncompressed else s.model.url,
        )
        for s in steps
        if s.action in (Action.SKIP, Action.REMOTE)
    )
    with Fetcher(
        DownloadCache(download_cache), offline=offline, transport=transport, auth=spec.auth if spec else None
    ) as fetcher:
        report.results.extend(
            run_parallel(
                lambda step, cancel: sync_model(
                    step,
                    target,
                    fetcher,
                    all_mirrors,
                    on_event=on_event,
                    cancel=cancel,
                    local_staging=local_staging,
                ),
                # largest first: the biggest model is the longest chain of work, so it must not
                # start last and leave a core idle at the end
                sorted(report.pending, key=lambda s: -s.model.size),
                jobs,
            )
        )
    return report


@dataclass(frozen=True)
class ModelCheck:
    """One locked model, where it is, and what the check found."""

    model: LockedModel
    path: str
    inspection: Inspection


@dataclass(frozen=True)
class VerifyReport:
    cache: CacheChoice
    checks: list[ModelCheck]

    @property
    def ok(self) -> bool:
        return all(c.inspection.ok for c in self.checks)


def verify(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    full: bool = False,
    jobs: int = 2,
) -> VerifyReport:
    """Check every locked model in the cache against hub.lock, by stamp (fast) or re-hash (full).
    Reads only; repair with ``sync``."""
    spec, lock, _ = load_project(manifest, lockfile)
    return _check(spec, lock, cache, full, jobs)


def _check(spec: Manifest | None, lock: Lockfile, cache: str | None, full: bool, jobs: int) -> VerifyReport:
    choice, target = project_cache(cache, spec)
    checks = []
    for m in lock.models:
        if m.uncompressed:
            from hublock._bucket import check_remote

            checks.append(
                ModelCheck(m, m.url, check_remote(m, spec.cache_options if spec else {}, full=full))
            )
        else:
            checks.append(ModelCheck(m, target.model_path(m.handle), target.inspect(m, full=full, jobs=jobs)))
    return VerifyReport(choice, checks)


@dataclass(frozen=True)
class ModelStatus:
    """One model as ``hublock status`` shows it. ``state``: a cache State value (``ok``,
    ``missing``, ``modified``, ``extra_files``, ``stale_stamp``, ``unstamped``), ``remote`` for an
    uncompressed model whose objects match, ``stale`` when hub.toml changed since it was locked,
    ``not_locked`` when hub.lock has no entry, ``not_in_manifest`` when only hub.lock has one."""

    name: str
    handle: str
    state: str
    size: int | None
    path: str | None
    detail: str = ""


def status(
    manifest: str | Path = "hub.toml", lockfile: str | Path | None = None, *, cache: str | None = None
) -> tuple[CacheChoice, list[ModelStatus]]:
    """Every model of hub.toml and hub.lock, with its state in the cache (fast checks only)."""
    spec, lock, _ = load_project(manifest, lockfile)
    report = _check(spec, lock, cache, full=False, jobs=2)
    stale = {p.split(":", 1)[0] for p in lock_problems(spec, lock, os.environ)} if spec else set()
    rows = []
    for check in report.checks:
        m, found = check.model, check.inspection
        state = found.state.value
        if m.uncompressed and found.ok:
            state = "remote"
        if spec is not None and m.name not in spec.names:
            state = "not_in_manifest"
        elif m.name in stale:
            state = "stale"
        rows.append(ModelStatus(m.name, m.handle, state, m.size, check.path, found.detail))
    for model in spec.models if spec else ():
        if lock.get(model.name) is None:
            rows.append(ModelStatus(model.name, model.handle, "not_locked", None, None))
    return report.cache, sorted(rows, key=lambda r: r.name)
