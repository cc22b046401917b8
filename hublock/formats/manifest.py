"""hub.toml <-> Manifest. Pure: text in, frozen data out; no network, no writes.

A manifest names models, each a tensorflow_hub handle written exactly as user code writes it
(tensorflow_hub keys its cache by ``sha1(handle)``, so the spelling matters), plus an optional
cache target and mirrors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NewType
from urllib.parse import unquote, urlsplit

from hublock.core import Digest, HublockError, ManifestError, strip_secrets
from hublock.formats.handles import (
    HF_SCHEME,
    KAGGLE_SCHEME,
    check_revision,
    handle_kind,
    parse_hf_repo,
    parse_kaggle_handle,
)

if TYPE_CHECKING:  # formats.trust is imported when hub.toml has [[trust]] (most have none)
    from hublock.formats.trust import TrustRule

Handle = NewType("Handle", str)
"""A model handle exactly as user code passes it to ``hub.load``."""

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TOP_KEYS = ("cache", "models", "mirrors", "auth", "trust")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CACHE_KEYS = ("dir", "kaggle", "huggingface", "options")
_MODEL_KEYS = ("handle", "kaggle", "format", "hf", "revision")
FORMATS = ("compressed", "uncompressed")


@dataclass(frozen=True)
class ModelSpec:
    """One ``[models]`` entry: the user's name for a model and its handle."""

    name: str
    handle: Handle
    format: str | None = None
    """``compressed`` or ``uncompressed``; None: as ``TFHUB_MODEL_LOAD_FORMAT`` says at lock time."""
    kaggle: str | None = None
    """The kagglehub handle (``owner/model/framework/variation[/version]``) the model is also
    (or only: then ``handle`` is ``kaggle://`` + it) loaded by; None: tensorflow_hub only."""
    revision: str | None = None
    """A Hugging Face repo's branch, tag or commit (``handle`` is ``hf://org/name``); None: main."""
    trust: TrustRule | None = None
    """The ``[[trust]]`` rule it follows (``formats.trust.rule_for``), if one covers it."""

    def load_format(self, environ: Mapping[str, str]) -> str:
        """The format tensorflow_hub would use for this handle with that environment (a
        Hugging Face repo's files are ``huggingface``: no archive)."""
        if handle_kind(self.handle) == "hf":
            return "huggingface"
        if self.format:
            return self.format
        if handle_kind(self.handle) == "http" and environ.get("TFHUB_MODEL_LOAD_FORMAT") == "UNCOMPRESSED":
            return "uncompressed"
        return "compressed"

    @property
    def entry_digest(self) -> Digest:
        """Digest of everything in the entry that decides what gets locked (not the name)."""
        entry: dict[str, str] = {"handle": self.handle}
        if self.format:
            entry["format"] = self.format
        if self.kaggle and handle_kind(self.handle) != "kaggle":
            entry["kaggle"] = self.kaggle
        if self.revision is not None:
            entry["revision"] = self.revision
        if self.trust is not None:
            entry["trust"] = self.trust.written
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        return Digest("sha256:" + hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class Manifest:
    """A parsed hub.toml. ``mirrors`` maps a handle prefix to a base URL or an absolute path."""

    models: tuple[ModelSpec, ...]
    cache_dir: str | None = None
    mirrors: Mapping[str, str] = field(default_factory=dict)
    cache_options: Mapping[str, Any] = field(default_factory=dict)
    """fsspec storage options for a bucket cache, e.g. ``{token = "anon", project = "p"}``."""
    auth: Mapping[str, str] = field(default_factory=dict)
    """Host pattern (fnmatch) -> name of the environment variable holding a bearer token."""
    kaggle_cache_dir: str | None = None
    """``[cache] kaggle``: the kagglehub cache to fill (KAGGLEHUB_CACHE overrides it)."""
    hf_cache_dir: str | None = None
    """``[cache] huggingface``: huggingface_hub's cache to fill (HF_HUB_CACHE, HF_HOME override it)."""
    trust: tuple[TrustRule, ...] = ()
    """``[[trust]]``: who may have signed which models (each model's own rule: ``ModelSpec.trust``)."""

    def model(self, name: str) -> ModelSpec:
        for spec in self.models:
            if spec.name == name:
                return spec
        raise ManifestError(f"no model named {name!r} in hub.toml{did_you_mean(name, self.names)}")

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]


