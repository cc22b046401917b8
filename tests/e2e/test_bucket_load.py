"""TFHUB_CACHE_DIR=gs://...: hublock sync fills a bucket (a real GCS emulator) and TensorFlow's own
GCS client reads it, plain and through the hook, inside a network namespace with no network."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import MODELS, ROOT, TF_QUIET
from tests.e2e.offline import needs_unshare


@needs_unshare
def test_tpu_recipe_hub_load_from_a_bucket_cache(archives: dict[str, bytes], tmp_path: Path) -> None:
    archive = tmp_path / "linear.tar.gz"
    archive.write_bytes(archives["linear-v1"])
    other = tmp_path / "other.tar.gz"
    other.write_bytes(archives["other-v1"])
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            "-m",
            "tests.e2e.scripts.bucket_scenario",
            str(archive),
            str(other),
            str(work),
        ],
        cwd=ROOT,
        env={**os.environ, **TF_QUIET, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["lock"][0] == 0, result["lock"]
    assert result["sync"][0] == 0, result["sync"]
    assert "cache: gs://tpu-bucket/tfhub-modules-cache (from [cache] dir in hub.toml)" in result["sync"][1]
    assert result["noop"][0] == 0 and "1 present, 1 remote" in result["noop"][1]
    assert result["load"][0] == 0, result["load"][1]
    a, b = MODELS["linear-v1"]
    key = hashlib.sha1(b"https://tfhub.dev/google/linear/1").hexdigest()
    assert result["loaded"]["plain"] == [a + b, 2 * a + b]
    assert result["loaded"]["hook"] == [a + b, 2 * a + b]
    assert result["loaded"]["path"] == f"gs://tpu-bucket/tfhub-modules-cache/{key}"
    a, b = MODELS["other-v1"]
    assert result["loaded"]["uncompressed"] == [a + b, 2 * a + b]
    assert result["loaded"]["uncompressed_path"] == "gs://tpu-bucket/published/other/1"
    assert result["hub_requests_during_load"] == 0 and result["proxied"] > 0
