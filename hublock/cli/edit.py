"""Editing hub.toml: ``hublock init``, ``hublock add`` and ``hublock remove``."""

from __future__ import annotations

import click

from hublock.cli.lock import lock_command
from hublock.cli.options import EPILOG, Context, common_options, format_option


@click.command("init", epilog=EPILOG)
@common_options
@format_option
@click.pass_obj
def init_command(obj: Context, fmt: str) -> None:
    """Write a commented starter hub.toml (never overwrites one)."""
    from hublock import init

    obj.result(init(obj.manifest))
    obj.say(f"wrote {obj.manifest}; next: hublock add NAME HANDLE --lock")


@click.command("add", epilog=EPILOG)
@common_options
@click.argument("name")
@click.argument("handle", required=False)
@click.option(
    "--revision",
    metavar="REV",
    help="A Hugging Face handle's branch, tag or commit [default: main, followed by `lock --upgrade`].",
)
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
    ctx: click.Context,
    name: str,
    handle: str | None,
    revision: str | None,
    kaggle: str | None,
    then_lock: bool,
    fmt: str,
) -> None:
    """Add NAME = HANDLE to [models], keeping every comment and the key order.
    Given a handle alone, the model is named after its last part.

    \b
    hublock add mobilenet https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5 --lock
    hublock add bert kaggle://keras/bert/keras/bert_tiny_en_uncased/2
    hublock add gemma --kaggle keras/gemma/keras/gemma_2b_en      # version pinned by lock
    hublock add hf://keras/bert_tiny_en_uncased                    # named bert_tiny_en_uncased
    hublock add tuned hf://acme/bert-finetuned --revision v1.2     # a tag, a branch or a commit

    Refuses a name or handle already listed, and a handle that differs from a
    listed one only by case, a trailing '/' or ?tf-hub-format=... (tensorflow_hub
    caches every spelling separately).
    """
    from hublock import add
    from hublock.commands import default_name, editing

    obj = ctx.find_object(Context)
    assert obj is not None
    if handle is None and kaggle is None and "://" in name:  # `hublock add HANDLE`
        handle, name = name, default_name(name)
    with editing(obj.manifest):  # held through --lock: a concurrent edit waits for both
        result = add(obj.manifest, name, handle, kaggle=kaggle, revision=revision)
        also = f" (kagglehub: {result.kaggle})" if result.kaggle and handle else ""
        obj.say(f"added {name} = {result.handle!r}{also} to {obj.manifest}")
        if then_lock:
            ctx.invoke(lock_command, fmt=fmt)
    if not then_lock:
        obj.result(result)


@click.command("remove", epilog=EPILOG)
@common_options
@click.argument("name")
@click.option("--lock", "then_lock", is_flag=True, help="Run `hublock lock` afterwards.")
@format_option
@click.pass_context
def remove_command(ctx: click.Context, name: str, then_lock: bool, fmt: str) -> None:
    """Remove model NAME from [models], keeping everything else as it is."""
    from hublock import remove
    from hublock.commands import editing

    obj = ctx.find_object(Context)
    assert obj is not None
    with editing(obj.manifest):  # held through --lock: a concurrent edit waits for both
        result = remove(obj.manifest, name)
        obj.say(f"removed {name} from {obj.manifest}")
        if then_lock:
            ctx.invoke(lock_command, fmt=fmt)
    if not then_lock:
        obj.result(result)
