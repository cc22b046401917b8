"""Progress events. The library reports; only the CLI decides how (or whether) to draw them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["start", "bytes", "done"]


@dataclass(frozen=True)
class Event:
    """``start``: work on a model begins (``total`` bytes expected, if known); ``bytes``: ``amount``
    more bytes arrived; ``done``: the model is finished, ``message`` says how."""

    model: str
    kind: EventKind
    message: str = ""
    amount: int = 0
    total: int | None = None


OnEvent = Callable[[Event], None]


def bytes_of(on_event: OnEvent, model: str) -> Callable[[int], None]:
    """A progress callback that reports ``n`` more bytes of ``model``."""
    return lambda n: on_event(Event(model, "bytes", amount=n))


def ignore(event: Event) -> None:
    """The default reporter: says nothing."""
