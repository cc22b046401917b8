"""A bad source is one failed source, not a failed model: a content-addressed mirror (a directory
or a URL) that serves other bytes than hub.lock's is skipped, said so, and the model comes from
the next source (the handle's mirror, then upstream)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hublock import read_lockfile
from tests.conftest import TFHUB_LINEAR, Project
from tests.integration.test_airgap import static_server
from tests.integration.test_lock_sync import key, lock_ok

HTML = b"<!doctype html><html><body>Sign in to continue</body></html>"


def _corrupt(obj: Path, how: str, other: bytes) -> None:
    data = obj.read_bytes()
    obj.write_bytes({"wrong archive": other, "partial": data[: len(data) // 2], "html": HTML}[how])


@pytest.fixture
def cas(project: Project, tmp_path: Path) -> tuple[Path, str, bytes]:
    """hub.lock for linear and other, a content-addressed mirror of both, and linear's digest."""
    lock_ok(project)
    root = tmp_path / "cas" / "hub"
    assert project.run("mirror", str(root)).returncode == 0
    lock = read_lockfile(project.lockfile)
    linear = next(m for m in lock.models if m.handle == TFHUB_LINEAR)
    other = next(m for m in lock.models if m.handle != TFHUB_LINEAR)
    sha = (linear.archive or "").removeprefix("sha256:")
    other_bytes = (root / "sha256" / (other.archive or "").removeprefix("sha256:")).read_bytes()
    return root, sha, other_bytes


@pytest.mark.parametrize("how", ["wrong archive", "partial", "html"])
@pytest.mark.parametrize("kind", ["directory", "url"])
def test_a_corrupt_mirror_object_falls_back_to_the_next_source(
    project: Project, cas: tuple[Path, str, bytes], tmp_path: Path, how: str, kind: str
) -> None:
    root, sha, other_bytes = cas
    _corrupt(root / "sha256" / sha, how, other_bytes)
    with static_server(root.parent) as (url, _asked):
        base = str(root) if kind == "directory" else url
        text = project.manifest.read_text().replace("[mirrors]", f'[mirrors]\n"sha256:" = "{base}"')
        project.manifest.write_text(text)
        env = {"HUBLOCK_DOWNLOAD_CACHE": str(tmp_path / "fresh-downloads")}
        result = project.run("sync", env=env)
    assert result.returncode == 0, result.stderr
    assert "linear:" in result.stderr and "served other bytes than hub.lock's" in result.stderr, result.stderr
    assert f"sha256/{sha}" in result.stderr  # the bad source is named
    assert project.run("verify", "--full").returncode == 0
    assert hashlib.sha256((root / "sha256" / sha).read_bytes()).hexdigest() != sha  # left as it was


def test_when_every_source_is_bad_the_model_fails_naming_each(
    project: Project, cas: tuple[Path, str, bytes], tmp_path: Path
) -> None:
    root, sha, other_bytes = cas
    _corrupt(root / "sha256" / sha, "wrong archive", other_bytes)
    project.hub.swap("google/linear/1", other_bytes)  # upstream replaced the model too
    text = project.manifest.read_text().replace("[mirrors]", f'[mirrors]\n"sha256:" = "{root}"')
    project.manifest.write_text(text)
    result = project.run("sync", env={"HUBLOCK_DOWNLOAD_CACHE": str(tmp_path / "fresh")})
    assert result.returncode == 3, result.stderr
    assert "the other sources too" in result.stderr and "served other bytes than hub.lock's" in result.stderr
    assert f"sha256/{sha}" in result.stderr and "127.0.0.1" in result.stderr
    assert not (project.cache / key(TFHUB_LINEAR)).exists()


@pytest.mark.parametrize("how", ["same size", "other size"])
def test_mirror_replaces_a_corrupt_object_and_says_so(
    project: Project, cas: tuple[Path, str, bytes], how: str
) -> None:
    root, sha, _ = cas
    obj = root / "sha256" / sha
    good = obj.read_bytes()
    obj.write_bytes(bytes(b ^ 0xFF for b in good) if how == "same size" else good[:-10])
    result = project.run("mirror", str(root), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert f"sha256/{sha} held other bytes than hub.lock's: replaced" in result.stderr
    assert json.loads(result.stdout)["replaced"] == [sha]
    assert obj.read_bytes() == good
    again = project.run("mirror", str(root), "--format", "json")
    assert json.loads(again.stdout)["replaced"] == []  # nothing to replace now


def test_mirror_checks_a_bucket_object_by_its_md5_without_downloading_it(
    project: Project, cas: tuple[Path, str, bytes], bucket: str
) -> None:
    import os

    import fsspec

    _, sha, _ = cas
    env = {
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    assert project.run("mirror", f"{bucket}/hub", env=env).returncode == 0
    fs = fsspec.filesystem(
        "gs", token="anon", endpoint_url=os.environ["STORAGE_EMULATOR_HOST"], skip_instance_cache=True
    )
    obj = f"{bucket.removeprefix('gs://')}/hub/sha256/{sha}"
    good = fs.cat(obj)
    fs.pipe(obj, bytes(b ^ 0xFF for b in good))  # same size, other bytes
    assert fs.info(obj).get("md5Hash")  # GCS keeps one: judged by it, not by a download
    result = project.run("mirror", f"{bucket}/hub", env=env)
    assert result.returncode == 0, result.stderr
    assert "held other bytes than hub.lock's: replaced" in result.stderr
    assert fs.cat(obj) == good


def test_lock_through_a_mirror_that_serves_no_archive_locks_from_upstream(
    project: Project, archives: dict[str, bytes], tmp_path: Path
) -> None:
    """A mirror directory holding an HTML page where the archive should be: lock says so and
    takes the archive from upstream (here the fake hub, given as upstream's own address)."""
    mirror = tmp_path / "mirror"
    (mirror / "google" / "linear").mkdir(parents=True)
    (mirror / "google" / "linear" / "1.tar.gz").write_bytes(HTML)
    upstream = f"{project.hub.url}/tfhub/google/linear/1"
    project.manifest.write_text(
        f'[models]\nlinear = "{upstream}"\n\n[mirrors]\n"{project.hub.url}/tfhub/" = "{mirror}"\n'
    )
    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    assert "served no readable archive" in result.stderr and "trying upstream" in result.stderr
    (model,) = read_lockfile(project.lockfile).models
    assert model.archive == "sha256:" + hashlib.sha256(archives["linear-v1"]).hexdigest()
