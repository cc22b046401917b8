"""Run one function over many models on a few threads or worker processes; report every
failure, not just one.

Threads suit work that waits (lock resolves, bucket uploads): hashing, zlib and socket reads
release the GIL. Unpacking many models into a local cache is CPU work with a Python part per
file (tar headers, file creation), which one GIL serialises: it runs in one worker process per
core (``run_processes``). On Ctrl-C (or SIGTERM) the workers are told to stop through the
``cancel`` flag each receives, and each cleans up its own staging and lock before the interrupt
propagates.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hublock.core.config import HUBLOCK_PROFILE
from hublock.core.errors import HublockError, ModelErrors
from hublock.core.events import Event, OnEvent, ignore

if TYPE_CHECKING:  # concurrent.futures imports logging (~10 ms): only when threads or workers run
    from concurrent.futures import Executor, Future, ProcessPoolExecutor

T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """Raised inside a worker when the user interrupted the run."""


class CancelFlag(Protocol):
    """A ``threading.Event``, or a ``multiprocessing`` one shared with worker processes."""

    def is_set(self) -> bool: ...


def raise_if_cancelled(cancel: CancelFlag) -> None:
    """Called by workers between chunks of work."""
    if cancel.is_set():
        raise Cancelled


class _Either:
    """Set when either flag is: the caller's cancel, or a sibling part's failure."""

    def __init__(self, *flags: CancelFlag) -> None:
        self.flags = flags

    def is_set(self) -> bool:
        return any(flag.is_set() for flag in self.flags)


def run_parts(
    func: Callable[[T, CancelFlag], R], items: Sequence[T], jobs: int, cancel: CancelFlag
) -> list[R]:
    """The parts of one piece of work (the files of one model), ``[func(x, flag) for x in
    items]`` on up to ``jobs`` threads, in order. Unlike ``run_parallel``, the first failure stops
    the others (their ``flag`` is set; a part not started yet does not start) and is raised as it
    is: one model failed, not several. ``cancel`` (the caller's) stops them too."""
    if len(items) <= 1 or jobs <= 1:
        return [func(item, cancel) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    failed = threading.Event()
    flag = _Either(cancel, failed)

    def part(item: T) -> R:
        raise_if_cancelled(flag)
        try:
            return func(item, flag)
        except Exception:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        futures = [pool.submit(part, item) for item in items]
        first: Exception | None = None
        results: list[R] = []
        try:
            for future in futures:
                try:
                    results.append(future.result())
                except Cancelled:
                    continue  # stopped because another part failed (or the caller cancelled)
                except Exception as exc:
                    first = first or exc
        except KeyboardInterrupt:
            failed.set()  # the parts stop between chunks; the pool is waited for on the way out
            raise
    if first is not None:
        raise first
    if len(results) != len(items):
        raise Cancelled
    return results


def run_parallel(func: Callable[[T, threading.Event], R], items: Sequence[T], jobs: int) -> list[R]:
    """``[func(x, cancel) for x in items]`` on up to ``jobs`` threads. Every item runs even
    when others fail; one failure is raised as it is, several as ``ModelErrors``."""
    if not items:
        return []
    from concurrent.futures import ThreadPoolExecutor

    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(items))))
    return _gather(pool, [pool.submit(func, item, cancel) for item in items], cancel)


