"""Put first on PYTHONPATH by ``hublock run``: turns on hublock's verify-on-load hook in every
Python process the command starts, the moment that process imports tensorflow_hub, kagglehub or
huggingface_hub (keras_hub imports kagglehub and huggingface_hub).

Not earlier: importing TensorFlow at start-up would slow every Python process (pip, scripts that
never load a model). So this installs a one-shot import hook that runs ``hublock.activate()``
(configured by the HUBLOCK_* variables ``hublock run`` sets) right after tensorflow_hub has been
imported. A sitecustomize that this file shadows (a venv's, a distribution's) is still run.
Why not a ``.pth`` file: those are read only from site-packages, which ``hublock run`` must not
modify; a PYTHONPATH entry lives and dies with the command.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def _run_shadowed_sitecustomize() -> None:
    me = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    try:
        importlib.import_module("sitecustomize")
    except ModuleNotFoundError as exc:
        if exc.name != "sitecustomize":
            raise
    finally:
        sys.path[:] = saved
        if me is not None:
            sys.modules["sitecustomize"] = me


LOADERS = ("tensorflow_hub", "kagglehub", "huggingface_hub")


class _ActivateAfterImport(importlib.abc.MetaPathFinder):
    """Runs ``hublock.activate()`` right after a loader's module has been executed, once per
    loader (keras_hub imports kagglehub: its presets are covered the same way)."""

    def __init__(self) -> None:
        self.pending = set(LOADERS)

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.pending:
            return None
        self.pending.discard(name)
        sys.meta_path.remove(self)  # lets the real finders find it below (and no recursion)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            if self.pending:
                sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_activate(module: ModuleType) -> None:
            exec_module(module)
            _activate()

        loader.exec_module = exec_then_activate  # type: ignore[method-assign]
        return spec


def _fail(message: str) -> None:
    """One line, then the process ends before any model is loaded (no traceback: SystemExit)."""
    sys.stderr.write(f"hublock run: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def _import_hublock() -> ModuleType:
    """hublock as this Python has it, else the copy ``hublock run`` came from (HUBLOCK_PATH: its
    package and dependencies, searched after this Python's own packages, which keep priority)."""
    try:
        import hublock
    except ImportError:
        pass
    else:
        return hublock
    sys.path.extend(
        p for p in os.environ.get("HUBLOCK_PATH", "").split(os.pathsep) if p and p not in sys.path
    )
    try:
        import hublock
    except Exception as exc:  # any failure here would otherwise be a traceback from the hook
        _fail(
            f"this Python ({sys.executable}, {sys.version.split()[0]}) cannot import hublock to verify "
            f"models against the lock ({type(exc).__name__}: {exc}); install it there "
            f"(`{sys.executable} -m pip install hublock`), or run the command without `hublock run`"
        )
        raise
    return hublock


def _activate() -> None:
    """Hook every loader imported so far (activate replaces the previous hooks)."""
    hublock = _import_hublock()
    try:
        hublock.activate(loaders=[name for name in LOADERS if name in sys.modules])
    except hublock.HublockError as exc:
        _fail(str(exc))


if os.environ.get("HUBLOCK_LOCKFILE"):
    sys.meta_path.insert(0, _ActivateAfterImport())
_run_shadowed_sitecustomize()
