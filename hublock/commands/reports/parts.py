"""One report per cache, joined: tensorflow_hub's, with kagglehub's and huggingface_hub's inside."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from hublock.commands.reports.inspect import StatusReport, VerifyReport
    from hublock.commands.reports.sync import SyncReport

    _Part = TypeVar("_Part", SyncReport, VerifyReport, StatusReport)


def joined(parts: list[_Part]) -> _Part:
    """tensorflow_hub's report, with the other caches' reports (kagglehub's, huggingface_hub's)
    inside it, each under its loader's name."""
    main, *rest = parts
    inside: dict[str, Any] = {part.cache.loader: part for part in rest}
    return replace(main, **inside)
