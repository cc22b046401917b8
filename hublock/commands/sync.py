"""``hublock sync``: make a cache hold exactly what hub.lock says.

Per model, under the loader's own lock: stream the archive (from the download cache or the
network) into the cache's staging area, hashing and unpacking it in one pass, check archive and
tree digests, then let the cache publish it (one rename on disk). Nothing unverified is ever
visible where a loader looks.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hublock.caches import (
    Cache,
    CacheChoice,
    Root,
    State,
    live_roots,
    open_cache,
    read_lock_or_none,
)
from hublock.commands.plan import Action, SyncStep, plan_sync
from hublock.commands.project import Project
from hublock.commands.reports import Outcome, SyncReport, SyncResult, joined
from hublock.core import (
    CacheError,
    CancelFlag,
    DiskFullError,
    Event,
    FetchError,
    FileEntry,
    HublockError,
    Inline,
    IntegrityError,
    Loader,
    ModelErrors,
    NotInSyncError,
    OnEvent,
    ReadAhead,
    TreeDigest,
    bytes_of,
    ignore,
    processes_pay_off,
    profiled,
    raise_if_cancelled,
    redact,
    run_parallel,
    run_parts,
    run_processes,
    tree_digest,
    usable_cores,
    worker_count,
)
from hublock.formats import LockedModel, Lockfile

# hublock.remote (the HTTP client, the fetcher) and formats.archive (tarfile, the inflaters) are
# imported where a model is fetched: a sync that finds every model in place needs neither
# (~15 ms of its start-up)
if TYPE_CHECKING:
    import httpx

    from hublock.formats import BundleReader, GunzippedFile, RemoteObject, Sink
    from hublock.remote import ArchiveStream, Fetcher


THREADED_MIN = 16 << 20
"""Archives this large run their stages on threads of their own (reading and sha256, gunzip,
untar and file hashing overlap on both cores); smaller ones run on one thread, where hand-offs
between threads would cost more than they save."""


def inflate_threads(model: LockedModel) -> int:
    """How many threads inflate this model's archive at once (0: one stream, ISA-L), from the
    download cache, where the whole file can be read anywhere (a cold one is downloaded there
    first: see ``_fetch_and_publish``)."""
    from hublock.formats import parallel_inflate_threads

    return parallel_inflate_threads(usable_cores(), model.size)


def unpack(
    stream: ArchiveStream,
    staging: Path | Sink,
    model: LockedModel,
    cancel: CancelFlag,
    *,
    parallel: bool = True,
) -> tuple[TreeDigest, str]:
    """Extract an archive as it streams in into ``staging``, refusing anything that differs from
    the lock. Three stages (on their own threads for a large archive): reading (socket or file)
    with the archive's sha256, gunzip, then untar with each file's sha256 (``extract_archive``).
    Only when the whole archive matches the lock is it kept in the download cache.
    ``parallel``: a large gzip archive read from the download cache is inflated on several
    threads (``inflate_threads``) while another reads it for its sha256.

    Archive bytes other than the locked ones whose files are exactly the locked ones (the host
    re-compressed it) are accepted, and said so (the second value): the tree is the content's
    identity. Other files under a locked handle are refused."""
    from hublock.formats import GunzippedFile, extract_archive, is_gzip_file, unpacked_limit

    def checked() -> Iterator[bytes]:
        for chunk in stream:
            raise_if_cancelled(cancel)
            yield chunk

    dest = str(staging) if isinstance(staging, Path) else staging
    tree: TreeDigest | None = None
    failure: IntegrityError | None = None

    def extract(source: ReadAhead | GunzippedFile, threads: bool) -> None:
        nonlocal tree, failure
        try:
            tree = extract_archive(source, dest, max_bytes=unpacked_limit(model.size), threads=threads)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(
                    f"no space left while unpacking into {staging}",
                    path=str(staging),
                    needed=model.unpacked,
                    archive=model.size,
                ) from exc
            raise CacheError(f"cannot write into {staging}: {exc}", path=str(staging)) from exc
        except IntegrityError as exc:
            failure = exc  # judged below: a damaged copy of the right archive is fetched again

    threads = model.size >= THREADED_MIN
    local = stream.cached if parallel else None  # a file on disk: rapidgzip may read it anywhere
    inflaters = inflate_threads(model) if local is not None else 0
    if local is not None and inflaters and is_gzip_file(local):
        # the archive's sha256 on a thread of its own, the inflate on the others, untar here
        hash_failures: list[BaseException] = []

        def hash_archive() -> None:
            try:
                for _ in checked():
                    pass
            except BaseException as exc:  # raised again on this thread, below
                hash_failures.append(exc)

        hashing = threading.Thread(target=hash_archive, name="hublock-sha256", daemon=True)
        hashing.start()
        try:
            with GunzippedFile(local, inflaters) as gz:
                extract(gz, threads=True)
        finally:
            hashing.join()
        if hash_failures:
            raise hash_failures[0]
    else:
        with ReadAhead(checked(), yielding=True) if threads else Inline(checked()) as raw:
            extract(raw, threads)
            raw.drain()  # the digest covers every byte, also those after the end of the tar
            if raw.failure is not None:  # the transfer itself failed (the archive changed, say):
                raise raw.failure  # that is the error, whichever stage met it first
    actual = f"sha256:{stream.sha256}"
    same_archive = actual == model.archive and stream.size == model.size
    if not same_archive and stream.cached is not None:
        stream.cached.unlink(missing_ok=True)  # a corrupted copy must not be reused
        raise IntegrityError(
            f"archive from {stream.url} differs from hub.lock",
            path=stream.url,
            expected=f"{model.archive} ({model.size} bytes)",
            actual=f"{actual} ({stream.size} bytes)",
            hint="nothing was published; the corrupted download was removed, run `hublock sync` again",
        )
    same_files = tree is not None and tree.tree == model.tree and len(tree.files) == model.files
    if not same_archive and not same_files:
        raise IntegrityError(
            f"archive from {stream.url} differs from hub.lock, and so do its files: the host "
            "changed the model under a locked handle",
            path=stream.url,
            expected=f"{model.archive} ({model.size} bytes, tree {model.tree})",
            actual=f"{actual} ({stream.size} bytes"
            + (f", tree {tree.tree})" if tree is not None else ", not a readable archive)"),
            hint=f"nothing was published; `hublock audit {model.name}` shows what changed, "
            f"`hublock lock --upgrade {model.name}` takes the new content after review",
        )
    if tree is None:  # the bytes are the locked ones, yet they do not extract: that is the error
        assert failure is not None
        raise failure
    if not same_files:
        raise IntegrityError(
            "extracted files differ from hub.lock",
            expected=f"{model.tree} ({model.files} files)",
            actual=f"{tree.tree} ({len(tree.files)} files)",
        )
    stream.keep()
    if same_archive:
        return tree, ""
    return tree, (
        f"the host re-compressed it: archive {actual[:23]} ({stream.size} bytes) instead of "
        f"{(model.archive or '')[:23]}, identical files; accepted (`hublock lock --upgrade "
        f"{model.name}` records the new archive)"
    )


def sync_model(
    step: SyncStep,
    cache: Cache,
    fetcher: Fetcher,
    mirrors: Mapping[str, str],
    *,
    on_event: OnEvent = ignore,
    cancel: CancelFlag | None = None,
    local_staging: bool = True,
    sources: list[str] | None = None,
) -> SyncResult:
    """Bring one model in the cache in line with its lock entry. ``local_staging=False`` extracts
    a bucket target's files straight into its staging prefix (no local copy of the tree).
    ``sources``: where its archive may come from (default: ``model_sources``)."""
    from hublock.remote import model_sources

    model = step.model
    stop: CancelFlag = cancel or threading.Event()
    path = cache.path_of(model)
    loader = cache.layout.name
    try:
        with cache.model_lock(cache.address(model)) as uid:
            found = cache.inspect(model)  # again, under the lock: another process may have won
            if found.state is State.OK:
                return SyncResult(model.name, Outcome.PRESENT, path, loader)
            if found.state is State.UNSTAMPED and cache.adopt(model):
                on_event(Event(model.name, "done", "verified the copy already in the cache"))
                return SyncResult(model.name, Outcome.VERIFIED, path, loader)
            if model.from_hf:
                note = _fetch_hub_files(model, cache, fetcher, mirrors, uid, on_event, stop)
            else:
                note = _fetch_and_publish(
                    model,
                    cache,
                    sources or model_sources(model, mirrors),
                    fetcher,
                    uid,
                    on_event,
                    stop,
                    local_staging,
                )
    except HublockError as exc:
        exc.about(model=model.name, handle=model.handle)
        raise
    except OSError as exc:
        raise CacheError(
            f"cannot write to the cache {cache}: {exc}", model=model.name, handle=model.handle, path=path
        ) from exc
    outcome = Outcome.FETCHED if found.state is State.MISSING else Outcome.REPLACED
    on_event(Event(model.name, "done", f"{outcome.value} -> {path}"))
    return SyncResult(model.name, outcome, path, loader, warning=f"{model.name}: {note}" if note else "")


def recompressed_limit(size: int) -> int:
    """How large an archive may grow past its locked size and still be judged by its files: a
    host that re-compresses at another level, or with another tool, rarely doubles it."""
    return 2 * size + (1 << 20)


def _fetch_hub_files(
    model: LockedModel,
    cache: Cache,
    fetcher: Fetcher,
    mirrors: Mapping[str, str],
    uid: str,
    on_event: OnEvent,
    cancel: CancelFlag,
) -> str:
    """A Hugging Face model: each locked file (from the download cache, else the Hub or its
    mirror), checked against its sha256 as it is written into staging, then published."""
    from hublock.remote import FILES_AT_ONCE, content_sources

    commit = model.commit or ""
    # where its files come from, as the archives' messages say it (a bundle, the download cache)
    holders = {fetcher.bundle_holding(sha) for sha, _ in model.contents if fetcher.downloads.get(sha) is None}
    if not holders:
        what = f"taking {model.handle} at {commit[:12]} from the download cache"
    elif None not in holders:
        bundles = ", ".join(sorted(str(h.path) for h in holders if h is not None))
        what = f"taking {model.handle} at {commit[:12]} from {bundles}"
    else:
        what = f"fetching {model.handle} at {commit[:12]}"
    on_event(Event(model.name, "start", what, total=model.size))
    with cache.staging(cache.address(model), uid) as staging:
        destination = staging.destination
        assert isinstance(destination, Path)  # a huggingface_hub cache is a local directory

        from hublock.caches import HuggingfaceCache  # here: most syncs have no Hugging Face model

        def fetch(obj: RemoteObject, stop: CancelFlag) -> FileEntry:
            sha256 = obj.checksum.removeprefix("sha256:")
            target = destination / obj.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(cache, HuggingfaceCache) and cache.reuse_blob(model, obj, target):
                return FileEntry(obj.path, obj.size, sha256)

            def progress(n: int) -> None:
                raise_if_cancelled(stop)
                on_event(Event(model.name, "bytes", amount=n))

            got = fetcher.fetch_hub_file(
                content_sources(model, sha256, mirrors),
                name=obj.path,
                size=obj.size,
                sha256=sha256,
                progress=progress,
                into=target,
            )
            return FileEntry(obj.path, obj.size, got)

        # largest first, so that the longest download does not start last
        largest = sorted(model.objects, key=lambda o: -o.size)
        files = run_parts(fetch, largest, FILES_AT_ONCE, cancel)
        tree = tree_digest(files)
        if tree.tree != model.tree:  # each file matched: only a hand-edited lock gets here
            raise IntegrityError(
                "the files differ from hub.lock's tree", expected=model.tree, actual=tree.tree
            )
        _check_signed(model, files, destination)
        staging.publish(model, tree)
    return ""


def _fetch_and_publish(
    model: LockedModel,
    cache: Cache,
    sources: list[str],
    fetcher: Fetcher,
    uid: str,
    on_event: OnEvent,
    cancel: CancelFlag,
    local_staging: bool,
) -> str:
    """Fetch, check and publish one model; returns a warning to pass on, or ""."""
    assert model.archive is not None  # uncompressed models are never fetched
    sha256 = model.archive.removeprefix("sha256:")

    remaining = list(dict.fromkeys(sources))
    bad: list[str] = []  # sources that served other bytes than the locked ones, and why
    first: HublockError | None = None  # the first bad source's error
    retried_cache = False
    # On many cores a large archive is downloaded first and then inflated on all of them from the
    # download cache: faster than one core inflating it as it arrives, unless the network is
    # slower than that core (~250 MB/s).
    download_first = inflate_threads(model) > 0
    while True:
        cached = fetcher.downloads.get(sha256) is not None
        held = None if cached else fetcher.bundle_holding(sha256)
        if cached or held is not None:
            what = f"unpacking from {held.path if held is not None else 'the download cache'}"
        else:
            what = f"fetching {model.handle}"
        on_event(Event(model.name, "start", what, total=model.size))
        failure: HublockError | None = None
        with (
            fetcher.open_archive(
                remaining,
                cached_sha256=sha256,
                max_bytes=recompressed_limit(model.size),
                progress=bytes_of(on_event, model.name),
            ) as stream,
            cache.staging(cache.address(model), uid, local=local_staging) as staging,
        ):
            try:
                if download_first and stream.cached is None and held is None:
                    download_first = False
                    _download(stream, model, cancel)  # kept if it is the locked archive; if not,
                    continue  # it is fetched again and judged as a stream, as without cores
                tree, note = unpack(stream, staging.destination, model, cancel, parallel=not retried_cache)
            except IntegrityError as exc:
                if cached and not retried_cache:  # a bad copy in the download cache was removed
                    retried_cache = True
                    continue
                if stream.source is None:
                    raise
                failure = exc
            except FetchError as exc:  # the body broke off for good
                if stream.source is None:
                    raise
                failure = exc
            else:
                if isinstance(destination := staging.destination, Path):  # a bucket's: the tree is checked
                    _check_signed(model, tree.files, destination)
                staging.publish(model, tree)
                skipped = [f"{why}; took it from {redact(stream.source or stream.url)}" for why in bad]
                return "; ".join([*skipped, note] if note else skipped)
        # A bad source is one failed source, not a failed model: the next one is tried.
        assert stream.source is not None and failure is not None
        said = str(failure)
        if isinstance(failure, IntegrityError) and failure.actual:
            said = f"got {failure.actual}"
        bad.append(f"{redact(stream.source)} served other bytes than hub.lock's ({said})")
        first = first or failure
        remaining = remaining[remaining.index(stream.source) + 1 :]
        if not remaining:  # every source was bad: the first one's error, the others named
            if len(bad) > 1:
                first.message += f"; the other sources too: {'; '.join(bad[1:])}"
            raise first


def _check_signed(model: LockedModel, files: Sequence[FileEntry], staged: Path) -> None:
    """A signed model's signature and files, as unpacked into ``staged`` (``check_published``).
    commands.trust, and the signature's parser, are imported only for a signed model."""
    if model.signature is not None:
        from hublock.commands.trust import check_published

        check_published(model, files, lambda p: (staged / p).read_bytes())


