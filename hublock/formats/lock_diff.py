"""What changed between two locks of a model, in words: version or url moved, archive changed
(re-compressed or not), a Hugging Face revision's commit and the files that changed, tree changed
or not, and the API change signature by signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hublock.formats.cyclonedx import model_identity
from hublock.formats.lockfile import LockedModel, Lockfile
from hublock.formats.saved_model_api import ModelApi, api_changes

ApiLookup = Callable[[str], ModelApi | None]
"""The readable form of an API, by its ``sha256:`` digest (None when it is not known here)."""


@dataclass(frozen=True)
class ModelDiff:
    """One model's change: ``state`` is ``added``, ``removed``, ``changed`` or ``unchanged``;
    ``changes`` say what moved; ``api`` lists the API's changes (empty when it did not change),
    or is None when they cannot be told (an API not recorded, or not known here)."""

    name: str
    state: str
    changes: tuple[str, ...] = ()
    api: tuple[str, ...] | None = ()
    old: LockedModel | None = None
    new: LockedModel | None = None

    def describe(self) -> str:
        if self.state == "added" and self.new is not None:
            return f"{self.name}: added, {self.new.size} bytes, {short(self.new.archive or self.new.url)}"
        if self.state in ("removed", "unchanged"):
            return f"{self.name}: {self.state}"
        return f"{self.name}: " + ", ".join(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "changes": list(self.changes),
            "api": None if self.api is None else list(self.api),
            "old": self.old.to_dict() if self.old is not None else None,
            "new": self.new.to_dict() if self.new is not None else None,
        }


def short(digest: str | None) -> str:
    if digest is None:
        return "no archive"
    algo, _, value = digest.partition(":")
    return f"{algo}:{value[:16]}" if value else digest


def diff_model(name: str, old: LockedModel | None, new: LockedModel | None, apis: ApiLookup) -> ModelDiff:
    if new is None:
        return ModelDiff(name, "removed", old=old)
    if old is None:
        return ModelDiff(name, "added", new=new)
    if _content(old) == _content(new) and old.url == new.url:
        return ModelDiff(name, "unchanged", old=old, new=new)
    changes = []
    (_, before, old_version), (_, after, new_version) = model_identity(old), model_identity(new)
    if old.handle != new.handle or old.kaggle != new.kaggle:
        if before == after and old_version != new_version:
            changes.append(f"version {old_version} -> {new_version}")
        else:
            changes.append(f"handle {old.handle} -> {new.handle}")
    if old.url != new.url:
        changes.append(f"url {old.url} -> {new.url}" if new.url else f"url {old.url} dropped")
    if old.revision != new.revision:
        changes.append(f"revision {old.revision} -> {new.revision}")
    if old.commit != new.commit:
        changes.append(f"commit {(old.commit or '')[:12]} -> {(new.commit or '')[:12]}")
    if old.from_hf and new.from_hf:
        before_files = {o.path: o.checksum for o in old.objects}
        after_files = {o.path: o.checksum for o in new.objects}
        moved = sorted(
            p for p in before_files.keys() | after_files.keys() if before_files.get(p) != after_files.get(p)
        )
        if moved:
            changes.append(f"files changed: {', '.join(moved)}")
    if old.archive != new.archive:
        same = " (re-compressed: the files are identical)" if old.tree == new.tree else ""
        changes.append(f"archive {short(old.archive)} -> {short(new.archive)}{same}")
    if old.size != new.size:
        changes.append(f"size {old.size} -> {new.size} bytes")
    changes.append("tree changed" if old.tree != new.tree else "tree unchanged")
    if str(old.signature) != str(new.signature):  # who signed it, not the signature's bytes
        changes.append(f"signer: {old.signature or 'unsigned'} -> {new.signature or 'unsigned'}")
    api: tuple[str, ...] | None = ()
    if old.api != new.api:
        a, b = (apis(old.api) if old.api else None), (apis(new.api) if new.api else None)
        api = tuple(api_changes(a, b)) if a is not None and b is not None else None
        changes.append(_api_summary(old, new, api))
    elif old.api is not None and old.tree != new.tree:
        changes.append("api unchanged")
    return ModelDiff(name, "changed", tuple(changes), api, old, new)


def _api_summary(old: LockedModel, new: LockedModel, api: tuple[str, ...] | None) -> str:
    if old.api is None or new.api is None:
        return "api not recorded before" if old.api is None else "no api now (not a SavedModel?)"
    if api is None:
        return f"api changed ({short(old.api)} -> {short(new.api)}; run `hublock lock` here to see how)"
    return f"api changed: {len(api)} change{'s' if len(api) != 1 else ''}"


def _content(model: LockedModel) -> tuple[Any, ...]:
    return (
        model.handle,
        model.kaggle,
        model.format,
        model.archive,
        model.tree,
        model.api,
        model.commit,
        model.signature,
    )


def diff_locks(old: Lockfile, new: Lockfile, apis: ApiLookup) -> tuple[ModelDiff, ...]:
    names = sorted({m.name for m in old.models} | {m.name for m in new.models})
    return tuple(diff_model(n, old.get(n), new.get(n), apis) for n in names)
