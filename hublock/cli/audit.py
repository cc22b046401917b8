"""What changed: ``hublock diff`` between two locks, ``hublock audit`` between hub.lock and the hosts."""

from __future__ import annotations

import sys

import click

from hublock.cli.options import (
    EPILOG,
    Context,
    common_options,
    format_option,
    jobs_option,
    mirror_option,
    offline_option,
    parse_mirrors,
)


@click.command("diff", epilog=EPILOG, short_help="What changed per model between two locks, API included.")
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
    from hublock import diff
    from hublock.commands import default_lockfile

    if len(files) == 7:  # git's external diff: path old-file old-hex old-mode new-file new-hex new-mode
        files = (files[1], files[4])
    if len(files) > 2:
        raise click.UsageError("expected at most OLD and NEW (or git's seven diff arguments)")
    old, new = [*files, None, None][:2]
    report = diff(old, new, lockfile=obj.lockfile or default_lockfile(obj.manifest))
    obj.result(report)
    for model in report.changed:
        obj.say(model.describe())
        for line in model.api or ():
            obj.say(f"    {line}")
    if not report.changed:
        obj.say(f"no model changed between {report.old} and {report.new}")


@click.command("audit", epilog=EPILOG, short_help="What the hosts serve now for each locked model.")
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
    from hublock import audit

    with obj.reporter() as on_event:
        report = audit(
            names,
            obj.manifest,
            obj.lockfile,
            mirrors=parse_mirrors(mirrors),
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