def _download(stream: ArchiveStream, model: LockedModel, cancel: CancelFlag) -> None:
    """Read the whole archive into the download cache; keep it there if it is the locked one."""
    for _ in stream:
        raise_if_cancelled(cancel)
    if f"sha256:{stream.sha256}" == model.archive and stream.size == model.size:
        stream.keep()


def sync(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    kaggle_cache: str | None = None,
    hf_cache: str | None = None,
    dry_run: bool = False,
    offline: bool = False,
    mirrors: Mapping[str, str] | None = None,
    jobs: int = 4,
    download_cache: str | Path | None = None,
    on_event: OnEvent = ignore,
    transport: httpx.BaseTransport | None = None,
    local_staging: bool = True,
    force: bool = False,
    bundles: Sequence[str | Path] = (),
) -> SyncReport:
    """Fill the cache from hub.lock. Refuses a lock that no longer matches hub.toml, and (unless
    ``force``) to replace a model another live project verified in a shared cache.
    ``local_staging=False``: for a bucket, extract straight into it (no local copy of the tree).
    ``bundles`` (``hublock bundle`` files or unpacked directories): take the archives from them,
    with no network; a bundle made from another lock is refused."""
    project = Project.load(
        manifest,
        lockfile,
        cache=cache,
        kaggle_cache=kaggle_cache,
        hf_cache=hf_cache,
        mirrors=mirrors,
        offline=offline or bool(bundles),
        download_cache=download_cache,
        transport=transport,
        bundles=bundles,
    )
    return sync_project(
        project, dry_run=dry_run, jobs=jobs, on_event=on_event, local_staging=local_staging, force=force
    )


