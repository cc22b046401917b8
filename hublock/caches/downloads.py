"""The download cache: archives stored by their sha256, so a sync after a lock fetches nothing.

Default location: the platform's user cache (``~/.cache/hublock/archives`` on Linux), or
``$HUBLOCK_DOWNLOAD_CACHE``. Writes go to a unique temp name and are renamed into place once the
digest is known: a reader never sees a partial archive under a digest name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from hublock.caches.layout import Entry
from hublock.caches.roots import Root, read_roots, write_root
from hublock.core import CacheError, atomic_write, config, unique_id

if TYPE_CHECKING:
    from hublock.formats import ModelApi


def default_download_dir() -> Path:
    env = config.HUBLOCK_DOWNLOAD_CACHE.get()
    if env:
        return Path(os.path.expanduser(env))
    import platformdirs

    return Path(platformdirs.user_cache_dir("hublock")) / "archives"


class ArchiveWriter:
    """Receives an archive's bytes under a temp name; ``commit`` names them by their digest."""

    def __init__(self, cache: DownloadCache, file: Path) -> None:
        self._cache = cache
        self._file = file
        self._out = open(file, "wb")  # noqa: SIM115 - closed in commit/abort

    def write(self, chunk: bytes) -> None:
        try:
            self._out.write(chunk)
        except OSError as exc:
            raise CacheError(f"cannot write to the download cache {self._cache.root}: {exc}") from exc

    def commit(self, sha256: str) -> Path:
        """Keep the bytes written as the archive ``sha256`` (which the caller computed)."""
        try:
            self._out.close()
            final = self._cache.path(sha256)
            os.replace(self._file, final)
        except OSError as exc:
            raise CacheError(f"cannot write to the download cache {self._cache.root}: {exc}") from exc
        return final

    def abort(self) -> None:
        self._out.close()
        self._file.unlink(missing_ok=True)


class DownloadCache:
    """A directory of archives named by sha256: ``<root>/sha256/<hex>``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_download_dir()

    def path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def get(self, sha256: str) -> Path | None:
        path = self.path(sha256)
        return path if path.is_file() else None

    @contextmanager
    def writer(self) -> Iterator[ArchiveWriter]:
        try:
            (self.root / "sha256").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot create the download cache {self.root}: {exc}") from exc
        writer = ArchiveWriter(self, self.root / "tmp" / f"{unique_id()}.part")
        try:
            yield writer
        finally:
            writer.abort()  # no-op after a commit: the temp name is gone by then

    def archives(self) -> dict[str, int]:
        """Every archive held: sha256 hex -> size."""
        folder = self.root / "sha256"
        if not folder.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}

    def partial(self) -> list[Entry]:
        """Downloads in progress, or left by processes that died (gc judges them by age)."""
        folder = self.root / "tmp"
        if not folder.is_dir():
            return []
        return [
            Entry(f"tmp/{p.name}", st.st_size, st.st_mtime)
            for p in sorted(folder.iterdir())
            if (st := p.stat())
        ]

    def roots(self) -> list[Root]:
        """Which project needs which archives (written by every lock and sync)."""
        return read_roots(self.root / "roots")

    def write_root(self, root: Root) -> None:
        """Record one project's root; a download cache that cannot be written only loses gc's
        knowledge of it (the archives are still verified on every use)."""
        with suppress(OSError):
            write_root(self.root / "roots", root)

    def remove_root(self, root_id: str) -> None:
        (self.root / "roots" / f"{root_id}.json").unlink(missing_ok=True)

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def write_api(self, api: ModelApi) -> None:
        """Keep a model API's readable form under its digest (``api/<hex>.json``), for ``hublock
        diff`` and ``audit`` to show what changed; losing it only loses those details."""
        with suppress(OSError):
            (self.root / "api").mkdir(parents=True, exist_ok=True)
            atomic_write(
                self.root / "api" / f"{api.digest.removeprefix('sha256:')}.json", json.dumps(api.to_dict())
            )

    def read_api(self, digest: str) -> ModelApi | None:
        """The readable form of an API this download cache has seen, by its ``sha256:`` digest."""
        from hublock.formats import ModelApi

        try:
            data = json.loads((self.root / "api" / f"{digest.removeprefix('sha256:')}.json").read_text())
            api = ModelApi.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return api if api.digest == digest else None
