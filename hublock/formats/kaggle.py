"""Kaggle model handles and the Kaggle API's wire format, as kagglehub speaks them.

A kagglehub handle is ``owner/model/framework/variation[/version]`` (keras_hub writes it
``kaggle://owner/...``). kagglehub keeps the framework as the caller spells it (its cache has a
folder per spelling) but the API takes an enum, matched without regard to case or underscores.
The API is JSON over POST: ``<base>/v1/models.ModelApiService/<Method>``. Pure apart from
reading the environment (the endpoint, the credentials), as kagglehub does at each call.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hublock.core import config
from hublock.core.errors import ManifestError

SCHEME = "kaggle://"
WEB = "https://www.kaggle.com"
SERVICE = "models.ModelApiService"

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

# kagglesdk's endpoints by KAGGLE_API_ENVIRONMENT; all but PROD serve the API under /api
_ENVIRONMENTS = {
    "PROD": "https://api.kaggle.com",
    "LOCALHOST": "http://localhost/api",
    "TEST": "http://localhost:7777/api",
    "STAGING": "https://staging.kaggle.com/api",
    "ADMIN": "https://admin.kaggle.com/api",
    "QA": "https://qa.kaggle.com/api",
}


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

    def instance_request(self) -> dict[str, Any]:
        """The body of ``GetModelInstance`` (which answers the current version)."""
        return {
            "ownerSlug": self.owner,
            "modelSlug": self.model,
            "framework": framework_enum(self.framework),
            "instanceSlug": self.variation,
        }

    def download_request(self, path: str | None = None) -> dict[str, Any]:
        """The body of ``DownloadModelInstanceVersion``: the archive, or one file (``path``)."""
        body = {**self.instance_request(), "versionNumber": self.version}
        if path:
            body["path"] = path
        return body


def parse_kaggle_handle(text: str, where: str = "kaggle handle") -> KaggleHandle:
    """``owner/model/framework/variation[/version]``, with or without ``kaggle://``."""
    if not isinstance(text, str):
        raise ManifestError(f"{where}: expected a string like 'owner/model/framework/variation/version'")
    raw = text.removeprefix(SCHEME)
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


def api_base(environ: Mapping[str, str] | None = None) -> str:
    """The URL ``/v1/<service>/<method>`` follows: HUBLOCK_KAGGLE_API, else kagglesdk's endpoint
    for KAGGLE_API_ENVIRONMENT."""
    explicit = config.HUBLOCK_KAGGLE_API.get(environ)
    if explicit:
        return explicit.rstrip("/")
    env = (config.KAGGLE_API_ENVIRONMENT.get(environ) or "PROD").upper()
    return _ENVIRONMENTS.get(env, _ENVIRONMENTS["PROD"])


def api_url(method: str, environ: Mapping[str, str] | None = None) -> str:
    return f"{api_base(environ)}/v1/{SERVICE}/{method}"


def credentials(environ: Mapping[str, str] | None = None) -> str | None:
    """The ``Authorization`` header value for the Kaggle API, found where kagglehub looks:
    KAGGLE_API_TOKEN (a token or a file), ~/.kaggle/access_token, KAGGLE_USERNAME and
    KAGGLE_KEY, then kaggle.json in KAGGLE_CONFIG_DIR (default ~/.kaggle). None: anonymous."""
    token = config.KAGGLE_API_TOKEN.get(environ)
    if token and Path(token).is_file():
        token = _read(Path(token))
    if not token:
        token = _read(Path.home() / ".kaggle" / "access_token")
    if token:
        return f"Bearer {token}"
    user, key = config.KAGGLE_USERNAME.get(environ), config.KAGGLE_KEY.get(environ)
    if not (user and key):
        folder = config.KAGGLE_CONFIG_DIR.get(environ) or str(Path.home() / ".kaggle")
        try:
            data = json.loads(Path(folder, "kaggle.json").read_text("utf-8"))
            user, key = str(data["username"]), str(data["key"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def default_cache() -> str:
    """kagglehub's default cache folder."""
    return os.path.join(os.path.expanduser("~"), ".cache", "kagglehub")
