"""A loopback HTTP server that behaves like tfhub.dev -> Kaggle -> signed storage URLs.

    GET /tfhub/<path>?tf-hub-format=compressed
        302 -> /kaggle/models/<owner>/<model>/TensorFlow2/<variation>/<version>?tf-hub-format=compressed
    GET /kaggle/models/<...>?tf-hub-format=compressed
        302 -> /storage/<blob>.tar.gz?X-Goog-Date=...&X-Goog-Expires=...&X-Goog-Signature=...
    GET /tfhub/<path>?tf-hub-format=uncompressed
        303 with the model's gs:// location as the body (tensorflow_hub's uncompressed protocol)
    GET /storage/<blob>.tar.gz?<signature>
        200 with the archive while the signature is valid and fresh, else 403

Unknown models answer 404. Every request is recorded (``hub.requests``) so tests can assert that
a command made none. Faults on demand: ``fail(path_part, status, times)``, ``swap(...)`` to serve
other bytes for a locked version, ``truncate`` to cut bodies short, ``throttle`` to slow them.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

SECRET = b"fake-hub-signing-key"


@dataclass
class FakeModel:
    tfhub_path: str  # e.g. "google/linear/1"
    kaggle_path: str  # e.g. "google/linear/TensorFlow2/default/1"
    archive: bytes
    gcs_location: str | None = None  # answered to tf-hub-format=uncompressed


class FakeHub:
    def __init__(self, signed_ttl: float = 300.0) -> None:
        self.models: dict[str, FakeModel] = {}
        self.requests: list[str] = []
        self.signed_ttl = signed_ttl
        self.truncate = False
        self.throttle: float = 0.0  # seconds to pause after each 1 KiB of a 200 response body
        self.stall: float = 0.0  # seconds to wait before answering any request
        self.token: str | None = None  # when set, every request needs "Authorization: Bearer <token>"
        self.authorizations: list[str] = []
        self._faults: list[list[object]] = []  # [path_part, status, times_left]
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
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

    def _signed_url(self, blob: str) -> str:
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
            return 302, {"Location": self._signed_url(blob)}, b""
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
            return 200, {"Content-Type": "application/x-gzip"}, model.archive
        return 404, {}, b"not found\n"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-response are part of the tests, not server errors


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

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
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if hub.truncate and status == 200 and len(body) > 100:
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
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
