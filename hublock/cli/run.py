"""``hublock run``: a command with the verify-on-load hook active in every Python process it starts."""

from __future__ import annotations

import os
import sys

import click

from hublock.cli.options import (
    EPILOG,
    Context,
    cache_option,
    common_options,
    hf_cache_option,
    kaggle_cache_option,
)
from hublock.cli.output import echo
from hublock.core import UNLOCKED_MODES, VERIFY_MODES, Unlocked, Verify


@click.command(
    "run",
    epilog=EPILOG,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@common_options
@click.option("--verify", "verify_mode", type=click.Choice(VERIFY_MODES), default="fast", show_default=True)
@click.option(
    "--unlocked",
    type=click.Choice(UNLOCKED_MODES),
    default="allow",
    show_default=True,
    help="What a load of a handle that is not in hub.lock does.",
)
@cache_option
@kaggle_cache_option
@hf_cache_option
@click.option(
    "--online", is_flag=True, help="Let a locked model missing from the cache be fetched (verified)."
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def run_command(
    obj: Context,
    verify_mode: Verify,
    unlocked: Unlocked,
    cache: str | None,
    kaggle_cache: str | None,
    hf_cache: str | None,
    online: bool,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with the verify-on-load hook active in every Python process it starts.

    \b
    hublock run -- python train.py --epochs 3
    hublock run --unlocked error -- pytest

    Sets TFHUB_CACHE_DIR, KAGGLEHUB_CACHE and HF_HUB_CACHE to the caches sync
    fills, and puts a sitecustomize (shipped in hublock) first on PYTHONPATH that
    calls hublock.activate() as soon as a process imports tensorflow_hub,
    kagglehub or huggingface_hub (keras_hub presets load through the last two),
    configured through
    HUBLOCK_LOCKFILE, HUBLOCK_VERIFY, HUBLOCK_UNLOCKED and HUBLOCK_OFFLINE (offline
    unless --online). The exit code is the command's.
    """
    from hublock import run_environment

    env = run_environment(
        obj.manifest,
        obj.lockfile,
        cache=cache,
        kaggle_cache=kaggle_cache,
        hf_cache=hf_cache,
        verify=verify_mode,
        unlocked=unlocked,
        online=online,
    )
    sys.stdout.flush()
    try:
        os.execvpe(command[0], list(command), {**os.environ, **env})
    except OSError as exc:
        echo(f"error: cannot run {command[0]!r}: {exc.strerror}", err=True)
        sys.exit(127)
