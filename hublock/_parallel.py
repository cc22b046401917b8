"""Run one function over many models on a few threads; report every failure, not just one.

Threads suffice: hashing, zlib and socket reads release the GIL. On Ctrl-C (or SIGTERM) the
workers are told to stop through the ``cancel`` event each receives, and each cleans up its own
staging and lock before the interrupt propagates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hublock._errors import HublockError

T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """Raised inside a worker when the user interrupted the run."""


def raise_if_cancelled(cancel: threading.Event) -> None:
    """Called by workers between chunks of work."""
    if cancel.is_set():
        raise Cancelled


def run_parallel(func: Callable[[T, threading.Event], R], items: Sequence[T], jobs: int) -> list[R]:
    """``[func(x, cancel) for x in items]`` on up to ``jobs`` threads. If any fail, raise one
    error of the first failure's type whose message lists every failure."""
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
    if errors:
        if len(errors) == 1:
            raise errors[0]
        message = f"{len(errors)} of {len(items)} models failed:\n  " + "\n  ".join(
            str(e).replace("\n", "\n    ") for e in errors
        )
        raise type(errors[0])(message) from errors[0]
    return results
