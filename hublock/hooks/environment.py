"""What ``hublock run`` puts in a command's environment so that every Python process it starts
verifies its loads against hub.lock: the caches sync fills, the hook's settings, and the autoload
directory first on PYTHONPATH. The Python API has it too (``hublock.run_environment``)."""

from __future__ import annotations

import os
import site
from pathlib import Path

from hublock.commands import Project
from hublock.core import Unlocked, Verify, config

# Both paths are relative to this file: a test checks each still points at what it names.
AUTOLOAD_DIR = Path(__file__).resolve().parent / "autoload"  # holds sitecustomize.py
PACKAGE_PARENT = Path(__file__).resolve().parent.parent.parent  # holds the hublock package


def hublock_path() -> list[str]:
    """The directory holding the hublock package, then this interpreter's site-packages: where a
    command whose own Python lacks hublock finds it (the sitecustomize reads HUBLOCK_PATH)."""
    return [str(PACKAGE_PARENT), *site.getsitepackages()]


def run_environment(
    manifest: str | Path = "hub.toml",
    lockfile: str | Path | None = None,
    *,
    cache: str | None = None,
    kaggle_cache: str | None = None,
    hf_cache: str | None = None,
    verify: Verify = "fast",
    unlocked: Unlocked = "allow",
    online: bool = False,
) -> dict[str, str]:
    """The variables ``hublock run`` sets (merge them over ``os.environ``). The lock is read now,
    so that a missing or stale hub.lock fails here, clearly, rather than inside the command.

    >>> env = {**os.environ, **run_environment("hub.toml")}  # doctest: +SKIP
    >>> subprocess.run(["python", "train.py"], env=env)  # doctest: +SKIP
    """
    project = Project.load(manifest, lockfile, cache=cache, kaggle_cache=kaggle_cache, hf_cache=hf_cache)
    project.lock()
    pythonpath = os.pathsep.join(p for p in (str(AUTOLOAD_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {
        config.TFHUB_CACHE_DIR.name: project.cache_choice().location,
        config.KAGGLEHUB_CACHE.name: project.kaggle_cache_choice().location,
        config.HF_HUB_CACHE.name: project.hf_cache_choice().location,
        config.HUBLOCK_LOCKFILE.name: str(project.lockfile_path.resolve()),
        config.HUBLOCK_VERIFY.name: verify,
        config.HUBLOCK_UNLOCKED.name: unlocked,
        config.HUBLOCK_OFFLINE.name: "0" if online else "1",
        config.HUBLOCK_PATH.name: os.pathsep.join(hublock_path()),
        "PYTHONPATH": pythonpath,
    }
