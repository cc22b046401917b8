"""hublock as `pip install` gives it (a wheel, not this checkout): every wing, the schemas and the
autoload directory are in it, and `python -m hublock` and `hublock run` work from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

WINGS = ("cli", "hooks", "commands", "remote", "caches", "formats", "core")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as a wheel and installed, without its dependencies (this Python has
    them), into a directory of its own."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=out,  # not the checkout: its hublock/ must not be what gets imported
    )
    (wheel,) = out.glob("hublock-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for wing in WINGS:
        modules = {p.name for p in (ROOT / "hublock" / wing).glob("*.py")}
        assert {f"hublock/{wing}/{m}" for m in modules} <= names, wing
    assert "hublock/hooks/autoload/sitecustomize.py" in names
    assert {f"hublock/schemas/{p.name}" for p in (ROOT / "hublock" / "schemas").glob("*.json")} <= names
    target = out / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site)}


def test_python_m_hublock_runs_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    code = "import hublock, hublock.cli.main; print(hublock.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(installed),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed)
    version = subprocess.run(
        [sys.executable, "-m", "hublock", "--version"],
        env=_env(installed),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert version.returncode == 0 and version.stdout.startswith("hublock, version "), version.stderr


def test_hublock_run_puts_the_installed_autoload_first(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "hub.toml").write_text("[models]\n")
    env = _env(installed)
    subprocess.run(
        [sys.executable, "-m", "hublock", "lock"], env=env, cwd=tmp_path, check=True, capture_output=True
    )
    shown = "import sitecustomize, os; print(sitecustomize.__file__); print(os.environ['HUBLOCK_PATH'])"
    ran = subprocess.run(
        [sys.executable, "-m", "hublock", "run", "--", sys.executable, "-c", shown],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    sitecustomize, hublock_path = ran.stdout.splitlines()
    assert Path(sitecustomize) == installed / "hublock" / "hooks" / "autoload" / "sitecustomize.py"
    assert Path(hublock_path.split(os.pathsep)[0]) == installed
