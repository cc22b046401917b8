"""kagglehub's cache directory, filled so that kagglehub (and keras_hub, which downloads through
it) finds every locked model complete, offline, in its own layout (``_layout.KAGGLEHUB``).

kagglehub calls a model present when its completion marker exists beside the files: the whole
model's ``<version>.complete`` for ``model_download(handle)``, one ``.complete/<version>/<path>.complete``
per file for ``model_download(handle, path)``. So a model appears here in this order: its
verified directory by one rename, then hublock's stamp, then every per-file marker, and the
whole-model marker last; it goes away in the opposite order (markers first). A process killed at
any point leaves files without markers (kagglehub would fetch them again; ``hublock sync``
repairs), never a marker without its files.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from hublock.caches.inspection import Inspection, State
from hublock.caches.layout import KAGGLEHUB, Entry, Kind
from hublock.caches.tfhub_dir import LocalCache
from hublock.core import TreeDigest, remove_tree
from hublock.formats import LockedModel

MARKER = ".complete"


class KagglehubCache(LocalCache):
    """A kagglehub cache (``KAGGLEHUB_CACHE``, default ``~/.cache/kagglehub``). Local only:
    kagglehub reads it with ``os.path``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__(root, KAGGLEHUB)

    def inspect(self, model: LockedModel, *, full: bool = False, jobs: int = 2) -> Inspection:
        found = super().inspect(model, full=full, jobs=jobs)
        if found.state in (State.OK, State.EXTRA_FILES) and not self.marked(model):
            return Inspection(
                State.MODIFIED,
                found.files,
                "kagglehub's completion markers are missing (it would download the model again)",
            )
        return found

    def marked(self, model: LockedModel) -> bool:
        """Whether kagglehub sees the model complete: its marker, and one per file in the stamp."""
        handle = self.address(model)
        if not (self.root / KAGGLEHUB.marker(handle)).is_file():
            return False
        stamp = self.read_stamp(handle)
        markers = self.root / KAGGLEHUB.file_markers(handle)
        return stamp is not None and all((markers / f"{path}{MARKER}").is_file() for path in stamp.files)

    def adopt(self, model: LockedModel) -> bool:
        """A copy kagglehub downloaded itself: verified, stamped, and given per-file markers."""
        if not super().adopt(model):
            return False
        stamp = self.read_stamp(self.address(model))
        assert stamp is not None
        self.mark(self.address(model), sorted(stamp.files))
        return True

    def publish(self, model: LockedModel, staging: Path, tree: TreeDigest) -> None:
        handle = self.address(model)
        self.unmark(handle)
        aside = self.replace_dir(handle, staging)
        self.write_stamp(model, tree)
        self.mark(handle, [f.path for f in tree.files])
        if aside is not None:
            remove_tree(aside)

    def mark(self, handle: str, paths: list[str]) -> None:
        """Every file's marker, then the whole model's: last, so no reader sees a marker
        before all the files it stands for are in place."""
        markers = self.root / KAGGLEHUB.file_markers(handle)
        for path in paths:
            marker = markers / f"{path}{MARKER}"
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        (self.root / KAGGLEHUB.marker(handle)).touch()

    def unmark(self, handle: str) -> None:
        """The whole model's marker first, then the files': kagglehub stops trusting it at once."""
        (self.root / KAGGLEHUB.marker(handle)).unlink(missing_ok=True)
        remove_tree(self.root / KAGGLEHUB.file_markers(handle))

    def entries(self) -> list[Entry]:
        """Every name beside a model version (``models/<o>/<m>/<f>/<v>/...``), and the roots.
        Datasets, competitions and notebooks kagglehub keeps here are not listed."""
        paths = [self.root / KAGGLEHUB.roots()] if (self.root / KAGGLEHUB.roots()).is_dir() else []
        for variation in self.root.glob("models/*/*/*/*"):
            if variation.is_dir() and not variation.is_symlink():
                paths += [p for p in variation.iterdir() if p.name != MARKER]
                paths += [p for p in (variation / MARKER).glob("*") if p.is_dir()]
        found = []
        for path in paths:
            with suppress(OSError):  # gone meanwhile (a sync replacing it)
                found.append(self.entry(path))
        return found

    def remove(self, name: str) -> None:
        """Markers before the files they stand for; then empty parent folders, as kagglehub does."""
        parsed = KAGGLEHUB.parse(name)
        if parsed is not None and parsed.kind is Kind.MODEL:
            handle = parsed.key.removeprefix("models/")
            self.unmark(handle)
        super().remove(name)
        parent = (self.root / name).parent
        while parent != self.root and parent.is_relative_to(self.root / "models"):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
