"""Run a Python snippet in a child process that has no network at all (``unshare -n``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT, TF_QUIET


def unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(
    not unshare_available(), reason="`unshare -n` is not permitted here (needs root or user namespaces)"
)

# Printed by every offline child: proves the process really had no network.
PROBE = """
import socket, json, sys
def _network_is_gone(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True
"""


def run_offline(code: str, hub_port: int, env: dict[str, str]) -> Any:
    """Run ``code`` (which must set ``result``) with no network; return ``result`` decoded from JSON."""
    script = (
        PROBE + code + f"\nresult['network_gone'] = _network_is_gone({hub_port})\nprint(json.dumps(result))\n"
    )
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **TF_QUIET, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def other_site(project: Any, tmp_path: Any, **env: str) -> tuple[Any, dict[str, str]]:
    """The air-gapped side of a project: a folder with its hub.toml and hub.lock only, and an
    environment with a download cache of its own plus ``env`` (its loaders' empty caches)."""
    site = tmp_path / "site"
    site.mkdir()
    for name in ("hub.toml", "hub.lock"):
        shutil.copy(project.dir / name, site / name)
    return site, {**project.env, "HUBLOCK_DOWNLOAD_CACHE": str(tmp_path / "site-downloads"), **env}
