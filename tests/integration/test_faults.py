"""Faults a user meets in the field, each ending in one clear message, the documented exit code,
and nothing half-written where a loader could see it."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hublock import read_lockfile
from tests.conftest import KAGGLE_OTHER, TFHUB_LINEAR, Project


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: room for the small test models, not for a big one."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def big_archive(archive: bytes, size: int = 1 << 20) -> bytes:
    """The SavedModel plus an incompressible asset bigger than the small disk."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("assets/big.bin")
        info.size = size
        dst.addfile(info, io.BytesIO(os.urandom(size)))
    return out.getvalue()


def test_full_disk_is_a_clear_error_and_leaves_the_cache_as_it_was(
    project: Project, small_disk: Path, archives: dict[str, bytes]
) -> None:
    cache = small_disk / "cache"
    project.write_manifest({"other": KAGGLE_OTHER})
    assert project.run("lock").returncode == 0
    assert project.run("sync", "--cache", str(cache)).returncode == 0
    before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}

    project.hub.swap("google/linear/1", big_archive(archives["linear-v1"]))
    project.write_manifest({"other": KAGGLE_OTHER, "linear": TFHUB_LINEAR})
    assert project.run("lock").returncode == 0
    result = project.run("sync", "--cache", str(cache))
    assert result.returncode == 4, result.stderr
    assert "linear:" in result.stderr and "no space left" in result.stderr
    # the space the model's files really take, as hub.lock recorded it, not a guess from the archive
    unpacked = read_lockfile(project.dir / "hub.lock").get("linear").unpacked
    assert unpacked is not None and unpacked > (1 << 20)
    assert f"free at least {unpacked / 1e6:,.1f} MB ({unpacked:,} bytes)" in result.stderr, result.stderr
    key = hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest()
    assert not [p for p in os.listdir(cache) if p.startswith(key) and not p.endswith(".descriptor.txt")]
    assert {
        p: p.read_bytes()
        for p in cache.rglob("*")
        if p.is_file() and not p.name.startswith(key) and p.parent.name != ".hublock-roots"
    } == {p: data for p, data in before.items() if p.parent.name != ".hublock-roots"}
    assert project.run("verify", "--cache", str(cache)).stdout.count("ok") == 1


def test_truncated_bodies_are_resumed_where_they_broke(project: Project) -> None:
    project.hub.truncate = True  # every 200 response stops half-way and hangs up
    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    assert len(project.hub.range_requests) == 2  # one resume per model, for the second half
    assert project.run("sync").returncode == 0
    assert project.run("verify", "--full").returncode == 0


def test_corrupted_download_cache_is_detected_and_refetched(project: Project) -> None:
    assert project.run("lock").returncode == 0
    model = read_lockfile(project.lockfile).models[0]
    cached = project.downloads / "sha256" / model.archive.removeprefix("sha256:")  # type: ignore[union-attr]
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= (
        0x01  # a flipped bit in the gzip stream, which tarfile's streaming read does not catch
    )
    cached.write_bytes(bytes(data))
    result = project.run("sync")
    assert result.returncode == 0, result.stderr  # the bad copy was dropped and fetched again
    assert project.run("verify", "--full").returncode == 0
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == model.archive.removeprefix("sha256:")  # type: ignore[union-attr]


def test_a_failed_model_does_not_stop_the_others_of_its_batch(project: Project, tmp_path: Path) -> None:
    """Small models go to the worker processes several at a time: two that fail are each named,
    the count is of models (not batches), and every other model of their batches is published.
    (In a process of its own: worker processes are never forked from one that imported
    TensorFlow, as the e2e tests' processes have.)"""
    import json

    import hublock
    from tests.world.savedmodels import pack, savedmodel_shaped, write_tree

    handles = {}
    for i in range(24):
        write_tree(savedmodel_shaped(float(i), 1.0), tmp_path / f"m{i}")
        pack(tmp_path / f"m{i}", tmp_path / f"m{i}.tar.gz")
        project.hub.add(f"acme/m{i}/1", (tmp_path / f"m{i}.tar.gz").read_bytes())
        handles[f"m{i}"] = f"https://tfhub.dev/acme/m{i}/1"
    project.write_manifest(handles, '[cache]\ndir = "cache"')
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.fail("acme/m4/", 404, times=1000)
    project.hub.fail("acme/m5/", 404, times=1000)
    script = (
        "import json, hublock, hublock.commands.sync as sync\n"
        "sync.worker_count = lambda jobs: 2  # batches of 3 on any machine\n"
        "sizes, batched = [], sync._batched\n"
        "def recording(chains, workers):\n"
        "    groups = batched(chains, workers)\n"
        "    sizes.extend(len(g) for g in groups)\n"
        "    return groups\n"
        "sync._batched = recording\n"
        "try:\n"
        "    hublock.sync('hub.toml', jobs=2)\n"
        "except hublock.ModelErrors as exc:\n"
        "    print(json.dumps({'sizes': sizes, 'message': str(exc), 'models': [e.model for e in exc.errors]}))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=project.dir, env=project.env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    failed = json.loads(ran.stdout)
    assert max(failed["sizes"]) == 3, failed  # several models a batch: the case under test
    assert failed["message"].startswith("2 of 24 models failed")
    assert sorted(failed["models"]) == ["m4", "m5"]
    status = hublock.status(project.manifest)
    present = sorted(m.name for m in status.models if m.state.value == "ok")
    assert present == sorted(f"m{i}" for i in range(24) if i not in (4, 5))


def test_cache_dir_is_untouched_when_every_source_fails(project: Project) -> None:
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.fail("/", 404, times=1000)
    result = project.run("sync")
    assert result.returncode == 3 and "2 of 2 models failed" in result.stderr
    assert [
        p for p in os.listdir(project.cache) if not p.endswith(".descriptor.txt") and p != ".hublock-roots"
    ] == []


def test_download_cache_damage_that_breaks_gzip_is_refetched_too(project: Project) -> None:
    assert project.run("lock").returncode == 0
    model = read_lockfile(project.lockfile).models[0]
    cached = project.downloads / "sha256" / model.archive.removeprefix("sha256:")  # type: ignore[union-attr]
    cached.write_bytes(b"\x1f\x8b" + b"garbage" * 100)  # not even a valid gzip stream now
    result = project.run("sync")
    assert result.returncode == 0, result.stderr
    assert project.run("verify", "--full").returncode == 0


def test_redirect_loop_is_refused(project: Project) -> None:
    project.manifest.write_text(f'[models]\nloop = "{project.hub.url}/loop/a"\n')
    result = project.run("lock")
    assert result.returncode == 3 and "loop:" in result.stderr and "redirect loop" in result.stderr


def test_stalled_server_times_out_with_a_clear_error(project: Project) -> None:
    project.hub.stall = 3.0
    result = project.run("lock", env={"HUBLOCK_TIMEOUT": "0.5"})
    assert result.returncode == 3, result.stderr
    assert "Timeout" in result.stderr and "gave up after 4 attempts" in result.stderr


def test_four_concurrent_syncs_download_each_archive_once(project: Project) -> None:
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.reset_requests()
    project.hub.throttle = 0.02  # long enough for the four to overlap
    procs = [project.start("sync") for _ in range(4)]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], results
    fetched = sum(int(n) for out, _ in results for n in re.findall(r"(\d+) fetched", out))
    assert fetched == 2  # each model was fetched by exactly one of the four; the others found it present
    storage = [r for r in project.hub.requests if r.startswith("/storage/")]
    assert len(storage) == 2 and len(set(r.split("?")[0] for r in storage)) == 2  # once per archive
    assert project.run("verify", "--full").returncode == 0