def parse_toml(text: str, source: str, error: type[HublockError]) -> dict[str, Any]:
    """TOML text to plain data; the error names line and column (stdlib tomllib words it best)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {exc}") from exc


def did_you_mean(word: str, choices: list[str]) -> str:
    import difflib  # only for a mistake

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_handle(handle: str, where: str) -> Handle:
    if not handle or handle != handle.strip() or any(c.isspace() for c in handle):
        raise ManifestError(f"{where}: handle {handle!r} is empty or contains white space")
    kind = handle_kind(handle)
    if kind == "kaggle":
        return Handle(KAGGLE_SCHEME + str(parse_kaggle_handle(handle, where)))
    if kind == "hf":
        return Handle(HF_SCHEME + parse_hf_repo(handle, where))
    if kind == "http":
        parts = urlsplit(handle)
        if not parts.netloc or parts.fragment:
            raise ManifestError(f"{where}: {handle!r} is not a valid http(s) URL")
        if climbs_out(parts.path):
            raise ManifestError(
                f"{where}: {handle!r}: its path climbs out with '..' (encoded or not), so a mirror "
                "would serve it from outside its directory",
                hint="write the handle as the hub publishes it, without '..' segments",
            )
    elif kind == "gcs":
        if not handle.endswith((".tar.gz", ".tgz", ".tar")) or len(handle) <= len("gs://x/"):
            raise ManifestError(
                f"{where}: {handle!r}: a gs:// handle must name a .tar.gz archive "
                "(tensorflow_hub only caches gs:// archives)"
            )
    elif "://" in handle:
        raise ManifestError(
            f"{where}: {handle!r} has a scheme hublock does not know; "
            "use https://..., gs://...tar.gz, kaggle://owner/model/framework/variation/version, "
            "hf://org/name or a local path"
        )
    return Handle(handle)


def climbs_out(path: str) -> bool:
    """Whether a URL path has a ``..`` segment, as written or once percent-decoded (up to three
    times: ``%252e%252e``), with ``/`` or ``\\`` between segments."""
    for _ in range(4):
        if ".." in re.split(r"[/\\]", path):
            return True
        decoded = unquote(path)
        if decoded == path:
            return False
        path = decoded
    return True  # still encoded after three rounds: nobody publishes a model so


def comparable_handle(handle: str) -> str:
    """What a handle looks like once typo-prone differences are ignored (for warnings only)."""
    parts = urlsplit(handle)
    query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("tf-hub-format="))
    scheme = "https" if parts.scheme == "http" else parts.scheme  # the same model, another cache key
    return (parts._replace(scheme=scheme, query=query).geturl().rstrip("/")).lower()


def near_duplicates(manifest: Manifest) -> list[tuple[ModelSpec, ModelSpec]]:
    """Pairs of entries whose handles differ only by case, a trailing slash or tf-hub-format.

    tensorflow_hub caches each spelling under its own key, so such pairs are usually a mistake.
    """
    seen: dict[str, ModelSpec] = {}
    pairs = []
    for spec in manifest.models:
        key = comparable_handle(spec.handle)
        if key in seen:
            pairs.append((seen[key], spec))
        else:
            seen[key] = spec
    return pairs


def _fail_unknown(keys: Any, allowed: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in allowed:
            hint = did_you_mean(str(key), list(allowed)) or f" (expected one of: {', '.join(allowed)})"
            raise ManifestError(f"{where}: unknown key {key!r}{hint}")


def _local_path(value: str, base_dir: Path) -> str:
    path = Path(os.path.expanduser(value))
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def resolve_location(value: str, base_dir: Path) -> str:
    """A cache dir or mirror value: URLs stay as they are, paths become absolute."""
    if "://" in value:
        if value.startswith("file://"):
            return _local_path(value[len("file://") :], base_dir)
        return value
    return _local_path(value, base_dir)


def parse_manifest(text: str, *, source: str = "hub.toml", base_dir: Path | None = None) -> Manifest:
    """Parse and validate hub.toml text. Relative paths are taken relative to ``base_dir``."""
    base = base_dir if base_dir is not None else Path.cwd()
    doc = parse_toml(text.removeprefix("\ufeff"), source, ManifestError)  # a BOM is not TOML, but common
    _fail_unknown(doc, _TOP_KEYS, source)

    cache_dir = None
    cache = doc.get("cache", {})
    if not isinstance(cache, dict):
        raise ManifestError(f"{source}: 'cache' must be a table, e.g. [cache] dir = \"...\"")
    _fail_unknown(cache, _CACHE_KEYS, f"{source}: [cache]")
    if "dir" in cache:
        if not isinstance(cache["dir"], str) or not cache["dir"]:
            raise ManifestError(f"{source}: 'cache.dir' must be a non-empty string")
        cache_dir = resolve_location(cache["dir"], base)
    kaggle_cache_dir = None
    if "kaggle" in cache:
        if not isinstance(cache["kaggle"], str) or not cache["kaggle"] or "://" in cache["kaggle"]:
            raise ManifestError(f"{source}: 'cache.kaggle' must be a directory path (kagglehub's cache)")
        kaggle_cache_dir = resolve_location(cache["kaggle"], base)
    hf_cache_dir = None
    if "huggingface" in cache:
        if (
            not isinstance(cache["huggingface"], str)
            or not cache["huggingface"]
            or "://" in cache["huggingface"]
        ):
            raise ManifestError(
                f"{source}: 'cache.huggingface' must be a directory path (huggingface_hub's cache)"
            )
        hf_cache_dir = resolve_location(cache["huggingface"], base)
    cache_options = cache.get("options", {})
    if not isinstance(cache_options, dict):
        raise ManifestError(f"{source}: 'cache.options' must be a table, e.g. {{ token = \"anon\" }}")

    mirrors: dict[str, str] = {}
    raw_mirrors = doc.get("mirrors", {})
    if not isinstance(raw_mirrors, dict):
        raise ManifestError(f'{source}: \'mirrors\' must be a table of "PREFIX" = "URL or path"')
    for prefix, target in raw_mirrors.items():
        mirrors[str(prefix)] = check_mirror(str(prefix), target, f"{source}: mirrors.{prefix!r}", base)

    auth: dict[str, str] = {}
    raw_auth = doc.get("auth", {})
    if not isinstance(raw_auth, dict):
        raise ManifestError(f'{source}: \'auth\' must be a table of "HOST-PATTERN" = "ENV_VAR"')
    for pattern, variable in raw_auth.items():
        if not isinstance(variable, str) or not _ENV_NAME.match(variable):
            raise ManifestError(
                f"{source}: auth.{pattern!r} must name an environment variable that holds the token "
                '(e.g. "MODELS_TOKEN"), never the secret itself'
            )
        auth[str(pattern)] = variable

    models_table = doc.get("models")
    if models_table is None:  # an empty [models] is a project with nothing locked yet: valid
        raise ManifestError(
            f"{source}: no models listed; add a [models] table, e.g.\n"
            '  [models]\n  mobilenet = "https://tfhub.dev/google/imagenet/'
            'mobilenet_v2_100_224/feature_vector/5"'
        )
    if not isinstance(models_table, dict):
        raise ManifestError(f"{source}: 'models' must be a table of NAME = \"handle\"")

    models: list[ModelSpec] = []
    by_handle: dict[str, str] = {}
    for name, value in models_table.items():
        where = f"{source}: models.{name}"
        if not MODEL_NAME.match(name):
            raise ManifestError(
                f"{where}: model names use letters, digits, '.', '_' and '-' and start with a letter or digit"
            )
        fmt = None
        kaggle = None
        revision = None
        if isinstance(value, dict):
            _fail_unknown(value, _MODEL_KEYS, where)
            if "hf" in value:
                if "handle" in value or "kaggle" in value:
                    raise ManifestError(f"{where}: 'hf' names the whole model; drop 'handle' and 'kaggle'")
                value = {**value, "handle": HF_SCHEME + parse_hf_repo(value["hf"], f"{where}.hf")}
            if "revision" in value:
                if not str(value.get("handle", "")).startswith(HF_SCHEME):
                    raise ManifestError(f"{where}: 'revision' is for Hugging Face models (hf = \"org/name\")")
                revision = check_revision(value["revision"], f"{where}.revision")
            fmt = value.get("format")
            if fmt is not None and fmt not in FORMATS:
                raise ManifestError(f"{where}: format must be one of {', '.join(FORMATS)}, not {fmt!r}")
            if "kaggle" in value:
                kaggle = str(parse_kaggle_handle(value["kaggle"], f"{where}.kaggle"))
            value = value.get("handle", KAGGLE_SCHEME + kaggle if kaggle else None)
            if value is None:
                raise ManifestError(f"{where}: missing required key 'handle' (or 'kaggle')")
        if not isinstance(value, str):
            raise ManifestError(
                f'{where}: expected a handle string or {{ handle = "..." }}, got {type(value).__name__}'
            )
        handle = check_handle(value, where)
        if handle_kind(handle) == "kaggle":
            named = handle.removeprefix(KAGGLE_SCHEME)
            if kaggle is not None and kaggle != named:
                raise ManifestError(f"{where}: handle {handle!r} and kaggle {kaggle!r} name different models")
            kaggle = named
            if fmt == "uncompressed":
                raise ManifestError(f'{where}: format = "uncompressed" is for tensorflow_hub handles only')
        elif kaggle is not None and handle_kind(handle) != "http":
            raise ManifestError(
                f"{where}: a model in both caches needs an https:// handle beside 'kaggle' (tensorflow_hub's)"
            )
        if handle in by_handle:
            raise ManifestError(
                f"{where}: handle {handle!r} is already listed as {by_handle[handle]!r}; "
                "list each handle once"
            )
        by_handle[handle] = name
        if fmt == "uncompressed" and handle_kind(handle) != "http":
            raise ManifestError(f'{where}: format = "uncompressed" needs an http(s) handle')
        models.append(ModelSpec(name, handle, fmt, kaggle, revision))
    trust: tuple[TrustRule, ...] = ()
    if "trust" in doc:
        from hublock.formats.trust import parse_trust, rule_for

        trust = parse_trust(doc["trust"], source, base, {m.name for m in models})
        models = [replace(m, trust=rule_for(trust, m.name, _spellings(m))) for m in models]
    return Manifest(
        tuple(models), cache_dir, mirrors, cache_options, auth, kaggle_cache_dir, hf_cache_dir, trust
    )


def _spellings(spec: ModelSpec) -> tuple[str, ...]:
    """The handles a ``[[trust]]`` prefix may name a model by: hub.toml's, and its kaggle:// one."""
    return (spec.handle, KAGGLE_SCHEME + spec.kaggle) if spec.kaggle else (spec.handle,)


