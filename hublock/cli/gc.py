"""``hublock gc``: remove what no live project needs from the caches."""

from __future__ import annotations

import click

from hublock.cli.options import (
    EPILOG,
    Context,
    cache_option,
    common_options,
    format_option,
    kaggle_cache_option,
)
from hublock.cli.output import human_size


@click.command("gc", epilog=EPILOG)
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
      first); what kagglehub downloaded by itself is never removed;
    - in huggingface_hub's cache, the snapshots hublock synced that no live
      project needs (refs, links, then blobs no snapshot links to); what
      huggingface_hub downloaded by itself is never removed.
    """
    from hublock import gc

    report = gc(
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
        obj.say_cache(part.cache)
        for item in part.garbage:
            obj.say(f"{verb} {item.name} ({item.reason}, {human_size(item.size)})")
        for kept in part.kept:
            obj.say(f"kept {kept.name}: needed by {', '.join(kept.projects)}")
    for item in report.downloads:
        obj.say(f"{verb} download cache {item.name} ({item.reason}, {human_size(item.size)})")
    obj.say(f"{'would free' if dry_run else 'freed'} {human_size(report.freed)} ({report.freed} bytes)")
