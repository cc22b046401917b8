"""``hublock lock``: resolve hub.toml, write hub.lock (``--check``: only compare them)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from hublock.cli.options import (
    ALL,
    EPILOG,
    Context,
    bundles_option,
    common_options,
    format_option,
    jobs_option,
    mirror_option,
    offline_option,
    parse_mirrors,
)
from hublock.cli.output import echo, human_size, plural_models


@click.command("lock", epilog=EPILOG)
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
    from hublock import check as check_lock
    from hublock import lock
    from hublock.commands import default_lockfile

    if bundles and not check:
        raise click.UsageError("--from goes with --check (to fill caches from a bundle: hublock sync --from)")
    if check and bundles:
        from hublock import check_with_bundles

        with obj.reporter() as on_event:
            checked = check_with_bundles(obj.manifest, obj.lockfile, bundles=bundles, on_event=on_event)
        obj.say(
            f"{obj.lockfile or default_lockfile(obj.manifest)} is up to date, and "
            f"{', '.join(map(str, bundles))} hold all {len(checked.archives)} of its archives "
            f"({human_size(checked.size)}, checked)"
        )
        return
    if check:
        check_lock(obj.manifest, obj.lockfile)
        obj.say(f"{obj.lockfile or default_lockfile(obj.manifest)} is up to date")
        return
    upgrades: bool | set[str] = True if ALL in upgrade else set(upgrade)
    started = time.monotonic()
    with obj.reporter() as on_event:
        result = lock(
            obj.manifest,
            obj.lockfile,
            upgrade=upgrades,
            offline=offline,
            mirrors=parse_mirrors(mirrors),
            jobs=jobs,
            on_event=on_event,
        )
    for warning in result.warnings:
        echo(f"warning: {warning}", err=True)
    if obj.json:
        obj.result(result)
        return
    for name in (*result.changed, *result.removed):
        obj.say(result.diff(name))
    state = "wrote" if result.written else "unchanged:"
    obj.say(
        f"{state} {result.path} ({plural_models(len(result.lockfile.models))}, "
        f"{len(result.resolved)} resolved, {time.monotonic() - started:.2f}s)"
    )