def sync_project(
    project: Project,
    *,
    dry_run: bool = False,
    jobs: int = 4,
    on_event: OnEvent = ignore,
    local_staging: bool = True,
    force: bool = False,
) -> SyncReport:
    """``sync`` of a loaded project: tensorflow_hub's cache, and kagglehub's when any model
    goes there, filled in one parallel run (an archive both need is fetched once)."""
    with profiled("sync"):
        return _sync_project(project, dry_run, jobs, on_event, local_staging, force)


def _sync_project(
    project: Project, dry_run: bool, jobs: int, on_event: OnEvent, local_staging: bool, force: bool
) -> SyncReport:
    lock = project.lock()
    project.require_in_sync(lock, "sync")
    readers: list[BundleReader] = []
    if project.bundles:  # imported only then: most syncs have none
        from hublock.formats import BundleReader, require_same_lock

        readers = [BundleReader(bundle) for bundle in project.bundles]  # the bundles' rules checked
        for reader in readers:
            require_same_lock(reader, lock, project.lockfile_path)
    targets = project.targets(lock)
    if dry_run:
        return joined([_plan(lock, target, choice, dry_run=True) for choice, target in targets])
    me = Root.of(project.lockfile_path, lock)
    project.downloads().write_root(me)
    with ExitStack() as stack:
        prepared = [_prepare(lock, choice, target, me, force, stack) for choice, target in targets]
        # one archive, one chain of work: a model bound for both caches is fetched once, then
        # unpacked a second time from the download cache
        work: dict[str, list[tuple[SyncStep, Cache]]] = {}
        for (report, _), (_, target) in zip(prepared, targets, strict=True):
            for step in report.pending:
                work.setdefault(step.model.archive or step.model.name, []).append((step, target))
        # largest first: the biggest model is the longest chain of work, so it must not start
        # last and leave a core idle at the end
        chains = sorted(work.values(), key=lambda items: -items[0][0].model.size)
        if readers:
            _check_bundled(project, readers, chains, on_event)
        with _naming_space_needed(chains):
            done = _run_chains(project, chains, jobs, on_event, local_staging)
    reports = []
    for report, untouched in prepared:
        mine = tuple(r for r in done if r.cache == report.cache.loader)
        learnt = tuple(r.warning for r in mine if r.warning)
        reports.append(replace(report, results=(*untouched, *mine), warnings=report.warnings + learnt))
    return joined(reports)


