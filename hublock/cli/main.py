"""The command line: parses options, calls the Python API, prints, exits. Nothing else.

Exit codes: 0 success; 1 not in sync; 2 bad input or usage; 3 fetch or integrity failure (a
damaged bundle too); 4 the cache cannot be written; 130 interrupted (Ctrl-C); 143 terminated.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

import click

from hublock.core import config
from hublock.core.errors import HublockError
from hublock.core.events import Event, OnEvent, ignore
from hublock.core.redact import redact

if TYPE_CHECKING:
    from hublock.caches.base import CacheChoice
    from hublock.commands.project import Project

ALL = ":all:"
_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., Any])


class Report(Protocol):
    """What every API call returns: data that serialises itself."""

    def to_dict(self) -> dict[str, Any]: ...


EPILOG = """\b
Exit codes: 0 ok, 1 not in sync, 2 bad input or usage, 3 fetch or integrity
failure, 4 cache not writable, 130 interrupted, 143 terminated.
"""


class Context:
    """What the options said, shared by the group and its commands (and read by ``main``)."""

    def __init__(
        self, manifest: Path = Path("hub.toml"), lockfile: Path | None = None, quiet: bool = False
    ) -> None:
        self.manifest = manifest
        self.lockfile = lockfile
        self.quiet = quiet
        self.json = False
        self.no_progress = False

    def say(self, message: str) -> None:
        if not self.quiet and not self.json:
            _echo(message)

    def project(self, cache: str | None = None, kaggle_cache: str | None = None) -> Project:
        """The project, for commands that only need to name its lock or cache (env, run)."""
        from hublock.commands.project import Project

        return Project.load(self.manifest, self.lockfile, cache=cache, kaggle_cache=kaggle_cache)

    def result(self, report: Report) -> None:
        """The one JSON document of a --format json run (nothing otherwise)."""
        if self.json:
            _echo(json.dumps(report.to_dict(), indent=2))

    @contextmanager
    def reporter(self) -> Iterator[OnEvent]:
        """Live per-model progress bars (bytes, rate, ETA) on a terminal; plain lines otherwise."""
        if self.quiet or self.no_progress or not sys.stderr.isatty():
            yield self.event_printer()
            return
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

    def event_printer(self) -> OnEvent:
        """One line per event on stderr, readable in CI logs (no escapes, no carriage returns):
        start, every quarter of a download of known size (else every 64 MB), done."""
        if self.quiet:
            return ignore
        received: dict[str, tuple[int, int | None]] = {}
        guard = threading.Lock()

        def on_event(event: Event) -> None:
            if event.kind == "start":
                received[event.model] = (0, event.total)
                size = f" ({_size(event.total)})" if event.total else ""
                _echo(f"{event.model}: {event.message}{size}", err=True)
            elif event.kind == "bytes":
                with guard:
                    before, total = received.get(event.model, (0, None))
                    now = before + event.amount
                    received[event.model] = (now, total)
                step = total // 4 if total and total >= 4 << 20 else 64 << 20
                if now // step > before // step:
                    of = f" of {_size(total)}" if total else ""
                    _echo(f"{event.model}: {_size(now)}{of}", err=True)
            else:
                _echo(f"{event.model}: {event.message}", err=True)

        return on_event


def _echo(message: str, err: bool = False) -> None:
    """The one way the CLI prints: secrets in URLs (userinfo, signatures, tokens) never show."""
    click.echo(redact(message), err=err)


def _models(n: int) -> str:
    return f"{n} model" if n == 1 else f"{n} models"


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


def _mirrors(values: tuple[str, ...]) -> dict[str, str]:
    mirrors = {}
    for value in values:
        prefix, sep, target = value.partition("=")
        if not sep or not prefix or not target:
            raise click.BadParameter(f"{value!r}: expected PREFIX=URL", param_hint="--mirror")
        mirrors[prefix] = target
    return mirrors


def _configure_logging(verbose: bool) -> None:
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


def _late(attr: str) -> Any:
    """A subcommand option that sets what the same global option sets (so both places work)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value not in (None, False):
            setattr(ctx.ensure_object(Context), attr, value)
            if attr == "verbose":
                _configure_logging(True)
        return value

    return callback


