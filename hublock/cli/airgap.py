"""Across an air gap: ``hublock bundle``, ``hublock mirror`` and ``hublock export`` (a CycloneDX BOM)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hublock.cli.options import (
    EPILOG,
    Context,
    common_options,
    format_option,
    jobs_option,
    mirror_option,
    offline_option,
    only_option,
    parse_mirrors,
)
from hublock.cli.output import echo, human_size


@click.command("bundle", epilog=EPILOG)
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
    from hublock import bundle, verify_bundle

    with obj.reporter() as on_event:
        if verify_only:
            report = verify_bundle(out, on_event=on_event)
        else:
            report = bundle(
                out,
                obj.manifest,
                obj.lockfile,
                only=only,
                offline=offline,
                mirrors=parse_mirrors(mirrors),
                jobs=jobs,
                on_event=on_event,
            )
    obj.result(report)
    _warn_no_archive(report.skipped, "bundle")
    what = "checked" if verify_only else "wrote"
    fetched = f", {len(report.fetched)} downloaded first" if report.fetched else ""
    obj.say(
        f"{what} {out}: {len(report.archives)} archives, {human_size(report.size)}{fetched} "
        f"({report.seconds:.2f}s)"
    )


def _warn_no_archive(names: tuple[str, ...], action: str) -> None:
    for name in names:
        echo(f"warning: {name}: UNCOMPRESSED (read from gs:// in place), no archive to {action}", err=True)


@click.command("mirror", epilog=EPILOG, short_help="Export the locked archives by digest: DEST/sha256/<hex>.")
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

    An archive already there with its bytes is left alone (checked by the bucket's
    MD5 where it keeps one, else read); one with other bytes is replaced, and
    said so. Each one written is checked against hub.lock and appears whole or
    not at all.
    """
    from hublock import mirror

    with obj.reporter() as on_event:
        report = mirror(
            dest,
            obj.manifest,
            obj.lockfile,
            only=only,
            offline=offline,
            mirrors=parse_mirrors(mirrors),
            jobs=jobs,
            on_event=on_event,
        )
    obj.result(report)
    _warn_no_archive(report.skipped, "mirror")
    for sha256 in report.replaced:
        echo(
            f"warning: {dest.rstrip('/')}/sha256/{sha256} held other bytes than hub.lock's: replaced",
            err=True,
        )
    size = human_size(sum(a.size for a in report.exported))
    obj.say(
        f"{dest}: {len(report.exported)} archives exported ({size}), {len(report.present)} already "
        f"there ({report.seconds:.2f}s)"
    )


@click.command("export", epilog=EPILOG)
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
    from hublock import export_cyclonedx
    from hublock.core import atomic_write

    text = json.dumps(export_cyclonedx(obj.manifest, obj.lockfile), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    atomic_write(output, text)
    obj.say(f"wrote {output}")
