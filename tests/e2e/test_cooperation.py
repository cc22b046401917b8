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


@needs_unshare
def test_plain_hub_load_waits_for_a_running_sync(project: Project) -> None:
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.throttle = 0.5
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
    sync = project.run("sync")
    out, err = loader.communicate(timeout=120)
    assert sync.returncode == 0, sync.stderr
    assert loader.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    a, b = MODELS["linear-v1"]
    assert result["y"] == [a + b, 2 * a + b]
    assert result["waited"] > 0.5  # it found the lock taken and waited for the sync
    assert project.run("sync", "--dry-run").returncode == 0  # and the synced copy is intact
