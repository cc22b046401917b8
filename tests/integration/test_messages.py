"""Messages that say what happened: where a model comes from, what a wrong --cache is, what a
hand-edited lock entry is (and is not) known to be."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Project
from tests.integration.test_airgap import fresh_side, three_models
from tests.integration.test_lock_sync import lock_ok


def test_sync_from_a_bundle_says_so(project: Project, tmp_path: Path) -> None:
    three_models(project)
    bundle = tmp_path / "m.bundle"
    assert project.run("bundle", str(bundle)).returncode == 0
    result = project.run(
        "sync", "--from", str(bundle), "--cache", "c2", env=fresh_side(project, tmp_path, "b")
    )
    assert result.returncode == 0, result.stderr
    assert f"linear: unpacking from {bundle}" in result.stderr
    assert "fetching" not in result.stderr


@pytest.mark.parametrize("command", ["verify", "status", "sync", "gc"])
def test_a_cache_that_is_a_file_is_named_as_such(project: Project, command: str) -> None:
    lock_ok(project)
    (project.dir / "afile").write_text("not a cache")
    result = project.run(command, "--cache", "afile")
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"the cache {project.dir / 'afile'} is a file, not a directory" in result.stderr


def test_a_hand_edited_tree_is_not_said_to_be_a_new_url(project: Project) -> None:
    lock_ok(project)
    text = project.lockfile.read_text()
    start = text.index('tree = "') + len('tree = "')
    end = text.index('"', start)
    tree = text[start:end]
    other = tree[:-5] + ("AAAA=" if not tree.endswith("AAAA=") else "BBBB=")  # still a valid tree hash
    project.lockfile.write_text(text[:start] + other + text[end:])
    result = project.run("lock", "--check")
    assert result.returncode == 1
    assert "edited by hand" in result.stderr and "url is now" not in result.stderr
