"""One contract, three kinds of cache: a local directory, memory:// and gs:// (a real GCS
emulator on 127.0.0.1). Whatever the target, sync leaves tensorflow_hub's exact layout and
nothing else, verify tells ok from damaged, and sync repairs."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import Iterator

import fsspec
import pytest

import hublock
from hublock.caches.base import open_cache
from tests.conftest import KAGGLE_OTHER, TFHUB_LINEAR, Project


@pytest.fixture(params=["local", "memory", "gs"])
def target(request: pytest.FixtureRequest, project: Project) -> Iterator[str]:
    if request.param == "local":
        yield str(project.dir / "local-cache")
    elif request.param == "memory":
        url = f"memory://hublock-{uuid.uuid4().hex}/cache"
        yield url
        fsspec.filesystem("memory").rm(url.split("://")[1].split("/")[0], recursive=True)
    else:
        yield request.getfixturevalue("bucket") + "/tfhub-modules-cache"


def objects(url: str) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(url, **({"token": "anon"} if url.startswith("gs://") else {}))
    return {p[len(root.rstrip("/")) + 1 :]: fs.cat_file(p) for p in fs.find(root)}


def archive_files(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_sync_lays_out_exactly_what_tensorflow_hub_expects(
    project: Project, target: str, archives: dict[str, bytes]
) -> None:
    hublock.lock(project.manifest)
    report = hublock.sync(project.manifest, cache=target)
    assert sorted(r.outcome for r in report.results) == ["fetched", "fetched"]
    found = objects(target)
    for handle, archive in ((TFHUB_LINEAR, "linear-v1"), (KAGGLE_OTHER, "other-v1")):
        key = hublock.cache_key(handle)
        inside = {p[len(key) + 1 :]: data for p, data in found.items() if p.startswith(key + "/")}
        assert inside == archive_files(archives[archive])
        assert found[f"{key}.descriptor.txt"].startswith(f"Module: {handle}\n".encode())
        assert f"{key}.hublock.json" in found
    assert not [p for p in found if p.endswith(".lock") or ".tmp" in p]
    assert hublock.verify(project.manifest, cache=target).ok
    assert hublock.verify(project.manifest, cache=target, full=True).ok
    again = hublock.sync(project.manifest, cache=target)
    assert [r.outcome for r in again.results] == ["present", "present"]


@pytest.mark.parametrize("damage", ["deleted", "changed", "added"])
def test_damage_is_seen_by_verify_and_repaired_by_sync(project: Project, target: str, damage: str) -> None:
    hublock.lock(project.manifest)
    hublock.sync(project.manifest, cache=target)
    cache = open_cache(target, {"token": "anon"} if target.startswith("gs://") else None)
    fs, root = fsspec.core.url_to_fs(
        cache.model_path(TFHUB_LINEAR), **({"token": "anon"} if target.startswith("gs://") else {})
    )
    victim = f"{root}/variables/variables.index"
    if damage == "deleted":
        fs.rm_file(victim)
    elif damage == "changed":
        data = bytearray(fs.cat_file(victim))
        data[0] ^= 0xFF
        fs.pipe_file(victim, bytes(data))
    else:
        fs.pipe_file(f"{root}/assets/extra.txt", b"extra")
    expected_state = "extra_files" if damage == "added" else "modified"
    for full in (False, True):
        check = {
            c.model.name: c.inspection
            for c in hublock.verify(project.manifest, cache=target, full=full).checks
        }
        assert check["linear"].state.value == expected_state and check["other"].ok
        assert ("variables/variables.index" if damage != "added" else "assets/extra.txt") in check[
            "linear"
        ].detail
    report = hublock.sync(project.manifest, cache=target)
    assert {r.name: r.outcome for r in report.results} == {"linear": "replaced", "other": "present"}
    assert hublock.verify(project.manifest, cache=target, full=True).ok
    if damage == "added":
        assert f"{root}/assets/extra.txt" not in fs.find(root)


def test_cli_syncs_and_verifies_a_bucket(project: Project, bucket: str) -> None:
    url = bucket + "/cache"
    env = {
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "",
    }
    assert project.run("lock").returncode == 0
    sync = project.run("sync", env={**env, "TFHUB_CACHE_DIR": url})
    assert sync.returncode == 0, sync.stderr
    assert f"cache: {url} (from TFHUB_CACHE_DIR)" in sync.stdout and "2 fetched" in sync.stdout
    verify = project.run("verify", "--cache", url, env=env)
    assert verify.returncode == 0 and "linear  ok" in verify.stdout
    again = project.run("sync", "--cache", url, env=env)
    assert again.returncode == 0 and "2 present" in again.stdout


def test_gcs_defaults_are_sane_and_options_come_from_hub_toml(
    project: Project, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No gRPC-first file system (it stalls against anything but Google), no credential probing
    against an emulator, and [cache] options reach gcsfs."""
    import gcsfs.core

    cache = open_cache(bucket + "/c", {})
    assert type(cache.fs) is gcsfs.core.GCSFileSystem  # type: ignore[attr-defined]
    assert cache.fs.credentials.method == "anon"  # type: ignore[attr-defined]

    emulator = os.environ["STORAGE_EMULATOR_HOST"]
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    project.manifest.write_text(
        project.manifest.read_text().replace(
            '[cache]\ndir = "cache"',
            f'[cache]\ndir = "{bucket}/c"\noptions = {{ token = "anon", endpoint_url = "{emulator}" }}',
        )
    )
    hublock.lock(project.manifest)
    report = hublock.sync(project.manifest)
    assert report.cache.location == bucket + "/c" and len(report.results) == 2
    assert hublock.verify(project.manifest).ok


@pytest.mark.parametrize("kind", ["memory", "gs"])
def test_sync_without_local_staging(
    project: Project, kind: str, request: pytest.FixtureRequest, archives: dict[str, bytes]
) -> None:
    url = (
        f"memory://hublock-{uuid.uuid4().hex}/cache"
        if kind == "memory"
        else request.getfixturevalue("bucket") + "/c"
    )
    hublock.lock(project.manifest)
    report = hublock.sync(project.manifest, cache=url, local_staging=False)
    assert sorted(r.outcome for r in report.results) == ["fetched", "fetched"]
    assert hublock.verify(project.manifest, cache=url, full=True).ok
    key = hublock.cache_key(TFHUB_LINEAR)
    found = objects(url)
    assert {p[len(key) + 1 :]: d for p, d in found.items() if p.startswith(key + "/")} == archive_files(
        archives["linear-v1"]
    )
    assert not [p for p in found if ".tmp" in p or p.endswith(".lock")]
