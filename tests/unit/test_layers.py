"""The layer contracts in pyproject.toml ([tool.importlinter]) hold: the wings, and the order inside
the wings where it matters. They would catch an upward import, a cycle or a sibling import: the same
contracts run over a copy of the package with one bad import break."""

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
    assert "8 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import"),
    [
        ("core/errors.py", "from hublock.cli import main  # upward: the core imports the CLI\n"),
        ("caches/layout.py", "from hublock.remote import fetcher  # upward by one wing\n"),
        ("formats/manifest.py", "from hublock.formats import lockfile  # a cycle inside a wing\n"),
        (
            "commands/sync.py",
            "def f():\n    from hublock.commands import lock  # a sibling, hidden in a function\n",
        ),
        ("hooks/guard.py", "import hublock.hooks.tfhub  # below the resolver that asks it\n"),
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
