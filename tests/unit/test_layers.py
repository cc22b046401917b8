"""The layer contract in pyproject.toml ([tool.importlinter]) holds, and it would catch an upward
import or a cycle: the same contract run over a copy of the package with one bad import breaks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT = [str(Path(sys.executable).parent / "lint-imports")]


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_package_keeps_its_layers() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import"),
    [
        ("_errors.py", "from hublock import _cli  # upward: the bottom layer imports the CLI\n"),
        ("_manifest.py", "from hublock import _lockfile  # a cycle: _lockfile imports _manifest\n"),
        ("_sync.py", "def f():\n    from hublock import _locker  # a sibling, hidden in a function\n"),
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, bad_import: str) -> None:
    shutil.copytree(ROOT / "hublock", tmp_path / "hublock", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "hublock" / module, "a") as f:
        f.write("\n" + bad_import)
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