def common_options(func: Any) -> Any:
    """-f, --lockfile, -q, -v and --no-progress, accepted after the subcommand too."""
    func = click.option(
        "--no-progress",
        is_flag=True,
        expose_value=False,
        callback=_late("no_progress"),
        help="Plain one-line-per-event output, even on a terminal.",
    )(func)
    func = click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        callback=_late("verbose"),
        help="Log what happens.",
    )(func)
    func = click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_late("quiet"),
        help="Print nothing but errors.",
    )(func)
    func = click.option(
        "--lockfile",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_late("lockfile"),
        help="The lock file.",
    )(func)
    func = click.option(
        "-f",
        "--manifest",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_late("manifest"),
        help="The manifest.",
    )(func)
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


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-f",
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("hub.toml"),
    show_default=True,
    help="The manifest listing the models.",
)
@click.option(
    "--lockfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The lock file [default: hub.lock beside the manifest].",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, for debugging.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _, value: _version(ctx) if value else None,
    help="Show the version (and which gunzip is in use) and exit.",
)
@click.pass_context
def cli(ctx: click.Context, manifest: Path, lockfile: Path | None, quiet: bool, verbose: bool) -> None:
    """Lock TF Hub and Kaggle models and sync them into tensorflow_hub's cache.

    \b
    hublock lock    resolve hub.toml, download each model once, write hub.lock
    hublock sync    fill the cache so hub.load(handle) works offline
    hublock bundle  one file that carries the locked models across an air gap
    hublock audit   what the hosts serve now, against hub.lock
    """
    _configure_logging(verbose)
    obj = ctx.ensure_object(Context)
    obj.manifest, obj.lockfile, obj.quiet = manifest, lockfile, quiet


@cli.command("lock", epilog=EPILOG)
@common_options
@click.option(
    "--check",
    is_flag=True,
    help="Only check that hub.lock matches hub.toml (no network, no writes); exit 1 if not.",
)
@bundles_option(
    "With --check: also check that these bundles (files, or unpacked directories) were made "
    "from hub.lock and hold every locked archive with its digest (each read once). Repeatable."
)
@click.option(
    "--upgrade",
    multiple=True,
    is_flag=False,
    flag_value=ALL,
    metavar="[NAME]",
    help="Re-resolve every model, or only NAME (repeatable), even if hub.toml did not change.",
)
@offline_option
@mirror_option
@jobs_option
@format_option
@click.pass_obj
def lock_command(
    obj: Context,
    check: bool,
    bundles: tuple[Path, ...],
    upgrade: tuple[str, ...],
    offline: bool,
    mirrors: tuple[str, ...],
    jobs: int,
    fmt: str,
) -> None:
    """Resolve hub.toml and write hub.lock.

    Each changed entry is downloaded once (into the download cache, so the next
    sync fetches nothing) and recorded with its stable URL, size, archive
    sha256 and tree hash. Entries whose hub.toml line did not change are kept
    as they are, with no network I/O, unless --upgrade names them.
    """
    from hublock.commands import lock as _locker
    from hublock.commands.project import default_lockfile

    if bundles and not check:
        raise click.UsageError("--from goes with --check (to fill caches from a bundle: hublock sync --from)")
    if check and bundles:
        from hublock.commands import airgap as _airgap

        with obj.reporter() as on_event:
            checked = _airgap.check_with_bundles(
                obj.manifest, obj.lockfile, bundles=bundles, on_event=on_event
            )
        obj.say(
            f"{obj.lockfile or default_lockfile(obj.manifest)} is up to date, and "
            f"{', '.join(map(str, bundles))} hold all {len(checked.archives)} of its archives "
            f"({_size(checked.size)}, checked)"
        )
        return
    if check:
        _locker.check(obj.manifest, obj.lockfile)
        obj.say(f"{obj.lockfile or default_lockfile(obj.manifest)} is up to date")
        return
    upgrades: bool | set[str] = True if ALL in upgrade else set(upgrade)
    started = time.monotonic()
    with obj.reporter() as on_event:
        result = _locker.lock(
            obj.manifest,
            obj.lockfile,
            upgrade=upgrades,
            offline=offline,
            mirrors=_mirrors(mirrors),
            jobs=jobs,
            on_event=on_event,
        )
    for warning in result.warnings:
        _echo(f"warning: {warning}", err=True)
    if obj.json:
        obj.result(result)
        return
    for name in (*result.changed, *result.removed):
        obj.say(result.diff(name))
    state = "wrote" if result.written else "unchanged:"
    obj.say(
        f"{state} {result.path} ({_models(len(result.lockfile.models))}, "
        f"{len(result.resolved)} resolved, {time.monotonic() - started:.2f}s)"
    )


kaggle_cache_option = click.option(
    "--kaggle-cache",
    metavar="DIR",
    help="kagglehub's cache, for models with a kagglehub handle [default: $KAGGLEHUB_CACHE, then "
    "[cache] kaggle in hub.toml, then kagglehub's default ~/.cache/kagglehub].",
)


