"""``hublock sync``: fill the caches with what hub.lock pins."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from hublock.cli.options import (
    EPILOG,
    Context,
    bundles_option,
    cache_option,
    common_options,
    format_option,
    hf_cache_option,
    jobs_option,
    kaggle_cache_option,
    mirror_option,
    offline_option,
    parse_mirrors,
)
from hublock.cli.output import echo, plural_models, shown


@click.command("sync", epilog=EPILOG)
@common_options
@cache_option
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
@hf_cache_option
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
    hf_cache: str | None,
    dry_run: bool,
    no_local_staging: bool,
    force: bool,
    bundles: tuple[Path, ...],
    offline: bool,
    mirrors: tuple[str, ...],
    jobs: int,
    fmt: str,
) -> None:
    """Fill the caches so that hub.load(handle), kagglehub, keras_hub and
    huggingface_hub load exactly what hub.lock says.

    For each locked model not already present and verified: fetch it (or take
    it from the download cache), check its archive sha256, extract it safely,
    check its tree hash, and only then publish <cache>/<sha1(handle)>/ with one
    rename. Models with a kagglehub handle go to kagglehub's cache too:
    models/<owner>/<model>/<framework>/<variation>/<version>/, its completion
    markers written after the files. Hugging Face models go to huggingface_hub's
    cache: models--<org>--<name>/, each file checked against its sha256, blobs
    and snapshot links first, refs/<revision> last. A model already present
    with a matching stamp costs no network I/O.
    """
    from hublock import sync

    started = time.monotonic()
    with obj.reporter() as on_event:
        report = sync(
            obj.manifest,
            obj.lockfile,
            cache=cache,
            kaggle_cache=kaggle_cache,
            hf_cache=hf_cache,
            dry_run=dry_run,
            offline=offline,
            mirrors=parse_mirrors(mirrors),
            jobs=jobs,
            on_event=on_event,
            local_staging=not no_local_staging,
            force=force,
            bundles=bundles,
        )
    parts = shown(report.parts, [len(part.steps) for part in report.parts])
    pending = sum(len(part.pending) for part in parts)
    for part in parts:
        for warning in part.warnings:
            echo(f"warning: {warning}", err=True)
        for name, project in part.taken:
            echo(f"warning: {name}: replaced the copy {project} had verified (--force)", err=True)
    if obj.json:
        obj.result(report)
        if dry_run and pending:
            sys.exit(1)
        return
    for part in parts:
        obj.say_cache(part.cache)
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
            obj.say(f"{plural_models(len(part.results))}: {summary} ({time.monotonic() - started:.2f}s)")
        obj.hint_variable(part.cache)
    if dry_run and pending:
        sys.exit(1)
