"""Getting a model's archive from wherever it is: the download cache, a bundle, a mirror, a
file or the network (``remote.download``), as an ``ArchiveStream`` hashed and counted as it is read,
written into the download cache on the way, and kept there (under its sha256) only once the caller
has judged it, together with the URL it came from (the last stable URL of the chain: signed,
expiring storage URLs are never recorded)."""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from hublock.caches import ArchiveWriter, DownloadCache
from hublock.core import FetchError, IntegrityError, ReadAhead, SavedModelError, TreeDigest, config
from hublock.core import redact as redact_url
from hublock.formats import (
    CONTENT_MIRROR,
    KEEP_MAX,
    KaggleHandle,
    LockedModel,
    extract_archive,
    handle_kind,
    unpacked_limit,
)
from hublock.remote.download import HttpBody
from hublock.remote.hf_api import HubRevision, file_sources, resolve_revision
from hublock.remote.hf_api import endpoint as hf_endpoint
from hublock.remote.hf_api import token as hf_token
from hublock.remote.http import (
    RETRY_STATUSES,
    Retry,
    Transient,
    auth_class,
    import_httpx,
    network_transport,
    tls_context,
)
from hublock.remote.kaggle_api import api_base, current_version
from hublock.remote.urls import (
    RedirectChain,
    apply_mirror,
    content_source,
    model_sources,
    with_format_query,
)

if TYPE_CHECKING:
    import httpx

    from hublock.formats import BundleReader, ModelApi

Progress = Callable[[int], None]
"""Called with the number of bytes just received."""


# read for the model's API as the archive streams by (_api.SAVED_MODEL and _api.FINGERPRINT,
# named here so that a sync, which reads no API, does not import the protobuf reader)
API_FILES = ("saved_model.pb", "fingerprint.pb")
SIGNATURE_MAX = 16 << 20  # a signature lists each file's digest: 16 MB is ~100,000 files


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
    kept: Mapping[str, bytes]
    """The bytes of the files asked for by path (``hash_archive``'s ``files``) that it holds."""


