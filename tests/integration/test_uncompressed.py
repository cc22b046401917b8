"""format = "uncompressed" (or TFHUB_MODEL_LOAD_FORMAT=UNCOMPRESSED): the hub answers 303 with a
gs:// location; hublock locks the objects there (sizes, checksums, tree hash) and verifies them
in place; sync has nothing to download."""

from __future__ import annotations

import io
import os
import tarfile

import fsspec
import pytest

from hublock import read_lockfile
from tests.conftest import TFHUB_LINEAR, Project


def upload_extracted(archive: bytes, url: str) -> None:
    fs = fsspec.filesystem("gs", token="anon", skip_instance_cache=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if member.isfile():
                fs.pipe_file(f"{url.removeprefix('gs://')}/{member.name}", tar.extractfile(member).read())  # type: ignore[union-attr]


@pytest.fixture
def uncompressed(project: Project, bucket: str, archives: dict[str, bytes]) -> str:
    location = f"{bucket}/tfhub-modules/google/linear/1/uncompressed"
    upload_extracted(archives["linear-v1"], location)
    project.hub.models["google/linear/1"].gcs_location = location
    project.env["STORAGE_EMULATOR_HOST"] = os.environ["STORAGE_EMULATOR_HOST"]
    return location


def test_lock_records_objects_and_sync_downloads_nothing(project: Project, uncompressed: str) -> None:
    project.write_manifest({"linear": TFHUB_LINEAR}, '[cache]\ndir = "cache"')
    assert project.run("lock").returncode == 0
    compressed_tree = read_lockfile(project.lockfile).models[0].tree

    project.manifest.write_text(
        project.manifest.read_text().replace(
            f'linear = "{TFHUB_LINEAR}"', f'linear = {{ handle = "{TFHUB_LINEAR}", format = "uncompressed" }}'
        )
    )
    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    model = read_lockfile(project.lockfile).models[0]
    assert model.format == "uncompressed" and model.archive is None and model.url == uncompressed
    assert model.tree == compressed_tree  # the same files, read where they are
    assert len(model.objects) == model.files == 5
    assert all(o.checksum.startswith("md5:") for o in model.objects)
    assert 'format = "uncompressed"' in project.lockfile.read_text()

    project.hub.reset_requests()
    sync = project.run("sync")
    assert sync.returncode == 0 and "1 remote" in sync.stdout
    assert project.hub.requests == [] and not project.cache.exists()
    assert project.run("sync", "--dry-run").returncode == 0
    assert project.run("verify").returncode == 0 and project.run("verify", "--full").returncode == 0

    fs = fsspec.filesystem("gs", token="anon", skip_instance_cache=True)
    fs.pipe_file(f"{uncompressed.removeprefix('gs://')}/saved_model.pb", b"replaced")
    verify = project.run("verify")
    assert verify.returncode == 1 and "saved_model.pb (changed)" in verify.stdout


def test_environment_format_and_check(project: Project, uncompressed: str) -> None:
    project.write_manifest({"linear": TFHUB_LINEAR})
    result = project.run("lock", env={"TFHUB_MODEL_LOAD_FORMAT": "UNCOMPRESSED"})
    assert result.returncode == 0, result.stderr
    assert read_lockfile(project.lockfile).models[0].format == "uncompressed"
    assert project.run("lock", "--check", env={"TFHUB_MODEL_LOAD_FORMAT": "UNCOMPRESSED"}).returncode == 0
    check = project.run("lock", "--check")
    assert check.returncode == 1 and "locked uncompressed" in check.stderr


def test_a_hub_without_the_uncompressed_protocol_is_a_clear_error(project: Project, bucket: str) -> None:
    project.env["STORAGE_EMULATOR_HOST"] = os.environ["STORAGE_EMULATOR_HOST"]
    project.manifest.write_text(
        project.manifest.read_text().replace(
            f'linear = "{TFHUB_LINEAR}"', f'linear = {{ handle = "{TFHUB_LINEAR}", format = "uncompressed" }}'
        )
    )
    result = project.run("lock")
    assert result.returncode == 3 and "linear:" in result.stderr and "404" in result.stderr
