"""Several projects on one cache (tensorflow_hub's default cache is machine-wide): gc keeps what
another live project needs, and a sync never silently swaps another project's model."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

import hublock
from hublock.caches.roots import Root, RootModel
from tests.conftest import KAGGLE_OTHER, TFHUB_LINEAR, Project, stress

LINEAR_2 = "https://tfhub.dev/google/linear/2"


def second_project(project: Project, name: str, models: dict[str, str]) -> Project:
    """Another project of the same user: its own directory, the same download cache."""
    other = Project(project.dir.parent / name, project.hub, dict(project.env))
    other.dir.mkdir()
    other.write_manifest(models)
    return other


@pytest.fixture
def shared(project: Project, tmp_path: Path) -> Path:
    """One cache for every project, as TFHUB_CACHE_DIR or tensorflow_hub's default make it."""
    cache = tmp_path / "shared-cache"
    project.env["TFHUB_CACHE_DIR"] = str(cache)
    project.write_manifest({"linear": TFHUB_LINEAR, "other": KAGGLE_OTHER})
    return cache


def test_gc_keeps_what_another_live_project_needs_and_says_so(project: Project, shared: Path) -> None:
    b = second_project(project, "b", {"linear2": LINEAR_2})
    for p in (project, b):
        assert p.run("lock").returncode == 0 and p.run("sync").returncode == 0
    keys = {h: hublock.cache_key(h) for h in (TFHUB_LINEAR, KAGGLE_OTHER, LINEAR_2)}
    gc = project.run("gc", "--format", "json")
    assert gc.returncode == 0, gc.stderr
    report = json.loads(gc.stdout)
    assert report["removed"] == [] and report["downloads"] == []
    assert report["kept"] == [{"name": keys[LINEAR_2], "projects": [str(b.lockfile.resolve())]}]
    assert (shared / keys[LINEAR_2]).is_dir()
    assert f"kept {keys[LINEAR_2]}: needed by {b.lockfile.resolve()}" in project.run("gc").stdout
    assert b.run("verify").returncode == 0  # b still loads what it locked

    b.lockfile.unlink()  # b is gone: its models and archives may go now
    gone = json.loads(project.run("gc", "--format", "json").stdout)
    assert {i["name"] for i in gone["removed"]} >= {keys[LINEAR_2], f"{keys[LINEAR_2]}.hublock.json"}
    assert len(gone["downloads"]) == 1 and gone["kept"] == []
    assert not (shared / keys[LINEAR_2]).exists()
    assert project.run("verify").returncode == 0


def test_only_this_project_removes_what_others_need(project: Project, shared: Path) -> None:
    b = second_project(project, "b", {"linear2": LINEAR_2})
    for p in (project, b):
        assert p.run("lock").returncode == 0 and p.run("sync").returncode == 0
    result = project.run("gc", "--only-this-project")
    assert result.returncode == 0, result.stderr
    assert not (shared / hublock.cache_key(LINEAR_2)).exists()
    assert b.run("verify").returncode == 1  # what it asked for: b must sync again


