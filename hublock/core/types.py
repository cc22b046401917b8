"""The type aliases several wings share, each spelled once (like httpx's ``_types.py``)."""

from __future__ import annotations

from typing import Literal, TypeVar, get_args

from hublock.core.events import Event, OnEvent

__all__ = [
    "LOADER_MODULES",
    "UNLOCKED_MODES",
    "VERIFY_MODES",
    "Event",
    "Loader",
    "OnEvent",
    "Unlocked",
    "Verify",
    "one_of",
]

# How a load of a locked model is checked: stamps only, every file re-hashed, or not at all.
Verify = Literal["fast", "full", "off"]
# What a load of a handle hub.lock does not list does.
Unlocked = Literal["allow", "warn", "error"]
# A cache layout, and the loader that reads it, as JSON documents spell it.
Loader = Literal["tfhub", "kagglehub", "huggingface"]
# The module each loader is imported as (``activate(loaders=...)`` names these).
LOADER_MODULES: dict[Loader, str] = {
    "tfhub": "tensorflow_hub",
    "kagglehub": "kagglehub",
    "huggingface": "huggingface_hub",
}

VERIFY_MODES: tuple[Verify, ...] = get_args(Verify)
UNLOCKED_MODES: tuple[Unlocked, ...] = get_args(Unlocked)

_T = TypeVar("_T", bound=str)


def one_of(value: str, choices: tuple[_T, ...]) -> _T | None:
    """``value`` as one of ``choices`` (a Literal's values), or None: a checked narrowing."""
    for choice in choices:
        if choice == value:
            return choice
    return None
