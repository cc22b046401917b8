"""hublock's reading of saved_model.pb (no TensorFlow) against what TensorFlow itself reports
for the same SavedModels: every signature, every input and output's dtype and shape, and the
fingerprint's signature_def_hash; then a real SavedModel upgraded with another API, locked
through the fake hub, shown in words."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hublock import read_lockfile
from hublock.formats.saved_model_api import parse_fingerprint, parse_saved_model
from tests.conftest import ROOT, TF_QUIET, Project
from tests.world.savedmodels import pack


@pytest.fixture(scope="module")
def tensorflow_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Three real SavedModels with different signatures, and what TensorFlow says of them: made
    once (TensorFlow in a process of its own), for every test here."""
    out = tmp_path_factory.mktemp("apimodels")
    made = subprocess.run(
        [sys.executable, "-m", "tests.world.apimodels", str(out)],
        cwd=ROOT,
        env={**os.environ, **TF_QUIET},
        capture_output=True,
        text=True,
        check=True,
    )
    return out, json.loads(made.stdout.strip().splitlines()[-1])


def test_the_reader_agrees_with_tensorflow(tensorflow_models: tuple[Path, dict[str, Any]]) -> None:
    folder, tensorflow = tensorflow_models
    assert set(tensorflow) == {"vision", "odd", "linear"}
    for name, seen in tensorflow.items():
        api = parse_saved_model((folder / name / "saved_model.pb").read_bytes())
        ours = {
            key: {side: sig.to_dict()[side] for side in ("inputs", "outputs")}
            for key, sig in api.signatures.items()
        }
        assert ours == seen["signatures"], name
        if seen["signature_def_hash"] is not None:
            assert (
                parse_fingerprint((folder / name / "fingerprint.pb").read_bytes())
                == seen["signature_def_hash"]
            )
    vision = tensorflow["vision"]["signatures"]
    assert vision["serving_default"]["inputs"]["images"]["shape"] == [None, 224, 224, 3]
    assert tensorflow["odd"]["signatures"]["serving_default"]["inputs"]["anything"]["shape"] is None


def test_a_real_upgrade_with_another_api_is_shown_in_words(
    project: Project, tmp_path: Path, tensorflow_models: tuple[Path, dict[str, Any]]
) -> None:
    folder, _ = tensorflow_models
    pack(folder / "linear", tmp_path / "linear.tar.gz")
    pack(folder / "vision", tmp_path / "vision.tar.gz")
    project.hub.add("google/model/1", (tmp_path / "linear.tar.gz").read_bytes())
    project.hub.add("google/model/2", (tmp_path / "vision.tar.gz").read_bytes())
    project.write_manifest({"model": "https://tfhub.dev/google/model/1"})
    assert project.run("lock").returncode == 0
    project.write_manifest({"model": "https://tfhub.dev/google/model/2"})
    upgraded = project.run("lock")
    assert upgraded.returncode == 0, upgraded.stderr
    out = upgraded.stdout
    assert "model: version 1 -> 2" in out
    assert "signature 'serving_default': input 'x' removed" in out
    assert "signature 'serving_default': input 'images' added (float32 (None, 224, 224, 3))" in out
    assert "signature 'tokenize' added" in out


def test_real_savedmodels_recompressed_or_reweighted_upstream(
    project: Project, archives: dict[str, bytes], tmp_path: Path
) -> None:
    """linear-v1 and linear-v2 are real SavedModels that differ only in weights (same API); the
    same linear-v1 packed at another gzip level differs only in compression."""
    import gzip

    project.write_manifest({"linear": "https://tfhub.dev/google/linear/1"}, '[cache]\ndir = "cache"')
    assert project.run("lock").returncode == 0
    api = read_lockfile(project.lockfile).models[0].api
    assert api is not None
    recompressed = gzip.compress(gzip.decompress(archives["linear-v1"]), compresslevel=1, mtime=0)
    assert recompressed != archives["linear-v1"]
    project.hub.add("google/linear/1", recompressed)
    audited = json.loads(project.run("audit", "--format", "json").stdout)["models"]["linear"]
    assert audited["content"] == "recompressed"
    shutil.rmtree(project.downloads)
    synced = project.run("sync")
    assert synced.returncode == 0 and "re-compressed" in synced.stderr

    project.hub.add("google/linear/1", archives["linear-v2"])  # other weights under the same handle
    result = project.run("audit", "--format", "json")
    assert result.returncode == 3
    changed = json.loads(result.stdout)["models"]["linear"]
    assert changed["content"] == "changed" and any(f.startswith("variables/") for f in changed["files"])
    upgraded = project.run("lock", "--upgrade", "linear")
    assert "the host replaced a published version" in upgraded.stderr
    assert "api unchanged" in upgraded.stdout  # the same signatures: only the weights moved
    assert read_lockfile(project.lockfile).models[0].api == api