@cli.command("sync", epilog=EPILOG)
@common_options
@click.option(
    "--cache",
    metavar="DIR",
    help="The tensorflow_hub cache to fill [default: $TFHUB_CACHE_DIR, then [cache] dir in "
    "hub.toml, then tensorflow_hub's default <tmp>/tfhub_modules].",
)
@click.option("--dry-run", is_flag=True, help="Print what would be done; exit 1 if anything would change.")
@click.option(
    "--no-local-staging",
    is_flag=True,
    help="Bucket caches: extract straight into the bucket's staging prefix instead of a local "
    "directory (for hosts with little disk).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace a model even when another project using the same cache verified other content "
    "under its handle (that project then loads this content).",
)
@kaggle_cache_option
@bundles_option(
    "Take the archives from this bundle (`hublock bundle`; a file, or an unpacked directory) "
    "with no network; repeatable. A bundle made from another hub.lock is refused."
)
@offline_option
@mirror_option
@jobs_option
@format_option
@click.pass_obj
def sync_command(
    obj: Context,
    cache: str | None,
    kaggle_cache: str | None,
    dry_run: bool,
    no_local_staging: bool,
    force: bool,
    bundles: tuple[Path, ...],
    offline: bool,
    mirrors: tuple[str, ...],
    jobs: int,
    fmt: str,
) -> None:
    """Fill the caches so that hub.load(handle), kagglehub and keras_hub load exactly
    what hub.lock says.

    For each locked model not already present and verified: fetch it (or take
    it from the download cache), check its archive sha256, extract it safely,
    check its tree hash, and only then publish <cache>/<sha1(handle)>/ with one
    rename. Models with a kagglehub handle go to kagglehub's cache too:
    models/<owner>/<model>/<framework>/<variation>/<version>/, its completion
    markers written after the files. A model already present with a matching
    stamp costs no network I/O.
    """
    from hublock.commands import sync as _sync

    started = time.monotonic()
    with obj.reporter() as on_event:
        report = _sync.sync(
            obj.manifest,
            obj.lockfile,
            cache=cache,
            kaggle_cache=kaggle_cache,
            dry_run=dry_run,
            offline=offline,
            mirrors=_mirrors(mirrors),
            jobs=jobs,
            on_event=on_event,
            local_staging=not no_local_staging,
            force=force,
            bundles=bundles,
        )
    parts = _shown(report.parts, [len(part.steps) for part in report.parts])
    pending = sum(len(part.pending) for part in parts)
    for part in parts:
        for warning in part.warnings:
            _echo(f"warning: {warning}", err=True)
        for name, project in part.taken:
            _echo(f"warning: {name}: replaced the copy {project} had verified (--force)", err=True)
    if obj.json:
        obj.result(report)
        if dry_run and pending:
            sys.exit(1)
        return
    for part in parts:
        _say_cache(obj, part.cache)
        if dry_run:
            for step in part.steps:
                reason = f" ({step.reason})" if step.reason else ""
                obj.say(f"  {step.action.value:8} {step.model.name}{reason}")
            if part.pending:
                obj.say(f"{len(part.pending)} of {len(part.steps)} models would change")
            else:
                obj.say(f"all {len(part.steps)} models are present and verified")
            continue
        counts: dict[str, int] = {}
        for result in part.results:
            counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        if not part.results:
            obj.say("hub.lock lists no models: nothing to sync")
        else:
            obj.say(f"{_models(len(part.results))}: {summary} ({time.monotonic() - started:.2f}s)")
        _hint_variable(obj, part.cache)
    if dry_run and pending:
        sys.exit(1)


def _shown(parts: tuple[_R, ...], models: list[int]) -> tuple[_R, ...]:
    """The caches worth a line (``models``: how many each holds): tensorflow_hub's is left out
    when only kagglehub's has models."""
    if len(parts) > 1 and not models[0]:
        return parts[1:]
    return parts


def _say_cache(obj: Context, choice: CacheChoice) -> None:
    label = "kagglehub cache" if choice.loader == "kagglehub" else "cache"
    obj.say(f"{label}: {choice.location} (from {choice.reason})")


def _hint_variable(obj: Context, choice: CacheChoice) -> None:
    """The loader finds a cache hublock filled elsewhere than its default only if told."""
    if choice.loader == "kagglehub":
        variable, reader, default = config.KAGGLEHUB_CACHE, "kagglehub", "kagglehub's default"
    else:
        variable, reader, default = config.TFHUB_CACHE_DIR, "hub.load", "tensorflow_hub's default"
    if choice.reason not in (variable.name, default) and variable.get() != choice.location:
        obj.say(f"{reader} reads {variable.name}; use: export {variable.name}={choice.location}")


