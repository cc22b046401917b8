"""kill -9 of `hublock sync` at 30 seeded random moments (10 in a quick run) on a local cache: tensorflow_hub's presence
check (a non-empty `<sha1>/`) never sees an incomplete model, the next sync does not wait for the
dead process's lock, and gc removes what the kills left."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import tarfile
import time

from tests.conftest import KAGGLE_OTHER, TFHUB_LINEAR, Project, stress


def files_of(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def tree(root: str) -> dict[str, bytes]:
    out = {}
    for base, _, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_kills_never_expose_a_partial_model(project: Project, archives: dict[str, bytes]) -> None:
    assert project.run("lock").returncode == 0
    expected = {
        hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest(): files_of(archives["linear-v1"]),
        hashlib.sha1(KAGGLE_OTHER.encode()).hexdigest(): files_of(archives["other-v1"]),
    }
    project.hub.throttle = 0.01
    rnd = random.Random(50)
    kills = 0
    trials = stress(10, 30)
    for _ in range(trials):
        for key in expected:  # every trial has work to do; what earlier kills left stays
            shutil.rmtree(project.cache / key, ignore_errors=True)
        shutil.rmtree(project.downloads, ignore_errors=True)
        kills += project.killed_midway(rnd, (0.05, 0.45), "sync")
        for key, files in expected.items():
            model = project.cache / key
            if model.is_dir() and os.listdir(model):  # what tensorflow_hub calls present
                assert tree(str(model)) == files
    assert kills >= trials // 4, f"only {kills} of {trials} syncs were interrupted"
    started = time.monotonic()
    healed = project.run("sync")
    assert healed.returncode == 0, healed.stderr
    assert time.monotonic() - started < 60  # no 10-minute wait on a dead process's lock
    assert project.run("verify", "--full").returncode == 0
    assert project.run("gc").returncode == 0
    left = sorted(os.listdir(project.cache))
    assert not [name for name in left if name.endswith((".tmp", ".lock", ".part"))], left
