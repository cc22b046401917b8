"""Air-gapped delivery: portable locks, bundles, content-addressed mirrors, the BOM."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from hublock import Lockfile, dump_lockfile, hash_directory, read_lockfile
from tests.conftest import TFHUB_LINEAR, Project
from tests.integration.test_lock_sync import key, lock_ok


def tree_of(cache: Path, handle: str) -> str:
    return hash_directory(cache / key(handle)).tree


# -- portable locks ---------------------------------------------------------------------------


def test_lock_through_a_local_mirror_syncs_unchanged_elsewhere(
    project: Project, archives: dict[str, bytes], tmp_path: Path
) -> None:
    """Machine A locks through a mirror directory of its own; hub.lock names no path of A, and
    machine B syncs it unchanged through another mirror directory, and C through the network."""
    a_mirror = tmp_path / "a" / "mirror"
    (a_mirror / "google" / "linear").mkdir(parents=True)
    (a_mirror / "google" / "linear" / "1.tar.gz").write_bytes(archives["linear-v1"])
    project.manifest.write_text(f'[models]\nlinear = "{TFHUB_LINEAR}"\n')
    result = project.run("lock", "--offline", "--mirror", f"https://tfhub.dev/={a_mirror}")
    assert result.returncode == 0, result.stderr
    text = project.lockfile.read_text()
    assert str(tmp_path) not in text and "file:" not in text
    locked = read_lockfile(project.lockfile)

    b_mirror = tmp_path / "b" / "elsewhere"
    shutil.copytree(a_mirror, b_mirror)
    shutil.rmtree(a_mirror)
    shutil.rmtree(project.downloads)
    result = project.run("sync", "--offline", "--cache", "b", "--mirror", f"https://tfhub.dev/={b_mirror}")
    assert result.returncode == 0, result.stderr
    assert tree_of(project.dir / "b", TFHUB_LINEAR) == locked.models[0].tree

    shutil.rmtree(project.downloads)
    result = project.run("sync", "--cache", "c", "--mirror", f"https://tfhub.dev/={project.hub.url}/tfhub/")
    assert result.returncode == 0, result.stderr
    assert tree_of(project.dir / "c", TFHUB_LINEAR) == locked.models[0].tree
    assert project.lockfile.read_text() == text  # nothing a sync does rewrites the lock


def test_an_older_lock_with_machine_addresses_reads_and_lock_says_what_it_drops(project: Project) -> None:
    lock_ok(project)
    good = project.lockfile.read_text()
    lock = read_lockfile(project.lockfile)
    linear, other = lock.models
    # what hublock 0.1 wrote: a mirror directory's file:// URL, and a mirror's address with a
    # password in it (properly sealed: an older hublock wrote them, not a hand)
    old = Lockfile.of(
        [
            replace(linear, url="file:///home/alice/mirror/google/linear/1.tar.gz"),
            replace(other, url=f"http://bob:hunter2@{project.hub.url.removeprefix('http://')}/kaggle/x"),
        ]
    )
    project.lockfile.write_text(dump_lockfile(old))
    assert project.run("lock", "--check").returncode == 0  # still a valid lock
    result = project.run("sync")
    assert result.returncode == 0, result.stderr

    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    assert "linear: hub.lock recorded file:///home/alice/mirror/google/linear/1.tar.gz" in result.stderr
    assert "no longer records a url" in result.stderr
    # the mirror's address maps back to the upstream it mirrors; the password is never shown
    assert "other: hub.lock recorded" in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert "now records its upstream URL https://www.kaggle.com/x" in result.stderr
    text = project.lockfile.read_text()
    assert "file:" not in text and "hunter2" not in text and project.hub.url not in text
    assert read_lockfile(project.lockfile).models[0].url == ""
    # content identity was never touched
    assert [(m.archive, m.tree) for m in read_lockfile(project.lockfile).models] == [
        (m.archive, m.tree) for m in lock.models
    ]
    assert good != text  # (the fresh lock recorded linear's upstream URL; the kept one has none)
