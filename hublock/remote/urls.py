"""Where a model's bytes may come from, as pure functions of handles, mirrors and URLs: the URL
tensorflow_hub would request, a mirror's address for a handle, what hub.lock may record of a URL,
the order of a locked model's sources, and the rules every redirect follows."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from hublock.core import FetchError, strip_secrets
from hublock.formats import CONTENT_MIRROR, HF_WEB, KAGGLE_SCHEME, LockedModel, handle_kind

MAX_REDIRECTS = 10
_SIGNED_PARAMS = ("x-goog-", "x-amz-", "signature", "expires", "googleaccessid")
_FORMAT_QUERY = ("tf-hub-format", "compressed")


def with_format_query(url: str, fmt: str = "compressed") -> str:
    """The URL tensorflow_hub requests for an http(s) handle: ``tf-hub-format=<fmt>`` added."""
    parts = urlsplit(url)
    query = [q for q in parse_qsl(parts.query, keep_blank_values=True) if q[0] != _FORMAT_QUERY[0]]
    query.append((_FORMAT_QUERY[0], fmt))
    return urlunsplit(parts._replace(query=urlencode(query)))


def is_signed(url: str) -> bool:
    """Whether a URL carries a signature or an expiry, so it must not be recorded in the lock."""
    keys = (k.lower() for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return any(k.startswith(_SIGNED_PARAMS) for k in keys)


def apply_mirror(handle: str, mirrors: Mapping[str, str]) -> str:
    """Where to fetch ``handle`` from: the longest matching mirror prefix replaced, or the handle.

    A mirror that is a directory maps ``https://host/a/b/5`` to ``DIR/a/b/5.tar.gz``.
    """
    for prefix in sorted(mirrors, key=len, reverse=True):
        if handle.startswith(prefix):
            base = mirrors[prefix]
            rest = handle[len(prefix) :]
            if "://" in base:
                return base.rstrip("/") + "/" + rest.lstrip("/")
            rest = urlsplit(rest).path.strip("/")
            if not rest.endswith((".tar.gz", ".tgz", ".tar")):
                rest += ".tar.gz"
            location = os.path.join(base, rest)
            inside = os.path.normpath(location).startswith(os.path.normpath(base).rstrip(os.sep) + os.sep)
            if not inside:  # hub.toml refuses such handles; a hand-edited hub.lock meets this
                raise FetchError(
                    f"{handle}: leads outside the mirror directory {base}; refused",
                    path=handle,
                    hint="fix the handle in hub.toml and hub.lock (`hublock lock --upgrade NAME`)",
                )
            return location
    return handle


def source_url(handle: str, mirrors: Mapping[str, str]) -> str:
    """The first location to try for a handle, with the format query tensorflow_hub would add."""
    location = apply_mirror(handle, mirrors)
    if handle_kind(location) == "http" and handle_kind(handle) == "http":
        return with_format_query(location)
    return location


def portable_url(url: str, mirrors: Mapping[str, str], *, via_mirror: bool = False) -> str:
    """What hub.lock may record of where an archive came from: an upstream URL without
    credentials, or "" (never a machine-local path or a mirror's address). A URL under a URL
    mirror's base is mapped back to the upstream it mirrors. ``via_mirror``: the redirect chain
    started at a mirror, so a URL under no mirror base is that mirror's own backend."""
    url = strip_secrets(url)
    for prefix, base in sorted(mirrors.items(), key=lambda item: -len(item[1])):
        root = strip_secrets(base).rstrip("/") + "/"
        if "://" in base and handle_kind(prefix) == "http" and url.startswith(root):
            return prefix.rstrip("/") + "/" + url[len(root) :]
    if via_mirror or urlsplit(url).scheme not in ("http", "https", "gs"):
        return ""
    return url


def content_source(sha256: str, base: str) -> str:
    """Where a content-addressed mirror (``hublock mirror``) keeps an archive: ``BASE/sha256/<hex>``."""
    from hublock.formats import archive_member

    if "://" in base:
        return base.rstrip("/") + "/" + archive_member(sha256)
    return os.path.join(base, archive_member(sha256))


def model_sources(model: LockedModel, mirrors: Mapping[str, str]) -> list[str]:
    """Where a locked model's archive may come from, in order: a content-addressed mirror, by
    its digest; its handle (through its mirror); the upstream URL it was locked from (through its
    mirror), else the handle upstream. For a kagglehub-only model, the Kaggle API last."""
    if model.from_hf:  # its files come from the Hub one by one (``hf_api.file_sources``)
        return [apply_mirror(f"{HF_WEB}/{model.hf_repo}", mirrors)]
    by_digest = []
    if CONTENT_MIRROR in mirrors and model.archive:
        by_digest = [content_source(model.archive.removeprefix("sha256:"), mirrors[CONTENT_MIRROR])]
    if model.in_tfhub:
        fallback = apply_mirror(model.url, mirrors) if model.url else source_url(model.handle, {})
        return [*by_digest, source_url(model.handle, mirrors), fallback]
    pinned = KAGGLE_SCHEME + (model.kaggle or "")
    return [*by_digest, source_url(pinned, mirrors), pinned]


def redirect_target(url: str, location: str) -> str:
    """Where a redirect leads; never from https down to plain http."""
    target = urljoin(url, location)
    if url.startswith("https://") and target.startswith("http://"):
        raise FetchError(f"{url}: refused a redirect from https to plain http ({target})", path=url)
    return target


class RedirectChain:
    """One request's redirects, followed by hand, by every HTTP path: at most MAX_REDIRECTS, no
    loop, never from https down to http. ``stable`` is the last URL that carries no signature:
    what hub.lock may record (signed storage URLs expire)."""

    def __init__(self, start: str) -> None:
        self.start = start
        self.url = start
        self.stable = start
        self._seen = {start}

    def follow(self, location: str, base: str | None = None) -> str:
        """The next URL, from a redirect's Location (relative to ``base``, default the current URL)."""
        target = redirect_target(base or self.url, location)
        if target in self._seen:
            raise FetchError(f"{self.start}: redirect loop at {target}", path=self.start)
        if len(self._seen) > MAX_REDIRECTS:
            raise FetchError(f"{self.start}: more than {MAX_REDIRECTS} redirects", path=self.start)
        self._seen.add(target)
        self.url = target
        if not is_signed(target):
            self.stable = target
        return target
