"""Everyday mistakes, as users make them: empty projects, concurrent edits, merge conflicts in
hub.lock, a BOM, http beside https, read-only caches, a bucket with no network."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import hublock
from tests.conftest import TFHUB_LINEAR, Project
from tests.e2e.offline import needs_unshare


def test_an_empty_project_locks_and_cleans_up_after_its_last_model(project: Project) -> None:
    project.manifest.unlink()
    assert project.run("init").returncode == 0
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr
    assert hublock.read_lockfile(project.lockfile).models == ()
    assert project.run("lock", "--check").returncode == 0
    project.write_manifest({})  # still no models; mirrors to the fake hub
    added = project.run("add", "linear", TFHUB_LINEAR, "--lock")
    assert added.returncode == 0, added.stderr
    assert project.run("sync", "--cache", "c").returncode == 0
    removed = project.run("remove", "linear", "--lock")
    assert removed.returncode == 0, removed.stderr
    assert project.run("lock", "--check").returncode == 0
    gc = project.run("gc", "--cache", "c", "--format", "json")
    assert gc.returncode == 0, gc.stderr
    assert hublock.cache_key(TFHUB_LINEAR) in {g["name"] for g in json.loads(gc.stdout)["removed"]}
    assert not (project.dir / "c" / hublock.cache_key(TFHUB_LINEAR)).exists()
    assert "nothing to sync" in project.run("sync", "--cache", "c").stdout


def test_concurrent_adds_lose_no_entry(project: Project) -> None:
    procs = [project.start("add", f"m{i}", f"https://tfhub.dev/google/m{i}/1") for i in range(20)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    names = set(hublock.load_manifest(project.manifest).names)
    assert (
        names >= {f"m{i}" for i in range(20)}
        and "# models this project loads" in project.manifest.read_text()
    )


def conflicted(text: str) -> str:
    """hub.lock as git leaves it after two branches re-locked the same model."""
    lines = text.splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.startswith("archive = "))
    theirs = 'archive = "sha256:' + "0" * 64 + '"\n'
    return "".join(
        [*lines[:i], "<<<<<<< HEAD\n", lines[i], "=======\n", theirs, ">>>>>>> branch\n", *lines[i + 1 :]]
    )


def test_merge_conflict_markers_are_named_and_lock_rebuilds_offline(project: Project) -> None:
    assert project.run("lock").returncode == 0
    good = project.lockfile.read_text()
    project.lockfile.write_text(conflicted(good))
    for command in (("sync",), ("lock", "--check"), ("status",)):
        result = project.run(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert (
            "merge-conflict markers" in result.stderr and "run `hublock lock` to rebuild it" in result.stderr
        )
    project.hub.reset_requests()
    rebuilt = project.run("lock", "--offline")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "had merge-conflict markers: rebuilt" in rebuilt.stderr
    assert project.lockfile.read_text() == good and project.hub.requests == []
    project.lockfile.unlink()  # deleted: rebuilt the same way, from the download cache
    assert project.run("lock", "--offline").returncode == 0
    assert project.lockfile.read_text() == good and project.hub.requests == []


def test_a_bom_is_read_and_kept(project: Project) -> None:
    project.manifest.write_bytes(b"\xef\xbb\xbf" + project.manifest.read_bytes())
    assert project.run("lock").returncode == 0
    assert project.run("add", "linear2", "https://tfhub.dev/google/linear/2").returncode == 0
    assert project.manifest.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "linear2" in hublock.load_manifest(project.manifest).names


def test_add_refuses_the_http_spelling_of_a_listed_https_model(project: Project) -> None:
    result = project.run("add", "again", TFHUB_LINEAR.replace("https://", "http://"))
    assert result.returncode == 2 and "linear" in result.stderr


@needs_unshare
def test_a_read_only_cache_says_its_stamps_cannot_be_refreshed(project: Project, tmp_path: Path) -> None:
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    image = tmp_path / "image"
    shutil.copytree(project.cache, image)  # new inodes and ctimes, as a docker COPY gives
    # the copy, mounted read-only in a mount namespace of its own
    script = (
        f"mount --bind {image} {image} && mount -o remount,ro,bind {image} && "
        f"{sys.executable} -m hublock sync --cache {image}"
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        cwd=project.dir,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "cannot refresh the stamps of linear, other" in result.stderr
    assert "2 present" in result.stdout


def test_a_bucket_with_no_network_fails_at_once(project: Project) -> None:
    assert project.run("lock").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    started = time.monotonic()
    result = project.run(
        "sync", "--cache", "gs://bucket/cache", env={"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{closed}"}
    )
    assert time.monotonic() - started < 20  # gcsfs alone retries for about a minute
    assert result.returncode == 4 and f"cannot reach 127.0.0.1:{closed}" in result.stderr
    assert "STORAGE_EMULATOR_HOST" in result.stderr


def test_status_of_a_project_not_locked_yet(project: Project) -> None:
    result = project.run("status", "--format", "json")
    assert result.returncode == 0, result.stderr
    states = {name: m["state"] for name, m in json.loads(result.stdout)["models"].items()}
    assert states == {"linear": "not_locked", "other": "not_locked"}


def test_activate_with_nothing_to_guard_says_so(project: Project) -> None:
    """A lock with no models, and no loader imported: a clear error, not a silent no-op (and no
    TensorFlow imported to find that out)."""
    import subprocess
    import sys

    (project.dir / "empty.lock").write_text("version = 1\n")
    code = (
        "import sys, hublock\n"
        "try:\n    hublock.activate('empty.lock')\n"
        "except hublock.HublockError as exc:\n    print(exc)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=project.dir, env=project.env, capture_output=True, text=True
    )
    assert "nothing to guard" in ran.stdout and "locks 0 model(s)" in ran.stdout, ran.stderr
    assert ran.stdout.strip().endswith("False")
