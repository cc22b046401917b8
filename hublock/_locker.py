"""``hublock lock``: resolve each changed hub.toml entry, download it once, record its digests."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hublock._archive import extract_archive
from hublock._digest import sha256_digest
from hublock._downloads import DownloadCache
from hublock._errors import FetchError, HublockError, ManifestError, NotInSyncError
from hublock._events import Event, OnEvent, ignore
from hublock._fetch import Fetcher, apply_mirror, source_url
from hublock._lockfile import LockedModel, Lockfile, RemoteObject, read_lockfile, write_lockfile
from hublock._manifest import (
    Manifest,
    ModelSpec,
    check_mirror,
    handle_kind,
    load_manifest,
    near_duplicates,
)
from hublock._parallel import raise_if_cancelled, run_parallel
from hublock._plan import lock_problems, plan_lock

if TYPE_CHECKING:
    import httpx


def unpacked_limit(archive_size: int) -> int:
    """Refuse archives that expand past this: real models compress 1-5x, bombs 1000x."""
    return max(256 << 20, archive_size * 100)


@dataclass(frozen=True)
class LockResult:
    """What ``lock`` did: the new lock, and which names were re-resolved, changed or removed."""

    lockfile: Lockfile
    resolved: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    written: bool
    path: Path
    warnings: tuple[str, ...] = ()
    previous: Lockfile = field(default_factory=Lockfile)

    def diff(self, name: str) -> str:
        """What changed for one model, for people: archive digests (12+ hex), exact sizes."""
        new, old = self.lockfile.get(name), self.previous.get(name)
        if new is None:
            return f"{name}: removed"
        if old is None:
            return f"{name}: added, {new.size} bytes, {_short(new.archive or new.url)}"
        if old == new:
            return f"{name}: unchanged"
        parts = []
        if old.archive != new.archive:
            parts.append(f"archive {_short(old.archive)} -> {_short(new.archive)}")
        if old.size != new.size:
            parts.append(f"size {old.size} -> {new.size} bytes")
        if old.url != new.url:
            parts.append(f"url {old.url} -> {new.url}")
        parts.append("tree changed" if old.tree != new.tree else "tree unchanged")
        return f"{name}: " + ", ".join(parts)


def _short(digest: str | None) -> str:
    if digest is None:
        return "no archive"
    algo, _, value = digest.partition(":")
    return f"{algo}:{value[:16]}" if value else digest


def default_lockfile(manifest_path: str | Path) -> Path:
    return Path(manifest_path).parent / "hub.lock"


def _current_lock(path: Path) -> Lockfile:
    return read_lockfile(path) if path.exists() else Lockfile()


def resolve_model(
    spec: ModelSpec,
    mirrors: Mapping[str, str],
    fetcher: Fetcher,
    on_event: OnEvent = ignore,
    cancel: threading.Event | None = None,
) -> LockedModel:
    """Download a model's archive (into the download cache) and compute its lock entry."""
    if handle_kind(spec.handle) == "path":
        raise ManifestError(
            f"{spec.name}: {spec.handle!r} is a local path; tensorflow_hub loads local paths in "
            "place without caching, so there is nothing for hublock to lock. Use an https:// or "
            "gs://...tar.gz handle."
        )
    on_event(Event(spec.name, "start", f"resolving {spec.handle}"))
    if spec.load_format(os.environ) == "uncompressed":
        try:
            return resolve_uncompressed(spec, mirrors, fetcher, on_event)
        except HublockError as exc:
            raise type(exc)(f"{spec.name}: {exc}") from exc
    stop = cancel or threading.Event()

    def progress(n: int) -> None:
        raise_if_cancelled(stop)
        on_event(Event(spec.name, "bytes", amount=n))

    try:
        download = fetcher.fetch(
            [source_url(spec.handle, mirrors)],
            progress=progress,
        )
        with open(download.path, "rb") as archive:
            tree = extract_archive(archive, None, max_bytes=unpacked_limit(download.size))
    except HublockError as exc:
        raise type(exc)(f"{spec.name}: {exc}") from exc
    on_event(Event(spec.name, "done", f"locked {download.size} bytes, {len(tree.files)} files"))
    return LockedModel(
        name=spec.name,
        handle=spec.handle,
        url=download.url,
        size=download.size,
        archive=sha256_digest(download.sha256),
        tree=tree.tree,
        files=len(tree.files),
        manifest=spec.entry_digest,
    )


