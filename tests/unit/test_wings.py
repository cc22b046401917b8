"""The wings' front doors: each package (``hublock`` and every wing but the CLI) exports what the
others use through its ``__init__``, imported on first use; a module of one wing reaches another
wing only through that door."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import ROOT

# hooks has no door: no other wing uses it (the CLI calls the public API, hublock.run_environment)
PACKAGES = ["hublock", "hublock.commands", "hublock.caches", "hublock.formats", "hublock.core"]
WINGS = ["cli", "hooks", "commands", "remote", "caches", "formats", "core"]


@pytest.mark.parametrize("name", PACKAGES)
def test_the_type_checking_imports_are_the_lazy_map(name: str) -> None:
    """Each exported name is written twice: in the ``TYPE_CHECKING`` imports (for type checkers)
    and in the map of lazy imports (at run time). They must agree, name for module, and each
    name must resolve to the object its module defines."""
    package = importlib.import_module(name)
    tree = ast.parse(Path(package.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    imported = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == package._WHERE
    skip = {"activate", "deactivate", "LockedResolver", "KaggleResolver"}  # import the loaders
    for export, module in package._WHERE.items():
        if export not in skip:
            assert getattr(package, export) is getattr(importlib.import_module(module), export), export
    assert set(package.__all__) - {"__version__"} == set(package._WHERE)


def test_a_module_reaches_another_wing_only_through_its_front_door() -> None:
    """``from hublock.caches import DownloadCache``, never ``from hublock.caches.downloads import
    ...``: a wing's modules can move inside it without any other wing changing. (The remote
    wing's door imports its modules at once; the CLI is imported by nobody.)"""
    crossings = []
    for path in sorted((ROOT / "hublock").rglob("*.py")):
        parts = path.relative_to(ROOT / "hublock").parts
        if len(parts) < 2:
            continue
        wing = parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hublock."):
                target = node.module.split(".")
                if len(target) > 2 and target[1] != wing and node.module != "hublock.core.lazy":
                    crossings.append(f"{'/'.join(parts)}: from {node.module} import ...")
    assert crossings == []
    assert sorted(p.name for p in (ROOT / "hublock").iterdir() if (p / "__init__.py").is_file()) == sorted(
        WINGS
    )


def test_no_module_imports_its_own_wing_s_door() -> None:
    """Inside a wing, a module imports its siblings by their own paths: through the wing's
    ``__init__`` it would import itself back (a cycle the layer contracts cannot see)."""
    through_own_door = []
    for path in sorted((ROOT / "hublock").rglob("*.py")):
        parts = path.relative_to(ROOT / "hublock").parts
        if len(parts) < 2 or parts[-1] == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == f"hublock.{parts[0]}":
                through_own_door.append(f"{'/'.join(parts)}: from {node.module} import ...")
    assert through_own_door == []
