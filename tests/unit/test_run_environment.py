"""``hublock run``'s environment (``hublock.run_environment``): both of its paths are relative to
the module's own file, so a move of the module must not leave either pointing at the wrong place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hublock
from hublock.hooks.environment import AUTOLOAD_DIR, PACKAGE_PARENT


def _empty_locked_project(tmp_path: Path) -> Path:
    manifest = tmp_path / "hub.toml"
    manifest.write_text("[models]\n")
    hublock.lock(manifest)
    return manifest


def test_pythonpath_starts_with_the_shipped_sitecustomize(tmp_path: Path) -> None:
    env = hublock.run_environment(_empty_locked_project(tmp_path), cache=str(tmp_path / "c"))
    first = env["PYTHONPATH"].split(os.pathsep)[0]
    assert Path(first) == AUTOLOAD_DIR
    # what a child Python started with this environment runs at start-up is hublock's file
    code = "import sitecustomize; print(sitecustomize.__file__)"
    ran = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    assert Path(ran.stdout.strip()) == AUTOLOAD_DIR / "sitecustomize.py"


def test_hublock_path_finds_this_hublock_from_a_python_without_it(tmp_path: Path) -> None:
    env = hublock.run_environment(_empty_locked_project(tmp_path), cache=str(tmp_path / "c"))
    first = env["HUBLOCK_PATH"].split(os.pathsep)[0]
    assert Path(first) == PACKAGE_PARENT
    # -S: no site-packages, and an empty PYTHONPATH: hublock is found only through HUBLOCK_PATH
    code = f"import sys; sys.path.insert(0, {first!r}); import hublock; print(hublock.__file__)"
    ran = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env={"PATH": os.environ["PATH"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(ran.stdout.strip()) == Path(hublock.__file__).resolve()


def test_the_environment_names_the_lock_caches_and_modes(tmp_path: Path) -> None:
    manifest = _empty_locked_project(tmp_path)
    env = hublock.run_environment(
        manifest, cache=str(tmp_path / "tf"), kaggle_cache=str(tmp_path / "kg"), verify="full", online=True
    )
    assert env["HUBLOCK_LOCKFILE"] == str((tmp_path / "hub.lock").resolve())
    assert env["TFHUB_CACHE_DIR"] == str(tmp_path / "tf")
    assert env["KAGGLEHUB_CACHE"] == str(tmp_path / "kg")
    assert (env["HUBLOCK_VERIFY"], env["HUBLOCK_UNLOCKED"], env["HUBLOCK_OFFLINE"]) == ("full", "allow", "0")
