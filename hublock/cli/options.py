"""The command line's shared state (``Context``) and every option used by more than one command,
each defined once."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hublock.cli.output import Report, configure_logging, echo, event_printer, progress_bars
from hublock.core import OnEvent

if TYPE_CHECKING:
    from hublock.caches import CacheChoice
    from hublock.commands import Project

ALL = ":all:"
_F = TypeVar("_F", bound=Callable[..., Any])

EPILOG = """\b
Exit codes: 0 ok, 1 not in sync, 2 bad input or usage, 3 fetch or integrity
failure, 4 cache not writable, 5 signature refused ([[trust]]), 130
interrupted, 143 terminated.
"""


class Context:
    """What the options said, shared by the group and its commands (and read by ``main``)."""

    def __init__(self) -> None:
        self.manifest = Path("hub.toml")
        self.lockfile: Path | None = None
        self.quiet = False
        self.verbose = False
        self.json = False
        self.no_progress = False

    def say(self, message: str) -> None:
        if not self.quiet and not self.json:
            echo(message)

    def project(
        self, cache: str | None = None, kaggle_cache: str | None = None, hf_cache: str | None = None
    ) -> Project:
        """The project, for commands that only need to name its lock or cache (env, run)."""
        from hublock.commands import Project

        return Project.load(
            self.manifest, self.lockfile, cache=cache, kaggle_cache=kaggle_cache, hf_cache=hf_cache
        )

    def result(self, report: Report) -> None:
        """The one JSON document of a --format json run (nothing otherwise)."""
        if self.json:
            echo(json.dumps(report.to_dict(), indent=2))

    @contextmanager
    def reporter(self) -> Iterator[OnEvent]:
        """Live per-model progress bars on a terminal; plain lines otherwise."""
        if self.quiet or self.no_progress or not sys.stderr.isatty():
            yield event_printer(self.quiet)
            return
        with progress_bars() as on_event:
            yield on_event

    def say_cache(self, choice: CacheChoice) -> None:
        from hublock.caches import LOADER_CACHES

        self.say(f"{LOADER_CACHES[choice.loader].label}: {choice.location} (from {choice.reason})")

    def hint_variable(self, choice: CacheChoice) -> None:
        """The loader finds a cache hublock filled elsewhere than its default only if told."""
        from hublock.caches import LOADER_CACHES

        named = LOADER_CACHES[choice.loader]
        variable = named.variable
        if choice.reason not in (variable.name, named.default) and variable.get() != choice.location:
            self.say(f"{named.reader} reads {variable.name}; use: export {variable.name}={choice.location}")


def parse_mirrors(values: tuple[str, ...]) -> dict[str, str]:
    mirrors = {}
    for value in values:
        prefix, sep, target = value.partition("=")
        if not sep or not prefix or not target:
            raise click.BadParameter(f"{value!r}: expected PREFIX=URL", param_hint="--mirror")
        mirrors[prefix] = target
    return mirrors


def _sets(attr: str) -> Any:
    """The callback of a global option: it sets the same attribute of the ``Context`` whether it is
    given before the subcommand or after it."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value not in (None, False):
            setattr(ctx.ensure_object(Context), attr, value)
            if attr == "verbose":
                configure_logging(True)
        return value

    return callback


# The options every command takes, before or after its name (`hublock -q sync`, `hublock sync -q`):
# declared once here, for the group and for each command.
_GLOBAL_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("-f", "--manifest"),
        {"type": click.Path(dir_okay=False, path_type=Path), "help": "The manifest [default: hub.toml]."},
    ),
    (
        ("--lockfile",),
        {
            "type": click.Path(dir_okay=False, path_type=Path),
            "help": "The lock file [default: hub.lock beside the manifest].",
        },
    ),
    (("-q", "--quiet"), {"is_flag": True, "help": "Print nothing but errors."}),
    (("-v", "--verbose"), {"is_flag": True, "help": "Log what happens, for debugging."}),
    (("--no-progress",), {"is_flag": True, "help": "Plain one-line-per-event output, even on a terminal."}),
]


def common_options(func: _F) -> _F:
    """-f, --lockfile, -q, -v and --no-progress, on the group and on every command."""
    for decls, attrs in reversed(_GLOBAL_OPTIONS):
        attr = decls[-1].lstrip("-").replace("-", "_")
        func = click.option(*decls, expose_value=False, callback=_sets(attr), **attrs)(func)
    return func


def format_option(func: Any) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
        ctx.ensure_object(Context).json = value == "json"
        return value

    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        callback=callback,
        help="json: exactly one JSON document on stdout, also on failure "
        "(its JSON Schema: hublock/schemas/COMMAND.json).",
    )(func)


mirror_option = click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="PREFIX=URL",
    help="Fetch handles starting with PREFIX from URL (a base URL or a directory of "
    "<path>.tar.gz archives) instead; repeatable; overrides [mirrors] in hub.toml.",
)
offline_option = click.option(
    "--offline", is_flag=True, help="No network: use only the download cache and local mirrors."
)


def bundles_option(help: str) -> Callable[[_F], _F]:
    """``--from BUNDLE`` (repeatable): ``lock --check`` and ``sync`` read bundles."""
    return click.option(
        "--from",
        "bundles",
        multiple=True,
        metavar="BUNDLE",
        type=click.Path(exists=True, path_type=Path),
        help=help,
    )


jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Models processed at once: into local caches in worker processes (one per core at "
    "most, so that every core unpacks), else on threads. 1: one at a time, in this process.",
)


kaggle_cache_option = click.option(
    "--kaggle-cache",
    metavar="DIR",
    help="kagglehub's cache, for models with a kagglehub handle [default: $KAGGLEHUB_CACHE, then "
    "[cache] kaggle in hub.toml, then kagglehub's default ~/.cache/kagglehub].",
)


hf_cache_option = click.option(
    "--hf-cache",
    metavar="DIR",
    help="huggingface_hub's cache, for hf:// models [default: $HF_HUB_CACHE, then $HF_HOME/hub, "
    "then [cache] huggingface in hub.toml, then huggingface_hub's default ~/.cache/huggingface/hub].",
)


only_option = click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Only the archives of these models (repeatable) [default: every locked model].",
)


cache_option = click.option(
    "--cache",
    metavar="DIR",
    help="The tensorflow_hub cache [default: $TFHUB_CACHE_DIR, then [cache] dir in hub.toml, "
    "then tensorflow_hub's default <tmp>/tfhub_modules].",
)
