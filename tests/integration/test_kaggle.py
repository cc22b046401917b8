"""Kaggle-native models: locked through the Kaggle API, synced into kagglehub's cache in its own
layout (files first, per-file markers, the whole-model marker last), verified, repaired and
collected like tensorflow_hub's cache, from the same hub.toml and hub.lock."""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from hublock import NotInSyncError, read_lockfile
from tests.conftest import KAGGLE_TINY, TFHUB_LINEAR, Project, stress

TINY = f"kaggle://{KAGGLE_TINY}"  # versions 1 and 2 on the fake Kaggle; 2 is current


def version_dir(project: Project, handle: str) -> Path:
    return project.kagglehub / "models" / handle


def markers(project: Project, handle: str) -> tuple[Path, Path]:
    """The whole-model marker and the per-file marker folder of a pinned handle."""
    parent, _, version = handle.rpartition("/")
    base = project.kagglehub / "models" / parent
    return base / f"{version}.complete", base / ".complete" / version


def files_of(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def test_an_unversioned_handle_is_pinned_and_synced_in_kagglehubs_layout(project: Project) -> None:
    project.write_manifest({"linear": TFHUB_LINEAR, "tiny": TINY}, '[cache]\ndir = "cache"')
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr
    entry = read_lockfile(project.lockfile).get("tiny")
    assert entry is not None
    assert (entry.handle, entry.kaggle) == (TINY, f"{KAGGLE_TINY}/2")  # the current version, pinned
    assert entry.url == f"https://www.kaggle.com/models/{KAGGLE_TINY}/2"
    assert 'kaggle = "acme/tiny/keras/tiny_en/2"' in project.lockfile.read_text()

    synced = project.run("sync")
    assert synced.returncode == 0, synced.stderr
    assert f"kagglehub cache: {project.kagglehub} (from KAGGLEHUB_CACHE)" in synced.stdout
    model = version_dir(project, f"{KAGGLE_TINY}/2")
    whole, per_file = markers(project, f"{KAGGLE_TINY}/2")
    assert whole.is_file() and whole.stat().st_size == 0
    # one empty marker per file, at kagglehub's path for model_download(handle, path)
    assert {m.removesuffix(".complete") for m in files_of(per_file)} == files_of(model)
    assert len(files_of(model)) == entry.files
    # tensorflow_hub's cache holds only the tensorflow_hub handle
    assert len([p for p in project.cache.iterdir() if p.is_dir() and len(p.name) == 40]) == 1

    project.hub.reset_requests()
    again = project.run("sync", "--format", "json")
    assert again.returncode == 0 and project.hub.requests == []
    document = json.loads(again.stdout)
    assert document["kagglehub"]["models"]["tiny"] == {"state": "present", "path": str(model)}
    assert "tiny" not in document["models"]
    assert project.run("verify", "--full").returncode == 0


def test_a_pin_holds_until_upgrade_moves_it(project: Project) -> None:
    project.write_manifest({"tiny": TINY})
    assert project.run("lock").returncode == 0
    project.hub.add_kaggle(f"{KAGGLE_TINY}/3", project.hub.models[f"kaggle:{KAGGLE_TINY}/1"].archive)
    project.hub.api_calls.clear()
    assert project.run("lock").returncode == 0
    assert read_lockfile(project.lockfile).models[0].kaggle == f"{KAGGLE_TINY}/2"
    assert project.hub.api_calls == []  # an unchanged entry costs no call at all
    upgraded = project.run("lock", "--upgrade", "tiny")
    assert upgraded.returncode == 0, upgraded.stderr
    assert read_lockfile(project.lockfile).models[0].kaggle == f"{KAGGLE_TINY}/3"
    assert "tiny: archive" in upgraded.stdout or "tiny" in upgraded.stdout


def test_one_entry_fills_both_caches_from_one_download(project: Project) -> None:
    project.write_manifest(
        {}, f'[models.linear]\nhandle = "{TFHUB_LINEAR}"\nkaggle = "google/linear/tensorFlow2/default/1"\n'
    )
    assert project.run("lock").returncode == 0, project.run("lock").stderr
    project.downloads.joinpath("sha256").exists() and [
        p.unlink() for p in project.downloads.rglob("sha256/*")
    ]
    project.hub.reset_requests()
    synced = project.run("sync", "--cache", str(project.cache), "--format", "json")
    assert synced.returncode == 0, synced.stderr
    document = json.loads(synced.stdout)
    assert document["models"]["linear"]["state"] == "fetched"
    assert document["kagglehub"]["models"]["linear"]["state"] == "fetched"
    storage = [r for r in project.hub.requests if r.startswith("/storage/")]
    assert len(storage) == 1, project.hub.requests  # fetched once, unpacked into both caches
    tfhub_copy = Path(document["models"]["linear"]["path"])
    kaggle_copy = version_dir(project, "google/linear/tensorFlow2/default/1")
    assert files_of(tfhub_copy) == files_of(kaggle_copy)
    assert all((tfhub_copy / f).read_bytes() == (kaggle_copy / f).read_bytes() for f in files_of(tfhub_copy))


def test_a_private_model_needs_credentials_and_they_never_show(project: Project) -> None:
    project.hub.add_kaggle(
        "acme/secret/keras/s/1", project.hub.models[f"kaggle:{KAGGLE_TINY}/1"].archive, private=True
    )
    project.hub.kaggle_auth = "Basic " + base64.b64encode(b"alice:s3cr3t-key").decode()
    project.write_manifest({"secret": "kaggle://acme/secret/keras/s/1"})
    refused = project.run("lock")
    assert refused.returncode != 0
    assert "secret" in refused.stderr and "HTTP 401" in refused.stderr and "KAGGLE_USERNAME" in refused.stderr
    assert not project.lockfile.exists()
    env = {"KAGGLE_USERNAME": "alice", "KAGGLE_KEY": "s3cr3t-key"}
    locked = project.run("lock", "-v", env=env)
    assert locked.returncode == 0, locked.stderr
    synced = project.run("sync", "-v", env=env)
    listed = project.run("env", "--all", env=env)
    for output in (
        locked.stdout,
        locked.stderr,
        synced.stdout,
        synced.stderr,
        listed.stdout,
        project.lockfile.read_text(),
    ):
        assert "s3cr3t" not in output and "YWxpY2U6czNjcjN0LWtleQ" not in output
    assert "KAGGLE_KEY='***'" in listed.stdout
    # the credentials go to the API only, never to the storage it redirects to
    storage = [
        a
        for r, a in zip(project.hub.requests, project.hub.authorizations, strict=True)
        if r.startswith("/storage/")
    ]
    assert storage and not any(storage)


def test_an_unknown_model_or_version_is_named(project: Project) -> None:
    project.write_manifest(
        {"gone": "kaggle://acme/tiny/keras/tiny_en/9", "nope": "kaggle://acme/nope/keras/x"}
    )
    failed = project.run("lock")
    assert failed.returncode != 0
    assert "gone: kaggle://acme/tiny/keras/tiny_en/9: Kaggle has no such model or version" in failed.stderr
    assert "nope: kaggle://acme/nope/keras/x" in failed.stderr


def test_offline_needs_a_pin_and_syncs_from_the_download_cache(project: Project) -> None:
    project.write_manifest({"tiny": TINY})
    offline = project.run("lock", "--offline")
    assert offline.returncode != 0 and "pin a version" in offline.stderr
    assert project.run("lock").returncode == 0
    project.hub.reset_requests()
    synced = project.run("sync", "--offline")
    assert synced.returncode == 0, synced.stderr
    assert project.hub.requests == []


def test_broken_markers_and_files_are_found_and_repaired(project: Project) -> None:
    project.write_manifest({"tiny": TINY})
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    handle = f"{KAGGLE_TINY}/2"
    whole, per_file = markers(project, handle)
    whole.unlink()
    verified = project.run("verify")
    assert verified.returncode == 1 and "markers are missing" in verified.stdout
    assert project.run("sync").returncode == 0 and whole.is_file()
    weights = next(p for p in version_dir(project, handle).rglob("*") if p.name.startswith("variables.data"))
    weights.write_bytes(b"tampered")
    status = json.loads(project.run("status", "--format", "json").stdout)
    assert status["kagglehub"]["models"]["tiny"]["state"] == "modified"
    repaired = project.run("sync", "--format", "json")
    assert json.loads(repaired.stdout)["kagglehub"]["models"]["tiny"]["state"] == "replaced"
    assert project.run("verify", "--full").returncode == 0
    assert len(files_of(per_file)) == read_lockfile(project.lockfile).models[0].files


def test_a_copy_kagglehub_downloaded_itself_is_verified_and_given_file_markers(project: Project) -> None:
    """kagglehub marks only the whole model; hublock checks it against the lock and adds the
    per-file markers keras_hub's model_download(handle, path) needs offline."""
    project.write_manifest({"tiny": f"{TINY}/1"})
    assert project.run("lock").returncode == 0

    model = version_dir(project, f"{KAGGLE_TINY}/1")
    with tarfile.open(fileobj=io.BytesIO(project.hub.models[f"kaggle:{KAGGLE_TINY}/1"].archive)) as tar:
        tar.extractall(model, filter="data")
    whole, per_file = markers(project, f"{KAGGLE_TINY}/1")
    whole.touch()
    synced = project.run("sync", "--format", "json")
    assert json.loads(synced.stdout)["kagglehub"]["models"]["tiny"]["state"] == "verified", synced.stderr
    assert {m.removesuffix(".complete") for m in files_of(per_file)} == files_of(model)


def test_gc_removes_what_hublock_put_there_markers_first_and_never_kagglehubs_own(project: Project) -> None:
    project.write_manifest({"one": f"{TINY}/1", "two": f"{TINY}/2"})
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    own = project.kagglehub / "models" / "someone" / "else" / "keras" / "v" / "4"
    own.mkdir(parents=True)
    (own / "weights.h5").write_bytes(b"kagglehub downloaded this")
    own.with_name("4.complete").touch()
    crashed = project.kagglehub / "models" / "acme" / "tiny" / "keras" / "tiny_en" / f".2.{'a' * 32}.tmp"
    crashed.mkdir()
    project.write_manifest({"two": f"{TINY}/2"})
    assert project.run("lock").returncode == 0
    collected = project.run("gc", "--format", "json")
    assert collected.returncode == 0, collected.stderr
    removed = {g["name"] for g in json.loads(collected.stdout)["kagglehub"]["removed"]}
    base = "models/acme/tiny/keras/tiny_en"
    assert removed == {
        f"{base}/1",
        f"{base}/1.complete",
        f"{base}/.complete/1",
        f"{base}/1.hublock.json",
        f"{base}/.2.{'a' * 32}.tmp",
    }
    assert not version_dir(project, f"{KAGGLE_TINY}/1").exists()
    assert not markers(project, f"{KAGGLE_TINY}/1")[0].exists()
    assert own.is_dir() and own.with_name("4.complete").exists()  # not hublock's to remove
    assert project.run("verify").returncode == 0


def test_dry_run_and_env_name_kagglehubs_cache(project: Project, tmp_path: Path) -> None:
    project.write_manifest({"tiny": TINY}, f'[cache]\nkaggle = "{tmp_path / "kh"}"')
    assert project.run("lock").returncode == 0
    planned = project.run("sync", "--dry-run", "--format", "json", env={"KAGGLEHUB_CACHE": ""})
    assert planned.returncode == 1
    document = json.loads(planned.stdout)
    assert document["kagglehub"]["cache"] == {
        "path": str(tmp_path / "kh"),
        "source": "[cache] kaggle in hub.toml",
    }
    assert document["kagglehub"]["models"]["tiny"]["state"] == "fetch"
    assert not (tmp_path / "kh").exists()
    shown = project.run("env", env={"KAGGLEHUB_CACHE": ""})
    assert f"export KAGGLEHUB_CACHE={tmp_path / 'kh'}" in shown.stdout
    explicit = project.run("sync", "--kaggle-cache", str(tmp_path / "other"))
    assert explicit.returncode == 0, explicit.stderr
    assert "kagglehub reads KAGGLEHUB_CACHE; use: export KAGGLEHUB_CACHE=" in explicit.stdout
    assert (tmp_path / "other" / "models" / KAGGLE_TINY / "2.complete").exists()


def test_add_takes_kagglehub_handles(project: Project) -> None:
    project.write_manifest({})
    assert project.run("add", "a", "kaggle://acme/tiny/keras/tiny_en/1").returncode == 0
    added = project.run("add", "b", "--kaggle", KAGGLE_TINY, "--format", "json")
    assert json.loads(added.stdout)["added"] == {"name": "b", "handle": TINY, "kaggle": KAGGLE_TINY}
    both = project.run("add", "c", TFHUB_LINEAR, "--kaggle", "google/linear/tensorFlow2/default/1")
    assert both.returncode == 0, both.stderr
    text = project.manifest.read_text()
    assert 'a = "kaggle://acme/tiny/keras/tiny_en/1"' in text
    assert 'b = {kaggle = "acme/tiny/keras/tiny_en"}' in text
    assert f'c = {{handle = "{TFHUB_LINEAR}", kaggle = "google/linear/tensorFlow2/default/1"}}' in text
    refused = project.run("add", "d", "--kaggle", "acme/tiny")
    assert refused.returncode != 0 and "not a Kaggle model handle" in refused.stderr
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr


def test_a_zip_from_kaggle_locks_and_syncs_like_a_tar(project: Project) -> None:

    source = project.hub.models[f"kaggle:{KAGGLE_TINY}/1"].archive
    buf = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(source)) as tar,
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z,
    ):
        for member in tar:
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                z.writestr(member.name, data.read())
    project.hub.add_kaggle("acme/zipped/keras/z/1", buf.getvalue())
    project.write_manifest({"zipped": "kaggle://acme/zipped/keras/z/1", "tiny": f"{TINY}/1"})
    assert project.run("lock").returncode == 0
    models = {m.name: m for m in read_lockfile(project.lockfile).models}
    assert models["zipped"].tree == models["tiny"].tree  # same files, whatever the archive format
    assert project.run("sync").returncode == 0
    assert project.run("verify", "--full").returncode == 0


