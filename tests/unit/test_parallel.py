"""How a worker process's events reach the parent (batched, in order, bytes summed), and how
the stages of one archive share the cores."""

from __future__ import annotations

import time
from collections.abc import Iterator

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


def test_a_yielding_stage_runs_below_its_reader_and_leaves_the_callers_priority_alone() -> None:
    """The reading stage of a huge archive yields to the inflate stage (the critical path) by
    running at a higher nice value; the thread that called it (the user's, for the Python API)
    keeps its own, which no unprivileged process could lower back."""
    import os
    import threading

    from hublock.core.parallel import YIELDING_NICE, ReadAhead

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = priority()
    seen: list[int] = []

    def chunks() -> Iterator[bytes]:
        seen.append(priority())
        yield b"x"

    with ReadAhead(chunks(), yielding=True) as stage:
        assert stage.read() == b"x"
    with ReadAhead(chunks()) as stage:
        assert stage.read() == b"x"
    assert seen == [min(before + YIELDING_NICE, 19), before]
    assert priority() == before


class _Clock:
    """``time.monotonic`` for ``read_interruptibly``: advanced by the reads, never slept."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_read_waits_in_slices_of_a_second_until_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A silent server: the read is tried again after each slice, and times out in all after the
    timeout it was given, as one read would."""
    from hublock.core import parallel

    clock = _Clock()
    monkeypatch.setattr(parallel.time, "monotonic", clock)
    slices: list[float] = []

    def silent(timeout: float | None) -> bytes:
        assert timeout is not None
        slices.append(timeout)
        clock.now += timeout
        raise TimeoutError

    with pytest.raises(TimeoutError):
        parallel.read_interruptibly(silent, 3.5, TimeoutError)
    assert slices == [1.0, 1.0, 1.0, 0.5]

    answers = iter([TimeoutError(), TimeoutError(), b"data"])

    def slow(timeout: float | None) -> bytes:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert parallel.read_interruptibly(slow, 30.0, TimeoutError) == b"data"


def test_an_interrupted_worker_stops_waiting_within_a_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's SIGUSR1 (``_interrupted``) lands while a read waits: the read stops at the
    end of its slice with ``Cancelled``, not at its timeout."""
    from hublock.core import parallel

    monkeypatch.setattr(parallel, "_worker", {})
    clock = _Clock()
    monkeypatch.setattr(parallel.time, "monotonic", clock)
    reads = 0

    def silent(timeout: float | None) -> bytes:
        nonlocal reads
        reads += 1
        clock.now += timeout or 0.0
        parallel._interrupted(10, None)  # the signal arrives during the first slice
        raise TimeoutError

    with pytest.raises(parallel.Cancelled):
        parallel.read_interruptibly(silent, 600.0, TimeoutError)
    assert reads == 1 and clock.now == 1.0
