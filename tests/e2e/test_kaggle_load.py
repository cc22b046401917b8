"""The real kagglehub and keras_hub after a real `hublock sync`: kagglehub.model_download (whole
model, one file, with and without a version) and keras_hub's from_preset("kaggle://...") load the
locked files with no network, through `hublock run` and `hublock.activate()`; a damaged file is
refused; plain kagglehub (no hook) finds the synced layout complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kagglehub
import pytest
from kagglehub import registry
from kagglehub.tracker import get_accessed_datasources

import hublock
from tests.conftest import ROOT, TF_QUIET, TFHUB_LINEAR, Project
from tests.e2e.offline import needs_unshare

BERT = "acme/bert/keras/tiny"  # a keras_hub preset on the fake Kaggle, version 1 and 2
LINEAR_ON_KAGGLE = "google/linear/tensorFlow2/default/1"

SCRIPT = f"""
import json, os
import kagglehub
out = {{}}
out["whole"] = kagglehub.model_download("{BERT}/1")
out["unversioned"] = kagglehub.model_download("{BERT}")
out["file"] = kagglehub.model_download("{BERT}", path="config.json")
try:
    kagglehub.model_download("{BERT}", path="tokenizer.json")
    out["missing"] = "found"
except FileNotFoundError:
    out["missing"] = "FileNotFoundError"
import keras_hub
backbone = keras_hub.models.Backbone.from_preset("kaggle://{BERT}")
out["backbone"] = type(backbone).__name__
out["params"] = int(backbone.count_params())
out["tf_model"] = kagglehub.model_download("{LINEAR_ON_KAGGLE}")
import tensorflow as tf, tensorflow_hub as hub
out["hub_load"] = hub.load("{TFHUB_LINEAR}")(tf.constant([1.0])).numpy().tolist()
from kagglehub import registry as kr
from tensorflow_hub import registry as tr
out["hooks"] = [type(kr.model_resolver._impls[-1]).__name__, type(tr.resolver._impls[-1]).__name__]
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def presets(tmp_path_factory: pytest.TempPathFactory) -> dict[int, bytes]:
    """Two versions of a tiny keras_hub preset (different weights), made by keras_hub itself."""
    out = tmp_path_factory.mktemp("presets")
    found = {}
    for version in (1, 2):
        path = out / f"bert-{version}.tar.gz"
        subprocess.run(
            [sys.executable, "-m", "tests.world.presets", str(path), str(version)],
            check=True,
            cwd=ROOT,
            env={**TF_QUIET, **os.environ},
            capture_output=True,
        )
        found[version] = path.read_bytes()
    return found


@pytest.fixture
def synced(project: Project, presets: dict[int, bytes]) -> Iterator[Project]:
    for version, archive in presets.items():
        project.hub.add_kaggle(f"{BERT}/{version}", archive)
    project.write_manifest(
        {"bert": f"kaggle://{BERT}"},
        f'[models.linear]\nhandle = "{TFHUB_LINEAR}"\nkaggle = "{LINEAR_ON_KAGGLE}"\n[cache]\ndir = "cache"',
    )
    # the preset's newest version is 2; pin 1 as a team would have locked it a while ago
    project.hub.models.pop(f"kaggle:{BERT}/2")
    assert project.run("lock").returncode == 0
    project.hub.add_kaggle(f"{BERT}/2", presets[2])
    synced = project.run("sync")
    assert synced.returncode == 0, synced.stderr
    yield project
    hublock.deactivate()