def _run_chains(
    project: Project,
    chains: list[list[tuple[SyncStep, Cache]]],
    jobs: int,
    on_event: OnEvent,
    local_staging: bool,
) -> list[SyncResult]:
    """Every chain of work, in worker processes or on threads."""
    if not chains:  # every model in place: no fetcher, no network stack
        return []
    if _in_processes(project, chains, jobs):
        downloads = project.downloads()
        to_fetch = [
            items[0][0].model
            for items in chains
            if downloads.get((items[0][0].model.archive or "").removeprefix("sha256:")) is None
        ]
        if to_fetch and not project.offline:
            from hublock.remote import model_sources, prepare_network

            # once, before the fork, rather than once in every worker
            prepare_network(model_sources(m, project.mirrors)[0] for m in to_fetch)
        batches = [
            ChainBatch(
                project,
                [[(step, t.location, t.layout.name) for step, t in items] for items in group],
                local_staging,
            )
            for group in _batched(chains, worker_count(jobs))
        ]
        done = run_processes(sync_batch, batches, jobs, on_event, models=len(chains))
        return [result for results in done for result in results]
    with project.fetcher() as fetcher:
        return [
            result
            for results in run_parallel(
                lambda items, cancel: _sync_all(
                    items, fetcher, project.mirrors, on_event, cancel, local_staging
                ),
                chains,
                jobs,
            )
            for result in results
        ]


