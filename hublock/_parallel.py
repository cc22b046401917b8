"""Run one function over many models on a few threads; report every failure, not just one.

Threads suffice: hashing, zlib and socket reads release the GIL. On Ctrl-C (or SIGTERM) the
workers are told to stop through the ``cancel`` event each receives, and each cleans up its own
staging and lock before the interrupt propagates.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hublock._errors import HublockError, ModelErrors

T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """Raised inside a worker when the user interrupted the run."""


def raise_if_cancelled(cancel: threading.Event) -> None:
    """Called by workers between chunks of work."""
    if cancel.is_set():
        raise Cancelled


def run_parallel(func: Callable[[T, threading.Event], R], items: Sequence[T], jobs: int) -> list[R]:
    """``[func(x, cancel) for x in items]`` on up to ``jobs`` threads. Every item runs even
    when others fail; one failure is raised as it is, several as ``ModelErrors``."""
    if not items:
        return []
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, len(items))))
    try:
        futures = [pool.submit(func, item, cancel) for item in items]
        errors: list[HublockError] = []
        results: list[R] = []
        for future in futures:
            try:
                results.append(future.result())
            except HublockError as exc:
                errors.append(exc)
    except KeyboardInterrupt:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ModelErrors(tuple(errors), len(items)) from errors[0]
    return results


class ReadAhead:
    """Pulls chunks from ``chunks`` on a thread of its own, up to ``depth`` ahead of the reader.

    A stage of the sync pipeline: what the iterator does (socket reads and sha256, or gunzip)
    runs on one core while the reader (untar, file hashing, writes) runs on another; hashlib,
    zlib and file I/O release the GIL. An exception raised by the iterator is raised again to
    the reader, in order, after the chunks before it. ``close`` stops the thread.
    """

    def __init__(self, chunks: Iterator[bytes], depth: int = 2) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = memoryview(b"")
        self._done = False
        self.failure: BaseException | None = None  # what the iterator raised, once the reader met it
        self._thread = threading.Thread(target=self._run, args=(chunks,), daemon=True, name="hublock-stage")
        self._thread.start()

    def _run(self, chunks: Iterator[bytes]) -> None:
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
