"""``hublock gc``: what a cache (and the download cache) holds that nothing needs any more.

tensorflow_hub never cleans up after a killed download: ``<sha1>.<uuid>.tmp`` staging and
``<sha1>.lock`` files stay forever (and a stale lock makes the next ``hub.load`` wait ten
minutes). ``find_garbage`` is pure over listings read back by the cache's ``Layout``;
``gc`` deletes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from hublock.caches import (
    LOCK_TIMEOUT_SEC,
    TFHUB,
    Cache,
    CacheChoice,
    Entry,
    Kind,
    Layout,
    live_roots,
    owner_is_dead,
    read_lock_or_none,
)
from hublock.commands.project import Project
from hublock.commands.reports import Garbage, GcReport, Kept
from hublock.formats import Lockfile

_REASONS = {
    Kind.MODEL: "not in hub.lock",
    Kind.STAGING: "staging left by an interrupted download",
    Kind.LOCK: "lock left by a dead or stalled process",
    Kind.DESCRIPTOR: "bookkeeping of a model that is gone",
    Kind.STAMP: "bookkeeping of a model that is gone",
    Kind.TEMP: "temp file of a process killed while writing it",
    Kind.MARKER: "completion marker of a model that is gone",
}


def find_garbage(
    entries: Iterable[Entry],
    lock: Lockfile,
    *,
    keep_unlocked: bool = False,
    now: float | None = None,
    layout: Layout = TFHUB,
    others: Iterable[str] = (),
) -> list[Garbage]:
    """What may go: models no lock entry refers to (neither this project's ``lock`` nor, by key,
    ``others``: what other live projects need; unless ``keep_unlocked``), staging that no live
    lock owns, locks whose owner is dead or that made no progress for tensorflow_hub's 10-minute
    timeout, bookkeeping of models that are gone, and abandoned temp files."""
    now = time.time() if now is None else now
    by_name = {e.name: e for e in entries}
    parsed = {name: layout.parse(name) for name in by_name}
    locked = {
        layout.key(address)
        for m in lock.models
        if not m.uncompressed and (address := layout.address(m)) is not None
    } | set(others)
    present = {p.key for p in parsed.values() if p is not None and p.kind is Kind.MODEL}
    locks = {p.key: by_name[n] for n, p in parsed.items() if p is not None and p.kind is Kind.LOCK}

    def live_lock(key: str) -> Entry | None:
        entry = locks.get(key)
        if entry is None or owner_is_dead(entry.content) or now - entry.mtime > LOCK_TIMEOUT_SEC:
            return None
        return entry

    def unneeded(key: str) -> bool:
        return key not in locked and not keep_unlocked and live_lock(key) is None

    garbage = []
    for name, entry in by_name.items():
        found = parsed[name]
        if found is None:
            if name.endswith(".part") and now - entry.mtime > LOCK_TIMEOUT_SEC:
                garbage.append(Garbage(name, "abandoned temp file", entry.size))
            continue
        if found.kind is Kind.ROOTS:
            continue  # the roots are judged one by one, by gc
        if found.kind is Kind.MODEL:
            gone = unneeded(found.key)
        elif found.kind is Kind.STAGING:
            holder = live_lock(found.key)
            gone = holder is None or not holder.content.endswith(found.owner)
        elif found.kind is Kind.LOCK:
            gone = live_lock(found.key) is None
        elif found.kind in (Kind.DESCRIPTOR, Kind.STAMP, Kind.MARKER):
            gone = (found.key not in present or unneeded(found.key)) and live_lock(found.key) is None
        else:  # a lock, stamp or descriptor being written when its process was killed (or,
            # on another host, one whose writer stopped long ago)
            gone = owner_is_dead(found.owner) or now - entry.mtime > LOCK_TIMEOUT_SEC
        if gone:
            garbage.append(Garbage(name, _REASONS[found.kind], entry.size))
    return sorted(garbage, key=lambda g: g.name)


def unused_downloads(
    archives: Mapping[str, int],
    partial: Iterable[Entry],
    lock: Lockfile,
    *,
    now: float | None = None,
    others: Iterable[str] = (),
) -> list[Garbage]:
    """Download-cache archives (sha256 hex -> size) that neither hub.lock nor ``others`` (the
    archive digests other live projects need) refers to, and partial downloads older than
    tensorflow_hub's lock timeout (their process is gone)."""
    now = time.time() if now is None else now
    wanted = {m.archive.removeprefix("sha256:") for m in lock.models if m.archive}
    wanted |= {a.removeprefix("sha256:") for a in others}
    unused = [
        Garbage(f"sha256/{h}", "archive no model in hub.lock uses", s)
        for h, s in sorted(archives.items())
        if h not in wanted
    ]
    return unused + [
        Garbage(e.name, "partial download of an interrupted run", e.size)
        for e in partial
        if now - e.mtime > LOCK_TIMEOUT_SEC
    ]


