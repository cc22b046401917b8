"""The huggingface_hub hook: the only module that imports huggingface_hub.

huggingface_hub has no resolver registry, so the two functions every caller goes through are
wrapped where callers look them up: ``huggingface_hub.hf_hub_download`` (keras_hub's ``hf://``
presets call it as an attribute of the package; transformers imports it from there) and
``huggingface_hub.snapshot_download``, in the package and in the modules that define them. A
locked repo is checked by the ``Guard`` and then read from the verified cache at the locked
commit, whatever revision (or none) the caller passes, with ``local_files_only``: no network
call. A file the locked commit lacks raises ``LocalEntryNotFoundError`` at once (what
huggingface_hub raises for a file it does not have; keras_hub's probes for optional files catch
it as ``EntryNotFoundError``). Datasets and spaces, and repos not in hub.lock (as ``unlocked=``
says), go to huggingface_hub untouched.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from typing import Any

import huggingface_hub
import huggingface_hub._snapshot_download as snapshot_module
import huggingface_hub.file_download as download_module
from huggingface_hub.errors import LocalEntryNotFoundError

from hublock.formats import LockedModel
from hublock.hooks.guard import Guard, inside

# where each function is looked up: the package, and the module that defines it
_PLACES = (
    (huggingface_hub, "hf_hub_download"),
    (download_module, "hf_hub_download"),
    (huggingface_hub, "snapshot_download"),
    (snapshot_module, "snapshot_download"),
)


class HubHook:
    """The two wrappers one Guard installed, and the functions they replaced."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        # what each place held before: put back on unregister; the defining modules' are called
        self.originals = {(place, name): getattr(place, name) for place, name in _PLACES}

    def __repr__(self) -> str:
        return f"<hublock.HubHook {self.guard.lockfile} verify={self.guard.verify}>"

    def _locked(self, repo_id: str, repo_type: str | None) -> LockedModel | None:
        """The locked model a call asks for; None for a call huggingface_hub answers itself
        (another repo type, or an unlocked repo the policy allows)."""
        if repo_type not in (None, "model"):
            return None
        model = self.guard.hf_model(repo_id)
        if model is None and not self.guard.allows(f"hf://{repo_id}"):
            raise self.guard.refuse(f"hf://{repo_id}")
        return model

    def hf_hub_download(self, repo_id: str, filename: str, **kwargs: Any) -> Any:
        model = self._locked(repo_id, kwargs.get("repo_type"))
        if model is None:
            return self.originals[(download_module, "hf_hub_download")](repo_id, filename, **kwargs)
        snapshot = self.guard.path(model, "huggingface", full=bool(kwargs.get("force_download")))
        subfolder = kwargs.get("subfolder") or ""
        name = f"{subfolder.strip('/')}/{filename}" if subfolder else filename
        if name not in {o.path for o in model.objects}:
            raise LocalEntryNotFoundError(
                f"{name!r} is not a file of hf://{repo_id} at the commit {self.guard.lockfile} locks "
                f"({model.commit})"
            )
        found = inside(snapshot, name)
        assert found is not None  # a locked path never climbs out (hub.lock refuses such paths)
        if kwargs.get("local_dir"):
            target = os.path.join(kwargs["local_dir"], name)
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.copyfile(found, target)
            return target
        return found

    def snapshot_download(self, repo_id: str, **kwargs: Any) -> Any:
        model = self._locked(repo_id, kwargs.get("repo_type"))
        if model is None:
            return self.originals[(snapshot_module, "snapshot_download")](repo_id, **kwargs)
        snapshot = self.guard.path(model, "huggingface", full=bool(kwargs.get("force_download")))
        local_dir = kwargs.get("local_dir")
        if not local_dir:
            return snapshot
        for path in _selected([o.path for o in model.objects], kwargs):
            target = os.path.join(local_dir, path)
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.copyfile(os.path.join(snapshot, path), target)
        return str(local_dir)


def _selected(paths: list[str], kwargs: dict[str, Any]) -> list[str]:
    """The files ``allow_patterns`` / ``ignore_patterns`` select, as huggingface_hub matches them."""

    def patterns(value: Any) -> list[str]:
        return [value] if isinstance(value, str) else list(value or [])

    allow, ignore = patterns(kwargs.get("allow_patterns")), patterns(kwargs.get("ignore_patterns"))
    return [
        p
        for p in paths
        if (not allow or any(fnmatch.fnmatch(p, a) for a in allow))
        and not any(fnmatch.fnmatch(p, i) for i in ignore)
    ]


def register(guard: Guard) -> HubHook:
    hook = HubHook(guard)
    for place, name in _PLACES:
        setattr(place, name, getattr(hook, name))
    return hook


def unregister(hook: object) -> None:
    """Put back exactly what that hook replaced (where it is still in place)."""
    assert isinstance(hook, HubHook)
    for (place, name), original in hook.originals.items():
        current = getattr(place, name, None)
        if getattr(current, "__self__", None) is hook:
            setattr(place, name, original)