only_option = click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Only the archives of these models (repeatable) [default: every locked model].",
)


@cli.command("bundle", epilog=EPILOG)
@common_options
@click.argument("out", type=click.Path(path_type=Path))
@only_option
@click.option(
    "--verify",
    "verify_only",
    is_flag=True,
    help="Check the bundle OUT instead of writing one: its index, its hub.lock, every archive's "
    "digest and size, in one read, nothing extracted. Exit 3 if it is damaged.",
)
@offline_option
@mirror_option
@jobs_option
@format_option
@click.pass_obj
def bundle_command(
    obj: Context,
    out: Path,
    only: tuple[str, ...],
    verify_only: bool,
    offline: bool,
    mirrors: tuple[str, ...],
    jobs: int,
    fmt: str,
) -> None:
    """Write one file that carries hub.lock's models across an air gap.

    \b
    OUT is a plain tar (`tar tf OUT` lists it):
      index.json     each archive's sha256, size and models
      hub.lock       the lock (and hub.toml, when there is one)
      sha256/<hex>   every locked archive, named by its digest

    Archives come from the download cache; what it lacks is downloaded first
    (checked against hub.lock). OUT is written beside itself and renamed into
    place, so it is whole or absent. On the other side:
    `hublock sync --from OUT` fills the caches with no network.
    """
    from hublock.commands import airgap as _airgap

    with obj.reporter() as on_event:
        if verify_only:
            report = _airgap.verify_bundle(out, on_event=on_event)
        else:
            report = _airgap.bundle(
                out,
                obj.manifest,
                obj.lockfile,
                only=only,
                offline=offline,
                mirrors=_mirrors(mirrors),
                jobs=jobs,
                on_event=on_event,
            )
    obj.result(report)
    _warn_no_archive(report.skipped, "bundle")
    what = "checked" if verify_only else "wrote"
    fetched = f", {len(report.fetched)} downloaded first" if report.fetched else ""
    obj.say(
        f"{what} {out}: {len(report.archives)} archives, {_size(report.size)}{fetched} "
        f"({report.seconds:.2f}s)"
    )


def _warn_no_archive(names: tuple[str, ...], action: str) -> None:
    for name in names:
        _echo(f"warning: {name}: UNCOMPRESSED (read from gs:// in place), no archive to {action}", err=True)


@cli.command("mirror", epilog=EPILOG, short_help="Export the locked archives by digest: DEST/sha256/<hex>.")
@common_options
@click.argument("dest")
@only_option
@offline_option
@mirror_option
@jobs_option
@format_option
@click.pass_obj
def mirror_command(
    obj: Context,
    dest: str,
    only: tuple[str, ...],
    offline: bool,
    mirrors: tuple[str, ...],
    jobs: int,
    fmt: str,
) -> None:
    """Export the locked archives to a content-addressed mirror: DEST/sha256/<hex>.

    DEST is a directory or any fsspec URL (gs://bucket/hub, s3://...). Serve it
    with any static file server, then declare it in hub.toml; every model is
    fetched from it by digest first, whatever its handle:

    \b
      [mirrors]
      "sha256:" = "https://artifacts.example/hub/"

    An archive already there with its size is left alone; each one written is
    checked against hub.lock and appears whole or not at all.
    """
    from hublock.commands import airgap as _airgap

    with obj.reporter() as on_event:
        report = _airgap.mirror(
            dest,
            obj.manifest,
            obj.lockfile,
            only=only,
            offline=offline,
            mirrors=_mirrors(mirrors),
            jobs=jobs,
            on_event=on_event,
        )
    obj.result(report)
    _warn_no_archive(report.skipped, "mirror")
    size = _size(sum(a.size for a in report.exported))
    obj.say(
        f"{dest}: {len(report.exported)} archives exported ({size}), {len(report.present)} already "
        f"there ({report.seconds:.2f}s)"
    )


