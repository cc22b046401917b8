"""The air gap, end to end: on the connected side lock (through the fake hub) and bundle; on the
air-gapped side, fresh caches and a fresh download cache, every step in a process with no network
(``unshare -n``): ``sync --from``, ``verify``, then the real ``hub.load`` and kagglehub load what
was locked. A truncated or tampered bundle is refused there with nothing published."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from hublock import cache_key
from tests.conftest import TF_QUIET, TFHUB_LINEAR, Project
from tests.e2e.offline import needs_unshare, other_site

TINY = "acme/tiny/keras/tiny_en/2"  # on the fake Kaggle: the linear-v2 SavedModel (3x + 1)

SCRIPT = f"""
import json
import kagglehub, tensorflow as tf, tensorflow_hub as hub
out = {{"linear": hub.load("{TFHUB_LINEAR}")(tf.constant([1.0])).numpy().tolist()}}
path = kagglehub.model_download("{TINY}")
out["tiny"] = tf.saved_model.load(path)(tf.constant([1.0])).numpy().tolist()
out["tiny_path"] = path
print(json.dumps(out))
"""


def air_gapped(site: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-n", sys.executable, *args],
        cwd=site,
        env={**env, **TF_QUIET},
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_unshare
def test_lock_and_bundle_here_sync_and_load_there_with_no_network(project: Project, tmp_path: Path) -> None:
    project.write_manifest({"linear": TFHUB_LINEAR, "tiny": f"kaggle://{TINY}"}, '[cache]\ndir = "cache"')
    assert project.run("lock").returncode == 0
    bundle = tmp_path / "models.bundle"
    made = project.run("bundle", str(bundle))
    assert made.returncode == 0, made.stderr

    # the other side: the project's two files, its own (empty) caches, no network at all
    site, env = other_site(project, tmp_path, KAGGLEHUB_CACHE=str(tmp_path / "site" / "kagglehub"))

    # damaged bundles first: refused, and nothing a loader could see is left behind
    with tarfile.open(bundle) as tar:
        first = next(m for m in tar.getmembers() if m.name.startswith("sha256/"))
    data = bundle.read_bytes()
    middle = first.offset_data + first.size // 2
    (tmp_path / "truncated.bundle").write_bytes(data[:middle])
    (tmp_path / "tampered.bundle").write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])
    for bad in ("truncated.bundle", "tampered.bundle"):
        refused = air_gapped(site, env, "-m", "hublock", "sync", "--from", str(tmp_path / bad))
        assert refused.returncode == 3, refused.stderr
        # linear's archive is the damaged one: never published, no staging left (tiny, intact
        # in the tampered bundle, may be)
        assert not (site / "cache" / cache_key(TFHUB_LINEAR)).exists(), bad
        assert not [p for p in site.rglob("*") if p.name.endswith((".tmp", ".part"))], bad

    synced = air_gapped(site, env, "-m", "hublock", "sync", "--from", str(bundle))
    assert synced.returncode == 0, synced.stderr
    verified = air_gapped(site, env, "-m", "hublock", "verify", "--full")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    (site / "load.py").write_text(SCRIPT)
    loaded = air_gapped(site, env, "-m", "hublock", "run", "--", sys.executable, "load.py")
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    out = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert out["linear"] == [3.0]  # linear v1: 2x + 1
    assert out["tiny"] == [4.0]  # tiny v2: 3x + 1
    assert out["tiny_path"] == str(site / "kagglehub" / "models" / TINY)
