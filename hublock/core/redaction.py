"""Secrets never leave: credentials in URLs are redacted in everything hublock prints or logs,
and stripped from everything it writes (hub.lock).

A secret in a URL is its userinfo (``https://user:password@host/``) and the values of query
parameters that sign or authorise a request (``X-Goog-Signature``, ``X-Amz-Credential``,
``token``, ``key``, ``sig``...). Handles and mirrors come from hub.toml and the command line,
URLs from redirects: any of them may carry one.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_USERINFO = re.compile(r"(?<=://)[^/?#@\s\"']+@")
_SECRET_KEY = (
    r"(?:x-goog-[\w-]*|x-amz-[\w-]*|signature|sig|token|access_token|auth|api_?key|key|password"
    r"|secret|credential|googleaccessid)"
)
_SECRET_PARAM = re.compile(rf"(?i)([?&]{_SECRET_KEY}=)[^&#\s\"'<>]*")
_IS_SECRET = re.compile(rf"(?i)^{_SECRET_KEY}$")


def redact(text: str) -> str:
    """``text`` with every URL's userinfo and secret query values replaced by ``***``."""
    return _SECRET_PARAM.sub(rf"\g<1>{MASK}", _USERINFO.sub(f"{MASK}@", text))


def strip_secrets(url: str) -> str:
    """A URL fit to be written down (hub.lock): no userinfo, no secret query parameters."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _IS_SECRET.match(k)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
