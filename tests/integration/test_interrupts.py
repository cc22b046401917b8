"""Ctrl-C and SIGTERM in the middle of a download: a clean exit, and nothing half-written."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import TFHUB_LINEAR, Project


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def assert_nothing_half_written(project: Project) -> None:
    left = [
        e for e in os.listdir(project.cache) if not e.endswith(".descriptor.txt") and e != ".hublock-roots"
    ]
    assert left == []  # no model dir, no .tmp staging, no .lock
    tmp = project.downloads / "tmp"  # made with the first partial download, if one began
    assert not tmp.exists() or os.listdir(tmp) == []  # no partial download


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_sync_leaves_nothing_half_written(project: Project, signum: int, code: int) -> None:
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.hold = threading.Event()  # bodies stop after their first KiB until released
    proc = project.start("sync")
    try:
        assert project.hub.holding.wait(30), "no download started"
        wait_for(project.cache / f"{hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest()}.lock")
        proc.send_signal(signum)  # mid-download for certain: the hub holds the rest
        project.hub.throttle = 0.5  # then the rest trickles (8 s): the cancel is seen mid-body
        project.hub.hold.set()
        _, err = proc.communicate(timeout=60)
    finally:
        project.hub.hold.set()
    assert proc.returncode == code, err
    assert "interrupted" in err
    assert_nothing_half_written(project)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_worker_processes_die_with_a_killed_sync(project: Project) -> None:
    """Several models into a local cache unpack in one worker process per core; kill -9 of the
    sync takes them down too, so no orphan keeps writing into the cache."""
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.hold = threading.Event()
    proc = project.start("sync")
    try:
        assert project.hub.holding.wait(30), "no download started"  # a worker is downloading
        workers = _children(proc.pid)
        assert workers, "no worker process"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        project.hub.hold.set()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers):
        assert time.monotonic() < deadline, "worker processes outlived the sync"
        time.sleep(0.05)
    project.hub.hold = None
    assert project.run("sync").returncode == 0  # their locks are a dead process's: taken over at once
    assert project.run("verify", "--full").returncode == 0


@pytest.mark.parametrize("one_model", [False, True], ids=["worker processes", "one model, threads"])
def test_ctrl_c_stops_a_download_the_server_has_stopped_sending(project: Project, one_model: bool) -> None:
    """The hub holds every body after its first KiB and never sends the rest: Ctrl-C stops the
    sync within a second, not when the read times out (here 10 minutes, which the test would not
    wait for), and leaves nothing half-written: in worker processes (several models) and on the
    command's own threads (one model)."""
    if one_model:
        project.write_manifest({"linear": TFHUB_LINEAR}, '[cache]\ndir = "cache"')
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.hold = threading.Event()  # released only after the sync has ended
    project.env["HUBLOCK_TIMEOUT"] = "600"
    proc = project.start("sync")
    try:
        assert project.hub.holding.wait(30), "no download started"
        wait_for(project.cache / f"{hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest()}.lock")
        assert bool(_children(proc.pid)) != one_model  # worker processes, or threads of its own
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        project.hub.hold.set()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert_nothing_half_written(project)
