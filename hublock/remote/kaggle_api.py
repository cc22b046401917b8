"""The Kaggle API as kagglehub speaks it: JSON over POST to
``<base>/v1/models.ModelApiService/<Method>``, the credentials where kagglehub finds them, and its
refusals in words. The endpoint and the credentials are read from the environment at each call,
as kagglehub does."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hublock.core import FetchError, config
from hublock.formats import KaggleHandle, framework_enum
from hublock.remote.http import RETRY_STATUSES, Retry, Transient

if TYPE_CHECKING:
    import httpx

SERVICE = "models.ModelApiService"

# kagglesdk's endpoints by KAGGLE_API_ENVIRONMENT; all but PROD serve the API under /api
_ENVIRONMENTS = {
    "PROD": "https://api.kaggle.com",
    "LOCALHOST": "http://localhost/api",
    "TEST": "http://localhost:7777/api",
    "STAGING": "https://staging.kaggle.com/api",
    "ADMIN": "https://admin.kaggle.com/api",
    "QA": "https://qa.kaggle.com/api",
}


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


def instance_request(handle: KaggleHandle) -> dict[str, Any]:
    """The body of ``GetModelInstance`` (which answers the current version)."""
    return {
        "ownerSlug": handle.owner,
        "modelSlug": handle.model,
        "framework": framework_enum(handle.framework),
        "instanceSlug": handle.variation,
    }


def download_request(handle: KaggleHandle, path: str | None = None) -> dict[str, Any]:
    """The body of ``DownloadModelInstanceVersion``: the archive, or one file (``path``)."""
    body = {**instance_request(handle), "versionNumber": handle.version}
    if path:
        body["path"] = path
    return body


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


def headers() -> dict[str, str]:
    found = credentials()
    return {"Authorization": found} if found else {}


def refusal(label: str, status: int, text: str) -> FetchError:
    """What the Kaggle API's refusal means, in words (its JSON ``message`` when it sends one)."""
    try:
        import json

        said = str(json.loads(text).get("message", "")).strip()
    except (ValueError, AttributeError):
        said = ""
    said = f" ({said[:200]})" if said else ""
    if status in (401, 403):
        return FetchError(
            f"{label}: the Kaggle API refused access (HTTP {status}){said}: the model is private, "
            "gated behind terms to accept on kaggle.com, or the credentials are wrong",
            path=label,
            hint="set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN, or ~/.kaggle/kaggle.json) "
            "for an account that may download it",
        )
    if status == 404:
        return FetchError(
            f"{label}: Kaggle has no such model or version (HTTP 404){said}",
            status=404,
            path=label,
            hint="check the owner/model/framework/variation/version on kaggle.com",
        )
    return FetchError(f"{label}: the Kaggle API answered HTTP {status}{said}", path=label)


def current_version(client: httpx.Client, handle: KaggleHandle, retry: Retry) -> int:
    """The version Kaggle serves now for an unversioned handle (``GetModelInstance``)."""
    label = f"kaggle://{handle}"

    def attempt() -> int:
        response = client.post(api_url("GetModelInstance"), json=instance_request(handle), headers=headers())
        response.read()
        if response.status_code in RETRY_STATUSES:
            raise Transient(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise refusal(label, response.status_code, response.text)
        try:
            return int(response.json()["versionNumber"])
        except (ValueError, KeyError, TypeError):
            raise FetchError(
                f"{label}: the Kaggle API answered without a version number", path=label
            ) from None

    return retry.call(label, attempt)
