"""The Hugging Face Hub's wire format, as huggingface_hub speaks it: where the Hub is
(``HF_ENDPOINT``), the token it sends (``HF_TOKEN``, else the token file), the revision API that
pins a branch or tag to a commit and lists its files (``GET /api/models/{repo}/revision/{rev}
?blobs=true``), and the URL of one file at one commit (``{endpoint}/{repo}/resolve/{commit}/
{path}``, which the Hub redirects to its storage for LFS files). Pure apart from
``resolve_revision``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hublock.core import FetchError
from hublock.formats import HF_WEB
from hublock.remote.http import RETRY_STATUSES, Retry, Transient
from hublock.remote.urls import apply_mirror

if TYPE_CHECKING:
    import httpx

FILES_AT_ONCE = 4
"""Files of one repo fetched at once: a model of many shards is many downloads, and one stream
rarely fills the line (the Hub's CDN, a mirror), nor hashing one core."""

_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def endpoint(environ: Mapping[str, str] | None = None) -> str:
    """The Hub huggingface_hub talks to: ``HF_ENDPOINT``, else huggingface.co."""
    env = os.environ if environ is None else environ
    return (env.get("HF_ENDPOINT") or HF_WEB).rstrip("/")


def token_path() -> Path:
    """Where huggingface_hub keeps the token ``hf auth login`` saved: ``HF_TOKEN_PATH``, else
    ``HF_HOME/token`` (``HF_HOME`` defaulting to ``~/.cache/huggingface``)."""
    if found := os.environ.get("HF_TOKEN_PATH"):
        return Path(found).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(home).expanduser() / "token"


def token() -> str | None:
    """The token huggingface_hub would send (``HF_TOKEN``, else the token file); never logged."""
    if found := os.environ.get("HF_TOKEN", "").strip():
        return found
    try:
        return token_path().read_text("utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def revision_url(repo: str, revision: str, base: str) -> str:
    return f"{base}/api/models/{repo}/revision/{quote(revision, safe='')}?blobs=true"


def file_url(repo: str, commit: str, path: str, base: str) -> str:
    return f"{base}/{repo}/resolve/{commit}/{quote(path)}"


def file_sources(repo: str, commit: str, path: str, mirrors: Mapping[str, str]) -> list[str]:
    """Where one file of a locked commit may come from, in order: through a mirror of the Hub
    (``[mirrors] "https://huggingface.co/" = ...``), then the Hub itself."""
    upstream = file_url(repo, commit, path, endpoint())
    return list(dict.fromkeys([apply_mirror(upstream, mirrors), upstream]))


@dataclass(frozen=True)
class HubFile:
    """One file of a revision: its size, its git blob id, and its LFS sha256 (None for a file
    kept in git itself, whose blob id is then the name huggingface_hub's cache gives it)."""

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None = None

    @property
    def blob(self) -> str:
        """The name of its blob in huggingface_hub's cache (the ETag the Hub answers with)."""
        return self.lfs_sha256 or self.blob_id


@dataclass(frozen=True)
class HubRevision:
    """What a revision is now: its commit and every file in it."""

    commit: str
    files: tuple[HubFile, ...]


def parse_revision(doc: Any, where: str) -> HubRevision:
    """The revision API's answer (``sha``, ``siblings`` with ``rfilename``, ``size``, ``blobId``
    and ``lfs``); anything else is a FetchError naming what was wrong."""

    def bad(what: str) -> FetchError:
        return FetchError(f"{where}: the Hub's answer is not a revision ({what})", path=where)

    if not isinstance(doc, dict) or not isinstance(doc.get("sha"), str) or not _SHA1.match(doc["sha"]):
        raise bad("no 40-digit 'sha'")
    siblings = doc.get("siblings")
    if not isinstance(siblings, list):
        raise bad("no 'siblings' list")
    files = []
    for item in siblings:
        if not isinstance(item, dict):
            raise bad("a sibling is not an object")
        path, size, lfs = item.get("rfilename"), item.get("size"), item.get("lfs")
        blob_id = item.get("blobId")
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            raise bad(f"file name {path!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"{path}: size {size!r} (is blobs=true honoured?)")
        if not isinstance(blob_id, str) or not _SHA1.match(blob_id):
            raise bad(f"{path}: blobId {blob_id!r}")
        sha256 = None
        if lfs is not None:
            sha256 = lfs.get("sha256") if isinstance(lfs, dict) else None
            if not isinstance(sha256, str) or not _SHA256.match(sha256):
                raise bad(f"{path}: lfs.sha256 {sha256!r}")
        files.append(HubFile(path, size, blob_id, sha256))
    if len({f.path for f in files}) != len(files):
        raise bad("a file listed twice")
    return HubRevision(doc["sha"], tuple(sorted(files, key=lambda f: f.path)))


def resolve_revision(client: httpx.Client, repo: str, revision: str, base: str, retry: Retry) -> HubRevision:
    """Pin a branch, tag or commit to its commit, with its files (one API call, retried by the
    one rule). 401 and 403 say whether a token was sent; 404 names the repo and revision."""
    url = revision_url(repo, revision, base)
    sent = token()
    headers = {"Authorization": f"Bearer {sent}"} if sent else {}

    def attempt() -> HubRevision:
        response = client.get(url, headers=headers)
        status = response.status_code
        if status in RETRY_STATUSES:
            raise Transient(f"HTTP {status} from {url}")
        # the Hub answers 401 "RepositoryNotFound" to a request without a token for a repo that
        # does not exist as for a private one: either way, not there for this caller (audit: gone)
        missing = (
            404
            if response.headers.get("x-error-code") in ("RepositoryNotFound", "RevisionNotFound")
            else None
        )
        if status in (401, 403):
            if sent:
                raise FetchError(
                    f"hf://{repo}: the Hub rejected the token (HTTP {status})",
                    status=missing,
                    path=url,
                    hint="check HF_TOKEN (or the token `hf auth login` saved): it may have expired "
                    "or lack access to this repo",
                )
            raise FetchError(
                f"hf://{repo}: no such repo, or it is private or gated (HTTP {status}), and no "
                "token was sent",
                status=missing,
                path=url,
                hint="set HF_TOKEN (or run `hf auth login`) with a token that can read it",
            )
        if status == 404:
            raise FetchError(
                f"hf://{repo}: no such repo, or no revision {revision!r} in it (HTTP 404)",
                status=404,
                path=url,
                hint="check the repo's name and the revision (a branch, a tag or a commit)",
            )
        if status != 200:
            raise FetchError(f"hf://{repo}: the revision API answered HTTP {status}", path=url)
        try:
            doc = response.json()
        except ValueError:
            raise FetchError(f"{url}: the Hub's answer is not JSON", path=url) from None
        return parse_revision(doc, url)

    return retry.call(url, attempt)