def archive_api(files: Mapping[str, bytes], tree: TreeDigest) -> tuple[ModelApi | None, str | None, str]:
    """The API of a model from its saved_model.pb and fingerprint.pb (as ``extract_archive``
    kept them), TensorFlow's signature_def_hash, and what to say about it: a model that is no
    SavedModel, or whose saved_model.pb cannot be read, is said so, not failed."""
    from hublock.formats import FINGERPRINT, SAVED_MODEL, parse_fingerprint, parse_saved_model

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
        self._bundles_lock = threading.Lock()
        self._auth = dict(auth or {})
        self.offline = offline
        self._transport = transport
        # HUBLOCK_TIMEOUT: seconds a connection may stay silent before the attempt fails
        self._timeout = timeout if timeout is not None else config.HUBLOCK_TIMEOUT.number()
        self.retry = Retry(retries, backoff if backoff is not None else config.HUBLOCK_RETRY_BACKOFF.number())
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

            transport = self._transport if self._transport is not None else network_transport()
            self._client = httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(self._timeout, connect=10.0),
                follow_redirects=False,
                headers={"Accept-Encoding": "identity", "User-Agent": "hublock/0.1"},
                auth=auth_class()(self._auth, self._hub_tokens()),
            )
        return self._client

    def _hub_tokens(self) -> dict[str, str]:
        """The Hugging Face token for the Hub's host (and only it: never for the storage it
        redirects to), unless hub.toml's [auth] names another for that host."""
        host = urlsplit(hf_endpoint()).hostname or ""
        found = hf_token()
        taken = any(fnmatch.fnmatch(host, pattern) for pattern in self._auth)
        return {host: found} if found and host and not taken else {}

    def hf_revision(self, repo: str, revision: str, mirrors: Mapping[str, str]) -> HubRevision:
        """A Hugging Face repo's revision pinned to its commit, with its files."""
        if self.offline:
            raise FetchError(
                f"hf://{repo}: revision {revision!r} not resolved yet, and --offline forbids the network",
                path=f"hf://{repo}",
            )
        base = apply_mirror(hf_endpoint() + "/", mirrors).rstrip("/")
        return resolve_revision(self.client, repo, revision, base, self.retry)

    def fetch_hub_file(
        self,
        sources: list[str],
        *,
        name: str,
        size: int,
        sha256: str | None,
        blob_id: str | None = None,
        progress: Progress | None = None,
        into: Path | None = None,
    ) -> str:
        """One file of a Hugging Face repo, from the download cache (by ``sha256``) or the first
        source that answers, checked against what the Hub or hub.lock says (its size, and its
        sha256 or else its git blob id), kept in the download cache, and written to ``into``
        when given; ``name`` says which file it is in messages. Returns its sha256 (hex)."""
        # git's blob id (the name of a file kept in git itself), computed only when no sha256 is
        # known to judge the bytes by: LFS files are large, and their sha256 is their name
        git = hashlib.sha1(f"blob {size}\0".encode()) if sha256 is None else None
        with self.open_archive(sources, cached_sha256=sha256, max_bytes=size, progress=progress) as stream:
            with open(into, "wb") if into is not None else nullcontext() as out:
                for chunk in stream:
                    if git is not None:
                        git.update(chunk)
                    if out is not None:
                        out.write(chunk)
            expected = f"{size} bytes, " + (f"sha256 {sha256}" if sha256 else f"git blob {blob_id}")
            actual = f"{stream.size} bytes, " + (
                f"git blob {git.hexdigest()}" if git is not None else f"sha256 {stream.sha256}"
            )
            if expected != actual:
                if stream.cached is not None:
                    stream.cached.unlink(missing_ok=True)  # a corrupted copy must not be reused
                raise IntegrityError(
                    f"{name} (from {redact_url(stream.url)}) differs from what the Hub listed for it",
                    path=stream.url,
                    expected=expected,
                    actual=actual,
                    hint="nothing was published; run the command again (a mirror or proxy may serve "
                    "another file under this name)",
                )
            stream.keep()
            return stream.sha256

    def hash_archive(
        self,
        sources: list[str],
        *,
        cached_sha256: str | None = None,
        progress: Progress | None = None,
        keep: bool = False,
        files: tuple[str, ...] = (),
    ) -> HashedArchive:
        """Read an archive once, as sync does (reading, gunzip and untar on their own threads):
        its sha256, the tree hash of its files, and its API from saved_model.pb on the way.
        ``keep``: keep the bytes in the download cache (under their digest). ``files``: paths of
        small files whose bytes to return too (a signature)."""
        kept: dict[str, bytes] = {}
        with (
            self.open_archive(sources, cached_sha256=cached_sha256, progress=progress) as stream,
            ReadAhead(iter(stream), yielding=True) as raw,
        ):
            limit = lambda: unpacked_limit(stream.size)  # noqa: E731 - the size grows as it streams
            tree = extract_archive(raw, None, max_bytes=limit, keep=(*API_FILES, *files), kept=kept)
            raw.drain()  # the digest covers every byte, also those after the end of the tar
            if raw.failure is not None:
                raise raw.failure
            path = stream.keep() if keep else None
        api, signature_def_hash, said = archive_api(kept, tree)
        return HashedArchive(
            stream.sha256, stream.size, stream.url, path, tree, api, signature_def_hash, said, kept
        )

    @property
    def bundles(self) -> list[BundleReader]:
        """The bundles (``sync --from``) archives are also taken from, opened on first use, once:
        the threads of a sync share this fetcher, and none may see the list before it is whole."""
        with self._bundles_lock:
            if self._bundles is None:
                readers: list[BundleReader] = []
                if self._bundle_paths:  # the bundle reader is imported only for those who have one
                    from hublock.formats import BundleReader

                    readers = [BundleReader(path) for path in self._bundle_paths]
                self._bundles = readers
            return self._bundles

    def bundle_holding(self, sha256: str) -> BundleReader | None:
        """The first bundle (``sync --from``) that holds this archive, if one does."""
        return next((bundle for bundle in self.bundles if bundle.has(sha256)), None)

    def read_signature(self, location: str, *, sha256: str | None = None) -> bytes | None:
        """A signature kept apart from its model (``[[trust]] detached``): from the download cache
        (by ``sha256``, when hub.lock knows it) or its location, a URL or a path; kept in the
        download cache. None where the location holds none (404, 410, no such file)."""
        if "://" not in location and not Path(location).exists():
            held = sha256 is not None and (
                self.downloads.get(sha256) is not None or self.bundle_holding(sha256) is not None
            )
            if not held:  # a path that is gone, with no copy kept: none, not a failed fetch
                return None
        try:
            with self.open_archive([location], cached_sha256=sha256, max_bytes=SIGNATURE_MAX) as stream:
                data = b"".join(stream)
                stream.keep()
                return data
        except FetchError as exc:
            if exc.gone:
                return None
            raise

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
                yield ArchiveStream(iter_file(f), str(cached), None, max_bytes, progress, cached)
            return
        if cached_sha256 is not None and (holder := self.bundle_holding(cached_sha256)) is not None:
            opened = holder.open(cached_sha256)
            if opened is not None:
                from hublock.formats import archive_member

                with opened:
                    label = f"{holder.path}:{archive_member(cached_sha256)}"
                    yield ArchiveStream(iter_file(opened), label, None, max_bytes, progress)
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
                yield ArchiveStream(chunks, url, writer, max_bytes, progress, source=source)
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
            body = HttpBody(self.client, source, self.retry)
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
        return iter_file(opened), Path(source).resolve().as_uri() if "://" not in source else source

    def uncompressed_location(self, url: str) -> str:
        """tensorflow_hub's uncompressed protocol: ``tf-hub-format=uncompressed`` is answered with
        ``303 See Other`` and the model's gs:// location in the body (no Location header)."""
        if self.offline:
            raise FetchError(f"{url}: not resolved yet, and --offline forbids the network", path=url)
        start = with_format_query(url, "uncompressed")

        def attempt() -> str:
            chain = RedirectChain(start)
            while True:
                response = self.client.get(chain.url)
                if response.status_code == 303 and "location" not in response.headers:
                    location = response.text.strip()
                    if not location.startswith("gs://"):
                        raise FetchError(
                            f"{start}: expected a gs:// location in the 303 body, got {location[:80]!r}",
                            path=start,
                        )
                    return location
                if response.is_redirect:
                    chain.follow(response.headers["location"])
                    continue
                if response.status_code in RETRY_STATUSES:
                    raise Transient(f"HTTP {response.status_code} from {chain.url}")
                raise FetchError(
                    f"{start}: expected '303 See Other' with a gs:// location (tensorflow_hub's "
                    f"uncompressed format), got HTTP {response.status_code}",
                    path=start,
                )

        return self.retry.call(start, attempt)

    def kaggle_version(self, handle: KaggleHandle) -> int:
        """The version Kaggle serves now for an unversioned handle (``GetModelInstance``)."""
        if self.offline:
            raise FetchError(
                f"kaggle://{handle}: has no version, and --offline forbids asking Kaggle for the "
                "current one; pin a version in hub.toml or drop --offline",
                path=f"kaggle://{handle}",
            )
        return current_version(self.client, handle, self.retry)


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
        source: str | None = None,
    ) -> None:
        self._chunks = chunks
        self.source = source  # which of the sources it came from (None: the download cache, a bundle)
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


