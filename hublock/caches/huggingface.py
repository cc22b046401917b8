"""huggingface_hub's cache (``HF_HUB_CACHE``), filled in exactly the layout huggingface_hub reads
(``_layout.HUGGINGFACE``): each file's bytes once in ``blobs/<etag>`` (the LFS sha256, or the git
blob sha1 of a regular file), ``snapshots/<commit>/<path>`` a relative symlink to its blob, and
``refs/<revision>`` holding the commit.

The order makes every step safe to interrupt: blobs first (each moved in with one rename), then
the snapshot's links (each replaced with one rename), hublock's stamp, and the ref last, so a
reader that follows the ref (``HF_HUB_OFFLINE=1``, no revision) never finds a partial snapshot.
Blobs and snapshots huggingface_hub downloaded itself are adopted when they hash to the lock.
"""

from __future__ import annotations

import glob
import os
import shutil
from contextlib import suppress
from pathlib import Path

from hublock.caches.inspection import (
    Inspection,
    Stamp,
    State,
    absent,
    check_hashes,
    check_stamp,
    file_stats,
)
from hublock.caches.layout import HUGGINGFACE, Entry, Kind
from hublock.caches.tfhub_dir import LocalCache
from hublock.core import (
    TreeDigest,
    atomic_write,
    hash_directory,
    remove_tree,
    sha256_file,
    unique_id,
    walk_files,
)
from hublock.formats import LockedModel, RemoteObject, is_commit