@contextmanager
def _naming_space_needed(chains: list[list[tuple[SyncStep, Cache]]]) -> Iterator[None]:
    """A full disk's error names, besides what the model that met it needs, what all the models
    this sync had to publish take unpacked (each locked size, or twice its archive where hub.lock
    does not say)."""
    try:
        yield
    except (DiskFullError, ModelErrors) as exc:
        failures = exc.errors if isinstance(exc, ModelErrors) else (exc,)
        left = sum(step.model.unpacked or 2 * step.model.size for items in chains for step, _ in items)
        for error in failures:
            if isinstance(error, DiskFullError):
                error.with_left(left)
        raise


def _check_bundled(
    project: Project,
    readers: list[BundleReader],
    chains: list[list[tuple[SyncStep, Cache]]],
    on_event: OnEvent,
) -> None:
    """A bundle that fails any check publishes nothing: every archive this sync will take from
    the bundles is read and checked first, before any model is unpacked (an air-gapped site
    gets the whole lock or a clear refusal, never a mix)."""
    from hublock.formats import BundledArchive, check_held

    downloads = project.downloads()
    wanted = []
    for items in chains:
        for sha256, size in items[0][0].model.contents:
            if downloads.get(sha256) is None:
                wanted.append(BundledArchive(sha256, size, tuple(step.model.name for step, _ in items)))
    check_held(readers, wanted, on_event)


