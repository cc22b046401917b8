"""Handles, one rule each: which kind a handle is, the version a URL handle ends with, whether it
names one published version, and which Kaggle model an entry is (by its kagglehub handle or a
kaggle.com URL). Pure.

A kagglehub handle is ``owner/model/framework/variation[/version]`` (keras_hub writes it
``kaggle://owner/...``). kagglehub keeps the framework as the caller spells it (its cache has a
folder per spelling) but the API takes an enum, matched without regard to case or underscores.
(The Kaggle API's wire format is ``hublock.remote.kaggle_api``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from hublock.core import ManifestError

KAGGLE_SCHEME = "kaggle://"
WEB = "https://www.kaggle.com"
HF_SCHEME = "hf://"
HF_WEB = "https://huggingface.co"

# kagglesdk's ModelFramework enum (MODEL_FRAMEWORK_<name>)
FRAMEWORKS = (
    "TENSOR_FLOW_1",
    "TENSOR_FLOW_2",
    "TF_LITE",
    "TF_JS",
    "PY_TORCH",
    "JAX",
    "FLAX",
    "PAX",
    "MAX_TEXT",
    "GEMMA_CPP",
    "GGML",
    "GGUF",
    "CORAL",
    "SCIKIT_LEARN",
    "MXNET",
    "ONNX",
    "KERAS",
    "TRANSFORMERS",
    "API",
    "OTHER",
    "TENSOR_RT_LLM",
    "TRITON",
)
_BY_LETTERS = {name.replace("_", ""): name for name in FRAMEWORKS}
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def framework_enum(framework: str) -> str | None:
    """The API's enum value for a framework as a user spells it (``tensorFlow2`` ->
    ``MODEL_FRAMEWORK_TENSOR_FLOW_2``), or None for a framework Kaggle does not know."""
    letters = re.sub(r"[^A-Za-z0-9]", "", framework).upper()
    name = _BY_LETTERS.get(letters)
    return f"MODEL_FRAMEWORK_{name}" if name else None


@dataclass(frozen=True)
class KaggleHandle:
    """``owner/model/framework/variation[/version]``, each part as written."""

    owner: str
    model: str
    framework: str
    variation: str
    version: int | None = None

    @property
    def pinned(self) -> bool:
        return self.version is not None

    def __str__(self) -> str:
        base = f"{self.owner}/{self.model}/{self.framework}/{self.variation}"
        return base if self.version is None else f"{base}/{self.version}"

    def with_version(self, version: int | None) -> KaggleHandle:
        return replace(self, version=version)

    @property
    def identity(self) -> tuple[str, ...]:
        """What names the same model on Kaggle whatever the spelling (case, framework)."""
        enum = framework_enum(self.framework) or self.framework
        parts = (self.owner, self.model, enum, self.variation, str(self.version or ""))
        return tuple(p.lower() for p in parts)

    def web_url(self) -> str:
        """The model's page on kaggle.com: what hub.lock records as its ``url``."""
        return f"{WEB}/models/{self}"


def parse_kaggle_handle(text: str, where: str = "kaggle handle") -> KaggleHandle:
    """``owner/model/framework/variation[/version]``, with or without ``kaggle://``."""
    if not isinstance(text, str):
        raise ManifestError(f"{where}: expected a string like 'owner/model/framework/variation/version'")
    raw = text.removeprefix(KAGGLE_SCHEME)
    parts = raw.split("/")
    if len(parts) not in (4, 5):
        raise ManifestError(
            f"{where}: {text!r} is not a Kaggle model handle; expected "
            "'owner/model/framework/variation' or 'owner/model/framework/variation/version' "
            "(as kagglehub.model_download takes it, or kaggle://... as keras_hub does)"
        )
    for part in parts[:4]:
        if not _SLUG.match(part) or ".." in part:
            raise ManifestError(f"{where}: {text!r}: {part!r} is not a valid Kaggle slug")
    if framework_enum(parts[2]) is None:
        known = ", ".join(sorted({n.lower().replace("_", "") for n in FRAMEWORKS}))
        raise ManifestError(f"{where}: {text!r}: unknown framework {parts[2]!r} (Kaggle knows: {known})")
    version = None
    if len(parts) == 5:
        if not parts[4].isascii() or not parts[4].isdigit() or int(parts[4]) < 1:
            raise ManifestError(
                f"{where}: {text!r}: the version must be a number from 1 up, not {parts[4]!r}"
            )
        version = int(parts[4])
    return KaggleHandle(parts[0], parts[1], parts[2], parts[3], version)


