"""Edits of hub.toml that keep every comment, blank line and key order (tomlkit round trip).
``add_model`` and ``remove_model`` are pure (text in, text out); ``init``, ``add`` and
``remove`` read and write the file (atomically) and say what they did."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hublock.commands.reports import Edit, EditResult
from hublock.core import ManifestError, atomic_write
from hublock.formats import (
    HF_SCHEME,
    KAGGLE_SCHEME,
    MODEL_NAME,
    check_handle,
    check_revision,
    comparable_handle,
    did_you_mean,
    handle_kind,
    parse_kaggle_handle,
    parse_manifest,
)

if TYPE_CHECKING:
    import tomlkit

STARTER = """\
# hub.toml: the models this project loads, each under the handle its code passes to hub.load(),
# kagglehub, keras_hub's from_preset() or huggingface_hub.
# `hublock lock` pins them in hub.lock; `hublock sync` fills the loaders' caches from it.
# tensorflow_hub caches by sha1(handle) exactly as written: copy handles verbatim from your code.

[cache]
# Where `hublock sync` puts models unless --cache or TFHUB_CACHE_DIR says otherwise; a path or an
# fsspec URL such as "gs://my-bucket/tfhub-modules-cache". Export TFHUB_CACHE_DIR with the same
# value (`eval "$(hublock env)"`) so that hub.load() finds them.
dir = "~/.cache/tfhub_modules"

[models]
# name = "handle", or name = { handle = "...", format = "uncompressed" }. Add with `hublock add`.
# mobilenet = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"
# bert = "kaggle://keras/bert/keras/bert_tiny_en_uncased/2"         # kagglehub, keras_hub
# tuned = { hf = "acme/bert-finetuned", revision = "main" }          # Hugging Face: hf://acme/...

