"""Fetching model archives: mirrors, the tfhub.dev -> Kaggle -> storage redirect chain, retries,
resumes.

An archive arrives as an ``ArchiveStream``: hashed and counted as it is read, written into the
download cache on the way, and kept there (under its sha256) only once the caller has judged it,
together with the URL it came from (the last stable URL of the chain: signed, expiring storage
URLs are never recorded).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import os
import sys
import time
import types
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from hublock.caches.downloads import ArchiveWriter, DownloadCache
from hublock.core import config
from hublock.core.digest import TreeDigest
from hublock.core.errors import FetchError, IntegrityError, SavedModelError
from hublock.core.parallel import ReadAhead
from hublock.core.redact import strip_secrets
from hublock.formats import kaggle
from hublock.formats.archive import KEEP_MAX, extract_archive, unpacked_limit
from hublock.formats.lockfile import LockedModel
from hublock.formats.manifest import CONTENT_MIRROR, handle_kind

if TYPE_CHECKING:
    import ssl

    import httpx

    from hublock.formats.bundle import BundleReader
    from hublock.formats.saved_model_api import ModelApi

log = logging.getLogger("hublock")

MAX_REDIRECTS = 10
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SIGNED_PARAMS = ("x-goog-", "x-amz-", "signature", "expires", "googleaccessid")
_FORMAT_QUERY = ("tf-hub-format", "compressed")

Progress = Callable[[int], None]
"""Called with the number of bytes just received."""


# read for the model's API as the archive streams by (_api.SAVED_MODEL and _api.FINGERPRINT,
# named here so that a sync, which reads no API, does not import the protobuf reader)
API_FILES = ("saved_model.pb", "fingerprint.pb")


@dataclass(frozen=True)
class HashedArchive:
    """An archive read once: its sha256 and size, where it came from (``path``: in the download
    cache, when it was kept), the tree of its files, and its API as saved_model.pb says it."""

    sha256: str
    size: int
    url: str
    path: Path | None
    tree: TreeDigest
    api: ModelApi | None
    signature_def_hash: str | None
    said: str
    """What to say about the API: how many signatures, or why none was recorded."""


def archive_api(files: Mapping[str, bytes], tree: TreeDigest) -> tuple[ModelApi | None, str | None, str]:
    """The API of a model from its saved_model.pb and fingerprint.pb (as ``extract_archive``
    kept them), TensorFlow's signature_def_hash, and what to say about it: a model that is no
    SavedModel, or whose saved_model.pb cannot be read, is said so, not failed."""
    from hublock.formats.saved_model_api import FINGERPRINT, SAVED_MODEL, parse_fingerprint, parse_saved_model

    if SAVED_MODEL not in files:
        if any(f.path == SAVED_MODEL for f in tree.files):
            return None, None, f"saved_model.pb larger than {KEEP_MAX >> 20} MB: no API recorded"
        return None, None, "no saved_model.pb: not a SavedModel, no API recorded"
    try:
        api = parse_saved_model(files[SAVED_MODEL])
    except SavedModelError as exc:
        return None, None, f"saved_model.pb cannot be read ({exc}): no API recorded"
    signature_def_hash = None
    if FINGERPRINT in files:
        try:
            signature_def_hash = str(parse_fingerprint(files[FINGERPRINT]))
        except SavedModelError:
            signature_def_hash = None
    count = len(api.signatures)
    return api, signature_def_hash, f"API of {count} signature{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Download:
    """An archive in the download cache: where it is, what it is, where it came from."""

    path: Path
    sha256: str
    size: int
    url: str


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
            return os.path.join(base, rest)
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
    from hublock.formats.bundle import archive_member

    if "://" in base:
        return base.rstrip("/") + "/" + archive_member(sha256)
    return os.path.join(base, archive_member(sha256))


def model_sources(model: LockedModel, mirrors: Mapping[str, str]) -> list[str]:
    """Where a locked model's archive may come from, in order: a content-addressed mirror, by
    its digest; its handle (through its mirror); the upstream URL it was locked from (through its
    mirror), else the handle upstream. For a kagglehub-only model, the Kaggle API last."""
    by_digest = []
    if CONTENT_MIRROR in mirrors and model.archive:
        by_digest = [content_source(model.archive.removeprefix("sha256:"), mirrors[CONTENT_MIRROR])]
    if model.in_tfhub:
        fallback = apply_mirror(model.url, mirrors) if model.url else source_url(model.handle, {})
        return [*by_digest, source_url(model.handle, mirrors), fallback]
    pinned = kaggle.SCHEME + (model.kaggle or "")
    return [*by_digest, source_url(pinned, mirrors), pinned]


class Fetcher:
    """Downloads archives into a DownloadCache. ``transport`` makes the network injectable."""

    def __init__(
        self,
        downloads: DownloadCache,
        *,
        offline: bool = False,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = None,
        retries: int = 3,
        backoff: float | None = None,
        auth: Mapping[str, str] | None = None,
        bundles: Sequence[Path] = (),
    ) -> None:
        self.downloads = downloads
        self._bundle_paths = tuple(bundles)
        self._bundles: list[BundleReader] | None = None
        self._auth = dict(auth or {})
        self.offline = offline
        self._transport = transport
        # HUBLOCK_TIMEOUT: seconds a connection may stay silent before the attempt fails
        self._timeout = timeout if timeout is not None else config.HUBLOCK_TIMEOUT.number()
        self._retries = retries
        self._backoff = backoff if backoff is not None else config.HUBLOCK_RETRY_BACKOFF.number()
        self._client: httpx.Client | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            httpx = import_httpx()  # only when the network is needed: keeps `hublock` start-up fast

            transport = self._transport if self._transport is not None else _network_transport()
            self._client = httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(self._timeout, connect=10.0),
                follow_redirects=False,
                headers={"Accept-Encoding": "identity", "User-Agent": "hublock/0.1"},
                auth=_auth_class()(self._auth),
            )
        return self._client

    def hash_archive(
        self,
        sources: list[str],
        *,
        cached_sha256: str | None = None,
        progress: Progress | None = None,
        keep: bool = False,
    ) -> HashedArchive:
        """Read an archive once, as sync does (reading, gunzip and untar on their own threads):
        its sha256, the tree hash of its files, and its API from saved_model.pb on the way.
        ``keep``: keep the bytes in the download cache (under their digest)."""
        kept: dict[str, bytes] = {}
        with (
            self.open_archive(sources, cached_sha256=cached_sha256, progress=progress) as stream,
            ReadAhead(iter(stream)) as raw,
        ):
            limit = lambda: unpacked_limit(stream.size)  # noqa: E731 - the size grows as it streams
            tree = extract_archive(raw, None, max_bytes=limit, keep=API_FILES, kept=kept)
            raw.drain()  # the digest covers every byte, also those after the end of the tar
            if raw.failure is not None:
                raise raw.failure
            path = stream.keep() if keep else None
        api, signature_def_hash, said = archive_api(kept, tree)
        return HashedArchive(
            stream.sha256, stream.size, stream.url, path, tree, api, signature_def_hash, said
        )

    @property
    def bundles(self) -> list[BundleReader]:
        """The bundles (``sync --from``) archives are also taken from, opened on first use."""
        if self._bundles is None:
            self._bundles = []
            if self._bundle_paths:  # the bundle reader is imported only for those who have one
                from hublock.formats.bundle import BundleReader

                self._bundles = [BundleReader(path) for path in self._bundle_paths]
        return self._bundles

    @contextmanager
    def open_archive(
        self,
        sources: list[str],
        *,
        cached_sha256: str | None = None,
        max_bytes: int | None = None,
        progress: Progress | None = None,
    ) -> Iterator[ArchiveStream]:
        """The archive's bytes as a stream, from the download cache or a bundle (by
        ``cached_sha256``), or else from the first source that answers. Bytes from a source are
        written into the download cache on the way; ``stream.keep()`` keeps them there once the
        caller has judged them. (Bytes from a bundle are not: the bundle stays where it is.)"""
        if cached_sha256 is not None and (cached := self.downloads.get(cached_sha256)) is not None:
            with open(cached, "rb") as f:
                yield ArchiveStream(_iter_file(f), str(cached), None, max_bytes, progress, cached)
            return
        for bundle in self.bundles if cached_sha256 is not None else ():
            opened = bundle.open(cached_sha256)  # type: ignore[arg-type]
            if opened is not None:
                from hublock.formats.bundle import archive_member

                label = f"{bundle.path}:{archive_member(cached_sha256)}"  # type: ignore[arg-type]
                with opened:
                    yield ArchiveStream(_iter_file(opened), label, None, max_bytes, progress)
                return
        failures: list[FetchError] = []
        for source in dict.fromkeys(sources):  # unique, in order
            with ExitStack() as stack:
                try:
                    chunks, url = self._open_source(source, stack)
                except FetchError as exc:
                    failures.append(exc)
                    continue
                writer = stack.enter_context(self.downloads.writer())
                yield ArchiveStream(chunks, url, writer, max_bytes, progress)
                return
        if len(failures) == 1:
            raise failures[0]
        raise FetchError("; ".join(map(str, failures)), path=failures[0].path)

    def _open_source(self, source: str, stack: ExitStack) -> tuple[Iterator[bytes], Callable[[], str] | str]:
        """The bytes of one source, its first chunk already received (so a source that does not
        answer at all is known before anything is consumed), and where they come from."""
        if handle_kind(source) in ("http", "kaggle"):
            if self.offline and self._bundle_paths:
                raise FetchError(
                    f"{source}: not in {', '.join(map(str, self._bundle_paths))} nor in the download "
                    "cache, and --from uses no network",
                    path=source,
                    hint="make the bundle from this hub.lock on the connected side: `hublock bundle OUT`",
                )
            if self.offline:
                raise FetchError(
                    f"{source}: not downloaded yet, and --offline forbids the network", path=source
                )
            body = HttpBody(self, source)
            chunks = iter(body)
            stack.callback(chunks.close)
            first = next(chunks, b"")
            return itertools.chain([first], chunks), lambda: body.url
        try:
            if "://" in source:
                import fsspec

                opened = fsspec.open(source, "rb").open()
            else:
                opened = open(source, "rb")  # noqa: SIM115 - closed by the stack
        except FileNotFoundError:
            raise FetchError(f"{source}: no such file", path=source) from None
        except ImportError as exc:
            raise FetchError(f"{source}: {exc}; for gs:// install hublock[gcs]", path=source) from exc
        except (OSError, ValueError) as exc:
            raise FetchError(f"{source}: cannot open: {exc}", path=source) from exc
        stack.enter_context(opened)
        return _iter_file(opened), Path(source).resolve().as_uri() if "://" not in source else source

    def uncompressed_location(self, url: str) -> str:
        """tensorflow_hub's uncompressed protocol: ``tf-hub-format=uncompressed`` is answered with
        ``303 See Other`` and the model's gs:// location in the body (no Location header)."""
        if self.offline:
            raise FetchError(f"{url}: not resolved yet, and --offline forbids the network", path=url)
        import httpx

        url = with_format_query(url, "uncompressed")
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = self.client.get(url)
            except httpx.TransportError as exc:
                raise FetchError(f"{url}: {type(exc).__name__}: {exc}", path=url) from exc
            if response.status_code == 303 and "location" not in response.headers:
                location = response.text.strip()
                if not location.startswith("gs://"):
                    raise FetchError(
                        f"{url}: expected a gs:// location in the 303 body, got {location[:80]!r}",
                        path=url,
                    )
                return location
            if response.is_redirect:
                url = _redirect_target(url, response.headers["location"])
                continue
            raise FetchError(
                f"{url}: expected '303 See Other' with a gs:// location (tensorflow_hub's "
                f"uncompressed format), got HTTP {response.status_code}",
                path=url,
            )
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects", path=url)

    def kaggle_version(self, handle: kaggle.KaggleHandle) -> int:
        """The version Kaggle serves now for an unversioned handle (``GetModelInstance``)."""
        if self.offline:
            raise FetchError(
                f"kaggle://{handle}: has no version, and --offline forbids asking Kaggle for the "
                "current one; pin a version in hub.toml or drop --offline",
                path=f"kaggle://{handle}",
            )
        import httpx

        label = f"kaggle://{handle}"
        for attempt in itertools.count(1):
            try:
                response = self.client.post(
                    kaggle.api_url("GetModelInstance"),
                    json=handle.instance_request(),
                    headers=_kaggle_headers(),
                )
                response.read()
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return int(response.json()["versionNumber"])
                    except (ValueError, KeyError, TypeError):
                        raise FetchError(
                            f"{label}: the Kaggle API answered without a version number", path=label
                        ) from None
                if response.status_code not in RETRY_STATUSES:
                    raise _kaggle_failure(label, response.status_code, response.text)
                reason = f"HTTP {response.status_code}"
            if attempt > self._retries:
                raise FetchError(f"{label}: {reason} (gave up after {attempt} attempts)", path=label)
            time.sleep(self._backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    @contextmanager
    def _open_chain(
        self, start: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[tuple[httpx.Response, str]]:
        """Follow redirects by hand, to refuse downgrades and remember the last stable URL.
        ``headers`` (a Range) go with every request: redirects ignore them. A ``kaggle://``
        start is first a POST to the Kaggle API (with the Kaggle credentials, which never
        follow a redirect), answered by a redirect to signed storage."""
        url = start
        stable = start
        seen = {start}
        for _ in range(MAX_REDIRECTS + 1):
            if url.startswith(kaggle.SCHEME):
                pinned = kaggle.parse_kaggle_handle(url)
                request = self.client.build_request(
                    "POST",
                    kaggle.api_url("DownloadModelInstanceVersion"),
                    json=pinned.download_request(),
                    headers={**(headers or {}), **_kaggle_headers()},
                )
            else:
                request = self.client.build_request("GET", url, headers=headers)
            response = self.client.send(request, stream=True)
            if response.is_redirect:
                response.close()
                target = _redirect_target(str(request.url), response.headers["location"])
                if target in seen:
                    raise FetchError(f"{start}: redirect loop at {target}", path=start)
                seen.add(target)
                url = target
                if not is_signed(url):
                    stable = url
                continue
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
                    raise _Retry(f"HTTP {status} from {url}")
                if start.startswith(kaggle.SCHEME) and url == start:
                    response.read()
                    raise _kaggle_failure(start, status, response.text)
                if status in (404, 410):
                    raise FetchError(
                        f"{start}: not found (HTTP {status}); check the handle", path=start, status=status
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
        raise FetchError(f"{start}: more than {MAX_REDIRECTS} redirects", path=start)


class ArchiveStream:
    """An archive's bytes as they arrive: counted, hashed, bounded by ``max_bytes``, reported to
    ``progress``, and (from the network) written into the download cache, where ``keep``
    names them by their digest. Bytes not kept are removed when the stream closes."""

    def __init__(
        self,
        chunks: Iterator[bytes],
        url: Callable[[], str] | str,
        writer: ArchiveWriter | None,
        max_bytes: int | None,
        progress: Progress | None,
        cached: Path | None = None,
    ) -> None:
        self._chunks = chunks
        self._url = url
        self._writer = writer
        self._max_bytes = max_bytes
        self._progress = progress
        self._sha256 = hashlib.sha256()
        self.cached = cached  # the download-cache file it is read from, if it is
        self.size = 0

    @property
    def url(self) -> str:
        """Where the bytes come from: the last stable URL of the chain, a file, or the cache."""
        return self._url if isinstance(self._url, str) else self._url()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._sha256.update(chunk)
            self.size += len(chunk)
            if self._max_bytes is not None and self.size > self._max_bytes:
                raise IntegrityError(
                    f"{self.url}: more than {self._max_bytes} bytes arrived, far more than hub.lock "
                    "records; the server changed the content",
                    path=self.url,
                )
            if self._writer is not None:
                self._writer.write(chunk)
            if self._progress is not None:
                self._progress(len(chunk))
            yield chunk

    def keep(self) -> Path | None:
        """Keep what was read in the download cache, under its digest (call after the end)."""
        if self._writer is None:
            return self.cached
        return self._writer.commit(self.sha256)


class HttpBody:
    """A download's bytes as one stream, whatever breaks on the way.

    Transient failures (5xx, 429, resets, timeouts, an expired signed URL) are retried with
    exponential backoff, each time from the stable URL (a signed URL may have expired). A body
    broken off mid-way resumes with ``Range`` (guarded by ``If-Range`` on the ETag, so a changed
    object is never spliced onto the old one); a server that ignores Range sends it all again
    and the part already received is skipped. ``url`` is the last stable URL of the chain.
    """

    def __init__(self, fetcher: Fetcher, start: str) -> None:
        self._fetcher = fetcher
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
                with self._fetcher._open_chain(self.start, headers) as (response, stable):
                    self.url = stable
                    skip = self._check_resumed(response, received, etag) if received else 0
                    if not received:
                        tag = response.headers.get("etag")
                        etag = tag if tag and not tag.startswith("W/") else None
                        declared = response.headers.get("content-length")
                        length = int(declared) if declared and declared.isdigit() else None
                    for chunk in response.iter_raw():  # unbuffered: a reset loses no received byte
                        if skip:
                            cut = min(skip, len(chunk))
                            chunk, skip = chunk[cut:], skip - cut
                            if not chunk:
                                continue
                        received += len(chunk)
                        yield chunk
                    if length is not None and received != length:
                        raise _Retry(f"body ended after {received} of {length} bytes")
                    return
            except _Retry as exc:
                reason = str(exc)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            failures = 1 if received > before else failures + 1
            if failures > self._fetcher._retries:
                raise FetchError(
                    f"{self.start}: {reason} (gave up after {failures} attempts)", path=self.start
                )
            delay = self._fetcher._backoff * 2 ** (failures - 1)
            log.info("retrying %s in %.1fs (%d bytes received): %s", self.start, delay, received, reason)
            time.sleep(delay)

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


def _without_httpx_cli() -> None:
    """``import httpx`` imports ``httpx._main`` (click, rich and pygments: ~60 ms, half of
    httpx's import) whenever those are installed, and hublock's own dependencies install them.
    A stand-in takes its place, here, before any ``import httpx`` of hublock's; calling
    ``httpx.main`` runs the real one."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        sys.modules.pop("httpx._main", None)
        from httpx._main import main as real

        return real(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


_without_httpx_cli()


def import_httpx() -> ModuleType:
    """httpx (without its command-line client, see ``_without_httpx_cli``)."""
    import httpx

    return httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process: loading the CA bundle costs ~30 ms,
    and worker processes forked after ``prepare_network()`` share this one."""
    return import_httpx().create_ssl_context()  # type: ignore[no-any-return]


def needs_tls(url: str) -> bool:
    """Whether fetching ``url`` starts with a TLS handshake (the Kaggle API: unless pointed at a
    plain-http base)."""
    if handle_kind(url) == "kaggle":
        return not kaggle.api_base().startswith("http://")
    return url.startswith("https://")


def prepare_network(urls: Iterable[str]) -> None:
    """Import the HTTP stack now (httpx, and httpcore and h11 under it: ~80 ms), and make the
    TLS context when one of ``urls`` needs it, so that worker processes forked after this inherit
    both instead of each paying for them. (A redirect to https later still works: the worker
    then makes its own.)"""
    import_httpx().HTTPTransport(verify=False).close()  # httpcore is imported by its transport
    if any(needs_tls(url) for url in urls):
        tls_context()


def _network_transport() -> httpx.BaseTransport:
    """Plain HTTP at once, TLS on the first https request: loading the CA bundle costs ~30 ms,
    which a sync from a plain-http mirror or a loopback server need not pay."""
    import httpx  # without its command-line client: see _without_httpx_cli

    def plain() -> httpx.HTTPTransport:
        # verify=False only spares loading CA certificates: this transport is only ever
        # handed http:// URLs (and env proxies are off, a transport being given)
        transport = httpx.HTTPTransport(verify=False)
        _read_in_big_steps(transport)
        return transport

    def tls() -> httpx.HTTPTransport:
        transport = httpx.HTTPTransport(verify=tls_context())
        _read_in_big_steps(transport)
        return transport

    class SchemeTransport(httpx.BaseTransport):
        def __init__(self) -> None:
            self._by_scheme: dict[str, httpx.HTTPTransport] = {}

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            scheme = request.url.scheme
            if scheme not in self._by_scheme:
                self._by_scheme[scheme] = tls() if scheme == "https" else plain()
            return self._by_scheme[scheme].handle_request(request)

        def close(self) -> None:
            for transport in self._by_scheme.values():
                transport.close()

    return SchemeTransport()


NETWORK_READ = 1 << 20


def _read_in_big_steps(transport: httpx.HTTPTransport) -> None:
    """Have httpcore read the socket up to NETWORK_READ bytes at a time instead of 64 KiB.

    On a fast link httpcore's per-read Python work (h11 events, buffers) bounds a download at
    ~1 GB/s and, worse, holds the GIL that gunzip and hashing need: 1 MiB reads double the rate
    and take a cold sync of 1 GB from 5.3 s to 3.8 s here. httpx has no option for it, so the
    transport's network backend is wrapped; if a later httpx lays its pool out differently, this
    does nothing and downloads are merely slower.
    """
    import httpcore

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max(max_bytes, NETWORK_READ), timeout)

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, timeout)

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            return Stream(self._inner.start_tls(*args, **kwargs))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self, inner: httpcore.NetworkBackend) -> None:
            self._inner = inner

        def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            return Stream(self._inner.connect_tcp(*args, **kwargs))

        def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
            return Stream(self._inner.connect_unix_socket(*args, **kwargs))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if isinstance(inner, httpcore.NetworkBackend):
        pool._network_backend = Backend(inner)  # type: ignore[union-attr]