@cli.command("export", epilog=EPILOG)
@common_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["cyclonedx"]),
    required=True,
    help="cyclonedx: a CycloneDX 1.6 JSON BOM (machine-learning-model components).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to this file (atomically) [default: stdout].",
)
@click.pass_obj
def export_command(obj: Context, fmt: str, output: Path | None) -> None:
    """Describe the locked models for a supply-chain review.

    The CycloneDX BOM lists one machine-learning-model component per locked
    model: its name and version as its host names them, the archive's SHA-256,
    the tree hash and file count as properties, the handle and upstream URL as
    external references. The same hub.lock always gives the same bytes.
    """
    from hublock.commands import airgap as _airgap
    from hublock.core.fsutil import atomic_write

    text = json.dumps(_airgap.export_cyclonedx(obj.manifest, obj.lockfile), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    atomic_write(output, text)
    obj.say(f"wrote {output}")


@cli.command("diff", epilog=EPILOG, short_help="What changed per model between two locks, API included.")
@common_options
@click.argument("files", nargs=-1, metavar="[OLD] [NEW]")
@format_option
@click.pass_obj
def diff_command(obj: Context, files: tuple[str, ...], fmt: str) -> None:
    """Show what changed per model between two locks: version or url moved,
    archive changed (re-compressed or not), tree changed or not, and the API
    change signature by signature.

    \b
    OLD defaults to hub.lock as git HEAD has it, NEW to hub.lock here.
    As a git diff driver for hub.lock:
      git config diff.hublock.command "hublock diff"
      echo "hub.lock diff=hublock" >> .gitattributes
    """
    from hublock.commands import upstream as _upstream
    from hublock.commands.project import default_lockfile

    if len(files) == 7:  # git's external diff: path old-file old-hex old-mode new-file new-hex new-mode
        files = (files[1], files[4])
    if len(files) > 2:
        raise click.UsageError("expected at most OLD and NEW (or git's seven diff arguments)")
    old, new = [*files, None, None][:2]
    report = _upstream.diff(old, new, lockfile=obj.lockfile or default_lockfile(obj.manifest))
    obj.result(report)
    for model in report.changed:
        obj.say(model.describe())
        for line in model.api or ():
            obj.say(f"    {line}")
    if not report.changed:
        obj.say(f"no model changed between {report.old} and {report.new}")


@cli.command("audit", epilog=EPILOG, short_help="What the hosts serve now for each locked model.")
@common_options
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--fetch-newer",
    is_flag=True,
    help="Download each newer version found (not kept) and show its API changes.",
)
@offline_option
@mirror_option
@jobs_option
@format_option
@click.pass_obj
def audit_command(
    obj: Context,
    names: tuple[str, ...],
    fetch_newer: bool,
    offline: bool,
    mirrors: tuple[str, ...],
    jobs: int,
    fmt: str,
) -> None:
    """Ask upstream what it serves now for every locked model (or NAME...).

    \b
    Writes nothing. Each model is:
      unchanged     the same archive, byte for byte
      recompressed  other archive bytes, identical files (harmless)
      changed       other files under the same handle: the host replaced
                    the model under a fixed version (exit 3; names the files
                    that differ when the locked archive can be read here)
      gone          404/410, or Kaggle says the version does not exist (exit 3)
      unreachable   any other failure (exit 3)
      newer         a newer version is published (--fetch-newer: its API diff)

    Exit 0 when nothing changed or went away, 3 otherwise: run it weekly in CI.
    """
    from hublock.commands import upstream as _upstream

    with obj.reporter() as on_event:
        report = _upstream.audit(
            names,
            obj.manifest,
            obj.lockfile,
            mirrors=_mirrors(mirrors),
            offline=offline,
            fetch_newer=fetch_newer,
            jobs=jobs,
            on_event=on_event,
        )
    obj.result(report)
    for result in report.results:
        newer = f" (newer: {result.newer})" if result.newer else ""
        obj.say(f"{result.name}: {result.content}{newer}: {result.detail}")
        for path in result.files:
            obj.say(f"    differs: {path}")
        for line in result.api or ():
            obj.say(f"    {line}")
    sys.exit(report.exit_code)


cache_option = click.option(
    "--cache",
    metavar="DIR",
    help="The tensorflow_hub cache [default: $TFHUB_CACHE_DIR, then [cache] dir in hub.toml, "
    "then tensorflow_hub's default <tmp>/tfhub_modules].",
)


@cli.command("verify", epilog=EPILOG)
@common_options
@click.option("--full", is_flag=True, help="Re-hash every file (both cores) instead of comparing stats.")
@cache_option
@kaggle_cache_option
@format_option
@click.pass_obj
def verify_command(obj: Context, full: bool, cache: str | None, kaggle_cache: str | None, fmt: str) -> None:
    """Check every locked model in the cache against hub.lock; exit 1 unless all are ok.

    By default each model's files are compared with the stamp sync wrote after
    verifying them (size, mtime, ctime, inode: no file is read). --full
    re-hashes every file and compares the tree hash with the lock. States: ok,
    missing, modified, extra files, stale stamp (synced from another lock),
    unstamped (not put there by hublock sync). `hublock sync` repairs them all.
    """
    from hublock.commands import inspect as _status

    report = _status.verify(obj.manifest, obj.lockfile, cache=cache, kaggle_cache=kaggle_cache, full=full)
    if obj.json:
        obj.result(report)
    else:
        for part in _shown(report.parts, [len(part.checks) for part in report.parts]):
            _say_cache(obj, part.cache)
            width = max([len(c.model.name) for c in part.checks] + [4])
            for c in part.checks:
                state = c.inspection.state.value.replace("_", " ")
                line = f"{c.model.name:{width}}  {state:11}  {c.inspection.detail}".rstrip()
                if c.inspection.ok:
                    obj.say(line)
                else:
                    _echo(line)
        if not report.ok:
            _echo("run `hublock sync` to repair", err=True)
    if not report.ok:
        sys.exit(1)