CONTENT_MIRROR = "sha256:"
"""The ``[mirrors]`` key of a content-addressed mirror: archives by digest, ``BASE/sha256/<hex>``."""


def check_mirror(prefix: str, target: Any, where: str, base_dir: Path) -> str:
    if handle_kind(prefix) == "path" and prefix != CONTENT_MIRROR:
        raise ManifestError(
            f"{where}: a mirror prefix must start with https://, http:// or gs:// (or be "
            f'"{CONTENT_MIRROR}", a content-addressed mirror)'
        )
    if not isinstance(target, str) or not target:
        raise ManifestError(f"{where}: the mirror must be a URL or a directory path string")
    return resolve_location(target, base_dir)


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and parse hub.toml; relative paths inside it are relative to its directory."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"{p}: no such file; create one with a [models] table (see README) or pass -f PATH"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{p}: cannot read: {exc}") from exc
    return parse_manifest(text, source=str(p), base_dir=p.resolve().parent)


def portable_manifest(text: str) -> str:
    """hub.toml as it may travel (in a bundle): every URL outside ``[models]`` (a mirror, and
    a mirror's prefix) without its userinfo or secret query values, comments and order kept.
    A handle keeps its spelling: tensorflow_hub keys its cache by the handle as written, and
    hub.lock names models by it (``lock`` warns about a handle that carries credentials)."""
    import tomlkit
    from tomlkit.items import Table

    doc = tomlkit.parse(text)

    def clean(container: Any) -> None:
        for key in list(container.keys()):
            value = container[key]
            if isinstance(value, dict):
                clean(value)
            elif isinstance(value, str) and "://" in value and strip_secrets(value) != value:
                container[key] = strip_secrets(value)

    for name in list(doc.keys()):
        if name == "models":
            continue
        table = doc[name]
        if name == "mirrors" and isinstance(table, Table):
            for prefix in list(table.keys()):
                if strip_secrets(prefix) != prefix:
                    table[strip_secrets(prefix)] = table[prefix]
                    del table[prefix]
        if isinstance(table, dict):
            clean(table)
    return tomlkit.dumps(doc)
