"""The promise, end to end: lock and sync with the CLI, then the real ``hub.load`` of the canonical
handle works in a process with no network and computes what the locked version computes."""

from __future__ import annotations

import hashlib

from tests.conftest import KAGGLE_OTHER, MODELS, TFHUB_LINEAR, Project
from tests.e2e.offline import needs_unshare, run_offline

LOAD = """
import tensorflow as tf, tensorflow_hub as hub
result = {}
for handle in HANDLES:
    model = hub.load(handle)
    result[handle] = {"y": model(tf.constant([1.0, 2.0])).numpy().tolist(), "path": hub.resolve(handle)}
"""


@needs_unshare
def test_hub_load_works_offline_after_lock_and_sync(project: Project) -> None:
    assert project.run("lock").returncode == 0
    sync = project.run("sync")
    assert sync.returncode == 0, sync.stderr
    project.hub.reset_requests()

    handles = [TFHUB_LINEAR, KAGGLE_OTHER]
    result = run_offline(
        f"HANDLES = {handles!r}\n" + LOAD, project.hub.port, {"TFHUB_CACHE_DIR": str(project.cache)}
    )

    assert result.pop("network_gone") is True
    for handle, model in zip(handles, ["linear-v1", "other-v1"], strict=True):
        a, b = MODELS[model]
        assert result[handle]["y"] == [a * 1 + b, a * 2 + b]
        assert result[handle]["path"] == str(project.cache / hashlib.sha1(handle.encode()).hexdigest())
    assert project.hub.requests == []


@needs_unshare
def test_offline_load_uses_upgraded_version_after_relock(project: Project) -> None:
    """Changing the handle in hub.toml, re-locking and re-syncing is what the next load sees."""
    project.write_manifest({"linear": "https://tfhub.dev/google/linear/2"}, '[cache]\ndir = "cache"')
    assert project.run("lock").returncode == 0
    assert project.run("sync").returncode == 0

    result = run_offline(
        'HANDLES = ["https://tfhub.dev/google/linear/2"]\n' + LOAD,
        project.hub.port,
        {"TFHUB_CACHE_DIR": str(project.cache)},
    )
    a, b = MODELS["linear-v2"]
    assert result["https://tfhub.dev/google/linear/2"]["y"] == [a + b, 2 * a + b]