def _gather(
    pool: Executor,
    futures: list[Future[R]],
    cancel: Any,
    total: int | None = None,
    interrupt: Callable[[], None] | None = None,
) -> list[R]:
    """Every result, in order; on Ctrl-C the workers are told to stop (``cancel``, then
    ``interrupt()``) and waited for. ``total``: how many models the futures hold (one each,
    unless an item is a batch of several)."""
    from concurrent.futures import BrokenExecutor

    errors: list[HublockError] = []
    results: list[R] = []
    try:
        for future in futures:
            try:
                results.append(future.result())
            except ModelErrors as exc:  # a batch of several models, some of which failed
                errors.extend(exc.errors)
            except HublockError as exc:
                errors.append(exc)
    except KeyboardInterrupt:
        cancel.set()
        _worker["interrupted"] = True  # this process's own reads (threads) stop waiting too
        try:
            if interrupt is not None:
                interrupt()
            pool.shutdown(wait=True, cancel_futures=True)
        finally:
            _worker.pop("interrupted", None)
        raise
    except BrokenExecutor as exc:
        raise HublockError(f"a worker process died ({exc}); run the command again") from exc
    finally:
        pool.shutdown(wait=True)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ModelErrors(tuple(errors), total or len(futures)) from errors[0]
    return results


_worker: dict[str, Any] = {}  # in a worker process: its cancel flag and its way back to the parent


@contextlib.contextmanager
def profiled(command: str) -> Iterator[None]:
    """With HUBLOCK_PROFILE set: append one JSON line of the block's wall and CPU seconds (this
    process's, and its worker processes') to that file. The work alone, without Python's start-up
    and imports: what benchmarks compare with a pipeline measured the same way."""
    path = HUBLOCK_PROFILE.get()
    if not path:
        yield
        return
    import json

    wall, before = time.perf_counter(), os.times()
    yield
    after = os.times()
    record = {
        "command": command,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": (after.user - before.user) + (after.system - before.system),
        "workers_cpu_s": (after.children_user - before.children_user)
        + (after.children_system - before.children_system),
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def processes_pay_off(jobs: int, items: int) -> bool:
    """Whether ``run_processes`` is worth its fork, and safe: several items, several jobs and cores, Linux
    (macOS's system libraries do not survive a fork: Python itself spawns there), and no
    TensorFlow in this process (its thread pools do not survive a fork either; a notebook that
    calls ``hublock.sync()`` after importing it gets threads)."""
    import sys

    return (
        worker_count(jobs) > 1
        and items > 1
        and sys.platform.startswith("linux")
        and "tensorflow" not in sys.modules
    )


def usable_cores() -> int:
    """The cores this process may run on (``taskset``, a container's CPU set), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(jobs: int) -> int:
    """How many worker processes ``run_processes`` starts for ``jobs``: one per usable core at most."""
    return max(1, min(jobs, usable_cores()))


def run_processes(
    func: Callable[[T, CancelFlag, OnEvent], R],
    items: Sequence[T],
    jobs: int,
    on_event: OnEvent,
    models: int | None = None,
) -> list[R]:
    """``run_parallel``, in up to ``jobs`` worker processes (one per core at most) forked from
    this one: no GIL shared between models, so every core unpacks. ``func`` gets a cancel flag
    and a callback whose events are passed to ``on_event`` here, in this process. Workers ignore
    Ctrl-C (this process tells them to stop, and they clean up), and die with this process
    (kill -9 included). An item may be a batch of several models (``models`` in all): ``func``
    then raises ``ModelErrors`` for those that failed, and they are reported one by one."""
    if not items:
        return []
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    cancel = context.Event()
    events, relay = None, None  # nobody listens: nothing is sent
    if on_event is not ignore:
        events = context.SimpleQueue()
        relay = threading.Thread(target=_relay, args=(events, on_event), daemon=True, name="hublock-events")
        relay.start()
    pool = ProcessPoolExecutor(
        max_workers=min(worker_count(jobs), len(items)),  # CPU work: a core each
        mp_context=context,
        initializer=_start_worker,
        initargs=(cancel, events, os.getpid(), _libc()),
    )
    try:
        # The first submit forks every worker. Objects frozen then are left alone by the
        # workers' garbage collector: it would otherwise walk (and copy, page by page) all that
        # this process imported, over and over, while the workers allocate buffers.
        gc.freeze()
        try:
            futures = [pool.submit(_call, func, items[0])]
        finally:
            gc.unfreeze()
        futures += [pool.submit(_call, func, item) for item in items[1:]]
        return _gather(pool, futures, cancel, models, lambda: _interrupt_workers(pool))
    finally:
        if events is not None and relay is not None:
            events.put(None)
            relay.join()


def _interrupt_workers(pool: ProcessPoolExecutor) -> None:
    """SIGUSR1 to each worker, once ``cancel`` is set: one waiting on a silent server stops
    within a second (``read_interruptibly``), not when the read times out. ``_processes`` is the
    executor's own record of its workers (it has no public one)."""
    for pid in list(getattr(pool, "_processes", None) or {}):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGUSR1)