@cli.command("init", epilog=EPILOG)
@common_options
@format_option
@click.pass_obj
def init_command(obj: Context, fmt: str) -> None:
    """Write a commented starter hub.toml (never overwrites one)."""
    from hublock.commands.edit import init

    obj.result(init(obj.manifest))
    obj.say(f"wrote {obj.manifest}; next: hublock add NAME HANDLE --lock")


@cli.command("add", epilog=EPILOG)
@common_options
@click.argument("name")
@click.argument("handle", required=False)
@click.option(
    "--kaggle",
    metavar="OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]",
    help="The model's kagglehub handle (kaggle://... accepted): synced into kagglehub's cache "
    "too, or only there when no HANDLE is given. Without a version, `lock` pins the current one.",
)
@click.option("--lock", "then_lock", is_flag=True, help="Run `hublock lock` afterwards.")
@format_option
@click.pass_context
def add_command(
    ctx: click.Context, name: str, handle: str | None, kaggle: str | None, then_lock: bool, fmt: str
) -> None:
    """Add NAME = HANDLE to [models], keeping every comment and the key order.

    \b
    hublock add mobilenet https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5 --lock
    hublock add bert kaggle://keras/bert/keras/bert_tiny_en_uncased/2
    hublock add gemma --kaggle keras/gemma/keras/gemma_2b_en      # version pinned by lock

    Refuses a name or handle already listed, and a handle that differs from a
    listed one only by case, a trailing '/' or ?tf-hub-format=... (tensorflow_hub
    caches every spelling separately).
    """
    from hublock.commands.edit import add, editing

    obj = ctx.find_object(Context)
    assert obj is not None
    with editing(obj.manifest):  # held through --lock: a concurrent edit waits for both
        result = add(obj.manifest, name, handle, kaggle=kaggle)
        also = f" (kagglehub: {result.kaggle})" if result.kaggle and handle else ""
        obj.say(f"added {name} = {result.handle!r}{also} to {obj.manifest}")
        if then_lock:
            ctx.invoke(lock_command, fmt=fmt)
    if not then_lock:
        obj.result(result)


@cli.command("remove", epilog=EPILOG)
@common_options
@click.argument("name")
@click.option("--lock", "then_lock", is_flag=True, help="Run `hublock lock` afterwards.")
@format_option
@click.pass_context
def remove_command(ctx: click.Context, name: str, then_lock: bool, fmt: str) -> None:
    """Remove model NAME from [models], keeping everything else as it is."""
    from hublock.commands.edit import editing, remove

    obj = ctx.find_object(Context)
    assert obj is not None
    with editing(obj.manifest):  # held through --lock: a concurrent edit waits for both
        result = remove(obj.manifest, name)
        obj.say(f"removed {name} from {obj.manifest}")
        if then_lock:
            ctx.invoke(lock_command, fmt=fmt)
    if not then_lock:
        obj.result(result)


@cli.command("status", epilog=EPILOG)
@common_options
@cache_option
@kaggle_cache_option
@format_option
@click.pass_obj
def status_command(obj: Context, cache: str | None, kaggle_cache: str | None, fmt: str) -> None:
    """One line per model: name, state, locked size, where it is in the cache.

    \b
    States: ok, missing, modified, extra_files, stale_stamp, unstamped (the
    cache, as `hublock verify` sees it), remote (an uncompressed model read in
    place), stale (hub.toml changed since it was locked), not_locked (run
    `hublock lock`), not_in_manifest (only hub.lock lists it).
    Example: hublock status --format json --cache /data/tfhub
    """
    from hublock.commands import inspect as _status

    report = _status.status(obj.manifest, obj.lockfile, cache=cache, kaggle_cache=kaggle_cache)
    if obj.json:
        obj.result(report)
        return
    for part in _shown(report.parts, [len(part.models) for part in report.parts]):
        _say_cache(obj, part.cache)
        rows = part.models
        width = max([len(r.name) for r in rows] + [4])
        for r in rows:
            size = f"{r.size} B" if r.size is not None else "-"
            obj.say(f"{r.name:{width}}  {r.state.value:15}  {size:>12}  {r.handle}")
            if r.path:
                obj.say(f"{'':{width}}  {'':15}  {'':>12}  -> {r.path}")


