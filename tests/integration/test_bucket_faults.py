"""kill -9 of a sync into a bucket at seeded random moments: tensorflow_hub never finds a
`<sha1>/saved_model.pb` (what hub.load opens) beside an incomplete or mixed set of files, and the
next sync heals whatever was left."""

from __future__ import annotations

import io
import os
import random
import tarfile

import fsspec

import hublock
from tests.conftest import TFHUB_LINEAR, Project, stress


def with_assets(archive: bytes, seed: int, count: int = 60, size: int = 64 << 10) -> bytes:
    """The SavedModel archive plus ``count`` incompressible asset files: slow enough to kill."""
    rnd = random.Random(seed)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive)) as src,
        tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as dst,
    ):
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for i in range(count):
            info = tarfile.TarInfo(f"assets/extra-{i:02d}.bin")
            info.size = size
            dst.addfile(info, io.BytesIO(rnd.randbytes(size)))
    return out.getvalue()


def files_of(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_killed_bucket_syncs_never_expose_a_partial_model(
    project: Project, bucket: str, archives: dict[str, bytes]
) -> None:
    versions = [with_assets(archives["linear-v1"], 1), with_assets(archives["linear-v2"], 2)]
    complete = [files_of(v) for v in versions]
    project.hub.swap("google/linear/1", versions[0])
    project.write_manifest({"linear": TFHUB_LINEAR})
    env = {"STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"]}
    cache = f"{bucket}/cache"
    fs = fsspec.filesystem("gs", token="anon")
    model = f"{cache.removeprefix('gs://')}/{hublock.cache_key(TFHUB_LINEAR)}"
    rnd = random.Random(20261123)
    kills = 0
    trials = stress(3, 6)
    for trial in range(trials):
        # alternate versions, so that every sync has a model to fetch or to replace
        project.hub.swap("google/linear/1", versions[trial % 2])
        assert project.run("lock", "--upgrade").returncode == 0
        kills += project.killed_midway(rnd, (0.3, 1.1), "sync", "--cache", cache, env=env)
        fs.invalidate_cache()
        found = {p[len(model) + 1 :]: p for p in fs.find(model + "/")}
        if "saved_model.pb" in found:  # hub.load would accept it: it must be one whole version
            assert {rel: fs.cat_file(p) for rel, p in found.items()} in complete
    healed = project.run("sync", "--cache", cache, env=env)
    assert healed.returncode == 0, healed.stderr
    assert project.run("verify", "--full", "--cache", cache, env=env).returncode == 0
    fs.invalidate_cache()
    assert {p[len(model) + 1 :]: fs.cat_file(p) for p in fs.find(model + "/")} == complete[
        (trials - 1) % 2
    ]  # the version the last lock pinned
    assert kills >= trials // 3, f"only {kills} of {trials} syncs were interrupted: the test proved little"
    assert project.run("gc", "--cache", cache, env=env).returncode == 0  # staging left by the kills
    fs.invalidate_cache()
    root = cache.removeprefix("gs://")
    assert not [p for p in fs.ls(root, detail=False) if p.endswith((".tmp", ".lock"))]
    assert project.run("verify", "--cache", cache, env=env).returncode == 0