# [mirrors]
# Fetch handles under a prefix from elsewhere (the handle, and so the cache key, stays as is):
# "https://tfhub.dev/" = "https://models.internal.example.com/tfhub/"
"""


def _document(text: str, source: str) -> tomlkit.TOMLDocument:
    import tomlkit  # only edits need it: `import hublock` stays light
    import tomlkit.exceptions

    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ManifestError(f"{source}: not valid TOML: {exc}") from exc


def default_name(handle: str) -> str:
    """The name ``hublock add HANDLE`` gives a model: the last part of its handle that is not a
    version number (``hf://keras/bert_tiny_en_uncased`` -> ``bert_tiny_en_uncased``)."""
    parts = [p for p in re.split(r"[/:]", handle.split("?")[0]) if p and not p.isdigit()]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", parts[-1] if parts else "model").lstrip("._-")
    return name or "model"


def add_model(
    text: str,
    name: str,
    handle: str | None,
    *,
    kaggle: str | None = None,
    revision: str | None = None,
    source: str = "hub.toml",
) -> str:
    """hub.toml text with ``name = "handle"`` appended to [models]; with ``kaggle`` (a kagglehub
    handle), ``name = { handle = "...", kaggle = "..." }`` (or ``{ kaggle = "..." }`` alone); with
    ``revision`` (a Hugging Face handle's branch, tag or commit), ``{ hf = "...", revision = "..." }``."""
    import tomlkit  # only edits need it: `import hublock` stays light
    import tomlkit.container
    import tomlkit.items

    if not MODEL_NAME.match(name):
        raise ManifestError(f"{name!r}: model names use letters, digits, '.', '_' and '-'")
    where = f"{source}: models.{name}"
    value: str | tomlkit.items.InlineTable
    if kaggle is not None:
        kaggle = str(parse_kaggle_handle(kaggle, f"{where}.kaggle"))
        value = tomlkit.inline_table()
        if handle is not None:
            value["handle"] = check_handle(handle, where)
        value["kaggle"] = kaggle
        handle = handle or f"{KAGGLE_SCHEME}{kaggle}"
    elif handle is None:
        raise ManifestError(f"{where}: give a handle, a kagglehub handle (--kaggle), or both")
    else:
        value = handle = check_handle(handle, where)
    if revision is not None:
        if handle_kind(handle) != "hf":
            raise ManifestError(f"{where}: --revision is for Hugging Face handles (hf://org/name)")
        value = tomlkit.inline_table()
        value["hf"] = handle.removeprefix(HF_SCHEME)
        value["revision"] = check_revision(revision, f"{where}.revision")
    doc = _document(text, source)
    models = doc.get("models")
    current = parse_manifest(text, source=source).models if models else ()
    for spec in current:
        if spec.name == name:
            raise ManifestError(f"{source}: a model named {name!r} is already listed ({spec.handle})")
        if spec.handle == handle:
            raise ManifestError(f"{source}: {handle!r} is already listed as {spec.name!r}")
        if comparable_handle(spec.handle) == comparable_handle(handle):
            raise ManifestError(
                f"{source}: {handle!r} differs from {spec.name!r} ({spec.handle}) only by case, a "
                "trailing '/' or tf-hub-format; tensorflow_hub would cache the two as different "
                f"models. Use the spelling your code passes to hub.load, once."
            )
    if models is None:
        models = tomlkit.table()
        doc.add("models", models)
    if isinstance(models, tomlkit.container.OutOfOrderTableProxy):
        # [models] and [models.x] apart, other tables between: tomlkit adds to the first part
        models[name] = value
    elif not isinstance(models, tomlkit.items.Table):
        raise ManifestError(f"{source}: [models] must be a table")
    elif (last_key := _last_key(models)) + 1 < len(models.value.body):
        # after the last entry, not after the comments and blank lines that close the table
        models.value._insert_at(last_key + 1, name, value)
    else:
        models.add(name, value)
    edited = tomlkit.dumps(doc)
    parse_manifest(edited, source=source)  # the whole file stays valid (both handles agree...)
    return edited


def _last_key(table: tomlkit.items.Table) -> int:
    return max((i for i, (key, _) in enumerate(table.value.body) if key is not None), default=-1)


def remove_model(text: str, name: str, *, source: str = "hub.toml") -> str:
    """hub.toml text without the [models] entry ``name``."""
    import tomlkit  # only edits need it: `import hublock` stays light
    import tomlkit.container
    import tomlkit.items

    doc = _document(text, source)
    models = doc.get("models")
    tables = (tomlkit.items.Table, tomlkit.container.OutOfOrderTableProxy)
    names = list(models.keys()) if isinstance(models, tables) else []
    if name not in names:
        raise ManifestError(f"{source}: no model named {name!r}{did_you_mean(name, names)}")
    assert isinstance(models, tables)
    del models[name]
    _forget_in_trust(doc, name)
    return tomlkit.dumps(doc)


def _forget_in_trust(doc: Any, name: str) -> None:
    """A removed model leaves the ``[[trust]]`` rules that name it; a rule that named it alone
    goes with it (left with no models, it would cover every model)."""
    rules = doc.get("trust")
    tables = rules if isinstance(rules, list) else [rules] if rules is not None else []
    for index in reversed(range(len(tables))):
        named = tables[index].get("models")
        named = [named] if isinstance(named, str) else named
        if not isinstance(named, list) or name not in named:
            continue
        if rest := [m for m in named if m != name]:
            tables[index]["models"] = rest
        elif isinstance(rules, list) and len(rules) > 1:
            del rules[index]
        else:
            del doc["trust"]


def init(manifest: str | Path = "hub.toml") -> EditResult:
    """Write a commented starter hub.toml; never overwrite one."""
    path = Path(manifest)
    if path.exists():
        raise ManifestError(
            f"{path} already exists", path=str(path), hint="edit it, or use `hublock add NAME HANDLE`"
        )
    path.write_text(STARTER, encoding="utf-8")
    return EditResult(Edit.INIT, path)


_held: dict[Path, int] = {}  # manifests this process holds, and how deep (editing() nests)


@contextmanager
def editing(manifest: str | Path) -> Iterator[Path]:
    """Hold hub.toml against every other ``hublock`` edit until the block ends: an flock on the
    file itself, re-taken if a writer replaced the file while we waited (edits rename a new file
    into place, so the lock must be on the file that is there now). Nests within one process, so
    ``add --lock`` holds it across the edit and the lock that follows."""
    path = Path(manifest).resolve()
    if _held.get(path):
        _held[path] += 1
        try:
            yield path
        finally:
            _held[path] -= 1
        return
    while True:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise ManifestError(
                f"{manifest}: no such file", path=str(manifest), hint="create one with `hublock init`"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    _held[path] = 1
    try:
        yield path
    finally:
        del _held[path]
        handle.close()


def _edit(manifest: Path, change: Callable[[str], str]) -> None:
    with editing(manifest) as path:
        text = path.read_text(encoding="utf-8")
        bom = "\ufeff" if text.startswith("\ufeff") else ""  # kept as the editor wrote it
        atomic_write(path, bom + change(text.removeprefix(bom)))


def add(
    manifest: str | Path,
    name: str,
    handle: str | None,
    *,
    kaggle: str | None = None,
    revision: str | None = None,
) -> EditResult:
    """Add ``name = handle`` to hub.toml's [models], keeping every comment and the key order.
    ``kaggle``: the model's kagglehub handle too (or instead: ``handle`` None); ``revision``: a
    Hugging Face handle's branch, tag or commit."""
    path = Path(manifest)
    _edit(
        path, lambda text: add_model(text, name, handle, kaggle=kaggle, revision=revision, source=str(path))
    )
    shown = handle if handle is not None else f"{KAGGLE_SCHEME}{kaggle}"
    return EditResult(Edit.ADD, path, name, str(check_handle(shown, name)), kaggle)


def remove(manifest: str | Path, name: str) -> EditResult:
    """Remove model ``name`` from hub.toml, keeping everything else as it is."""
    path = Path(manifest)
    _edit(path, lambda text: remove_model(text, name, source=str(path)))
    return EditResult(Edit.REMOVE, path, name)