cli.add_command(status_command, "list")


@cli.command("env", epilog=EPILOG)
@common_options
@cache_option
@kaggle_cache_option
@click.option("--shell", type=click.Choice(["bash", "fish", "powershell"]), default="bash", show_default=True)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="List every environment variable hublock reads or sets, its value now and where it came from.",
)
@format_option
@click.pass_obj
def env_command(
    obj: Context, cache: str | None, kaggle_cache: str | None, shell: str, show_all: bool, fmt: str
) -> None:
    """Print the lines that make plain hub.load(), kagglehub and keras_hub use the synced caches.

    \b
    eval "$(hublock env)"              # bash, zsh
    hublock env --shell fish | source
    hublock env --shell powershell | Invoke-Expression
    hublock env --all                  # every variable hublock reads or sets
    """
    from hublock.commands.inspect import environment

    report = environment(obj.project(cache, kaggle_cache), show_all=show_all)
    if obj.json:
        obj.result(report)
        return
    if show_all:
        for setting in report.settings:
            value = "" if setting.value is None else _quote_sh(setting.value)
            _echo(f"{setting.name}={value}  # {setting.source}: {setting.help}")
        return
    lines = [(config.TFHUB_CACHE_DIR.name, report.cache.location)]
    if report.kaggle_cache is not None:
        lines.append((config.KAGGLEHUB_CACHE.name, report.kaggle_cache.location))
    for name, location in lines:
        if shell == "fish":
            _echo(f"set -gx {name} {_quote_sh(location)};")
        elif shell == "powershell":
            _echo(f"$env:{name} = '" + location.replace("'", "''") + "'")
        else:
            _echo(f"export {name}={_quote_sh(location)}")
    _echo(f"# gunzip: {report.inflater}")  # a comment in every shell: eval and source skip it


def _version(ctx: click.Context) -> None:
    from hublock import __version__
    from hublock.formats.archive import inflater_name

    _echo(f"hublock, version {__version__}\ngunzip: {inflater_name()}")
    ctx.exit()


def _quote_sh(value: str) -> str:
    import shlex

    return shlex.quote(value)


@cli.command("gc", epilog=EPILOG)
@common_options
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--keep-unlocked", is_flag=True, help="Keep models that no hub.lock lists.")
@click.option(
    "--only-this-project",
    is_flag=True,
    help="Remove what this project's hub.lock does not list, even models other projects need.",
)
@cache_option
@kaggle_cache_option
@format_option
@click.pass_obj
def gc_command(
    obj: Context,
    dry_run: bool,
    keep_unlocked: bool,
    only_this_project: bool,
    cache: str | None,
    kaggle_cache: str | None,
    fmt: str,
) -> None:
    """Remove what nothing needs from the cache and the download cache.

    \b
    - models no live project needs (unless --keep-unlocked), with their
      descriptor and stamp. Every sync records in the cache which project
      needs which models; a project is live while its hub.lock exists and
      still lists the model. Models other projects need are kept, and named;
      --only-this-project removes whatever this hub.lock does not list;
    - <sha1>.<uuid>.tmp staging and <sha1>.lock files left by killed
      processes (tensorflow_hub never removes them): only when their owner is
      dead or made no progress for tensorflow_hub's 10-minute timeout;
    - download-cache archives no live project uses, and partial downloads;
    - in kagglehub's cache, the same for models hublock synced there (markers
      first); what kagglehub downloaded by itself is never removed.
    """
    from hublock.commands import gc as _gc

    report = _gc.gc(
        obj.manifest,
        obj.lockfile,
        cache=cache,
        kaggle_cache=kaggle_cache,
        dry_run=dry_run,
        keep_unlocked=keep_unlocked,
        only_this_project=only_this_project,
    )
    if obj.json:
        obj.result(report)
        return
    verb = "would remove" if dry_run else "removed"
    for part in report.parts:
        _say_cache(obj, part.cache)
        for item in part.garbage:
            obj.say(f"{verb} {item.name} ({item.reason}, {_size(item.size)})")
        for kept in part.kept:
            obj.say(f"kept {kept.name}: needed by {', '.join(kept.projects)}")
    for item in report.downloads:
        obj.say(f"{verb} download cache {item.name} ({item.reason}, {_size(item.size)})")
    obj.say(f"{'would free' if dry_run else 'freed'} {_size(report.freed)} ({report.freed} bytes)")