class HuggingfaceCache(LocalCache):
    """A huggingface_hub cache directory (local: huggingface_hub reads it with ``os.path``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__(root, HUGGINGFACE)

    def snapshot(self, model: LockedModel) -> Path:
        """The folder huggingface_hub reads the locked commit's files from."""
        return self.model_dir(self.address(model)) / "snapshots" / (model.commit or "")

    def ref(self, model: LockedModel) -> Path:
        return self.model_dir(self.address(model)) / "refs" / (model.revision or "main")

    def path_of(self, model: LockedModel) -> str:
        return str(self.snapshot(model))

    def inspect(self, model: LockedModel, *, full: bool = False, jobs: int = 2) -> Inspection:
        """The snapshot against the lock (by the stamp's stats of its blobs, or by re-hashing),
        and the ref: a revision that points elsewhere loads another commit."""
        snapshot = self.snapshot(model)
        missing = absent(snapshot)
        if missing is not None:
            return missing
        stamp = self.read_stamp(self.address(model))
        if full:
            found = check_hashes(stamp, model, hash_directory(snapshot, jobs=jobs))
        else:
            found = check_stamp(
                stamp, model, file_stats(snapshot, follow=True), lambda p: sha256_file(snapshot / p)[0]
            )
        if found.state in (State.OK, State.EXTRA_FILES) and not self._ref_is_locked(model):
            return Inspection(
                State.MODIFIED,
                found.files,
                f"refs/{model.revision} does not point at the locked commit {model.commit}",
            )
        return found

    def _ref_is_locked(self, model: LockedModel) -> bool:
        if is_commit(model.revision or ""):
            return True  # huggingface_hub keeps no ref for a commit
        try:
            return self.ref(model).read_text("utf-8").strip() == model.commit
        except OSError:
            return False

    def adopt(self, model: LockedModel) -> bool:
        """huggingface_hub's own download of the locked commit: re-hashed, stamped, its ref set."""
        tree = hash_directory(self.snapshot(model), jobs=2)
        if tree.tree != model.tree:
            return False
        self.write_stamp(model, tree)
        self._write_ref(model)
        return True

    def write_stamp(self, model: LockedModel, tree: TreeDigest) -> None:
        repo = self.address(model)
        stamp = Stamp.of(model, tree, file_stats(self.snapshot(model), follow=True), repo)
        target = self.root / self.layout.stamp(repo)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, stamp.to_json())

    def publish(self, model: LockedModel, staging: Path, tree: TreeDigest) -> None:
        """Blobs, then links, then the stamp, then the ref (see the module's docstring)."""
        repo_dir = self.model_dir(self.address(model))
        blobs, snapshot = repo_dir / "blobs", self.snapshot(model)
        (self.root / self.layout.stamp(self.address(model))).unlink(missing_ok=True)
        blobs.mkdir(parents=True, exist_ok=True)
        for obj in model.objects:
            blob = blobs / obj.blob
            staged = staging / obj.path
            if not _same_file(staged, blob):  # a verified blob reused by a link is in place already
                os.replace(staged, blob)  # one rename: a reader sees the old bytes or the new
            link = snapshot / obj.path
            link.parent.mkdir(parents=True, exist_ok=True)
            _replace_link(link, os.path.relpath(blob, link.parent))
        locked = {o.path for o in model.objects}
        for path in walk_files(snapshot):  # what the lock does not list: not this commit's
            if path not in locked:
                (snapshot / path).unlink(missing_ok=True)
        self.write_stamp(model, tree)
        self._write_ref(model)

    def reuse_blob(self, model: LockedModel, obj: RemoteObject, staged: Path) -> bool:
        """Link (or copy) into ``staged`` a blob already here with the locked bytes (one
        huggingface_hub downloaded, or another commit shares): no download for it."""
        blob = self.model_dir(self.address(model)) / "blobs" / obj.blob
        try:
            intact = blob.stat().st_size == obj.size and f"sha256:{sha256_file(blob)[0]}" == obj.checksum
        except OSError:
            return False
        if not intact:
            return False
        try:
            os.link(blob, staged)
        except OSError:
            shutil.copyfile(blob, staged)
        return True

    def _write_ref(self, model: LockedModel) -> None:
        if is_commit(model.revision or ""):
            return
        ref = self.ref(model)
        ref.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(ref, model.commit or "")

    def entries(self) -> list[Entry]:
        """hublock's own names here (locks, stamps, staging), and the repos it stamped a snapshot
        of: a repo only huggingface_hub downloaded is not listed, so gc never judges it."""
        home = self.root / HUGGINGFACE.roots().rpartition("/")[0]
        if not home.is_dir():
            return []
        found, stamped = [], set()
        for item in os.scandir(home):
            with suppress(OSError):
                if item.name != "roots":
                    entry = self.entry(Path(item.path))
                    found.append(entry)
                    parsed = HUGGINGFACE.parse(entry.name)
                    if parsed is not None and parsed.kind is Kind.STAMP:
                        stamped.add(parsed.key)
        for key in sorted(stamped):
            with suppress(OSError):
                if (self.root / key).is_dir():
                    found.append(self.entry(self.root / key))
        return found

    def remove(self, name: str) -> None:
        """A repo: only the snapshots hublock stamped there (their refs first, then their links,
        then the blobs no snapshot left links to), and the repo's folder once nothing is left in
        it; what huggingface_hub downloaded itself stays. Anything else: as any cache."""
        parsed = HUGGINGFACE.parse(name)
        if parsed is not None and parsed.kind is Kind.STAMP and (self.root / parsed.key).is_dir():
            return  # goes with its repo's snapshot below: the stamps say which snapshots are hublock's
        if parsed is None or parsed.kind is not Kind.MODEL:
            super().remove(name)
            return
        repo = self.root / name
        home = self.root / HUGGINGFACE.roots().rpartition("/")[0]
        stamps = sorted(home.glob(f"{glob.escape(name)}@*.json"))
        commits = {stamp.stem.rpartition("@")[2] for stamp in stamps}
        for ref in (repo / "refs").rglob("*") if (repo / "refs").is_dir() else ():
            with suppress(OSError):
                if ref.is_file() and ref.read_text("utf-8").strip() in commits:
                    ref.unlink()
        for commit in commits:
            remove_tree(repo / "snapshots" / commit)
        for stamp in stamps:
            stamp.unlink(missing_ok=True)
        linked = {os.path.realpath(p) for p in (repo / "snapshots").rglob("*") if p.is_symlink()}
        for blob in (repo / "blobs").glob("*") if (repo / "blobs").is_dir() else ():
            if not blob.name.endswith(".incomplete") and os.path.realpath(blob) not in linked:
                blob.unlink(missing_ok=True)  # huggingface_hub's own partial downloads stay
        for folder in (repo / "refs", repo / "snapshots", repo / "blobs", repo):
            with suppress(OSError):
                folder.rmdir()  # only once empty


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _replace_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` (relative to the link's folder) with one rename, never a moment
    without the file. Where the filesystem has no symlinks the blob is copied there instead, as
    huggingface_hub itself does."""
    with suppress(OSError):
        if link.is_symlink() and os.readlink(link) == target:
            return
    temp = link.with_name(f".{link.name}.{unique_id()}.tmp")
    try:
        os.symlink(target, temp)
    except OSError:  # no symlinks here (some network and Windows filesystems)
        shutil.copyfile(link.parent / target, temp)
    try:
        os.replace(temp, link)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
