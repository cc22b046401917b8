"""The command line: parses options, calls the Python API, prints, exits. Nothing else.

Exit codes: 0 success; 1 not in sync; 2 bad input or usage; 3 fetch or integrity failure (a
damaged bundle too); 4 the cache cannot be written; 5 a signature refused under hub.toml's
[[trust]]; 130 interrupted (Ctrl-C); 143 terminated.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from contextlib import suppress
from typing import NoReturn

import click

from hublock.cli.options import EPILOG, Context, common_options
from hublock.cli.output import configure_logging, echo
from hublock.core import HublockError

# command -> (module of hublock.cli, its click command); `list` is `status` under another name
COMMANDS = {
    "lock": ("lock", "lock_command"),
    "sync": ("sync", "sync_command"),
    "bundle": ("airgap", "bundle_command"),
    "mirror": ("airgap", "mirror_command"),
    "export": ("airgap", "export_command"),
    "diff": ("audit", "diff_command"),
    "audit": ("audit", "audit_command"),
    "verify": ("inspect", "verify_command"),
    "init": ("edit", "init_command"),
    "add": ("edit", "add_command"),
    "remove": ("edit", "remove_command"),
    "status": ("inspect", "status_command"),
    "list": ("inspect", "status_command"),
    "env": ("inspect", "env_command"),
    "gc": ("gc", "gc_command"),
    "run": ("run", "run_command"),
}


class LazyGroup(click.Group):
    """Imports a command's module when that command runs (or ``--help`` lists them all): a
    ``hublock sync`` does not import what ``bundle``, ``audit`` or ``gc`` need (click's own
    recipe for large CLIs)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f"hublock.cli.{module}"), attribute)
        return command


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _, value: _version(ctx) if value else None,
    help="Show the version (and which gunzip is in use) and exit.",
)
@click.pass_obj
def cli(obj: Context) -> None:
    """Lock TF Hub, Kaggle and Hugging Face models and sync them into their loaders' caches.

    \b
    hublock lock    resolve hub.toml, download each model once, write hub.lock
    hublock sync    fill the cache so hub.load(handle) works offline
    hublock bundle  one file that carries the locked models across an air gap
    hublock audit   what the hosts serve now, against hub.lock
    """
    configure_logging(obj.verbose)


def _version(ctx: click.Context) -> None:
    from hublock import __version__
    from hublock.core import usable_cores
    from hublock.formats import inflater_name

    echo(f"hublock, version {__version__}\ngunzip: {inflater_name(usable_cores())}")
    ctx.exit()


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
            echo(str(exc.code), err=True)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a reader that went away (`| head`)
            stream.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _terminate)
    state = Context()  # click's obj: what the options said, read here for --format json
    try:
        cli.main(args=argv, prog_name="hublock", standalone_mode=False, obj=state)
    except click.ClickException as exc:
        # a --mirror value may hold a password: printed as click would, but redacted
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f"Try '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}' for help."
            echo(f"{exc.ctx.get_usage()}\n{hint}\n", err=True)
        echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except HublockError as exc:
        echo(f"error: {exc}", err=True)
        if state.json:  # a script reading stdout gets one document, failures included
            echo(json.dumps({"error": exc.to_dict()}, indent=2))
        sys.exit(exc.exit_code)
    except OSError as exc:  # a file hublock did not expect to be unreadable: no traceback
        where = f" {exc.filename}" if exc.filename else ""
        echo(f"error: cannot access{where}: {exc.strerror or exc}; check its permissions", err=True)
        sys.exit(4)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        echo("interrupted: nothing half-written was left in the cache", err=True)
        # click turns the interrupt into Abort; the signal that caused it is its __cause__
        terminated = isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated)
        sys.exit(143 if terminated else 130)
    sys.exit(0)
