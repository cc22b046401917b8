"""One download over HTTP, whatever breaks on the way: the redirect chain followed by hand (the
Kaggle API's POST first for a ``kaggle://`` handle), retries by the one rule, and a body broken off
mid-way resumed with ``Range``."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hublock.core import FetchError, IntegrityError
from hublock.formats import KAGGLE_SCHEME, parse_kaggle_handle
from hublock.remote.http import RETRY_STATUSES, Retry, Transient, transport_reason
from hublock.remote.kaggle_api import api_url, download_request, refusal
from hublock.remote.kaggle_api import headers as kaggle_headers
from hublock.remote.urls import RedirectChain

if TYPE_CHECKING:
    import httpx


class HttpBody:
    """A download's bytes as one stream, whatever breaks on the way.

    Transient failures (5xx, 429, resets, timeouts, an expired signed URL) are retried with
    exponential backoff, each time from the stable URL (a signed URL may have expired). A body
    broken off mid-way resumes with ``Range`` (guarded by ``If-Range`` on the ETag, so a changed
    object is never spliced onto the old one); a server that ignores Range sends it all again
    and the part already received is skipped. ``url`` is the last stable URL of the chain.
    """

    def __init__(self, client: httpx.Client, start: str, retry: Retry) -> None:
        self._client = client
        self._retry = retry
        self.start = start
        self.url = start

    def __iter__(self) -> Generator[bytes, None, None]:
        import httpx

        received, etag, length = 0, None, None
        failures = 0  # in a row, without a byte received in between
        while True:
            headers = {}
            if received:
                headers = {"Range": f"bytes={received}-", **({"If-Range": etag} if etag else {})}
            before = received
            try:
                with open_chain(self._client, self.start, headers) as (response, stable):
                    self.url = stable
                    skip = self._check_resumed(response, received, etag) if received else 0
                    if not received:
                        tag = response.headers.get("etag")
                        etag = tag if tag and not tag.startswith("W/") else None
                        declared = response.headers.get("content-length")
                        length = int(declared) if declared and declared.isdigit() else None
                    for chunk in _raw(response):
                        if skip:
                            cut = min(skip, len(chunk))
                            chunk, skip = chunk[cut:], skip - cut
                            if not chunk:
                                continue
                        received += len(chunk)
                        yield chunk
                    if length is not None and received != length:
                        raise Transient(f"body ended after {received} of {length} bytes")
                    return
            except Transient as exc:
                reason = str(exc)
            except httpx.TransportError as exc:
                reason = transport_reason(exc)
            failures = 1 if received > before else failures + 1
            self._retry.pause(self.start, failures, f"{reason} ({received} bytes received)")

    def _check_resumed(self, response: httpx.Response, received: int, etag: str | None) -> int:
        """How many bytes of this response were received already (0 for a proper 206)."""
        if response.status_code == 206:
            first = response.headers.get("content-range", "").removeprefix("bytes ").split("-")[0]
            if first != str(received):
                raise FetchError(
                    f"{self.start}: asked to resume at byte {received}, the server answered "
                    f"Content-Range {response.headers.get('content-range')!r}",
                    path=self.start,
                )
            return 0
        tag = response.headers.get("etag")
        if etag is not None and tag != etag:
            raise IntegrityError(
                f"{self.start}: the archive changed on the server while it was being downloaded "
                f"(ETag {etag} became {tag}); run the command again",
                path=self.start,
            )
        return received


@contextmanager
def open_chain(
    client: httpx.Client, start: str, headers: Mapping[str, str] | None = None
) -> Iterator[tuple[httpx.Response, str]]:
    """Follow redirects by hand, to refuse downgrades and remember the last stable URL.
    ``headers`` (a Range) go with every request: redirects ignore them. A ``kaggle://``
    start is first a POST to the Kaggle API (with the Kaggle credentials, which never
    follow a redirect), answered by a redirect to signed storage."""
    chain = RedirectChain(start)
    while True:
        url = chain.url
        if url.startswith(KAGGLE_SCHEME):
            request = client.build_request(
                "POST",
                api_url("DownloadModelInstanceVersion"),
                json=download_request(parse_kaggle_handle(url)),
                headers={**(headers or {}), **kaggle_headers()},
            )
        else:
            request = client.build_request("GET", url, headers=headers)
        response = client.send(request, stream=True)
        if response.is_redirect:
            response.close()
            chain.follow(response.headers["location"], base=str(request.url))
            continue
        stable = chain.stable
        try:
            if response.status_code in (200, 206):
                yield response, stable
                return
            status = response.status_code
            if status == 416:
                raise FetchError(
                    f"{start}: the server announced more bytes than it has (HTTP 416 when asked "
                    f"for the rest from byte {(headers or {}).get('Range', '?')[6:-1]}); its "
                    "Content-Length is wrong, ask its owner or use a mirror",
                    path=start,
                )
            if status in RETRY_STATUSES or (status == 403 and url != stable):
                # 403 on a signed URL: it expired; start again from the stable URL.
                raise Transient(f"HTTP {status} from {url}")
            if start.startswith(KAGGLE_SCHEME) and url == start:
                response.read()
                raise refusal(start, status, response.text)
            if status in (404, 410):
                raise FetchError(
                    f"{start}: not found (HTTP {status}); check the handle", path=start, status=status
                )
            if status in (401, 403) and "authorization" in response.request.headers:
                raise FetchError(
                    f"{start}: HTTP {status} from {urlsplit(url).netloc}: it rejected the credentials "
                    "sent (hub.toml's [auth] token, or ~/.netrc)",
                    path=start,
                    hint="check that the token or password is current and may read this model",
                )
            if status in (401, 403):
                raise FetchError(
                    f"{start}: HTTP {status} from {urlsplit(url).netloc}: the host wants "
                    "credentials; name the environment variable holding a token in hub.toml's "
                    "[auth] table, or add the host to ~/.netrc",
                    path=start,
                )
            raise FetchError(f"{start}: HTTP {status} from {url}", path=start)
        finally:
            response.close()


def _raw(response: httpx.Response) -> Iterator[bytes]:
    """The body as it arrives, unbuffered (a reset loses no received byte); or whole, when the
    transport made the response from bytes already read (``httpx.MockTransport``, a test's or a
    program's own transport: ``transport=``)."""
    if response.is_stream_consumed:
        yield response.content
        return
    yield from response.iter_raw()