def resolve_uncompressed(
    spec: ModelSpec, mirrors: Mapping[str, str], fetcher: Fetcher, on_event: OnEvent = ignore
) -> LockedModel:
    """Ask the hub where the model lives in GCS; record its objects' sizes and checksums, and
    the tree hash of their bytes."""
    from hublock._bucket import hash_objects, object_checksum, remote_objects

    location = fetcher.uncompressed_location(apply_mirror(spec.handle, mirrors))
    fs, root, listing = remote_objects(location, {})
    if not listing:
        raise FetchError(f"{location}: no objects there (the hub pointed at an empty location)")
    tree = hash_objects(fs, root, listing, 4)
    objects = tuple(
        RemoteObject(rel, int(info["size"]), object_checksum(info)) for rel, info in sorted(listing.items())
    )
    on_event(Event(spec.name, "done", f"locked {location} ({len(objects)} objects, read in place)"))
    return LockedModel(
        name=spec.name,
        handle=spec.handle,
        url=location.rstrip("/"),
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
    upgrade: bool | Collection[str] = False,
    jobs: int = 4,
    on_event: OnEvent = ignore,
) -> tuple[Lockfile, tuple[str, ...]]:
    """The new lock for ``manifest`` (pure apart from the fetcher), and the names resolved."""
    plan = plan_lock(manifest, current, upgrade, os.environ)
    resolved = run_parallel(
        lambda spec, cancel: resolve_model(spec, manifest.mirrors, fetcher, on_event, cancel),
        plan.resolve,
        jobs,
    )
    return Lockfile.of([*plan.keep, *resolved]), tuple(s.name for s in plan.resolve)


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
    spec = with_mirrors(load_manifest(manifest), mirrors)
    path = Path(lockfile) if lockfile is not None else default_lockfile(manifest)
    current = _current_lock(path)
    with Fetcher(
        DownloadCache(download_cache), offline=offline, transport=transport, auth=spec.auth if spec else None
    ) as fetcher:
        new, resolved = lock_manifest(spec, current, fetcher, upgrade=upgrade, jobs=jobs, on_event=on_event)
    changed = tuple(m.name for m in new.models if current.get(m.name) != m)
    removed = tuple(m.name for m in current.models if new.get(m.name) is None)
    written = write_lockfile(path, new)
    warnings = tuple(
        f"{a.name} and {b.name}: handles differ only by case, a trailing '/' or tf-hub-format; "
        "tensorflow_hub caches each spelling separately, so this is probably a typo"
        for a, b in near_duplicates(spec)
    )
    return LockResult(new, resolved, changed, removed, written, path, warnings, current)


def check(manifest: str | Path = "hub.toml", lockfile: str | Path | None = None) -> None:
    """Raise NotInSyncError naming each stale, missing or extra entry. No network, no writes."""
    spec = load_manifest(manifest)
    path = Path(lockfile) if lockfile is not None else default_lockfile(manifest)
    if not path.exists():
        raise NotInSyncError(f"{path} does not exist; run `hublock lock`")
    problems = lock_problems(spec, read_lockfile(path), os.environ)
    if problems:
        raise NotInSyncError(
            f"{path} does not match {manifest}:\n  "
            + "\n  ".join(problems)
            + "\nrun `hublock lock` to update it"
        )


def with_mirrors(manifest: Manifest, extra: Mapping[str, str] | None) -> Manifest:
    """The manifest with ``--mirror PREFIX=URL`` options added (they win over hub.toml)."""
    if not extra:
        return manifest
    merged = dict(manifest.mirrors)
    for prefix, target in extra.items():
        merged[prefix] = check_mirror(prefix, target, f"--mirror {prefix}", Path.cwd())
    return replace(manifest, mirrors=merged)
