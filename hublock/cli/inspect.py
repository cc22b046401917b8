"""Looking at the caches: ``hublock verify``, ``hublock status`` (``list``) and ``hublock env``."""

from __future__ import annotations

import sys

import click

from hublock.cli.options import (
    EPILOG,
    Context,
    cache_option,
    common_options,
    format_option,
    hf_cache_option,
    kaggle_cache_option,
)
from hublock.cli.output import echo, quote_sh, shown
from hublock.core import config


@click.command("verify", epilog=EPILOG)
@common_options
@click.option("--full", is_flag=True, help="Re-hash every file (both cores) instead of comparing stats.")
@click.option(
    "--signatures",
    is_flag=True,
    help="Also check each signed model's signature again, offline, against hub.toml's [[trust]] "
    "(needs hublock[signing]; implies --full). Exit 5 where one does not hold.",
)
@cache_option
@kaggle_cache_option
@hf_cache_option
@format_option
@click.pass_obj
def verify_command(
    obj: Context,
    full: bool,
    signatures: bool,
    cache: str | None,
    kaggle_cache: str | None,
    hf_cache: str | None,
    fmt: str,
) -> None:
    """Check every locked model in the cache against hub.lock; exit 1 unless all are ok.

    By default each model's files are compared with the stamp sync wrote after
    verifying them (size, mtime, ctime, inode: no file is read). --full
    re-hashes every file and compares the tree hash with the lock. States: ok,
    missing, modified, extra files, stale stamp (synced from another lock),
    unstamped (not put there by hublock sync). `hublock sync` repairs them all.
    """
    from hublock import verify

    report = verify(
        obj.manifest,
        obj.lockfile,
        cache=cache,
        kaggle_cache=kaggle_cache,
        hf_cache=hf_cache,
        full=full,
        signatures=signatures,
    )
    if obj.json:
        obj.result(report)
    else:
        for part in shown(report.parts, [len(part.checks) for part in report.parts]):
            obj.say_cache(part.cache)
            width = max([len(c.model.name) for c in part.checks] + [4])
            for c in part.checks:
                state = c.inspection.state.value.replace("_", " ")
                line = f"{c.model.name:{width}}  {state:11}  {c.inspection.detail}".rstrip()
                if c.inspection.ok:
                    obj.say(line)
                else:
                    echo(line)
                if c.signature:
                    obj.say(f"{'':{width}}  signed by {c.signature}: checked")
        if not report.ok:
            echo("run `hublock sync` to repair", err=True)
    if not report.ok:
        sys.exit(1)


@click.command("status", epilog=EPILOG)
@common_options
@cache_option
@kaggle_cache_option
@hf_cache_option
@format_option
@click.pass_obj
def status_command(
    obj: Context, cache: str | None, kaggle_cache: str | None, hf_cache: str | None, fmt: str
) -> None:
    """One line per model: name, state, locked size, where it is in the cache.

    \b
    States: ok, missing, modified, extra_files, stale_stamp, unstamped (the
    cache, as `hublock verify` sees it), remote (an uncompressed model read in
    place), stale (hub.toml changed since it was locked), not_locked (run
    `hublock lock`), not_in_manifest (only hub.lock lists it).
    Example: hublock status --format json --cache /data/tfhub
    """
    from hublock import status

    report = status(obj.manifest, obj.lockfile, cache=cache, kaggle_cache=kaggle_cache, hf_cache=hf_cache)
    if obj.json:
        obj.result(report)
        return
    for part in shown(report.parts, [len(part.models) for part in report.parts]):
        obj.say_cache(part.cache)
        rows = part.models
        width = max([len(r.name) for r in rows] + [4])
        for r in rows:
            size = f"{r.size} B" if r.size is not None else "-"
            obj.say(f"{r.name:{width}}  {r.state.value:15}  {size:>12}  {r.handle}")
            if r.path:
                obj.say(f"{'':{width}}  {'':15}  {'':>12}  -> {r.path}")
            if r.signer:
                obj.say(f"{'':{width}}  {'':15}  {'':>12}  signed by {r.signer}")


@click.command("env", epilog=EPILOG)
@common_options
@cache_option
@kaggle_cache_option
@hf_cache_option
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
    obj: Context,
    cache: str | None,
    kaggle_cache: str | None,
    hf_cache: str | None,
    shell: str,
    show_all: bool,
    fmt: str,
) -> None:
    """Print the lines that make plain hub.load(), kagglehub, keras_hub and huggingface_hub use
    the synced caches.

    \b
    eval "$(hublock env)"              # bash, zsh
    hublock env --shell fish | source
    hublock env --shell powershell | Invoke-Expression
    hublock env --all                  # every variable hublock reads or sets
    """
    from hublock import environment

    report = environment(obj.project(cache, kaggle_cache, hf_cache), show_all=show_all)
    if obj.json:
        obj.result(report)
        return
    if show_all:
        for setting in report.settings:
            value = "" if setting.value is None else quote_sh(setting.value)
            echo(f"{setting.name}={value}  # {setting.source}: {setting.help}")
        return
    lines = [(config.TFHUB_CACHE_DIR.name, report.cache.location)]
    if report.kaggle_cache is not None:
        lines.append((config.KAGGLEHUB_CACHE.name, report.kaggle_cache.location))
    if report.hf_cache is not None:
        lines.append((config.HF_HUB_CACHE.name, report.hf_cache.location))
    for name, location in lines:
        if shell == "fish":
            echo(f"set -gx {name} {quote_sh(location)};")
        elif shell == "powershell":
            echo(f"$env:{name} = '" + location.replace("'", "''") + "'")
        else:
            echo(f"export {name}={quote_sh(location)}")
    echo(f"# gunzip: {report.inflater}")  # a comment in every shell: eval and source skip it
