"""The public surface is ``hublock.__all__``: exactly what the package exports, and every type a
public function returns (as httpx guards its own ``__all__``)."""

from __future__ import annotations

import enum
import inspect
import types
import typing

import hublock


def test_all_is_exactly_what_is_exported() -> None:
    """Every name of ``__all__`` resolves (each is imported on first use), and once they all are,
    nothing else public is there. The load hooks are not resolved here: they import the loaders
    (tensorflow_hub, kagglehub), which the fast tier does not install."""
    hooks = {"activate", "deactivate", "LockedResolver", "KaggleResolver"}
    for name in set(hublock.__all__) - hooks - {"__version__"}:
        assert getattr(hublock, name) is not None, name
    public = {
        name
        for name, value in vars(hublock).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in ("TYPE_CHECKING", "Any", "annotations")
    }
    assert set(hublock.__all__) == public | hooks | {"__version__"}
    assert sorted(dir(hublock)) == dir(hublock) and set(hublock.__all__) <= set(dir(hublock))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        hublock.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("resolved")


def _classes(annotation: object) -> set[type]:
    if isinstance(annotation, type):
        return {annotation} if annotation.__module__.startswith("hublock") else set()
    found: set[type] = set()
    for arg in typing.get_args(annotation):
        found |= _classes(arg)
    return found


def test_every_type_a_public_function_returns_is_exported() -> None:
    exported = {
        getattr(hublock, name)
        for name in hublock.__all__
        if name not in ("activate", "deactivate", "LockedResolver", "KaggleResolver")
    }
    for name in hublock.__all__:
        if name in ("activate", "deactivate", "LockedResolver", "KaggleResolver", "__version__"):
            continue
        value = getattr(hublock, name)
        functions = [value] if inspect.isfunction(value) else []
        if inspect.isclass(value) and not issubclass(value, enum.Enum | BaseException):
            functions += [
                m for _, m in inspect.getmembers(value, inspect.isfunction) if not m.__name__.startswith("_")
            ]
        for function in functions:
            annotation = inspect.signature(function).return_annotation
            # only the return annotation: parameters may name types imported for type checking only
            returned = eval(annotation, function.__globals__) if isinstance(annotation, str) else annotation
            missing = {c.__name__ for c in _classes(returned)} - {
                c.__name__ for c in exported if isinstance(c, type)
            }
            assert not missing, f"{name}.{function.__name__} returns {missing}, which hublock does not export"
