"""Re-exports imported on first use (PEP 562): a package names what it exports and the module
that defines each name. Importing a package then costs nothing, and each command loads only the
modules it uses (a sync never loads the bundle reader, the API reader or the lock diff)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, which exports each name of ``where``
    from the module it maps to."""
    module = sys.modules[package]

    def getattr_(name: str) -> Any:
        target = where.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(target), name)
        setattr(module, name, value)  # once: later lookups are plain attribute reads
        return value

    def dir_() -> list[str]:
        return sorted({*vars(module), *where})

    return getattr_, dir_