def _interrupted(signum: int, frame: object) -> None:
    """A worker's SIGUSR1: the parent was interrupted (and has set ``cancel``). Only noted: a
    read waiting on the network sees it within ``INTERRUPT_POLL`` (``read_interruptibly``); the
    work between chunks stops at the next ``raise_if_cancelled``, as before. (A handler that
    raised could do so inside a lock or a cleanup.)"""
    _worker["interrupted"] = True


INTERRUPT_POLL = 1.0
"""Seconds a network read waits at a time before it looks whether the run was interrupted."""


def read_interruptibly(
    read: Callable[[float | None], bytes], timeout: float | None, timed_out: type[Exception]
) -> bytes:
    """``read(timeout)`` (one socket read) in slices of at most ``INTERRUPT_POLL`` seconds: an
    interrupted run stops waiting on a silent server within a second, not when the read times
    out (HUBLOCK_TIMEOUT, 30 s). A slice that times out (``timed_out``) leaves the socket as it
    was and is tried again, until ``timeout`` has passed in all."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if _worker.get("interrupted"):
            raise Cancelled
        left = INTERRUPT_POLL if deadline is None else deadline - time.monotonic()
        try:
            return read(max(min(left, INTERRUPT_POLL), 0.001))
        except timed_out:
            if deadline is not None and time.monotonic() >= deadline:
                raise


def _relay(events: Any, on_event: OnEvent) -> None:
    while (batch := events.get()) is not None:
        for event in batch:
            on_event(event)


def _libc() -> Any:
    """The C library, to call ``prctl`` and ``mallopt`` in the workers; loaded here, before the
    fork, so that no worker pays for importing ctypes. None where there is none."""
    try:
        import ctypes

        return ctypes.CDLL(None)
    except (OSError, ImportError):
        return None


M_MMAP_THRESHOLD = -3  # mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1


def _start_worker(cancel: CancelFlag, events: Any, parent: int, libc: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, and sets ``cancel``
    signal.signal(signal.SIGUSR1, _interrupted)  # ... then wakes a worker blocked on a read
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(AttributeError, TypeError):
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent
        # Keep the pipeline's ~1 MiB buffers on the heap: as fresh mappings (glibc's default for
        # blocks this large) every buffer costs 256 page faults, a sizeable share of the CPU
        # that many small models take. The worker holds a few of them at a time.
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    _worker.update(cancel=cancel, events=events)


def _call(func: Callable[[T, CancelFlag, OnEvent], R], item: T) -> R:
    if _worker["events"] is None:
        return func(item, _worker["cancel"], ignore)
    send = _Coalesced(_worker["events"].put)
    try:
        return func(item, _worker["cancel"], send)
    finally:
        send.flush()


class _Coalesced:
    """A worker's events, sent to the parent in one batch at most every 0.1 s (and when its
    item is done), its ``bytes`` events summed: a pipe write (pickle, a lock shared by every
    worker, a syscall, the relay thread, a redraw) per event of many small models costs more
    than the progress display is worth. Order is kept."""

    def __init__(self, send: Callable[[list[Event]], None]) -> None:
        self._send = send
        self._batch: list[Event] = []
        self._bytes: dict[str, int] = {}  # model -> bytes since its last event in the batch
        self._sent = time.monotonic()

    def __call__(self, event: Event) -> None:
        if event.kind == "bytes":
            self._bytes[event.model] = self._bytes.get(event.model, 0) + event.amount
        else:
            self._add_bytes(event.model)
            self._batch.append(event)
        if time.monotonic() - self._sent >= 0.1:
            self.flush()

    def _add_bytes(self, model: str) -> None:
        amount = self._bytes.pop(model, 0)
        if amount:
            self._batch.append(Event(model, "bytes", amount=amount))

    def flush(self) -> None:
        for model in list(self._bytes):
            self._add_bytes(model)
        if self._batch:
            self._send(self._batch)
            self._batch = []
        self._sent = time.monotonic()


class ReadAhead:
    """Pulls chunks from ``chunks`` on a thread of its own, up to ``depth`` ahead of the reader.

    A stage of the sync pipeline: what the iterator does (socket reads and sha256, or gunzip)
    runs on one core while the reader (untar, file hashing, writes) runs on another; hashlib,
    zlib and file I/O release the GIL. An exception raised by the iterator is raised again to
    the reader, in order, after the chunks before it. ``close`` stops the thread.
    ``yielding``: the thread runs at a lower priority (see ``_lower_priority``).
    """

    def __init__(self, chunks: Iterator[bytes], depth: int = 2, *, yielding: bool = False) -> None:
        self._yielding = yielding
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = memoryview(b"")
        self._done = False
        self.failure: BaseException | None = None  # what the iterator raised, once the reader met it
        self._thread = threading.Thread(target=self._run, args=(chunks,), daemon=True, name="hublock-stage")
        self._thread.start()

    def _run(self, chunks: Iterator[bytes]) -> None:
        if self._yielding:
            _lower_priority()
        try:
            for chunk in chunks:
                if chunk and not self._put(chunk):
                    return
            self._put(b"")
        except BaseException as exc:  # handed to the reader, which decides
            self._put(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _next(self) -> bytes:
        while True:
            try:
                item = self._queue.get(timeout=0.05)
                break
            except queue.Empty:
                if self._stop.is_set():
                    raise Cancelled from None  # closed while another stage still reads from it
        if isinstance(item, BaseException):
            self._done = True
            self.failure = item
            raise item
        if not item:
            self._done = True
        return item

    def __iter__(self) -> Iterator[bytes]:
        if self._buf:
            rest, self._buf = bytes(self._buf), memoryview(b"")
            yield rest
        while not self._done:
            chunk = self._next()
            if chunk:
                yield chunk

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            return b"".join(self)
        parts = []
        while n > 0:
            if not self._buf:
                if self._done:
                    break
                self._buf = memoryview(self._next())
                continue
            part = self._buf[:n]
            self._buf = self._buf[len(part) :]
            parts.append(part)
            n -= len(part)
        return b"".join(parts)

    def drain(self) -> None:
        """Read to the end, discarding: the stages before still see (and hash) every byte."""
        for _ in self:
            pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


YIELDING_NICE = 10


def _lower_priority() -> None:
    """Lower this thread's priority (Linux: each thread has its own nice value; raising it needs
    no privilege, and the thread ends with the stage). A reading stage yields to the inflate stage
    after it, the one stage of a huge archive no other core can share: when the three stages
    compete for two cores, the scheduler otherwise gives each two thirds of one, and the
    inflate, the critical path, waits for the others."""
    with contextlib.suppress(AttributeError, OSError):
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + YIELDING_NICE)


class Inline(ReadAhead):
    """``ReadAhead``'s reader interface on the caller's own thread. For a small model, handing
    chunks between threads costs more than overlapping the stages saves (each hand-off may wait
    out the GIL's switch interval)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = memoryview(b"")
        self._done = False
        self.failure = None

    def _next(self) -> bytes:
        try:
            for item in self._chunks:
                if item:
                    return item
        except BaseException as exc:
            self._done = True
            self.failure = exc
            raise
        self._done = True
        return b""

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