def test_kills_never_leave_a_marker_without_its_files(project: Project) -> None:
    """kill -9 of `hublock sync` at seeded random moments: whatever marker kagglehub would trust
    stands beside the complete, locked files."""
    project.write_manifest({"one": f"{TINY}/1", "two": f"{TINY}/2"})
    assert project.run("lock").returncode == 0
    assert project.run("sync").returncode == 0
    expected = {
        v: {
            f: (version_dir(project, f"{KAGGLE_TINY}/{v}") / f).read_bytes()
            for f in files_of(version_dir(project, f"{KAGGLE_TINY}/{v}"))
        }
        for v in (1, 2)
    }
    project.hub.throttle = 0.01
    rnd = random.Random(13)
    kills, trials = 0, stress(6, 20)
    for _ in range(trials):
        shutil.rmtree(project.kagglehub / "models", ignore_errors=True)
        shutil.rmtree(project.downloads, ignore_errors=True)
        kills += project.killed_midway(rnd, (0.05, 0.6), "sync")
        for version, files in expected.items():
            handle = f"{KAGGLE_TINY}/{version}"
            whole, per_file = markers(project, handle)
            model = version_dir(project, handle)
            trusted = (
                {m.removesuffix(".complete") for m in files_of(per_file)} if per_file.is_dir() else set()
            )
            if whole.exists():
                trusted |= set(files)
            for path in trusted:
                assert (model / path).read_bytes() == files[path], (version, path)
    assert kills >= trials // 4, f"only {kills} of {trials} syncs were interrupted"
    project.hub.throttle = 0
    assert project.run("sync").returncode == 0
    assert project.run("verify", "--full").returncode == 0
    assert project.run("gc").returncode == 0
    left = [
        p.name
        for p in (project.kagglehub / "models").rglob("*")
        if p.name.endswith((".tmp", "-lock", ".part"))
    ]
    assert not left