def _sync_all(
    items: list[tuple[SyncStep, Cache]],
    fetcher: Fetcher,
    mirrors: Mapping[str, str],
    on_event: OnEvent,
    cancel: CancelFlag,
    local_staging: bool,
) -> list[SyncResult]:
    """One chain: the models that share one archive (several spellings, both caches), fetched
    once; any of their sources will do."""
    from hublock.remote import model_sources

    sources = list(dict.fromkeys(u for step, _ in items for u in model_sources(step.model, mirrors)))
    return [
        sync_model(
            step,
            target,
            fetcher,
            mirrors,
            on_event=on_event,
            cancel=cancel,
            local_staging=local_staging,
            sources=sources,
        )
        for step, target in items
    ]


BATCH_BYTES = 8 << 20
"""Small models go to a worker process several at a time, up to this many archive bytes in a
batch: for a model of a few hundred KB, handing it to a worker and its result back costs about
as much as its work."""


def _batched(
    chains: list[list[tuple[SyncStep, Cache]]], workers: int
) -> list[list[list[tuple[SyncStep, Cache]]]]:
    """Chains (largest first) grouped for ``workers`` processes: a large one alone, small ones
    several to a batch, with at least four batches a worker so that the last ones even out."""
    small = sum(1 for items in chains if items[0][0].model.size < BATCH_BYTES)
    per_batch = max(1, small // (4 * workers))
    batches: list[list[list[tuple[SyncStep, Cache]]]] = []
    size = 0  # of the last batch: a large chain fills one on its own
    for items in chains:
        model_size = items[0][0].model.size
        if not batches or len(batches[-1]) >= per_batch or size + model_size > BATCH_BYTES:
            batches.append([items])
            size = model_size
        else:
            batches[-1].append(items)
            size += model_size
    return batches


@dataclass(frozen=True)
class ChainBatch:
    """Chains of work as a worker process receives them (caches by location, not as objects)."""

    project: Project
    chains: list[list[tuple[SyncStep, str, Loader]]]  # each: (step, cache location, loader)
    local_staging: bool


def sync_batch(batch: ChainBatch, cancel: CancelFlag, on_event: OnEvent) -> list[SyncResult]:
    """``_sync_all`` of each chain of a batch, in a worker process. A failed model does not stop
    the others: the failures are raised together at the end (``ModelErrors``)."""
    options = batch.project.cache_options
    fetcher = batch.project.worker_fetcher()
    caches: dict[tuple[str, Loader], Cache] = {}
    results: list[SyncResult] = []
    errors: list[HublockError] = []
    for chain in batch.chains:
        raise_if_cancelled(cancel)
        items = []
        for step, location, loader in chain:
            if (location, loader) not in caches:
                caches[location, loader] = open_cache(location, options, loader)
            items.append((step, caches[location, loader]))
        try:
            results += _sync_all(items, fetcher, batch.project.mirrors, on_event, cancel, batch.local_staging)
        except HublockError as exc:
            errors.append(exc)
    if errors:  # run_processes reports them one by one (a single failure as it is)
        raise ModelErrors(tuple(errors), len(batch.chains))
    return results


def _in_processes(project: Project, chains: list[list[tuple[SyncStep, Cache]]], jobs: int) -> bool:
    """Worker processes pay off for several models into local caches; buckets (network-bound,
    and their clients do not survive a fork) and an injected transport (tests) stay on threads."""
    return (
        processes_pay_off(jobs, len(chains))
        and project.transport is None
        and all("://" not in target.location for items in chains for _, target in items)
    )


def _prepare(
    lock: Lockfile, choice: CacheChoice, target: Cache, me: Root, force: bool, stack: ExitStack
) -> tuple[SyncReport, tuple[SyncResult, ...]]:
    """One cache, before anything is fetched: its guard taken (until ``stack`` closes), this
    project's root recorded, the plan made, conflicts refused, copied models re-stamped."""
    stack.enter_context(target.guard(exclusive=False))
    in_cache = any(target.layout.address(m) and not m.uncompressed for m in lock.models)
    warnings = _record_root(target, me) if in_cache else ()
    report = _plan(lock, target, choice)
    taken = _conflicts(report, target, me, force)
    unstampable = []
    for step in report.steps:
        if step.inspection is not None and step.inspection.restamp:
            # copied (docker COPY, cp -a) or touched, content re-verified: record the new stats
            try:
                target.adopt(step.model)
            except (OSError, HublockError):
                unstampable.append(step.model.name)
    if unstampable:
        warnings += (
            f"cannot refresh the stamps of {', '.join(unstampable)} in {target.location} (read-only?): "
            "their files are re-hashed by every sync and load; run `hublock sync` once where the "
            "cache is writable (e.g. in the Docker build stage after the COPY)",
        )
    if report.pending:
        target.ensure_root()
    untouched = tuple(
        SyncResult(
            s.model.name,
            Outcome.PRESENT if s.action is Action.SKIP else Outcome.REMOTE,
            path,
            choice.loader,
        )
        for s, (_, path) in zip(report.steps, report.paths, strict=True)
        if s.action in (Action.SKIP, Action.REMOTE)
    )
    return replace(report, taken=taken, warnings=warnings), untouched


def _plan(lock: Lockfile, target: Cache, choice: CacheChoice, *, dry_run: bool = False) -> SyncReport:
    mine = Lockfile.of(m for m in lock.models if target.layout.address(m) is not None)
    found = {m.name: target.inspect(m) for m in mine.models if not m.uncompressed}
    steps = tuple(plan_sync(mine, found))
    paths = tuple(
        (s.model.name, s.model.url if s.model.uncompressed else target.path_of(s.model)) for s in steps
    )
    return SyncReport(choice, steps, dry_run=dry_run, paths=paths)


def _record_root(target: Cache, me: Root) -> tuple[str, ...]:
    """Say in the cache that this project needs these models (so no other project's gc removes
    them). A read-only cache cannot be told: say so, and go on (nothing can be removed there)."""
    try:
        target.ensure_root()
        target.write_root(me)
    except (OSError, CacheError) as exc:
        return (
            f"cannot record this project in the cache {target.location} ({exc}); another project's "
            "`hublock gc` there may remove its models",
        )
    return ()


def _conflicts(report: SyncReport, target: Cache, me: Root, force: bool) -> tuple[tuple[str, str], ...]:
    """Models this sync would replace that another live project verified there, with that
    project. Refused unless ``force``: a silent swap would change what the other project loads."""
    stale = [s for s in report.steps if s.inspection is not None and s.inspection.verified]
    if not stale:
        return ()
    owners: dict[tuple[str, str], list[Root]] = {}
    for live in live_roots(target.roots(), read_lock_or_none, mine=me.lockfile):
        for m in live.needed:
            owners.setdefault((target.layout.address(m) or "", m.tree), []).append(live.root)
    clashes = [
        (step, root)
        for step in stale
        for root in owners.get(
            (target.address(step.model), step.inspection.verified if step.inspection else ""), []
        )
    ]
    if clashes and not force:
        step, other = clashes[0]
        assert step.inspection is not None
        raise NotInSyncError(
            f"the cache {target.location} holds {step.model.handle} as verified for another project, "
            f"{other.label}, which still needs it; this project ({me.lockfile}) locked other content",
            model=step.model.name,
            handle=step.model.handle,
            path=target.path_of(step.model),
            expected=step.model.tree,
            actual=f"{step.inspection.verified} (for {other.label})",
            hint="give this project a cache of its own ([cache] dir in hub.toml, or --cache), or bring "
            "the two locks to the same version (`hublock lock --upgrade NAME` in the older one), or "
            "replace it anyway with `hublock sync --force` (the other project then loads this content)",
        )
    return tuple((step.model.name, root.label) for step, root in clashes)