def _redirect_target(url: str, location: str) -> str:
    """Where a redirect leads; never from https down to plain http."""
    target = urljoin(url, location)
    if url.startswith("https://") and target.startswith("http://"):
        raise FetchError(f"{url}: refused a redirect from https to plain http ({target})", path=url)
    return target


def _auth_class() -> type:
    """Built on first use: httpx is imported only when the network is needed."""
    import base64
    import fnmatch
    import netrc

    import httpx

    class HostAuth(httpx.Auth):
        """Per request, by host: a bearer token from the environment variable that hub.toml's
        [auth] names for a matching pattern, else ~/.netrc ($NETRC). Never logged or stored."""

        def __init__(self, patterns: Mapping[str, str]) -> None:
            self.patterns = patterns

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            host = request.url.host
            if "Authorization" in request.headers:  # given for this request (the Kaggle API)
                yield request
                return
            for pattern, variable in self.patterns.items():
                if fnmatch.fnmatch(host, pattern):
                    token = os.environ.get(variable)
                    if token:
                        request.headers["Authorization"] = f"Bearer {token}"
                    break
            else:
                try:
                    found = netrc.netrc(config.NETRC.get()).authenticators(host)
                except (OSError, netrc.NetrcParseError):
                    found = None
                if found and found[2] is not None:
                    basic = base64.b64encode(f"{found[0]}:{found[2]}".encode()).decode()
                    request.headers["Authorization"] = f"Basic {basic}"
            yield request

    return HostAuth


def _kaggle_headers() -> dict[str, str]:
    found = kaggle.credentials()
    return {"Authorization": found} if found else {}


def _kaggle_failure(label: str, status: int, text: str) -> FetchError:
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


class _Retry(Exception):
    """A transient failure: try the whole chain again after a pause."""


def _iter_file(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(1 << 20):
        yield chunk
