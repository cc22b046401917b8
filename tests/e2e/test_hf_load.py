"""The real huggingface_hub and keras_hub after a real `hublock sync` of Hugging Face models:
keras_hub's from_preset("hf://..."), hf_hub_download and snapshot_download load the locked commit
with no network, through `hublock run` and with plain HF_HUB_OFFLINE=1, although the branch moved
upstream since the lock; scan_cache_dir sees the synced repo with no warnings; a damaged blob is
refused; a file the locked commit lacks raises at once."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest

import hublock
from hublock.core import IntegrityError, NotInSyncError
from tests.conftest import ROOT, TF_QUIET, Project
from tests.e2e.offline import needs_unshare, other_site
from tests.world.fakehf import FakeHF

REPO = "acme/bert-tiny"

SCRIPT = f"""
import json, os
import huggingface_hub as h
out = {{}}
out["config"] = h.hf_hub_download("{REPO}", "config.json")
out["snapshot"] = h.snapshot_download("{REPO}")
try:
    h.hf_hub_download("{REPO}", "tokenizer.json")
    out["missing"] = "found"
except h.errors.EntryNotFoundError as exc:
    out["missing"] = type(exc).__name__
import keras_hub
backbone = keras_hub.models.Backbone.from_preset("hf://{REPO}")
out["backbone"] = type(backbone).__name__
out["params"] = int(backbone.count_params())
scan = h.scan_cache_dir()
out["warnings"] = [str(w) for w in scan.warnings]
out["repos"] = sorted(r.repo_id for r in scan.repos)
print(json.dumps(out))
"""


def preset_files(seed: int, out: Path) -> dict[str, bytes]:
    """A tiny keras_hub preset, made by keras_hub itself (in a child process), as its files."""
    archive = out / f"preset-{seed}.tar.gz"
    subprocess.run(
        [sys.executable, "-m", "tests.world.presets", str(archive), str(seed)],
        check=True,
        cwd=ROOT,
        env={**TF_QUIET, **os.environ},
        capture_output=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.read_bytes())) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def presets(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, bytes]]:
    out = tmp_path_factory.mktemp("hf-presets")
    return {seed: preset_files(seed, out) for seed in (1, 2)}


@pytest.fixture
def synced(project: Project, presets: dict[int, dict[str, bytes]]) -> Iterator[tuple[Project, str]]:
    """A project that locked the preset's main at one commit; main has moved on since."""
    with FakeHF() as hf:
        locked = hf.move(REPO, presets[1])
        project.env["HF_ENDPOINT"] = hf.url
        project.write_manifest({"bert": f"hf://{REPO}"})
        assert project.run("lock").returncode == 0
        hf.move(REPO, presets[2])  # a push upstream after the lock
        synced = project.run("sync")
        assert synced.returncode == 0, synced.stderr
        yield project, locked
    hublock.deactivate()