def handle_of_url(url: str) -> KaggleHandle | None:
    """The Kaggle model a URL names (``.../models/<o>/<m>/<f>/<v>/<version>``), if it names one:
    how a tfhub.dev handle, whose redirect leads to Kaggle, is known to be a Kaggle model."""
    parts = urlsplit(url).path.strip("/").split("/")
    for i, part in enumerate(parts):
        if part == "models" and len(parts) - i - 1 == 5:
            try:
                return parse_kaggle_handle("/".join(parts[i + 1 :]))
            except ManifestError:
                return None
    return None


def handle_kind(handle: str) -> str:
    """``http`` (fetched with tf-hub-format=compressed), ``gcs`` (a gs:// archive), ``kaggle``
    (a kagglehub handle, fetched through the Kaggle API), ``hf`` (a Hugging Face repo) or ``path``."""
    if handle.startswith(KAGGLE_SCHEME):
        return "kaggle"
    if handle.startswith(HF_SCHEME):
        return "hf"
    if handle.startswith(("http://", "https://")):
        return "http"
    if handle.startswith("gs://"):
        return "gcs"
    return "path"


# huggingface_hub's validate_repo_id: [namespace/]name of letters, digits, "-", "_", "." (no "--"
# or ".." and not ending in ".git"), at most 96 characters
_HF_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# a git branch, tag or commit as the revision API takes it (refs/pr/N included)
_REVISION = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._/-]*$")


def parse_hf_repo(text: str, where: str = "hf handle") -> str:
    """``org/name`` of a Hugging Face model repo, with or without ``hf://`` (keras_hub's spelling)."""
    if not isinstance(text, str):
        raise ManifestError(f"{where}: expected a string like 'org/name'")
    repo = text.removeprefix(HF_SCHEME)
    parts = repo.split("/")
    if (
        len(parts) != 2
        or len(repo) > 96
        or not all(_HF_PART.match(p) and "--" not in p and ".." not in p for p in parts)
        or repo.endswith(".git")
    ):
        raise ManifestError(
            f"{where}: {text!r} is not a Hugging Face model repo; expected 'org/name' (or hf://org/name "
            "as keras_hub writes it): letters, digits, '-', '_' and '.', no '--' or '..'"
        )
    return repo


def check_revision(text: object, where: str = "revision") -> str:
    """A branch, tag or commit of a Hugging Face repo."""
    if (
        not isinstance(text, str)
        or not _REVISION.match(text)
        or ".." in text
        or "//" in text
        or text.endswith(("/", ".lock"))
        or len(text) > 255
    ):
        raise ManifestError(
            f"{where}: {text!r} is not a git revision; expected a branch, a tag or a commit "
            '(e.g. "main", "v1.0" or a 40-digit commit)'
        )
    return text


def is_commit(revision: str) -> bool:
    """Whether a revision is a full commit id (which never moves)."""
    return re.fullmatch(r"[0-9a-f]{40}", revision) is not None


def trailing_version(handle: str) -> tuple[str, int] | None:
    """A URL handle's base and the version number its path ends with, as tfhub.dev and kaggle.com
    spell versions (``https://tfhub.dev/google/m/5`` -> ``("https://tfhub.dev/google/m", 5)``);
    None when its path ends otherwise."""
    parts = urlsplit(handle)
    base, _, last = parts.path.rstrip("/").rpartition("/")
    if not last.isascii() or not last.isdigit():
        return None
    return urlunsplit(parts._replace(path=base, query="", fragment="")), int(last)


def has_fixed_version(handle: str) -> bool:
    """Whether a handle names one published version (a URL ending with it; a kagglehub handle
    with one), so that its content must never change."""
    if handle_kind(handle) == "kaggle":
        return parse_kaggle_handle(handle).pinned
    if handle_kind(handle) == "hf":
        return False  # a revision, not the handle, says; a commit never moves (``is_commit``)
    return handle_kind(handle) == "http" and trailing_version(handle) is not None


def find_kaggle_model(kaggle: str | None, handle: str, url: str = "") -> KaggleHandle | None:
    """The Kaggle model an entry is, when it is one: by its kagglehub handle, else the kaggle.com
    model URL its handle, or the URL its redirects led to (hub.lock's ``url``), names."""
    if kaggle:
        return parse_kaggle_handle(kaggle)
    for candidate in (handle, url):
        found = handle_of_url(candidate) if handle_kind(candidate) == "http" else None
        if found is not None:
            return found
    return None
