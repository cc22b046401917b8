"""Upstream drift and model APIs: the API fingerprint in hub.lock, `hublock diff`, `hublock
audit`, and what sync and lock do with a re-compressed or replaced archive. The fake hub serves
SavedModel-shaped archives whose saved_model.pb is a real protobuf with chosen signatures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hublock import ModelApi, read_lockfile
from hublock.formats.saved_model_api import parse_saved_model
from tests.conftest import ROOT, Project
from tests.integration.test_lock_sync import key, lock_ok
from tests.integration.test_recipes import shell
from tests.world.savedmodels import pack, savedmodel_shaped, write_tree

IMAGES = {
    "serving_default": (
        {"images": ("float32", (None, 224, 224, 3))},
        {"logits": ("float32", (None, 1001))},
    ),
    "tokenize": ({"text": ("string", (None,))}, {"ids": ("int64", (None, None))}),
}
BIGGER = {
    "serving_default": ({"images": ("float32", (None, 256, 256, 3))}, {"logits": ("float32", (None, 1001))})
}


def archive(tmp: Path, name: str, a: float = 2.0, signatures: dict | None = None, level: int = 9) -> bytes:  # type: ignore[type-arg]
    tree = tmp / f"tree-{name}"
    write_tree(savedmodel_shaped(a, 1.0, signatures), tree)
    pack(tree, tmp / f"{name}.tar.gz", level=level)
    return (tmp / f"{name}.tar.gz").read_bytes()


@pytest.fixture
def vision(project: Project, tmp_path: Path) -> Project:
    """One model, `vision` (google/vision/1 on the fake tfhub.dev), locked."""
    project.hub.add("google/vision/1", archive(tmp_path, "v1", signatures=IMAGES))
    project.write_manifest({"vision": "https://tfhub.dev/google/vision/1"}, '[cache]\ndir = "cache"')
    lock_ok(project)
    return project


def test_lock_records_the_api_and_tensorflows_signature_hash(vision: Project) -> None:
    model = read_lockfile(vision.lockfile).models[0]
    files = savedmodel_shaped(2.0, 1.0, IMAGES)
    api = parse_saved_model(files["saved_model.pb"])
    assert model.api == api.digest
    assert model.signature_def_hash is not None and model.signature_def_hash.isdigit()
    assert sorted(api.signatures) == ["serving_default", "tokenize"]  # the init op is no signature
    images = api.signatures["serving_default"].inputs["images"]
    assert (images.dtype, images.shape) == ("float32", (None, 224, 224, 3))
    text = vision.lockfile.read_text()
    assert f'api = "{api.digest}"' in text
    # internal tensor names (serving_images:0) change with every export: not part of the API
    assert ":0" not in json.dumps(api.to_dict())


def test_a_model_that_is_no_savedmodel_says_so(project: Project, tmp_path: Path) -> None:
    tree = tmp_path / "preset"
    write_tree({"config.json": b"{}", "model.weights.h5": b"\x00" * 100}, tree)
    pack(tree, tmp_path / "preset.tar.gz")
    project.hub.add("acme/preset/1", (tmp_path / "preset.tar.gz").read_bytes())
    project.write_manifest({"preset": "https://tfhub.dev/acme/preset/1"})
    result = project.run("lock", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "not a SavedModel, no API recorded" in result.stderr
    assert read_lockfile(project.lockfile).models[0].api is None


def test_upgrade_shows_the_api_change_in_words_and_diff_reads_git(vision: Project, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=vision.dir, check=True)
    subprocess.run(["git", "add", "hub.lock"], cwd=vision.dir, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"],
        cwd=vision.dir,
        check=True,
    )
    vision.hub.add("google/vision/2", archive(tmp_path, "v2", a=3.0, signatures=BIGGER))
    vision.write_manifest({"vision": "https://tfhub.dev/google/vision/2"}, '[cache]\ndir = "cache"')
    before = vision.lockfile.read_text()
    as_json = json.loads(vision.run("lock", "--format", "json").stdout)["models"]["vision"]
    assert as_json["state"] == "changed" and "version 1 -> 2" in as_json["changes"]
    assert "signature 'tokenize' removed" in as_json["api_changes"]
    vision.lockfile.write_text(before)
    result = vision.run("lock")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "vision: version 1 -> 2" in out and "tree changed" in out and "api changed: 2 changes" in out
    assert (
        "signature 'serving_default': input 'images' shape (None, 224, 224, 3) -> (None, 256, 256, 3)" in out
    )
    assert "signature 'tokenize' removed" in out

    shown = vision.run("diff")  # HEAD's hub.lock against the working tree's
    assert shown.returncode == 0, shown.stderr
    assert "vision: version 1 -> 2" in shown.stdout and "signature 'tokenize' removed" in shown.stdout
    as_json = json.loads(vision.run("diff", "--format", "json").stdout)
    assert as_json["models"]["vision"]["api"] == [
        "signature 'serving_default': input 'images' shape (None, 224, 224, 3) -> (None, 256, 256, 3)",
        "signature 'tokenize' removed",
    ]
    # as git's diff driver: git passes path old-file old-hex old-mode new-file new-hex new-mode
    (vision.dir / ".gitattributes").write_text("hub.lock diff=hublock\n")
    driver = f"diff.hublock.command={sys.executable} -m hublock diff"
    driven = subprocess.run(
        ["git", "-c", driver, "diff", "hub.lock"],
        cwd=vision.dir,
        env=vision.env,
        capture_output=True,
        text=True,
    )
    assert driven.returncode == 0, driven.stderr
    assert "signature 'tokenize' removed" in driven.stdout
    # the readable forms are gone: the change is still named, its details said to be unknown
    shutil.rmtree(vision.downloads)
    unknown = vision.run("diff")
    assert "api changed (sha256:" in unknown.stdout and "signature" not in unknown.stdout


def test_sync_accepts_a_recompressed_archive_and_refuses_a_replaced_one(
    vision: Project, tmp_path: Path
) -> None:
    shutil.rmtree(vision.downloads)
    same_files = archive(tmp_path, "v1-fast", signatures=IMAGES, level=1)
    vision.hub.add("google/vision/1", same_files)
    result = vision.run("sync")
    assert result.returncode == 0, result.stderr
    assert "warning: vision: the host re-compressed it" in result.stderr
    assert "hublock lock --upgrade vision" in result.stderr
    assert vision.run("verify").returncode == 0

    shutil.rmtree(vision.dir / "cache")
    shutil.rmtree(vision.downloads)
    vision.hub.add("google/vision/1", archive(tmp_path, "v1-new-weights", a=7.0, signatures=IMAGES))
    result = vision.run("sync")
    assert result.returncode == 3
    assert "the host changed the model under a locked handle" in result.stderr
    assert "hublock audit vision" in result.stderr and "hublock lock --upgrade vision" in result.stderr
    assert not (vision.dir / "cache" / key("https://tfhub.dev/google/vision/1")).exists()


def test_audit_classifies_every_kind_of_drift(vision: Project, tmp_path: Path) -> None:
    vision.hub.add("google/same/1", archive(tmp_path, "same"))
    vision.hub.add("google/squeezed/1", archive(tmp_path, "squeezed", a=4.0))
    vision.hub.add("google/swapped/1", archive(tmp_path, "swapped", a=5.0))
    vision.hub.add("google/doomed/1", archive(tmp_path, "doomed", a=6.0))
    models = {
        "vision": "https://tfhub.dev/google/vision/1",
        "same": "https://tfhub.dev/google/same/1",
        "squeezed": "https://tfhub.dev/google/squeezed/1",
        "swapped": "https://tfhub.dev/google/swapped/1",
        "doomed": "https://tfhub.dev/google/doomed/1",
    }
    vision.write_manifest(models, '[cache]\ndir = "cache"')
    lock_ok(vision)
    before = vision.lockfile.read_text()
    vision.hub.add("google/squeezed/1", archive(tmp_path, "squeezed-1", a=4.0, level=1))
    swapped = tmp_path / "tree-swapped2"
    files = savedmodel_shaped(5.0, 1.0)
    files["variables/variables.data-00000-of-00001"] = b"\x01" * 100
    write_tree(files, swapped)
    pack(swapped, tmp_path / "swapped2.tar.gz")
    vision.hub.add("google/swapped/1", (tmp_path / "swapped2.tar.gz").read_bytes())
    del vision.hub.models["google/doomed/1"]
    vision.hub.add("google/vision/2", archive(tmp_path, "v2", a=3.0, signatures=BIGGER))
    vision.hub.add("google/vision/3", archive(tmp_path, "v3", a=3.5, signatures=BIGGER))

    result = vision.run("audit", "--fetch-newer", "--format", "json")
    assert result.returncode == 3, result.stderr
    found = json.loads(result.stdout)["models"]
    assert found["same"]["state"] == "unchanged"
    assert found["squeezed"]["state"] == "recompressed"
    assert found["swapped"]["state"] == "changed"
    assert found["swapped"]["files"] == ["variables/variables.data-00000-of-00001"]
    assert found["doomed"]["state"] == "gone"
    assert found["vision"]["state"] == "newer" and found["vision"]["content"] == "unchanged"
    assert found["vision"]["newer"] == "https://tfhub.dev/google/vision/3"
    assert "signature 'tokenize' removed" in found["vision"]["api"]
    assert vision.lockfile.read_text() == before  # audit writes nothing

    text = vision.run("audit", "same", "squeezed")
    assert text.returncode == 0, text.stderr
    assert "squeezed: recompressed" in text.stdout and "harmless" in text.stdout
    for command in (("audit", "sqeezed"), ("bundle", "out.tar", "--only", "sqeezed")):
        unknown = vision.run(*command)  # a name the lock lacks: said before any network or write
        assert unknown.returncode == 2, unknown.stderr
        assert "has no model 'sqeezed'" in unknown.stderr and "hublock status" in unknown.stderr
    assert not (vision.dir / "out.tar").exists()


def test_audit_of_a_kagglehub_handle_finds_the_current_version(project: Project) -> None:
    project.write_manifest({"tiny": "kaggle://acme/tiny/keras/tiny_en/1"})
    lock_ok(project)
    result = project.run("audit", "--format", "json")
    assert result.returncode == 0, result.stderr
    tiny = json.loads(result.stdout)["models"]["tiny"]
    assert tiny["state"] == "newer" and tiny["newer"] == "acme/tiny/keras/tiny_en/2"
    assert project.run("audit", "--offline").returncode == 3


def test_lock_upgrade_warns_when_a_published_version_was_replaced(vision: Project, tmp_path: Path) -> None:
    vision.hub.add("google/vision/1", archive(tmp_path, "v1-swapped", a=9.0, signatures=IMAGES))
    result = vision.run("lock", "--upgrade", "vision")
    assert result.returncode == 0, result.stderr
    assert "the host replaced a published version" in result.stderr
    assert "api unchanged" in result.stdout


def test_api_round_trips_through_its_readable_form(vision: Project) -> None:
    digest = read_lockfile(vision.lockfile).models[0].api
    assert digest is not None
    stored = json.loads((vision.downloads / "api" / f"{digest.removeprefix('sha256:')}.json").read_text())
    assert ModelApi.from_dict(stored).digest == digest


def test_the_weekly_audit_recipe_runs_and_fails_when_a_model_changed(vision: Project, tmp_path: Path) -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "models-audit.yml").read_text())
    steps = [s for s in workflow["jobs"]["audit"]["steps"] if "run" in s and not s["run"].startswith("pip")]
    assert workflow[True]["schedule"][0]["cron"]  # `on:` is YAML's True
    (step,) = steps
    vision.hub.add("google/vision/2", archive(tmp_path, "v2", a=3.0, signatures=BIGGER))
    result = shell(vision, step["run"], {"KAGGLE_USERNAME": "", "KAGGLE_KEY": ""})
    assert result.returncode == 0, result.stderr  # a newer version alone: green
    report = json.loads((vision.dir / "audit.json").read_text())
    assert report["models"]["vision"]["newer"] == "https://tfhub.dev/google/vision/2"
    assert "signature 'tokenize' removed" in report["models"]["vision"]["api"]
    vision.hub.add("google/vision/1", archive(tmp_path, "v1-swapped", a=8.0, signatures=IMAGES))
    result = shell(vision, step["run"], {})
    assert result.returncode == 3  # the host replaced the locked version: the job fails
    assert json.loads((vision.dir / "audit.json").read_text())["models"]["vision"]["state"] == "changed"
