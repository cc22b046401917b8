"""``hublock gc``: what a cache (and the download cache) holds that nothing needs any more.

tensorflow_hub never cleans up after a killed download: ``<sha1>.<uuid>.tmp`` staging and
``<sha1>.lock`` files stay forever (and a stale lock makes the next ``hub.load`` wait ten
minutes). ``find_garbage`` is pure over listings; ``collect`` deletes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hublock._downloads import DownloadCache
from hublock._files import temp_owner
from hublock._lockfile import Lockfile
from hublock._targets import LOCK_TIMEOUT_SEC, CacheChoice, Entry, cache_key, owner_is_dead

_MODEL = re.compile(r"^([0-9a-f]{40})$")
_STAGING = re.compile(r"^([0-9a-f]{40})\.([0-9a-f]{32})\.tmp$")
_LOCK = re.compile(r"^([0-9a-f]{40})\.lock$")
_SIDECAR = re.compile(r"^([0-9a-f]{40})\.(descriptor\.txt|hublock\.json)$")
_PART = re.compile(r"\.part$")


@dataclass(frozen=True)
class Garbage:
    name: str
    reason: str
    size: int


def find_garbage(
    entries: Iterable[Entry], lock: Lockfile, *, keep_unlocked: bool = False, now: float | None = None
) -> list[Garbage]:
    """What may go: models no lock entry refers to (unless ``keep_unlocked``), staging that no
    live lock owns, locks whose owner is dead or that made no progress for tensorflow_hub's
    10-minute timeout, bookkeeping of models that are gone, and abandoned temp files."""
    now = time.time() if now is None else now
    by_name = {e.name: e for e in entries}
    locked = {cache_key(m.handle) for m in lock.models if not m.uncompressed}

    def live_lock(key: str) -> Entry | None:
        entry = by_name.get(f"{key}.lock")
        if entry is None or owner_is_dead(entry.content) or now - entry.mtime > LOCK_TIMEOUT_SEC:
            return None
        return entry

    garbage = []
    for entry in by_name.values():
        name = entry.name
        if m := _MODEL.match(name):
            if m[1] not in locked and not keep_unlocked and live_lock(m[1]) is None:
                garbage.append(Garbage(name, "not in hub.lock", entry.size))
        elif m := _STAGING.match(name):
            holder = live_lock(m[1])
            if holder is None or not holder.content.endswith(m[2]):
                garbage.append(Garbage(name, "staging left by an interrupted download", entry.size))
        elif m := _LOCK.match(name):
            if live_lock(m[1]) is None:
                garbage.append(Garbage(name, "lock left by a dead or stalled process", entry.size))
        elif m := _SIDECAR.match(name):
            model_gone = m[1] not in by_name or (m[1] not in locked and not keep_unlocked)
            if model_gone and live_lock(m[1]) is None:
                garbage.append(Garbage(name, "bookkeeping of a model that is gone", entry.size))
        elif (owner := temp_owner(name)) is not None and owner_is_dead(owner):
            # a lock, stamp or descriptor being written when its process was killed
            garbage.append(Garbage(name, "temp file of a process killed while writing it", entry.size))
        elif _PART.search(name) and now - entry.mtime > LOCK_TIMEOUT_SEC:
            garbage.append(Garbage(name, "abandoned temp file", entry.size))
    return sorted(garbage, key=lambda g: g.name)


def unused_downloads(archives: Mapping[str, int], lock: Lockfile) -> list[Garbage]:
    """Download-cache archives (sha256 hex -> size) that hub.lock no longer refers to."""
    wanted = {m.archive.removeprefix("sha256:") for m in lock.models if m.archive}
    return [
        Garbage(f"sha256/{h}", "archive no model in hub.lock uses", s)
        for h, s in sorted(archives.items())
        if h not in wanted
    ]


@dataclass(frozen=True)
class GcReport:
    cache: CacheChoice
    garbage: list[Garbage]
    downloads: list[Garbage]
    dry_run: bool

    @property
    def freed(self) -> int:
        return sum(g.size for g in self.garbage + self.downloads)


def gc(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    dry_run: bool = False,
    keep_unlocked: bool = False,
    download_cache: str | Path | None = None,
) -> GcReport:
    """Remove what ``find_garbage`` and ``unused_downloads`` find (nothing, with ``dry_run``)."""
    from hublock._sync import load_project, project_cache

    spec, lock, _ = load_project(manifest, lockfile)
    choice, target = project_cache(cache, spec)
    downloads = DownloadCache(download_cache)
    garbage = find_garbage(target.entries(), lock, keep_unlocked=keep_unlocked)
    unused = unused_downloads(downloads.archives(), lock) + downloads.abandoned(LOCK_TIMEOUT_SEC)
    if not dry_run:
        for item in garbage:
            target.remove(item.name)
        for item in unused:
            downloads.remove(item.name)
    return GcReport(choice, garbage, unused, dry_run)
