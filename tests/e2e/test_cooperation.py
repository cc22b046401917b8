"""hublock speaks tensorflow_hub's lock protocol: a plain hub.load of a handle that a sync is
fetching right now waits for it and then loads the synced copy, without any network."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

from tests.conftest import MODELS, ROOT, TF_QUIET, TFHUB_LINEAR, Project
from tests.e2e.offline import needs_unshare

CHILD = """
import json, os, sys, time
import tensorflow as tf, tensorflow_hub as hub
lock_file, ready = sys.argv[1], sys.argv[2]
open(ready, "w").close()
while not os.path.exists(lock_file):
    time.sleep(0.01)
started = time.monotonic()
model = hub.load(sys.argv[3])
print(json.dumps({"y": model(tf.constant([1.0, 2.0])).numpy().tolist(), "waited": time.monotonic() - started}))
"""


def start_loader(project: Project) -> subprocess.Popen[str]:
    """A plain `hub.load` of TFHUB_LINEAR with no network, started (TensorFlow imported) and
    set to call hub.load as soon as a sync takes the model's lock."""
    key = hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest()
    ready = project.dir / "ready"
    loader = subprocess.Popen(
        [
            "unshare",
            "-n",
            sys.executable,
            "-c",
            CHILD,
            str(project.cache / f"{key}.lock"),
            str(ready),
            TFHUB_LINEAR,
        ],
        cwd=ROOT,
        env={**os.environ, **TF_QUIET, "TFHUB_CACHE_DIR": str(project.cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and loader.poll() is None, (
            loader.stderr.read() if loader.stderr else ""
        )
        time.sleep(0.05)
    return loader


@needs_unshare
def test_plain_hub_load_waits_for_a_running_sync(project: Project) -> None:
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.throttle = 0.5
    loader = start_loader(project)
    sync = project.run("sync")
    out, err = loader.communicate(timeout=120)
    assert sync.returncode == 0, sync.stderr
    assert loader.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    a, b = MODELS["linear-v1"]
    assert result["y"] == [a + b, 2 * a + b]
    assert result["waited"] > 0.5  # it found the lock taken and waited for the sync
    assert project.run("sync", "--dry-run").returncode == 0  # and the synced copy is intact


@needs_unshare
def test_four_syncs_and_a_plain_hub_load_at_once(project: Project) -> None:
    """The fault-matrix row: 4 concurrent `hublock sync` plus a plain hub.load of the same handle
    on one cache. All succeed, each archive is fetched once, and the loader gets the locked model."""
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.reset_requests()
    project.hub.throttle = 0.2
    loader = start_loader(project)
    syncs = [project.start("sync") for _ in range(4)]
    outputs = [p.communicate(timeout=180) for p in syncs]
    out, err = loader.communicate(timeout=120)
    assert [p.returncode for p in syncs] == [0, 0, 0, 0], outputs
    assert loader.returncode == 0, err[-3000:]
    a, b = MODELS["linear-v1"]
    assert json.loads(out.strip().splitlines()[-1])["y"] == [a + b, 2 * a + b]
    storage = [r.split("?")[0] for r in project.hub.requests if r.startswith("/storage/")]
    assert len(storage) == 2 == len(set(storage))  # each archive downloaded once, by one of the four
    assert project.run("verify", "--full").returncode == 0
