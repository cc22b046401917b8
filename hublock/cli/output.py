"""Everything the CLI prints goes through here: secrets masked, sizes and counts in words, the
progress of long work (live bars on a terminal, plain lines in CI logs), and the log setup."""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import click

from hublock.core import Event, OnEvent, ignore, redact

_R = TypeVar("_R")


class Report(Protocol):
    """What every API call returns: data that serialises itself."""

    def to_dict(self) -> dict[str, Any]: ...


def echo(message: str, err: bool = False) -> None:
    """The one way the CLI prints: secrets in URLs (userinfo, signatures, tokens) never show."""
    click.echo(redact(message), err=err)


def plural_models(n: int) -> str:
    return f"{n} model" if n == 1 else f"{n} models"


def human_size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(name)s: %(message)s", force=True
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Redacting())  # httpx logs every URL it requests, signed ones included
    if not verbose:
        # storage clients log every retry with a traceback; hublock reports the failure once
        for noisy in ("gcsfs", "fsspec", "s3fs", "aiobotocore"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)


class _Redacting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def shown(parts: tuple[_R, ...], models: list[int]) -> tuple[_R, ...]:
    """The caches worth a line (``models``: how many each holds): tensorflow_hub's is left out
    when only kagglehub's has models."""
    if len(parts) > 1 and not models[0]:
        return parts[1:]
    return parts


def quote_sh(value: str) -> str:
    return shlex.quote(value)


@contextmanager
def progress_bars() -> Iterator[OnEvent]:
    """Live per-model progress bars (bytes, rate, ETA), for a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    progress = Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True))
    tasks: dict[str, Any] = {}

    def on_event(event: Event) -> None:
        if event.kind == "start":
            tasks[event.model] = progress.add_task(
                redact(f"{event.model}: {event.message}"), total=event.total
            )
        elif event.kind == "bytes" and event.model in tasks:
            progress.advance(tasks[event.model], event.amount)
        elif event.kind == "done" and event.model in tasks:
            task = tasks[event.model]
            total = progress.tasks[task].total
            progress.update(task, description=redact(f"{event.model}: {event.message}"), completed=total)
        elif event.kind == "done":
            progress.console.print(redact(f"{event.model}: {event.message}"), highlight=False)

    with progress:
        yield on_event


def event_printer(quiet: bool) -> OnEvent:
    """One line per event on stderr, readable in CI logs (no escapes, no carriage returns):
    start, every quarter of a download of known size (else every 64 MB), done."""
    if quiet:
        return ignore
    received: dict[str, tuple[int, int | None]] = {}
    guard = threading.Lock()

    def on_event(event: Event) -> None:
        if event.kind == "start":
            received[event.model] = (0, event.total)
            size = f" ({human_size(event.total)})" if event.total else ""
            echo(f"{event.model}: {event.message}{size}", err=True)
        elif event.kind == "bytes":
            with guard:
                before, total = received.get(event.model, (0, None))
                now = before + event.amount
                received[event.model] = (now, total)
            step = total // 4 if total and total >= 4 << 20 else 64 << 20
            if now // step > before // step:
                of = f" of {human_size(total)}" if total else ""
                echo(f"{event.model}: {human_size(now)}{of}", err=True)
        else:
            echo(f"{event.model}: {event.message}", err=True)

    return on_event
