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


def test_run_parts_returns_in_order_and_the_first_failure_stops_the_others() -> None:
    import threading

    from hublock.core.parallel import CancelFlag, raise_if_cancelled, run_parts

    never = threading.Event()
    assert run_parts(lambda x, flag: x * 2, [3, 1, 2], 3, never) == [6, 2, 4]

    started, ran, saw_stop = threading.Event(), [], []

    def part(item: str, flag: CancelFlag) -> str:
        ran.append(item)
        if item == "fails":
            assert started.wait(30)  # the other part is at work: its flag must be set for it
            raise ValueError("this part failed")
        started.set()
        for _ in range(3000):  # what a download does between chunks: look at the flag
            if flag.is_set():
                saw_stop.append(item)
                raise_if_cancelled(flag)
            threading.Event().wait(0.01)
        return item

    with pytest.raises(ValueError, match="this part failed"):  # the failure itself, not Cancelled
        run_parts(part, ["fails", "works", "later"], 2, never)
    assert saw_stop == ["works"] and "later" not in ran  # a part not started yet does not start