def gc(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    dry_run: bool = False,
    keep_unlocked: bool = False,
    download_cache: str | Path | None = None,
    only_this_project: bool = False,
    kaggle_cache: str | None = None,
) -> GcReport:
    """Remove what no live project needs from the cache and the download cache (nothing, with
    ``dry_run``). ``only_this_project``: what this project's hub.lock does not list, whoever
    else needs it."""
    project = Project.load(
        manifest, lockfile, cache=cache, kaggle_cache=kaggle_cache, download_cache=download_cache
    )
    lock = project.lock()
    me = str(project.lockfile_path.resolve())
    targets = project.targets(lock, recorded=True)
    downloads = project.downloads()
    reports = []
    with ExitStack() as stack:
        for choice, target in targets:
            stack.enter_context(target.guard(exclusive=True))
            reports.append(
                _collect(
                    choice, target, lock, me, dry_run, keep_unlocked=keep_unlocked, only=only_this_project
                )
            )
        fetched = [] if only_this_project else live_roots(downloads.roots(), read_lock_or_none, mine=me)
        unused = unused_downloads(
            downloads.archives(),
            downloads.partial(),
            lock,
            others=(m.archive for live in fetched for m in live.needed if m.archive),
        )
        if not dry_run:
            for item in unused:
                downloads.remove(item.name)
            for live in fetched:
                if not live.needed:
                    downloads.remove_root(live.root.id)
    main, *rest = reports
    inside = {part.cache.loader: part for part in rest}
    return replace(
        main,
        downloads=tuple(unused),
        kagglehub=inside.get("kagglehub"),
        huggingface=inside.get("huggingface"),
    )


def _collect(
    choice: CacheChoice,
    target: Cache,
    lock: Lockfile,
    me: str,
    dry_run: bool,
    *,
    keep_unlocked: bool,
    only: bool,
) -> GcReport:
    """One cache's garbage (removed unless ``dry_run``), under its exclusive guard."""
    layout = target.layout
    mine = Lockfile.of(m for m in lock.models if layout.address(m) is not None)
    others = [] if only else live_roots(target.roots(), read_lock_or_none, mine=me)
    users: dict[str, list[str]] = {}
    for live in others:
        for m in live.needed:
            if (address := layout.address(m)) is not None:
                users.setdefault(layout.key(address), []).append(live.root.label)
    entries = target.entries()
    protected = set(users)
    if layout.name == "kagglehub":
        # kagglehub's own downloads (no hublock stamp) are the user's, whatever hub.lock says
        parsed = [layout.parse(e.name) for e in entries]
        stamped = {p.key for p in parsed if p is not None and p.kind is Kind.STAMP}
        protected |= {p.key for p in parsed if p is not None and p.kind is Kind.MODEL} - stamped
    garbage = find_garbage(entries, mine, keep_unlocked=keep_unlocked, layout=layout, others=protected)
    dead = [live.root for live in others if not live.needed]
    records = [
        Garbage(f"{layout.roots()}/{root.id}.json", f"record of {root.label}, which needs none of it", 0)
        for root in dead
    ]
    keys = {layout.key(address) for m in mine.models if (address := layout.address(m)) is not None}
    present = {e.name for e in entries}
    kept = tuple(
        Kept(key, tuple(sorted(set(labels))))
        for key, labels in sorted(users.items())
        if key not in keys and key in present
    )
    if not dry_run:
        for item in garbage:
            target.remove(item.name)
        for root in dead:
            target.remove_root(root.id)
    return GcReport(choice, (*garbage, *records), (), dry_run, kept)
