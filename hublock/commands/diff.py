"""``hublock diff``: what changed per model between two locks (by default hub.lock as git HEAD has
it and hub.lock here), its API signature by signature."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from hublock.commands.project import Project, default_lockfile
from hublock.commands.reports import DiffReport
from hublock.core import (
    HublockError,
    ManifestError,
)
from hublock.formats import Lockfile, ModelApi, diff_locks, parse_lockfile, read_lockfile
from hublock.remote import Fetcher, HashedArchive

if TYPE_CHECKING:
    from hublock.caches import DownloadCache


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


def read_cached(downloads: DownloadCache, sha256: str) -> HashedArchive | None:
    """An archive of the download cache, read once (its files and API), if it is there."""
    if downloads.get(sha256) is None:
        return None
    try:
        return Fetcher(downloads, offline=True).hash_archive([], cached_sha256=sha256)
    except (HublockError, OSError):
        return None


def _api_of_archive(downloads: DownloadCache, sha256: str) -> ModelApi | None:
    read = read_cached(downloads, sha256)
    if read is None or read.api is None:
        return None
    downloads.write_api(read.api)
    return read.api
