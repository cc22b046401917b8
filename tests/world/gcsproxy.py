"""A loopback HTTPS proxy that lets TensorFlow's own GCS client talk to a GCS emulator.

TensorFlow reads ``gs://`` through ``https://storage.googleapis.com`` and has no endpoint
override, but it honours ``https_proxy`` and ``CURL_CA_BUNDLE``. This proxy accepts ``CONNECT``,
terminates TLS with a certificate for ``*.googleapis.com`` signed by a CA made here, and forwards
each request in plain HTTP to the emulator. TensorFlow 2.21 also asks for the bucket's
``storageLayout``, which emulators answer 404; the proxy answers it.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "trailer"}


def make_certificates(out: Path) -> tuple[Path, Path, Path]:
    """A test CA and a leaf certificate for the Google API hosts and 127.0.0.1:
    (ca.pem, leaf.pem, leaf.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hublock test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "storage.googleapis.com")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("storage.googleapis.com"),
                    x509.DNSName("*.googleapis.com"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),  # the https fake hub
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    ca_pem, leaf_pem, leaf_key_pem = out / "ca.pem", out / "leaf.pem", out / "leaf.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    leaf_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    leaf_key_pem.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem, leaf_pem, leaf_key_pem


class GcsProxy:
    def __init__(self, emulator_url: str, cert_dir: Path) -> None:
        self.ca, leaf, key = make_certificates(cert_dir)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(leaf, key)
        target = urlsplit(emulator_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.requests: list[str] = []
        self._server = _QuietServer(("127.0.0.1", 0), _connect_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GcsProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def env(self) -> dict[str, str]:
        """What a TensorFlow process needs to reach the emulator as storage.googleapis.com."""
        return {
            "https_proxy": self.url,
            "HTTPS_PROXY": self.url,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
            "CURL_CA_BUNDLE": str(self.ca),
            "NO_GCE_CHECK": "true",
        }


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass


def _connect_handler(proxy: GcsProxy) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        """Requests inside the TLS tunnel, forwarded to the emulator in plain HTTP."""

        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            proxy.requests.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self.command == "GET" and self.path.split("?")[0].endswith("/storageLayout"):
                bucket = self.path.split("/b/")[1].split("/")[0]
                self._reply(
                    200,
                    {"Content-Type": "application/json"},
                    json.dumps(
                        {
                            "kind": "storage#storageLayout",
                            "bucket": bucket,
                            "location": "US-CENTRAL1",
                            "locationType": "region",
                            "hierarchicalNamespace": {"enabled": False},
                        }
                    ).encode(),
                )
                return
            conn = http.client.HTTPConnection(*proxy.target, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            conn.close()
            out = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}}
            self._reply(response.status, out, data)

        def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Connect(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_CONNECT(self) -> None:
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            try:
                tls = proxy.tls.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError):
                self.close_connection = True
                return
            Forward(tls, self.client_address, self.server)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Connect