def content_sources(model: LockedModel, sha256: str, mirrors: Mapping[str, str]) -> list[str]:
    """Where one of a model's content objects (``LockedModel.contents``) may come from: a
    content-addressed mirror by its digest, then for a Hugging Face file its URL at the locked
    commit (through a mirror of the Hub, then the Hub), else the model's archive sources."""
    path = model.hf_path_of(sha256) if model.from_hf else None
    if path is None:
        return model_sources(model, mirrors)
    by_digest = [content_source(sha256, mirrors[CONTENT_MIRROR])] if CONTENT_MIRROR in mirrors else []
    return [*by_digest, *file_sources(model.hf_repo, model.commit or "", path, mirrors)]


def needs_tls(url: str) -> bool:
    """Whether fetching ``url`` starts with a TLS handshake (the Kaggle API: unless pointed at a
    plain-http base)."""
    if handle_kind(url) == "kaggle":
        return not api_base().startswith("http://")
    return url.startswith("https://")


def prepare_network(urls: Iterable[str]) -> None:
    """Import the HTTP stack now (httpx, and httpcore and h11 under it: ~80 ms), and make the
    TLS context when one of ``urls`` needs it, so that worker processes forked after this inherit
    both instead of each paying for them. (A redirect to https later still works: the worker
    then makes its own.)"""
    import_httpx().HTTPTransport(verify=False).close()  # httpcore is imported by its transport
    if any(needs_tls(url) for url in urls):
        tls_context()


def iter_file(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(1 << 20):
        yield chunk