def test_one_model_in_three_spellings_is_downloaded_once(project: Project) -> None:
    """A tfhub.dev handle (which redirects to Kaggle), the kaggle.com URL and the kagglehub handle
    of one model: one download, the same tree, each spelling in its loader's cache."""
    project.write_manifest(
        {
            "tfhub": TFHUB_LINEAR,
            "page": "https://www.kaggle.com/models/google/linear/TensorFlow2/default/1",
            "kh": "kaggle://google/linear/tensorFlow2/default/1",
        },
        '[cache]\ndir = "cache"',
    )
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr
    assert "warning" not in locked.stderr
    assert len([r for r in project.hub.requests if r.startswith("/storage/")]) == 1, project.hub.requests
    models = {m.name: m for m in read_lockfile(project.lockfile).models}
    assert len({m.tree for m in models.values()}) == 1 and len({m.archive for m in models.values()}) == 1
    for path in project.downloads.rglob("sha256/*"):
        path.unlink()
    project.hub.reset_requests()
    synced = project.run("sync", "--format", "json")
    assert synced.returncode == 0, synced.stderr
    assert len([r for r in project.hub.requests if r.startswith("/storage/")]) == 1  # and once again
    document = json.loads(synced.stdout)
    assert set(document["models"]) == {"tfhub", "page"} and set(document["kagglehub"]["models"]) == {"kh"}


