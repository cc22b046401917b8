"""How a worker process's events reach the parent: batched, in order, bytes summed."""

from __future__ import annotations

import time

import pytest

from hublock.core.events import Event
from hublock.core.parallel import _Coalesced


def test_a_worker_sends_its_events_in_order_in_one_batch() -> None:
    batches: list[list[Event]] = []
    send = _Coalesced(batches.append)
    send(Event("a", "start", "fetching", total=10))
    for _ in range(5):
        send(Event("a", "bytes", amount=2))
    send(Event("a", "done", "fetched"))
    send(Event("b", "start", "fetching"))
    send(Event("b", "bytes", amount=7))
    assert batches == []  # nothing crosses the pipe before the item ends (or 0.1 s passes)
    send.flush()
    assert batches == [
        [
            Event("a", "start", "fetching", total=10),
            Event("a", "bytes", amount=10),  # summed, and before the event that followed them
            Event("a", "done", "fetched"),
            Event("b", "start", "fetching"),
            Event("b", "bytes", amount=7),
        ]
    ]
    send.flush()
    assert len(batches) == 1  # an empty batch is not sent


def test_a_long_item_reports_progress_every_tenth_of_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    batches: list[list[Event]] = []
    send = _Coalesced(batches.append)
    send(Event("a", "start", "fetching"))
    send(Event("a", "bytes", amount=1))
    now[0] += 0.05
    send(Event("a", "bytes", amount=1))
    assert batches == []
    now[0] += 0.06
    send(Event("a", "bytes", amount=1))
    assert batches == [[Event("a", "start", "fetching"), Event("a", "bytes", amount=3)]]