def test_a_conflicting_sync_is_refused_naming_both_projects(
    project: Project, shared: Path, archives: dict[str, bytes]
) -> None:
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    a_tree = hublock.read_lockfile(project.lockfile).get("linear").tree  # type: ignore[union-attr]
    project.hub.swap("google/linear/1", archives["linear-v2"])  # upstream changed since a locked
    b = second_project(project, "b", {"linear": TFHUB_LINEAR})
    assert b.run("lock").returncode == 0
    b_tree = hublock.read_lockfile(b.lockfile).get("linear").tree  # type: ignore[union-attr]
    assert a_tree != b_tree

    refused = b.run("sync")
    assert refused.returncode == 1, refused.stderr
    message = refused.stderr
    assert str(project.lockfile.resolve()) in message and str(b.lockfile.resolve()) in message
    assert a_tree in message and b_tree in message
    assert "[cache] dir" in message and "--force" in message and "--upgrade" in message
    assert project.run("verify", "--full").returncode == 0  # a's model untouched

    forced = b.run("sync", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"replaced the copy {project.lockfile.resolve()} had verified" in forced.stderr
    status = json.loads(project.run("status", "--format", "json").stdout)["models"]["linear"]
    assert status["state"] == "stale_stamp" and str(b.lockfile.resolve()) in status["detail"]


def test_projects_syncing_and_collecting_at_once_never_lose_a_model(project: Project, shared: Path) -> None:
    """Three projects, each running sync and gc at the same moment, three rounds (two quick)."""
    projects = [
        project,
        second_project(project, "b", {"linear2": LINEAR_2}),
        second_project(project, "c", {"linear": TFHUB_LINEAR, "linear2": LINEAR_2}),
    ]
    for p in projects:
        assert p.run("lock").returncode == 0
    for _ in range(stress(2, 3)):
        procs = [p.start(command, "-q") for p in projects for command in ("sync", "gc")]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        for p in projects:  # every sync said it finished: every project has all it locked
            check = p.run("verify")
            assert check.returncode == 0, check.stdout
    assert len([f for f in os.listdir(shared / ".hublock-roots") if f.endswith(".json")]) == 3


def test_gc_waits_for_running_syncs_and_syncs_wait_for_gc(project: Project, shared: Path) -> None:
    """The guard on .hublock-roots/gc.lock: a gc never decides while a sync is between recording
    its root and finishing, and a sync does not start recording while a gc decides."""
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    b = second_project(project, "b", {"linear2": LINEAR_2})
    assert b.run("lock").returncode == 0
    guard = shared / ".hublock-roots" / "gc.lock"

    with open(guard, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a gc deciding
        sync = b.start("sync")
        assert waits_on_a_flock(sync.pid), "the sync never queued for the gc lock"
        assert sync.poll() is None and not (shared / hublock.cache_key(LINEAR_2)).exists()
    assert sync.wait(60) == 0, sync.stderr.read() if sync.stderr else ""

    with open(guard, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # a sync running
        gc = project.start("gc", "--only-this-project")
        assert waits_on_a_flock(gc.pid), "the gc never queued for the gc lock"
        assert gc.poll() is None and (shared / hublock.cache_key(LINEAR_2)).exists()
    assert gc.wait(60) == 0
    assert not (shared / hublock.cache_key(LINEAR_2)).exists()  # then it decided, as asked


def waits_on_a_flock(pid: int, deadline: float = 60.0) -> bool:
    """Whether process ``pid`` comes to wait for an flock (the kernel lists a blocked request
    with ``->`` in /proc/locks): the event itself, not a guess at how long reaching it takes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "->" and fields[2] == "FLOCK" and fields[5] == str(pid):
                    return True
        time.sleep(0.02)
    return False


def test_a_bucket_cache_keeps_what_another_project_needs(project: Project, bucket: str) -> None:
    """The same roots in a gs:// cache (the TPU case): one bucket, two projects. Through the
    Python API (what the CLI prints), so gcsfs is imported once, not by every command."""
    cache = f"{bucket}/shared"
    b = second_project(project, "b", {"linear2": LINEAR_2})
    for p in (project, b):
        hublock.lock(p.manifest)
        hublock.sync(p.manifest, cache=cache)
    report = hublock.gc(project.manifest, cache=cache)
    assert [k.to_dict() for k in report.kept] == [
        {"name": hublock.cache_key(LINEAR_2), "projects": [str(b.lockfile.resolve())]}
    ]
    assert report.garbage == () and hublock.verify(b.manifest, cache=cache).ok
    b.lockfile.unlink()
    gone = hublock.gc(project.manifest, cache=cache)
    assert hublock.cache_key(LINEAR_2) in {g.name for g in gone.garbage}
    hublock.lock(b.manifest)  # b comes back: its model was collected, a sync fetches it again
    assert not hublock.verify(b.manifest, cache=cache).ok
    assert hublock.verify(project.manifest, cache=cache).ok


def planted_root(cache: Path, lockfile: str, host: str, handle: str, tree: str) -> None:
    """A root as a sync on another host (a CI runner, a TPU worker) would have left it."""
    root = Root(host, lockfile, (RootModel("linear", handle, "sha256:" + "0" * 64, tree),))
    (cache / ".hublock-roots").mkdir(parents=True, exist_ok=True)
    (cache / ".hublock-roots" / f"{root.id}.json").write_text(root.to_json())


def test_the_same_project_on_another_host_never_blocks_its_own_upgrade(
    project: Project, shared: Path, archives: dict[str, bytes]
) -> None:
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    old = hublock.read_lockfile(project.lockfile).get("linear").tree  # type: ignore[union-attr]
    lockfile = str(project.lockfile.resolve())
    planted_root(shared, lockfile, "tpu-worker-7", TFHUB_LINEAR, old)  # this project, elsewhere
    project.hub.swap("google/linear/1", archives["linear-v2"])
    assert project.run("lock", "--upgrade", "linear").returncode == 0
    upgraded = project.run("sync")
    assert upgraded.returncode == 0, upgraded.stderr
    assert project.run("verify").returncode == 0


def test_another_project_on_another_host_is_protected(
    project: Project, shared: Path, archives: dict[str, bytes]
) -> None:
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    old = hublock.read_lockfile(project.lockfile).get("linear").tree  # type: ignore[union-attr]
    planted_root(shared, "/srv/ranker/hub.lock", "tpu-worker-7", TFHUB_LINEAR, old)
    project.hub.swap("google/linear/1", archives["linear-v2"])
    assert project.run("lock", "--upgrade", "linear").returncode == 0
    refused = project.run("sync")
    assert refused.returncode == 1 and "/srv/ranker/hub.lock on tpu-worker-7" in refused.stderr
    kept = json.loads(project.run("gc", "--only-this-project", "--dry-run", "--format", "json").stdout)
    assert kept["kept"] == []  # --only-this-project: no one else counts
    assert project.run("sync", "--force").returncode == 0
