"""Ctrl-C and SIGTERM in the middle of a download: a clean exit, and nothing half-written."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import TFHUB_LINEAR, Project


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_sync_leaves_nothing_half_written(project: Project, signum: int, code: int) -> None:
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.throttle = 0.5  # a few seconds per model
    proc = project.start("sync")
    wait_for(project.cache / f"{hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest()}.lock")
    time.sleep(0.3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "interrupted" in err
    left = [
        e for e in os.listdir(project.cache) if not e.endswith(".descriptor.txt") and e != ".hublock-roots"
    ]
    assert left == []  # no model dir, no .tmp staging, no .lock
    assert os.listdir(project.downloads / "tmp") == []  # no partial download