@cli.command(
    "run",
    epilog=EPILOG,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@common_options
@click.option(
    "--verify", "verify_mode", type=click.Choice(["fast", "full", "off"]), default="fast", show_default=True
)
@click.option(
    "--unlocked",
    type=click.Choice(["allow", "warn", "error"]),
    default="allow",
    show_default=True,
    help="What a load of a handle that is not in hub.lock does.",
)
@cache_option
@kaggle_cache_option
@click.option(
    "--online", is_flag=True, help="Let a locked model missing from the cache be fetched (verified)."
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def run_command(
    obj: Context,
    verify_mode: str,
    unlocked: str,
    cache: str | None,
    kaggle_cache: str | None,
    online: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with the verify-on-load hook active in every Python process it starts.

    \b
    hublock run -- python train.py --epochs 3
    hublock run --unlocked error -- pytest

    Sets TFHUB_CACHE_DIR and KAGGLEHUB_CACHE to the caches sync fills, and puts a
    sitecustomize (shipped in hublock) first on PYTHONPATH that calls
    hublock.activate() as soon as a process imports tensorflow_hub or kagglehub
    (keras_hub presets load through kagglehub), configured through
    HUBLOCK_LOCKFILE, HUBLOCK_VERIFY, HUBLOCK_UNLOCKED and HUBLOCK_OFFLINE (offline
    unless --online). The exit code is the command's.
    """
    project = obj.project(cache, kaggle_cache)
    lockfile = project.lockfile_path.resolve()
    project.lock()  # fail here, clearly, rather than inside the command
    choice = project.cache_choice()
    autoload = str(Path(__file__).resolve().parent.parent / "hooks" / "autoload")
    pythonpath = os.pathsep.join(p for p in (autoload, os.environ.get("PYTHONPATH", "")) if p)
    env = {
        **os.environ,
        config.TFHUB_CACHE_DIR.name: choice.location,
        config.KAGGLEHUB_CACHE.name: project.kaggle_cache_choice().location,
        config.HUBLOCK_LOCKFILE.name: str(lockfile),
        config.HUBLOCK_VERIFY.name: verify_mode,
        config.HUBLOCK_UNLOCKED.name: unlocked,
        config.HUBLOCK_OFFLINE.name: "0" if online else "1",
        # where this hublock and its dependencies live, for a command whose Python lacks hublock
        config.HUBLOCK_PATH.name: os.pathsep.join(_hublock_path()),
        "PYTHONPATH": pythonpath,
    }
    sys.stdout.flush()
    try:
        os.execvpe(command[0], list(command), env)
    except OSError as exc:
        _echo(f"error: cannot run {command[0]!r}: {exc.strerror}", err=True)
        sys.exit(127)


def _hublock_path() -> list[str]:
    """The directory holding the hublock package, then this interpreter's site-packages."""
    import site

    package_parent = str(Path(__file__).resolve().parent.parent.parent)
    return [package_parent, *site.getsitepackages()]


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, CI cancel): cleaned up like Ctrl-C, reported with exit 143."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def run() -> NoReturn:
    """The ``hublock`` command: ``main``, then out at once. When ``main`` is done every file it
    wrote is closed and every worker joined; the interpreter's teardown (freeing each object of
    the ~300 modules a sync imports) would only keep the shell waiting, ~30 ms a command."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            _echo(str(exc.code), err=True)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a reader that went away (`| head`)
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _terminate)
    state = Context()
    try:
        cli.main(args=argv, prog_name="hublock", standalone_mode=False, obj=state)
    except click.ClickException as exc:
        # a --mirror value may hold a password: printed as click would, but redacted
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f"Try '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}' for help."
            _echo(f"{exc.ctx.get_usage()}\n{hint}\n", err=True)
        _echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except HublockError as exc:
        _echo(f"error: {exc}", err=True)
        if state.json:  # a script reading stdout gets one document, failures included
            _echo(json.dumps({"error": exc.to_dict()}, indent=2))
        sys.exit(exc.exit_code)
    except OSError as exc:  # a file hublock did not expect to be unreadable: no traceback
        where = f" {exc.filename}" if exc.filename else ""
        _echo(f"error: cannot access{where}: {exc.strerror or exc}; check its permissions", err=True)
        sys.exit(4)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        _echo("interrupted: nothing half-written was left in the cache", err=True)
        # click turns the interrupt into Abort; the signal that caused it is its __cause__
        terminated = isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated)
        sys.exit(143 if terminated else 130)
    sys.exit(0)
