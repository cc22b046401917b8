"""The HTTP stack, imported only when the network is needed: httpx without its command-line
client, one TLS context per process, a transport that reads the socket in big steps, per-host
credentials, and the one retry rule every HTTP path follows (``Retry``)."""

from __future__ import annotations

import functools
import itertools
import logging
import os
import sys
import time
import types
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from hublock.core import FetchError, config, read_interruptibly

if TYPE_CHECKING:
    import ssl

    import httpx

log = logging.getLogger("hublock")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_T = TypeVar("_T")


class Transient(Exception):
    """A failure worth another attempt after a pause: a 429 or 5xx, an expired signed URL, a body
    cut short."""


def transport_reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Retry:
    """The one retry rule of every HTTP path: ``retries`` more attempts after the first, each
    after a pause that doubles from ``backoff`` seconds."""

    retries: int = 3
    backoff: float = 1.0

    def pause(self, label: str, failures: int, reason: str) -> None:
        """After the ``failures``-th failure in a row: give up (a FetchError with the last reason)
        once the retries are spent, else wait before the next attempt."""
        if failures > self.retries:
            raise FetchError(f"{label}: {reason} (gave up after {failures} attempts)", path=label)
        delay = self.backoff * 2 ** (failures - 1)
        log.info("retrying %s in %.1fs: %s", label, delay, reason)
        time.sleep(delay)

    def call(self, label: str, attempt: Callable[[], _T]) -> _T:
        """``attempt()`` until it returns: ``Transient`` failures and transport errors (resets,
        timeouts) are tried again; any other error ends it at once."""
        httpx = import_httpx()
        for failures in itertools.count(1):
            try:
                return attempt()
            except Transient as exc:
                reason = str(exc)
            except httpx.TransportError as exc:
                reason = transport_reason(exc)
            self.pause(label, failures, reason)
        raise AssertionError("unreachable")


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


def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process and CA bundle: loading the bundle costs
    ~30 ms, and worker processes forked after ``prepare_network()`` share this one. A process that
    runs several commands (the Python API, a notebook) gets a new one when SSL_CERT_FILE or
    SSL_CERT_DIR (which httpx reads) changes."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:  # keyed by both
    return import_httpx().create_ssl_context()  # type: ignore[no-any-return]


def network_transport() -> httpx.BaseTransport:
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
            size = max(max_bytes, NETWORK_READ)
            # in slices of a second: an interrupted sync does not wait out a silent server
            return read_interruptibly(lambda t: self._inner.read(size, t), timeout, httpcore.ReadTimeout)

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


def auth_class() -> type:
    """Built on first use: httpx is imported only when the network is needed."""
    import base64
    import fnmatch
    import netrc

    import httpx

    class HostAuth(httpx.Auth):
        """Per request, by host: a bearer token from the environment variable that hub.toml's
        [auth] names for a matching pattern, else ~/.netrc ($NETRC). Never logged or stored."""

        def __init__(self, patterns: Mapping[str, str], tokens: Mapping[str, str] | None = None) -> None:
            self.patterns = patterns
            self.tokens = dict(tokens or {})  # host -> a token found elsewhere (a hub's token file)

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            host = request.url.host
            if "Authorization" in request.headers:  # given for this request (the Kaggle API)
                yield request
                return
            if host in self.tokens:
                request.headers["Authorization"] = f"Bearer {self.tokens[host]}"
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
