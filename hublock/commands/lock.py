"""``hublock lock``: resolve each changed hub.toml entry, download it once, record its digests."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hublock.caches import Root, RootModel, hash_objects, object_checksum, remote_objects
from hublock.commands.plan import plan_lock
from hublock.commands.project import Project
from hublock.commands.reports import LockResult
from hublock.commands.trust import signed_by
from hublock.core import (
    CancelFlag,
    Digest,
    Event,
    FetchError,
    FileEntry,
    HublockError,
    IntegrityError,
    ManifestError,
    ModelErrors,
    NotInSyncError,
    OnEvent,
    ignore,
    processes_pay_off,
    profiled,
    raise_if_cancelled,
    redact,
    run_parallel,
    run_parts,
    run_processes,
    sha256_digest,
    strip_secrets,
    tree_hash,
)
from hublock.formats import (
    HF_SCHEME,
    HF_WEB,
    KAGGLE_SCHEME,
    ConflictedLockfileError,
    KaggleHandle,
    LockedModel,
    LockedSignature,
    Lockfile,
    Manifest,
    ModelApi,
    ModelSpec,
    RemoteObject,
    handle_kind,
    handle_of_url,
    has_fixed_version,
    near_duplicates,
    parse_kaggle_handle,
    write_lockfile,
)
from hublock.remote import (
    FILES_AT_ONCE,
    Download,
    Fetcher,
    HubFile,
    apply_mirror,
    file_sources,
    portable_url,
    prepare_network,
    source_url,
)

if TYPE_CHECKING:
    import httpx


def resolve_model(
    spec: ModelSpec,
    mirrors: Mapping[str, str],
    fetcher: Fetcher,
    on_event: OnEvent = ignore,
    cancel: CancelFlag | None = None,
    known: Mapping[str, RootModel] | None = None,
    *,
    reuse: Mapping[tuple[str, ...], Download] | None = None,
) -> LockedModel:
    """Download a model's archive (into the download cache) and compute its lock entry. ``known``:
    archives already in the download cache by handle, used instead of the network (a rebuild).
    ``reuse``: archives just downloaded for other spellings, by Kaggle model identity.
    A model a ``[[trust]]`` rule covers (``spec.trust``) has its signature checked and its signer
    recorded."""
    if handle_kind(spec.handle) == "path":
        raise ManifestError(
            f"{spec.name}: {spec.handle!r} is a local path; tensorflow_hub loads local paths in "
            "place without caching, so there is nothing for hublock to lock. Use an https:// or "
            "gs://...tar.gz handle."
        )
    on_event(Event(spec.name, "start", f"resolving {spec.handle}"))
    if handle_kind(spec.handle) == "hf":
        try:
            return resolve_hf(spec, mirrors, fetcher, on_event, cancel or threading.Event())
        except HublockError as exc:
            exc.about(model=spec.name, handle=spec.handle)
            raise
    if spec.load_format(os.environ) == "uncompressed":
        try:
            return resolve_uncompressed(spec, mirrors, fetcher, on_event)
        except HublockError as exc:
            exc.about(model=spec.name, handle=spec.handle)
            raise
    stop: CancelFlag = cancel or threading.Event()

    def progress(n: int) -> None:
        raise_if_cancelled(stop)
        on_event(Event(spec.name, "bytes", amount=n))

    trust = spec.trust
    wanted = (trust.signature,) if trust is not None and trust.detached is None else ()
    try:
        record = (known or {}).get(spec.handle)
        download = _known_download(fetcher, record) if record is not None else None
        pinned = _pin(spec, fetcher, record)
        named = pinned if handle_kind(spec.handle) == "kaggle" else _named_model(spec)
        if download is None and named is not None:
            download = (reuse or {}).get(named.identity)
            if download is not None:
                on_event(Event(spec.name, "start", f"same model as {download.url}: downloaded once"))
        if download is None:
            record = None  # not rebuilt from the download cache: nothing to compare with
            source = spec.handle if handle_kind(spec.handle) != "kaggle" else f"{KAGGLE_SCHEME}{pinned}"
            location, upstream = source_url(source, mirrors), source_url(source, {})
            try:
                # one pass: the archive streams into the download cache as its files are hashed
                read = fetcher.hash_archive([location], progress=progress, keep=True, files=wanted)
            except IntegrityError as exc:
                if location == upstream:
                    raise
                # a mirror that serves no readable archive (an HTML page, a truncated file) is one
                # bad source: lock from upstream, as sync would fetch it, and say so
                bad = redact(location)
                on_event(
                    Event(spec.name, "start", f"{bad} served no readable archive ({exc}); trying upstream")
                )
                location = upstream
                read = fetcher.hash_archive([location], progress=progress, keep=True, files=wanted)
            assert read.path is not None
            via_mirror = location != upstream
            url = portable_url(read.url, mirrors, via_mirror=via_mirror)
            download = Download(read.path, read.sha256, read.size, url)
        else:
            read = fetcher.hash_archive([], cached_sha256=download.sha256, files=wanted)
        tree = read.tree
        if read.api is not None:
            fetcher.downloads.write_api(read.api)  # its readable form, for `hublock diff`
        if record is not None and tree.tree != record.tree:
            raise IntegrityError(
                "the archive in the download cache does not give the tree recorded for it",
                path=str(download.path),
                expected=record.tree,
                actual=tree.tree,
                hint="delete it and run `hublock lock` again",
            )
        signature = _signature(spec, fetcher, tree.files, read.kept)
    except HublockError as exc:
        exc.about(model=spec.name, handle=spec.handle)
        raise
    said = f"locked {download.size} bytes, {len(tree.files)} files, {read.said}"
    if signature is not None:
        said += f", signed by {signature}"
    on_event(Event(spec.name, "done", said))
    url = portable_url(download.url, mirrors)
    if pinned is not None and handle_kind(spec.handle) == "kaggle":
        url = pinned.web_url()  # the API call is no address; the model's page is
    return LockedModel(
        name=spec.name,
        handle=spec.handle,
        url=url,
        size=download.size,
        archive=sha256_digest(download.sha256),
        tree=tree.tree,
        files=len(tree.files),
        unpacked=tree.size,
        manifest=spec.entry_digest,
        kaggle=str(pinned) if pinned is not None else None,
        api=Digest(read.api.digest) if read.api is not None else None,
        signature_def_hash=read.signature_def_hash,
        signature=signature,
    )


def _signature(
    spec: ModelSpec, fetcher: Fetcher, files: Sequence[FileEntry], kept: Mapping[str, bytes]
) -> LockedSignature | None:
    """The signer to record for a model with these files (``kept``: its small files read on the
    way), checked against its ``[[trust]]`` rule: the signature is among its files, or apart
    from them (``detached``), read from where the rule says and kept in the download cache."""
    trust = spec.trust
    if trust is None:
        return None
    detached = trust.detached_at(spec.name)
    if detached is None:
        return signed_by(trust, files, kept.get(trust.signature))
    written, location = detached
    return signed_by(trust, files, fetcher.read_signature(location), detached=written)


def _pin(spec: ModelSpec, fetcher: Fetcher, record: RootModel | None) -> KaggleHandle | None:
    """The entry's kagglehub handle with a version: as written, as an earlier lock pinned it
    (a rebuild), or the version Kaggle serves now."""
    if spec.kaggle is None:
        return None
    handle = parse_kaggle_handle(spec.kaggle)
    if handle.pinned:
        return handle
    if record is not None and record.kaggle:
        return parse_kaggle_handle(record.kaggle)
    return handle.with_version(fetcher.kaggle_version(handle))


def _known_download(fetcher: Fetcher, record: RootModel) -> Download | None:
    """The archive an earlier lock of this handle left in the download cache, if it is there."""
    if not record.archive:
        return None
    sha256 = record.archive.removeprefix("sha256:")
    path = fetcher.downloads.get(sha256)
    if path is None:
        return None
    return Download(path, sha256, path.stat().st_size, record.url)


def known_archives(project: Project, *, others: bool) -> dict[str, RootModel]:
    """What earlier locks and syncs recorded, by handle, for archives still in the download
    cache: how a missing or conflicted hub.lock is rebuilt without the network. This project's
    own record first; with ``others`` (offline: nothing else can answer) also other projects'
    records, except for a handle they recorded with different contents."""
    downloads = project.downloads()
    me = str(project.lockfile_path.resolve())
    own: dict[str, RootModel] = {}
    theirs: dict[str, set[RootModel]] = {}
    for root in downloads.roots():
        for m in root.models:
            if m.archive and downloads.get(m.archive.removeprefix("sha256:")) is not None:
                if root.lockfile == me:
                    own[m.handle] = m
                elif others:
                    theirs.setdefault(m.handle, set()).add(replace(m, name=""))
    unique = {h: next(iter(ms)) for h, ms in theirs.items() if len({(m.archive, m.tree) for m in ms}) == 1}
    return {**unique, **own}


def resolve_hf(
    spec: ModelSpec, mirrors: Mapping[str, str], fetcher: Fetcher, on_event: OnEvent, cancel: CancelFlag
) -> LockedModel:
    """Pin a Hugging Face repo's revision to its commit, download each of its files once (into
    the download cache, checked against the Hub's sizes, LFS sha256 and git blob ids), and record
    them with the tree hash of the whole snapshot."""
    repo = spec.handle.removeprefix(HF_SCHEME)
    revision = spec.revision or "main"
    pinned = fetcher.hf_revision(repo, revision, mirrors)
    total = sum(f.size for f in pinned.files)
    on_event(
        Event(
            spec.name, "start", f"{revision} is {pinned.commit[:12]}: {len(pinned.files)} files", total=total
        )
    )

    def fetch(file: HubFile, stop: CancelFlag) -> RemoteObject:
        def progress(n: int) -> None:
            raise_if_cancelled(stop)
            on_event(Event(spec.name, "bytes", amount=n))

        sha256 = fetcher.fetch_hub_file(
            file_sources(repo, pinned.commit, file.path, mirrors),
            name=file.path,
            size=file.size,
            sha256=file.lfs_sha256,
            blob_id=file.blob_id,
            progress=progress,
        )
        return RemoteObject(file.path, file.size, f"sha256:{sha256}", file.blob)

    objects = run_parts(fetch, list(pinned.files), FILES_AT_ONCE, cancel)
    tree = tree_hash((o.path, o.checksum.removeprefix("sha256:")) for o in objects)
    files = [FileEntry(o.path, o.size, o.checksum.removeprefix("sha256:")) for o in objects]
    kept = {}  # its signature, when one is among its files, from the download cache
    signed = next((o for o in objects if spec.trust is not None and o.path == spec.trust.signature), None)
    if signed is not None and (cached := fetcher.downloads.get(signed.checksum.removeprefix("sha256:"))):
        kept[signed.path] = cached.read_bytes()
    signature = _signature(spec, fetcher, files, kept)
    said = f"locked {revision} at {pinned.commit[:12]}, {len(objects)} files"
    on_event(Event(spec.name, "done", f"{said}, signed by {signature}" if signature else said))
    return LockedModel(
        name=spec.name,
        handle=spec.handle,
        url=f"{HF_WEB}/{repo}",
        size=total,
        archive=None,
        tree=tree,
        files=len(objects),
        unpacked=total,
        manifest=spec.entry_digest,
        format="huggingface",
        objects=tuple(objects),
        revision=revision,
        commit=pinned.commit,
        signature=signature,
    )


def resolve_uncompressed(
    spec: ModelSpec, mirrors: Mapping[str, str], fetcher: Fetcher, on_event: OnEvent = ignore
) -> LockedModel:
    """Ask the hub where the model lives in GCS; record its objects' sizes and checksums, and
    the tree hash of their bytes."""
    location = fetcher.uncompressed_location(apply_mirror(spec.handle, mirrors))
    fs, root, listing = remote_objects(location, {})
    if not listing:
        raise FetchError(f"{location}: no objects there (the hub pointed at an empty location)")
    tree = hash_objects(fs, root, listing, 4)
    objects = tuple(
        RemoteObject(rel, int(info["size"]), object_checksum(info)) for rel, info in sorted(listing.items())
    )
    on_event(
        Event(
            spec.name,
            "done",
            f"locked {location} ({len(objects)} objects, read in place; UNCOMPRESSED: no API recorded)",
        )
    )
    return LockedModel(
        name=spec.name,
        handle=spec.handle,
        url=strip_secrets(location.rstrip("/")),
        size=tree.size,
        archive=None,
        tree=tree.tree,
        files=len(tree.files),
        manifest=spec.entry_digest,
        format="uncompressed",
        objects=objects,
    )


def lock_manifest(
    manifest: Manifest,
    current: Lockfile,
    fetcher: Fetcher,
    *,
    mirrors: Mapping[str, str],
    upgrade: bool | Collection[str] = False,
    jobs: int = 4,
    on_event: OnEvent = ignore,
    known: Mapping[str, RootModel] | None = None,
    workers: Project | None = None,
) -> tuple[Lockfile, tuple[str, ...]]:
    """The new lock for ``manifest`` (pure apart from the fetcher), and the names resolved.
    ``workers``: the project, when models may be resolved in worker processes (each with a
    fetcher of its own), one per core: hashing many archives is CPU work.

    One Kaggle model listed under several spellings (a tfhub.dev handle, which redirects to
    Kaggle; a kaggle.com URL; a kagglehub handle) is downloaded once: the URL handles first,
    then each kagglehub handle that names a model one of them led to takes its archive."""
    plan = plan_lock(manifest, current, upgrade, os.environ)
    later = [s for s in plan.resolve if _named_model(s) is not None or handle_kind(s.handle) == "kaggle"]
    first = [s for s in plan.resolve if s not in later]

    def attempt(spec: ModelSpec, cancel: threading.Event) -> LockedModel | HublockError:
        try:
            return resolve_model(spec, mirrors, fetcher, on_event, cancel, known, reuse=reusable)
        except HublockError as exc:
            return exc

    reusable: dict[tuple[str, ...], Download] = {}

    def resolve_all(specs: list[ModelSpec]) -> list[LockedModel | HublockError]:
        if workers is not None and workers.transport is None and processes_pay_off(jobs, len(specs)):
            if not workers.offline:
                # once, before the fork, rather than once in every worker
                prepare_network(source_url(s.handle, mirrors) for s in specs)
            jobs_ = [ResolveJob(workers, s, known, dict(reusable)) for s in specs]
            return run_processes(resolve_in_worker, jobs_, jobs, on_event)
        return run_parallel(attempt, specs, jobs)

    def remember(models: list[LockedModel | HublockError]) -> None:
        for model in models:
            if isinstance(model, LockedModel) and model.archive is not None:
                identity = kaggle_identity(model)
                path = fetcher.downloads.get(model.archive.removeprefix("sha256:"))
                if identity is not None and path is not None:
                    reusable.setdefault(
                        identity, Download(path, model.archive.removeprefix("sha256:"), model.size, model.url)
                    )

    done = resolve_all(first)
    remember([*plan.keep, *done])
    # Each Kaggle model once per round: a second spelling of one (a kaggle.com URL and its
    # kagglehub handle) waits for the first's download, then takes it.
    for specs in _rounds(later):
        found = resolve_all(specs)
        remember(found)
        done += found
    errors = tuple(r for r in done if isinstance(r, HublockError))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ModelErrors(errors, len(done))
    resolved = [r for r in done if isinstance(r, LockedModel)]
    return Lockfile.of([*plan.keep, *resolved]), tuple(s.name for s in plan.resolve)


def _rounds(specs: list[ModelSpec]) -> list[list[ModelSpec]]:
    """The specs that name a Kaggle model, in rounds with one spelling of each model apiece (the
    model without its version: an unversioned kagglehub handle's is known only once pinned)."""
    rounds: list[list[ModelSpec]] = []
    seen: dict[tuple[str, ...], int] = {}
    for spec in specs:
        named = _named_model(spec)
        if named is None:  # a kagglehub handle
            named = parse_kaggle_handle(spec.handle)
        key = named.identity[:4]
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(spec)
    return rounds


def _named_model(spec: ModelSpec) -> KaggleHandle | None:
    """The Kaggle model a kaggle.com/models/... URL handle names (known before any download)."""
    return handle_of_url(spec.handle) if handle_kind(spec.handle) == "http" else None


@dataclass(frozen=True)
class ResolveJob:
    """One model to resolve, as a worker process receives it."""

    project: Project
    spec: ModelSpec
    known: Mapping[str, RootModel] | None
    reuse: Mapping[tuple[str, ...], Download]


def resolve_in_worker(job: ResolveJob, cancel: CancelFlag, on_event: OnEvent) -> LockedModel | HublockError:
    """``resolve_model`` in a worker process; a failure is returned, to be reported with the rest."""
    fetcher = job.project.worker_fetcher()
    try:
        return resolve_model(
            job.spec, job.project.mirrors, fetcher, on_event, cancel, job.known, reuse=job.reuse
        )
    except HublockError as exc:
        return exc


def kaggle_identity(model: LockedModel) -> tuple[str, ...] | None:
    found = model.kaggle_model
    return found.identity if found is not None else None


def spelling_warnings(lock: Lockfile) -> tuple[str, ...]:
    """Models that name one Kaggle model, locked with different contents: worth a look."""
    groups: dict[tuple[str, ...], list[tuple[LockedModel, KaggleHandle]]] = {}
    for model in lock.models:
        found = model.kaggle_model
        if found is not None:
            groups.setdefault(found.identity, []).append((model, found))
    warnings = []
    for _, models in sorted(groups.items()):
        if len({m.tree for m, _ in models}) > 1:
            names = ", ".join(f"{m.name} ({m.tree})" for m, _ in models)
            warnings.append(
                f"{names} name one Kaggle model (kaggle://{models[0][1]}) but their contents differ: "
                "the host served them differently; check which one your code should load"
            )
    return tuple(warnings)


def lock(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    upgrade: bool | Collection[str] = False,
    offline: bool = False,
    mirrors: Mapping[str, str] | None = None,
    jobs: int = 4,
    download_cache: str | Path | None = None,
    on_event: OnEvent = ignore,
    transport: httpx.BaseTransport | None = None,
) -> LockResult:
    """Resolve hub.toml and write hub.lock. Unchanged entries are kept without any network I/O.

    ``mirrors`` adds to (and overrides) the ``[mirrors]`` of hub.toml.
    """
    project = Project.load(
        manifest,
        lockfile,
        mirrors=mirrors,
        offline=offline,
        download_cache=download_cache,
        transport=transport,
        manifest_required=True,
    )
    return lock_project(project, upgrade=upgrade, jobs=jobs, on_event=on_event)


def lock_project(
    project: Project,
    *,
    upgrade: bool | Collection[str] = False,
    jobs: int = 4,
    on_event: OnEvent = ignore,
) -> LockResult:
    """``lock`` of a loaded project."""
    spec = project.need_manifest()
    notes: tuple[str, ...] = ()
    try:
        current = project.current_lock()
    except ConflictedLockfileError:
        current = Lockfile()
        notes = (f"{project.lockfile_path} had merge-conflict markers: rebuilt from hub.toml",)
    # hub.lock made anew (deleted, or conflicted): what this project locked before, from the
    # download cache; offline also what other projects locked there
    rebuild = not upgrade and (bool(notes) or not project.lockfile_path.exists())
    known = known_archives(project, others=project.offline) if rebuild else {}
    with profiled("lock"), project.fetcher() as fetcher:
        new, resolved = lock_manifest(
            spec,
            current,
            fetcher,
            mirrors=project.mirrors,
            upgrade=upgrade,
            jobs=jobs,
            on_event=on_event,
            known=known,
            workers=project,
        )
    new, dropped = portable_lock(new, project.mirrors)
    changed = tuple(m.name for m in new.models if current.get(m.name) != m)
    removed = tuple(m.name for m in current.models if new.get(m.name) is None)
    written = write_lockfile(project.lockfile_path, new)
    project.downloads().write_root(Root.of(project.lockfile_path, new))  # its archives are needed
    warnings = (
        notes
        + dropped
        + tuple(
            f"{a.name} and {b.name}: handles differ only by case, a trailing '/' or tf-hub-format; "
            "tensorflow_hub caches each spelling separately, so this is probably a typo"
            for a, b in near_duplicates(spec)
        )
        + spelling_warnings(new)
        + upstream_warnings(current, new, resolved)
        + tuple(
            f"{m.name}: its handle carries credentials ({redact(m.handle)}); a handle is recorded as "
            "written (tensorflow_hub keys its cache by it), so they travel with hub.lock and bundles: "
            "name an environment variable in [auth], or use ~/.netrc, instead"
            for m in new.models
            if strip_secrets(m.handle) != m.handle
        )
    )
    apis = known_apis(project, current, new)
    return LockResult(
        new, resolved, changed, removed, written, project.lockfile_path, warnings, current, apis
    )


def known_apis(project: Project, *locks: Lockfile) -> dict[str, ModelApi]:
    """The readable forms of the APIs these locks record, those the download cache holds."""
    downloads = project.downloads()
    found: dict[str, ModelApi] = {}
    for digest in {m.api for lock in locks for m in lock.models if m.api}:
        api = downloads.read_api(digest)
        if api is not None:
            found[digest] = api
    return found


def upstream_warnings(current: Lockfile, new: Lockfile, resolved: Collection[str]) -> tuple[str, ...]:
    """What re-resolving learnt about the host: a published version replaced under its handle
    (loud), or only re-compressed (harmless)."""
    out = []
    for name in resolved:
        old, now = current.get(name), new.get(name)
        if old is None or now is None or (old.handle, old.kaggle) != (now.handle, now.kaggle):
            continue
        if old.tree != now.tree and has_fixed_version(old.handle):
            out.append(
                f"{name}: the host replaced a published version: {old.handle} now gives other files "
                f"than hub.lock recorded (tree {old.tree} -> {now.tree}); review it before relying on it"
            )
        elif old.archive != now.archive and old.tree == now.tree:
            out.append(f"{name}: the host re-compressed {old.handle}: other archive bytes, identical files")
    return tuple(out)


def portable_lock(lock: Lockfile, mirrors: Mapping[str, str]) -> tuple[Lockfile, tuple[str, ...]]:
    """``lock`` with no machine-local path, mirror address or credentials in any ``url`` (an
    older hublock recorded where the archive came from, mirrors included), and what changed."""
    models, notes = [], []
    for model in lock.models:
        url = model.url if model.uncompressed else portable_url(model.url, mirrors)
        if url != model.url:
            what = f"now records its upstream URL {url}" if url else "no longer records a url"
            notes.append(
                f"{model.name}: hub.lock recorded {redact(model.url)}, a mirror's or this machine's "
                f"address; it {what} (the archive digest and tree hash identify the content)"
            )
            model = replace(model, url=url)
        models.append(model)
    return Lockfile.of(models), tuple(notes)


def check(manifest: str | Path = "hub.toml", lockfile: str | Path | None = None) -> None:
    """Raise NotInSyncError naming each stale, missing or extra entry. No network, no writes."""
    check_project(Project.load(manifest, lockfile, manifest_required=True))


def check_project(project: Project) -> None:
    """``check`` of a loaded project."""
    path = project.lockfile_path
    if not path.exists():
        raise NotInSyncError(f"{path} does not exist", path=str(path), hint="run `hublock lock`")
    problems = project.problems(project.lock())
    if problems:
        raise NotInSyncError(
            f"{path} does not match {project.manifest_path}:\n  " + "\n  ".join(map(str, problems)),
            path=str(path),
            hint="run `hublock lock` to update it",
        )