def test_spellings_of_one_model_with_different_contents_are_named(project: Project) -> None:
    """Locked at different times, while the host replaced the model: the lock says so."""
    project.write_manifest({"kh": "kaggle://google/linear/tensorFlow2/default/1"})
    assert project.run("lock").returncode == 0
    project.hub.swap("google/linear/1", project.hub.models["google/linear/2"].archive)
    project.write_manifest({"kh": "kaggle://google/linear/tensorFlow2/default/1", "tfhub": TFHUB_LINEAR})
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr
    assert "kh (h1:" in locked.stderr and "tfhub (h1:" in locked.stderr
    assert "name one Kaggle model (kaggle://google/linear/tensorFlow2/default/1)" in locked.stderr
    assert "contents differ" in locked.stderr


def test_a_kaggle_mirror_directory_serves_kagglehub_handles_offline(project: Project, tmp_path: Path) -> None:
    """`kaggle://` mirrors like any prefix: <dir>/<owner>/<model>/<framework>/<variation>/<version>.tar.gz."""
    mirror = tmp_path / "mirror" / KAGGLE_TINY
    mirror.mkdir(parents=True)
    (mirror / "1.tar.gz").write_bytes(project.hub.models[f"kaggle:{KAGGLE_TINY}/1"].archive)
    project.write_manifest({"tiny": f"{TINY}/1"})
    option = f"kaggle://=file://{tmp_path / 'mirror'}/"
    locked = project.run("lock", "--offline", "--mirror", option)
    assert locked.returncode == 0, locked.stderr
    assert read_lockfile(project.lockfile).models[0].url == f"https://www.kaggle.com/models/{KAGGLE_TINY}/1"
    for path in project.downloads.rglob("sha256/*"):
        path.unlink()
    synced = project.run("sync", "--offline", "--mirror", option)
    assert synced.returncode == 0, synced.stderr
    assert project.hub.requests == []
    assert project.run("verify", "--full").returncode == 0