def offline(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-n", *args],
        cwd=project.dir,
        env={**project.env, **TF_QUIET, "KERAS_BACKEND": "tensorflow"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_unshare
def test_kagglehub_and_keras_hub_load_the_locked_models_offline_through_hublock_run(synced: Project) -> None:
    (synced.dir / "script.py").write_text(SCRIPT)
    ran = offline(synced, sys.executable, "-m", "hublock", "run", "--", sys.executable, "script.py")
    assert ran.returncode == 0, ran.stderr[-3000:]
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    locked = synced.kagglehub / "models" / BERT / "1"  # version 1, though Kaggle now serves 2
    assert out["whole"] == out["unversioned"] == str(locked)
    assert out["file"] == str(locked / "config.json")
    assert out["missing"] == "FileNotFoundError"
    assert out["backbone"] == "BertBackbone" and out["params"] > 0
    assert out["tf_model"] == str(synced.kagglehub / "models" / LINEAR_ON_KAGGLE)
    assert len(out["hub_load"]) == 1
    assert out["hooks"] == ["KaggleResolver", "LockedResolver"]


@needs_unshare
def test_plain_kagglehub_finds_the_synced_layout_complete_offline(synced: Project) -> None:
    """No hook at all: kagglehub's own cache check (its markers) finds every synced file."""
    code = (
        "import kagglehub, json\n"
        f"print(json.dumps([kagglehub.model_download('{BERT}/1'), "
        f"kagglehub.model_download('{BERT}/1', path='model.weights.h5')]))\n"
    )
    found = offline(synced, sys.executable, "-c", code)
    assert found.returncode == 0, found.stderr[-2000:]
    locked = synced.kagglehub / "models" / BERT / "1"
    assert json.loads(found.stdout.strip().splitlines()[-1]) == [
        str(locked),
        str(locked / "model.weights.h5"),
    ]
    # without a version, kagglehub itself must ask the API: offline that fails (the hook answers it)
    unversioned = offline(
        synced, sys.executable, "-c", f"import kagglehub; kagglehub.model_download('{BERT}')"
    )
    assert unversioned.returncode != 0


def test_activate_guards_kagglehub_in_this_process(synced: Project) -> None:
    guard = hublock.activate(synced.lockfile, offline=True, loaders=["kagglehub"])
    assert guard.kagglehub is registry.model_resolver._impls[-1] and guard.tfhub is None
    synced.hub.reset_requests()
    locked = synced.kagglehub / "models" / BERT / "1"
    assert kagglehub.model_download(BERT) == str(locked)
    # kagglehub's own record of what was accessed (its tracker) sees the locked version
    assert {str(h): v for h, v in get_accessed_datasources().items()}.get(BERT) == 1
    assert kagglehub.model_download(f"{BERT}/1", path="metadata.json") == str(locked / "metadata.json")
    with pytest.raises(FileNotFoundError, match="not a file of 'bert'"):
        kagglehub.model_download(BERT, path="../../../../etc/passwd")
    assert synced.hub.requests == []
    weights = locked / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(hublock.IntegrityError, match=r"model.weights.h5 \(changed\).*hublock sync"):
        kagglehub.model_download(BERT, path="config.json")
    assert synced.run("sync").returncode == 0  # repaired
    assert kagglehub.model_download(BERT) == str(locked)
    hublock.deactivate()
    assert guard.kagglehub not in registry.model_resolver._impls


def test_unlocked_kaggle_handles_follow_unlocked(synced: Project) -> None:
    hublock.activate(synced.lockfile, offline=True, unlocked="error", loaders=["kagglehub"])
    with pytest.raises(hublock.NotInSyncError, match=r"not in .* unlocked handles are refused"):
        kagglehub.model_download("someone/else/keras/x/1")
    hublock.activate(synced.lockfile, offline=True, unlocked="warn", loaders=["kagglehub"])
    warned = pytest.warns(UserWarning, match="it is not verified against the lock")
    with warned as caught, pytest.raises(Exception):  # noqa: B017
        kagglehub.model_download("someone/else/keras/x/1")  # then kagglehub's own resolver: no network here
    assert caught[0].filename == __file__  # the caller's line, not inside kagglehub


def test_a_missing_model_is_fetched_verified_when_online_and_refused_offline(synced: Project) -> None:
    import shutil

    shutil.rmtree(synced.kagglehub / "models")
    hublock.activate(synced.lockfile, offline=True, loaders=["kagglehub"])
    with pytest.raises(hublock.NotInSyncError, match="not in the kagglehub cache"):
        kagglehub.model_download(BERT)
    hublock.activate(synced.lockfile, offline=False, loaders=["kagglehub"])
    assert kagglehub.model_download(BERT) == str(synced.kagglehub / "models" / BERT / "1")
    assert kagglehub.model_download(LINEAR_ON_KAGGLE) == str(synced.kagglehub / "models" / LINEAR_ON_KAGGLE)
    assert synced.run("verify").returncode == 0  # published with stamp and markers, as sync does


def test_output_dir_gets_a_copy_of_the_verified_files(synced: Project, tmp_path: Path) -> None:
    hublock.activate(synced.lockfile, offline=True, loaders=["kagglehub"])
    out = tmp_path / "out"
    assert kagglehub.model_download(BERT, output_dir=str(out)) == str(out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]


@needs_unshare
def test_hublock_and_a_kagglehub_download_of_the_same_model_at_once(
    project: Project, presets: dict[int, bytes], tmp_path: Path
) -> None:
    """kagglehub has no lock: it writes into the version's directory and touches its marker.
    Racing it, hublock still publishes only verified files, both finish, and what is left
    verifies (kagglehub then loads the locked files)."""
    project.hub.add_kaggle(f"{BERT}/1", presets[1])
    project.write_manifest({"bert": f"kaggle://{BERT}/1"})
    assert project.run("lock").returncode == 0
    archive = tmp_path / "preset.tar.gz"
    archive.write_bytes(presets[1])
    raced = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            "-m",
            "tests.e2e.scripts.kaggle_race",
            str(project.dir),
            str(archive),
            f"{BERT}/1",
            "4",
        ],
        cwd=ROOT,
        env={**project.env, **TF_QUIET},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert raced.returncode == 0, raced.stderr[-3000:]
    rounds = json.loads(raced.stdout.strip().splitlines()[-1])
    locked = str(project.kagglehub / "models" / BERT / "1")
    for found in rounds:
        assert found["kagglehub"] == 0 and found["kagglehub_path"] == locked, found
        assert found["sync"] == 0, found["sync_err"]
        assert found["verify"] == 0, found["verify_out"]
        # both really downloaded: kagglehub listed the files and fetched each, hublock the archive
        assert "ListModelInstanceVersionFiles" in found["api_calls"], found["api_calls"]
        assert found["api_calls"].count("DownloadModelInstanceVersion") >= 2, found["api_calls"]


@needs_unshare
def test_an_unversioned_handle_beside_a_pinned_one_loads_its_own_entry(synced: Project) -> None:
    """``latest = kaggle://BERT`` and ``old = kaggle://BERT/1`` in one hub.toml: an unversioned
    load is the ``latest`` entry, as locked (version 2); the pinned one stays version 1."""
    synced.write_manifest(
        {"latest": f"kaggle://{BERT}", "old": f"kaggle://{BERT}/1"}, '[cache]\ndir = "cache"'
    )
    assert synced.run("lock").returncode == 0
    assert synced.run("sync").returncode == 0
    hublock.activate(synced.lockfile, offline=True, unlocked="error", loaders=["kagglehub"])
    assert kagglehub.model_download(BERT) == str(synced.kagglehub / "models" / BERT / "2")
    assert kagglehub.model_download(f"{BERT}/1") == str(synced.kagglehub / "models" / BERT / "1")
    hublock.deactivate()
