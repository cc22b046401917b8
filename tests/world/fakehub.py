"""A loopback HTTP server that behaves like tfhub.dev -> Kaggle -> signed storage URLs.

    GET /tfhub/<path>?tf-hub-format=compressed
        302 -> /kaggle/models/<owner>/<model>/TensorFlow2/<variation>/<version>?tf-hub-format=compressed
    GET /kaggle/models/<...>?tf-hub-format=compressed
        302 -> /storage/<blob>.tar.gz?X-Goog-Date=...&X-Goog-Expires=...&X-Goog-Signature=...
    GET /tfhub/<path>?tf-hub-format=uncompressed
        303 with the model's gs:// location as the body (tensorflow_hub's uncompressed protocol)
    GET /storage/<blob>.tar.gz?<signature>
        200 with the archive while the signature is valid and fresh, else 403
    POST /api/v1/models.ModelApiService/GetModelInstance            (the Kaggle API, as kagglesdk
        {"versionNumber": <newest version>}                          speaks it: JSON bodies with
    POST /api/v1/models.ModelApiService/DownloadModelInstanceVersion ownerSlug, modelSlug,
        302 -> the signed storage URL of the archive (or of one file, ``path``)  framework, ...)
    POST /api/v1/models.ModelApiService/ListModelInstanceVersionFiles
        {"files": [{"name": ...}], "nextPageToken": ""}
    GET /storage/<blob>/<path>?<signature>
        one file of a model (what kagglehub fetches for ``model_download(handle, path)``)

Kaggle models are added with ``add_kaggle`` (the kagglehub handle ``owner/model/framework/
variation/version``); a TF model added with ``add`` is also on the Kaggle API under its Kaggle
path. A ``private`` model answers 401 unless the request carries ``kaggle_auth``.

Unknown models answer 404. Every request is recorded (``hub.requests``) so tests can assert that
a command made none. Faults on demand: ``fail(path_part, status, times)``, ``swap(...)`` to serve
other bytes for a locked version, ``truncate`` to cut bodies short, ``throttle`` to slow them,
``reset_after`` to reset connections mid-body, ``length_delta`` to lie in Content-Length,
``downgrade_to`` to send the storage redirect to a plain-http host. Storage objects carry an ETag
and honour ``Range: bytes=N-`` (with ``If-Range``) unless ``ranges`` is off. ``tls=(cert, key)``
serves https.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import socket
import ssl
import struct
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

SECRET = b"fake-hub-signing-key"


@dataclass
class FakeModel:
    tfhub_path: str  # e.g. "google/linear/1"
    kaggle_path: str  # e.g. "google/linear/TensorFlow2/default/1"
    archive: bytes
    gcs_location: str | None = None  # answered to tf-hub-format=uncompressed
    private: bool = False  # the Kaggle API wants credentials for it


class FakeHub:
    def __init__(
        self, signed_ttl: float = 300.0, tls: tuple[Path, Path] | None = None, port: int = 0
    ) -> None:
        """``port``: 0 (any free port) unless a client insists on one (kagglehub's TEST API is
        localhost:7777): then inside a network namespace of the test's own."""
        self.models: dict[str, FakeModel] = {}
        self.requests: list[str] = []
        self.signed_ttl = signed_ttl
        self.truncate = False
        self.throttle: float = 0.0  # seconds to pause after each 1 KiB of a 200 response body
        self.stall: float = 0.0  # seconds to wait before answering any request
        # When an Event: every 200 body stops after its first KiB until the test sets it, and
        # ``holding`` is set: a test that must act mid-download waits on that, never on a sleep.
        self.hold: threading.Event | None = None
        self.holding = threading.Event()
        self.token: str | None = None  # when set, every request needs "Authorization: Bearer <token>"
        self.authorizations: list[str] = []
        self.ranges = True  # honour Range requests on storage objects
        self.range_requests: list[str] = []  # the Range headers received
        self.reset_after: int | None = None  # reset storage bodies after this many bytes...
        self.resets = 0  # ... this many times
        self.after_reset: Callable[[], None] | None = None  # called after each reset
        self.length_delta = 0  # added to the true Content-Length of storage bodies
        self.downgrade_to: str | None = None  # e.g. "http://127.0.0.1:PORT": Kaggle redirects there
        self.body_bytes = 0  # storage body bytes sent in all
        self.kaggle_auth: str | None = None  # the Authorization private Kaggle models need
        self.api_calls: list[tuple[str, dict[str, object]]] = []  # (method, JSON body)
        self._faults: list[list[object]] = []  # [path_part, status, times_left]
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, tfhub_path: str, archive: bytes, kaggle_path: str | None = None) -> FakeModel:
        owner, *middle, version = tfhub_path.split("/")
        kaggle = kaggle_path or f"{owner}/{'-'.join(middle)}/TensorFlow2/default/{version}"
        model = FakeModel(tfhub_path, kaggle, archive)
        self.models[tfhub_path] = model
        return model

    def add_kaggle(self, kaggle_path: str, archive: bytes, *, private: bool = False) -> FakeModel:
        """A model only on Kaggle (a keras_hub preset, say): ``owner/model/framework/variation/version``."""
        model = FakeModel(f"kaggle:{kaggle_path}", kaggle_path, archive, private=private)
        self.models[model.tfhub_path] = model
        return model

    def api_model(self, body: dict[str, object], versioned: bool = True) -> FakeModel | None:
        """The model a Kaggle API body names (the framework matched as kagglesdk's enum is)."""

        def norm(text: str) -> str:
            return "".join(c for c in text.removeprefix("MODEL_FRAMEWORK_") if c.isalnum()).upper()

        wanted = (
            body.get("ownerSlug"),
            body.get("modelSlug"),
            norm(str(body.get("framework"))),
            body.get("instanceSlug"),
        )
        found = []
        for model in self.models.values():
            o, m, f, v, version = model.kaggle_path.split("/")
            if (o, m, norm(f), v) == wanted:
                found.append((int(version), model))
        if not found:
            return None
        if not versioned:
            return max(found, key=lambda pair: pair[0])[1]
        return next((model for version, model in found if version == body.get("versionNumber")), None)

    def api(
        self, method: str, body: dict[str, object], authorization: str
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.api_calls.append((method, body))
        fault = self._fault_for(f"/api/{method}")
        if fault is not None:
            return fault, {"Content-Type": "application/json"}, b'{"code": %d, "message": "injected"}' % fault
        model = self.api_model(body, versioned=method != "GetModelInstance")
        if model is None:
            return 404, {"Content-Type": "application/json"}, b'{"code": 404, "message": "Not found"}'
        if model.private and (self.kaggle_auth is None or authorization != self.kaggle_auth):
            return 401, {"Content-Type": "application/json"}, b'{"code": 401, "message": "Unauthenticated"}'
        if method == "GetModelInstance":
            version = int(model.kaggle_path.rsplit("/", 1)[1])
            return 200, {"Content-Type": "application/json"}, json.dumps({"versionNumber": version}).encode()
        if method == "ListModelInstanceVersionFiles":
            names = [{"name": name} for name in _members(model.archive)]
            doc = {"files": names, "nextPageToken": ""}
            return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()
        if method == "DownloadModelInstanceVersion":
            blob = hashlib.sha1(model.kaggle_path.encode()).hexdigest()
            path = body.get("path")
            if path:
                if str(path) not in _members(model.archive):
                    return 404, {"Content-Type": "application/json"}, b'{"code": 404, "message": "No file"}'
                return 302, {"Location": self._signed_url(blob, str(path))}, b""
            return 302, {"Location": self._signed_url(blob)}, b""
        return 404, {}, b"no such method\n"

    def storage_path(self, tfhub_path: str) -> str:
        """The path of a model's signed storage object (to aim faults at one model)."""
        return f"/storage/{hashlib.sha1(self.models[tfhub_path].kaggle_path.encode()).hexdigest()}"

    def swap(self, tfhub_path: str, archive: bytes) -> None:
        """Serve other bytes under the same version (what a compromised mirror would do)."""
        self.models[tfhub_path].archive = archive

    def fail(self, path_part: str, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path contains ``path_part`` with ``status``."""
        with self._lock:
            self._faults.append([path_part, status, times])

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- request handling -------------------------------------------------------------------

    def _fault_for(self, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fault[0] in path and int(fault[2]) > 0:  # type: ignore[call-overload]
                    fault[2] = int(fault[2]) - 1  # type: ignore[call-overload]
                    return int(fault[1])  # type: ignore[call-overload]
        return None

    def _signed_url(self, blob: str, member: str | None = None) -> str:
        date = str(int(time.time()))
        expires = str(int(self.signed_ttl))
        signature = hmac.new(SECRET, f"{blob}:{date}:{expires}".encode(), hashlib.sha256).hexdigest()
        query = urlencode(
            {
                "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
                "X-Goog-Date": date,
                "X-Goog-Expires": expires,
                "X-Goog-Signature": signature,
            }
        )
        if member is not None:
            return f"/storage/{blob}/{member}?{query}"
        return f"/storage/{blob}.tar.gz?{query}"

    def _signature_ok(self, blob: str, query: dict[str, list[str]]) -> bool:
        try:
            date = query["X-Goog-Date"][0]
            expires = query["X-Goog-Expires"][0]
            signature = query["X-Goog-Signature"][0]
        except KeyError:
            return False
        expected = hmac.new(SECRET, f"{blob}:{date}:{expires}".encode(), hashlib.sha256).hexdigest()
        fresh = time.time() <= int(date) + float(expires)
        return hmac.compare_digest(signature, expected) and fresh

    def route(self, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        compressed = query.get("tf-hub-format") == ["compressed"]
        uncompressed = query.get("tf-hub-format") == ["uncompressed"]
        fault = self._fault_for(path)
        if fault is not None:
            return fault, {}, b"injected fault\n"
        if path.startswith("/loop/"):  # /loop/a -> /loop/b -> /loop/a ...
            return 302, {"Location": "/loop/b" if path.endswith("/a") else "/loop/a"}, b""
        if path.startswith("/tfhub/"):
            model = self.models.get(path[len("/tfhub/") :].strip("/"))
            if model is None:
                return 404, {}, b"not found\n"
            if uncompressed:
                # tensorflow_hub's protocol: 303 with the gs:// location as the body, no Location
                if model.gcs_location is None:
                    return 404, {}, b"no uncompressed copy\n"
                return 303, {"Content-Type": "text/plain"}, model.gcs_location.encode()
            if not compressed:
                return 200, {"Content-Type": "text/html"}, b"<html>model page</html>"
            return 302, {"Location": f"/kaggle/models/{model.kaggle_path}?tf-hub-format=compressed"}, b""
        if path.startswith("/kaggle/models/"):
            kaggle = path[len("/kaggle/models/") :].strip("/")
            model = next((m for m in self.models.values() if m.kaggle_path == kaggle), None)
            if model is None:
                return 404, {}, b"not found\n"
            if not compressed:
                return 200, {"Content-Type": "text/html"}, b"<html>kaggle page</html>"
            blob = hashlib.sha1(kaggle.encode()).hexdigest()
            return 302, {"Location": (self.downgrade_to or "") + self._signed_url(blob)}, b""
        if path.startswith("/storage/") and "/" in path[len("/storage/") :]:
            blob, _, member = path[len("/storage/") :].partition("/")
            model = next(
                (m for m in self.models.values() if hashlib.sha1(m.kaggle_path.encode()).hexdigest() == blob),
                None,
            )
            if model is None or member not in _members(model.archive):
                return 404, {}, b"no such object\n"
            if not self._signature_ok(blob, query):
                return 403, {}, b"<Error><Code>ExpiredToken</Code></Error>"
            data = _members(model.archive)[member]
            return (
                200,
                {"Content-Type": "application/octet-stream", "ETag": f'"{hashlib.md5(data).hexdigest()}"'},
                data,
            )
        if path.startswith("/storage/") and path.endswith(".tar.gz"):
            blob = path[len("/storage/") : -len(".tar.gz")]
            model = next(
                (m for m in self.models.values() if hashlib.sha1(m.kaggle_path.encode()).hexdigest() == blob),
                None,
            )
            if model is None:
                return 404, {}, b"no such object\n"
            if not self._signature_ok(blob, query):
                return 403, {}, b"<Error><Code>ExpiredToken</Code></Error>"
            etag = f'"{hashlib.sha256(model.archive).hexdigest()[:32]}"'
            return 200, {"Content-Type": "application/x-gzip", "ETag": etag}, model.archive
        return 404, {}, b"not found\n"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-response are part of the tests, not server errors


def _members(archive: bytes) -> dict[str, bytes]:
    """The files of a (compressed) tar or zip archive, by path."""
    if archive.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
        found = {}
        for member in tar:
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                found[member.name.removeprefix("./")] = data.read()
        return found


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with hub._lock:
                hub.requests.append(self.path)
                hub.authorizations.append(self.headers.get("Authorization", ""))
            prefix = "/api/v1/models.ModelApiService/"
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if not self.path.startswith(prefix) or not isinstance(body, dict):
                status, headers, data = 400, {}, b"bad request\n"
            else:
                status, headers, data = hub.api(
                    self.path[len(prefix) :], body, self.headers.get("Authorization", "")
                )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with hub._lock:
                hub.requests.append(self.path)
                hub.authorizations.append(self.headers.get("Authorization", ""))
            if hub.stall:
                time.sleep(hub.stall)
            if hub.token is not None and self.headers.get("Authorization") != f"Bearer {hub.token}":
                status, headers, body = 401, {"WWW-Authenticate": "Bearer"}, b"unauthorized\n"
            else:
                status, headers, body = hub.route(self.path)
            storage = status == 200 and self.path.startswith("/storage/")
            wanted = self.headers.get("Range")
            if storage and wanted:
                with hub._lock:
                    hub.range_requests.append(wanted)
            if storage and wanted and hub.ranges and self.headers.get("If-Range") in (None, headers["ETag"]):
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    status, headers, body = 416, {"Content-Range": f"bytes */{len(body)}"}, b""
                else:
                    headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                    status, body = 206, body[start:]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            lie = hub.length_delta if status in (200, 206) and self.path.startswith("/storage/") else 0
            self.send_header("Content-Length", str(len(body) + lie))
            self.end_headers()
            if status in (200, 206) and self.path.startswith("/storage/"):
                with hub._lock:
                    reset = hub.reset_after is not None and hub.resets > 0
                    if reset:
                        hub.resets -= 1
                    hub.body_bytes += min(len(body), hub.reset_after or 0) if reset else len(body)
                if reset and hub.reset_after is not None:
                    self.wfile.write(body[: hub.reset_after])
                    self.wfile.flush()
                    time.sleep(0.2)  # let the bytes arrive: a reset drops what the peer has not read
                    # SO_LINGER 0: close with a TCP reset, as a dropped connection does
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    if hub.after_reset is not None:
                        hub.after_reset()
                    return
                if lie < 0:
                    body = body[: len(body) + lie]
                if lie:
                    self.close_connection = True
            if hub.truncate and status == 200 and len(body) > 100:
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            if hub.hold is not None and status == 200 and len(body) > 1024:
                self.wfile.write(body[:1024])
                self.wfile.flush()
                hub.holding.set()
                hub.hold.wait(120)
                body = body[1024:]  # the rest, as throttled as the test has set it by now
            with contextlib.suppress(OSError):  # a client that went away (interrupted, killed)
                if hub.throttle and status == 200:
                    for i in range(0, len(body), 1024):
                        self.wfile.write(body[i : i + 1024])
                        self.wfile.flush()
                        time.sleep(hub.throttle)
                    return
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