def test_an_unversioned_entry_beside_a_pinned_one_is_what_an_unversioned_load_means(
    project: Project, tmp_path: Path
) -> None:
    """The guard's rule (no kagglehub needed): hub.toml says which entry is unversioned; with
    only hub.lock shipped, the ambiguity is an error that says what to do."""
    from hublock import Guard
    from hublock.formats.handles import parse_kaggle_handle

    project.write_manifest({"latest": f"kaggle://{KAGGLE_TINY}", "old": f"kaggle://{KAGGLE_TINY}/1"})
    assert project.run("lock").returncode == 0
    unversioned = parse_kaggle_handle(KAGGLE_TINY)
    found = Guard(project.lockfile, offline=True).kaggle_model(unversioned)
    assert found is not None and (found.name, found.kaggle) == ("latest", f"{KAGGLE_TINY}/2")
    alone = tmp_path / "shipped"
    alone.mkdir()
    (alone / "hub.lock").write_bytes(project.lockfile.read_bytes())
    with pytest.raises(NotInSyncError, match=r"has no version, and .* locks several"):
        Guard(alone / "hub.lock", offline=True).kaggle_model(unversioned)


def test_a_kaggle_url_and_a_kagglehub_handle_of_one_model_are_downloaded_once(project: Project) -> None:
    """No tfhub.dev spelling to resolve first: the kaggle.com URL and the kagglehub handle (with
    its version or without) still share one download."""
    project.write_manifest(
        {
            "page": "https://www.kaggle.com/models/google/linear/TensorFlow2/default/1",
            "kh": "kaggle://google/linear/tensorFlow2/default/1",
        },
        '[cache]\ndir = "cache"',
    )
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr
    assert len([r for r in project.hub.requests if r.startswith("/storage/")]) == 1, project.hub.requests
    models = read_lockfile(project.lockfile).models
    assert len({m.archive for m in models}) == 1