def offline(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-n", *args],
        cwd=project.dir,
        env={**project.env, **TF_QUIET, "KERAS_BACKEND": "tensorflow", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def check(out: dict[str, object], project: Project, commit: str) -> None:
    snapshot = project.huggingface / f"models--{REPO.replace('/', '--')}" / "snapshots" / commit
    assert out["config"] == str(snapshot / "config.json")
    assert out["snapshot"] == str(snapshot)
    assert out["missing"] == "LocalEntryNotFoundError"
    assert out["backbone"] == "BertBackbone" and int(out["params"]) > 0  # type: ignore[call-overload]
    assert out["warnings"] == [] and out["repos"] == [REPO]


@needs_unshare
def test_keras_hub_and_huggingface_hub_load_the_locked_commit_offline_through_hublock_run(
    synced: tuple[Project, str],
) -> None:
    project, commit = synced
    (project.dir / "script.py").write_text(SCRIPT)
    ran = offline(project, sys.executable, "-m", "hublock", "run", "--", sys.executable, "script.py")
    assert ran.returncode == 0, ran.stderr[-3000:]
    check(json.loads(ran.stdout.strip().splitlines()[-1]), project, commit)


@needs_unshare
def test_plain_huggingface_hub_offline_finds_the_synced_commit(synced: tuple[Project, str]) -> None:
    project, commit = synced
    (project.dir / "script.py").write_text(SCRIPT)
    ran = offline(project, sys.executable, "script.py", env={"HF_HUB_OFFLINE": "1"})
    assert ran.returncode == 0, ran.stderr[-3000:]
    check(json.loads(ran.stdout.strip().splitlines()[-1]), project, commit)


def test_activate_refuses_a_damaged_blob_and_follows_unlocked(
    synced: tuple[Project, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, commit = synced
    monkeypatch.setenv("HF_HUB_CACHE", str(project.huggingface))
    hublock.activate(project.lockfile, offline=True, unlocked="error", loaders=["huggingface_hub"])
    path = huggingface_hub.hf_hub_download(REPO, "config.json", revision="some-other-branch")
    assert commit in path  # the locked commit, whatever revision the caller asks for
    with pytest.raises(NotInSyncError, match="not in"):
        huggingface_hub.hf_hub_download("acme/unlocked", "config.json")
    blob = Path(os.path.realpath(path))
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"{", b"[", 1))
    with pytest.raises(IntegrityError, match="modified"):
        huggingface_hub.hf_hub_download(REPO, "config.json")
    hublock.activate(project.lockfile, offline=True, unlocked="warn", loaders=["huggingface_hub"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(huggingface_hub.errors.LocalEntryNotFoundError):  # not cached: its own error
            huggingface_hub.hf_hub_download("acme/unlocked", "config.json", local_files_only=True)
    assert [Path(w.filename).name for w in caught if "not in" in str(w.message)] == ["test_hf_load.py"]
    hublock.deactivate()
    assert huggingface_hub.hf_hub_download.__module__ == "huggingface_hub.file_download"  # put back


@needs_unshare
def test_a_bundle_carries_an_hf_preset_across_the_air_gap(
    project: Project, presets: dict[int, dict[str, bytes]], tmp_path: Path
) -> None:
    """Locked and bundled here; on the other side, in processes with no network at all: sync
    --from the bundle, verify, then keras_hub and huggingface_hub load the locked commit."""

    with FakeHF() as hf:
        commit = hf.move(REPO, presets[1])
        project.env["HF_ENDPOINT"] = hf.url
        project.write_manifest({"bert": f"hf://{REPO}"})
        assert project.run("lock").returncode == 0
        made = project.run("bundle", str(tmp_path / "models.bundle"))
        assert made.returncode == 0, made.stderr
    site, env = other_site(
        project,
        tmp_path,
        HF_HUB_CACHE=str(tmp_path / "site" / "huggingface"),
        HF_ENDPOINT="https://huggingface.co",  # unreachable: nothing may need it
    )
    there = Project(site, project.hub, env)
    synced = offline(
        there, sys.executable, "-m", "hublock", "sync", "--from", str(tmp_path / "models.bundle")
    )
    assert synced.returncode == 0, synced.stderr
    assert offline(there, sys.executable, "-m", "hublock", "verify", "--full").returncode == 0
    (site / "script.py").write_text(SCRIPT)
    ran = offline(there, sys.executable, "-m", "hublock", "run", "--", sys.executable, "script.py")
    assert ran.returncode == 0, ran.stderr[-3000:]
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["config"].startswith(str(site / "huggingface")) and commit in out["config"]
    assert out["backbone"] == "BertBackbone"


def test_what_huggingface_hub_downloaded_itself_is_adopted_with_no_network(
    project: Project, presets: dict[int, dict[str, bytes]]
) -> None:
    """The real huggingface_hub, online against the fake Hub (HEAD, the LFS redirect, its own
    layout), fills the cache first; `hublock sync` then verifies that copy instead of fetching."""
    import shutil

    with FakeHF() as hf:
        hf.move(REPO, presets[1])
        project.env["HF_ENDPOINT"] = hf.url
        project.write_manifest({"bert": f"hf://{REPO}"})
        assert project.run("lock").returncode == 0
        code = f"import huggingface_hub as h; print(h.snapshot_download({REPO!r}))"
        own = subprocess.run([sys.executable, "-c", code], env=project.env, capture_output=True, text=True)
        assert own.returncode == 0, own.stderr[-2000:]
        assert any(r.startswith("HEAD ") for r in hf.requests)  # huggingface_hub's own protocol
        hf.requests.clear()
        shutil.rmtree(project.downloads, ignore_errors=True)  # nothing to take from there
        synced = project.run("sync", "--format", "json")
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["huggingface"]["models"]["bert"]["state"] == "verified"
        assert hf.requests == []
        assert project.run("verify", "--full").returncode == 0
