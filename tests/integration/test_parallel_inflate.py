"""Many cores: a large archive is downloaded into the download cache first, then inflated on
several threads at once (rapidgzip) while another hashes it. The thresholds (4 cores, 256 MB)
are lowered here so that the test's small models on CI's cores take that path; what is asserted
is what a user relies on: the same verified files, one download, and a stream inflate wherever
rapidgzip refuses an archive that is the locked one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import hublock
import hublock.formats
import hublock.formats.archive as archive
from tests.conftest import Project


@pytest.fixture
def many_cores(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths the parallel inflater opened."""
    monkeypatch.setattr(archive, "PARALLEL_MIN_CORES", 1)
    monkeypatch.setattr(archive, "PARALLEL_MIN_SIZE", 0)
    opened: list[Path] = []

    class Recorded(archive.GunzippedFile):
        def __init__(self, path: Path, threads: int) -> None:
            opened.append(Path(path))
            super().__init__(path, threads)

    monkeypatch.setattr(hublock.formats, "GunzippedFile", Recorded)  # sync imports it from there
    return opened


def archive_digests(project: Project) -> list[str]:
    return [(m.archive or "").removeprefix("sha256:") for m in hublock.read_lockfile(project.lockfile).models]


def starts(events: list[hublock.Event], model: str) -> list[str]:
    return [e.message for e in events if e.model == model and e.kind == "start"]


def test_a_cold_sync_downloads_once_then_inflates_in_parallel(
    project: Project, many_cores: list[Path]
) -> None:
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.requests.clear()
    events: list[hublock.Event] = []
    report = hublock.sync(project.manifest, jobs=1, on_event=events.append)
    assert {r.outcome for r in report.results} == {hublock.Outcome.FETCHED}
    assert hublock.verify(project.manifest, full=True).ok
    assert sorted(many_cores) == sorted(project.downloads / "sha256" / d for d in archive_digests(project))
    for model in ("linear", "other"):
        fetching, unpacking = starts(events, model)
        assert fetching.startswith("fetching") and unpacking == "unpacking from the download cache"
    assert len([r for r in project.hub.requests if r.startswith("/storage/")]) == 2  # one each


def test_an_archive_the_parallel_inflater_refuses_is_inflated_as_a_stream(
    project: Project, many_cores: list[Path], archives: dict[str, bytes]
) -> None:
    """Zeros after the gzip stream (some tools pad archives): tarfile and tensorflow_hub read
    such an archive, rapidgzip refuses it; the locked bytes are inflated once more, as a stream."""
    project.hub.add("google/padded/1", archives["linear-v1"] + bytes(4096))
    project.write_manifest({"padded": "https://tfhub.dev/google/padded/1"}, '[cache]\ndir = "cache"')
    assert project.run("lock").returncode == 0
    report = hublock.sync(project.manifest, jobs=1)
    assert [r.outcome for r in report.results] == [hublock.Outcome.FETCHED]
    assert many_cores, "the parallel inflater was not tried"
    assert hublock.verify(project.manifest, full=True).ok
    assert (project.downloads / "sha256" / archive_digests(project)[0]).exists()  # the right bytes: kept


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_a_damaged_copy_in_the_download_cache_is_fetched_again(
    project: Project, many_cores: list[Path], damage: str
) -> None:
    """rapidgzip reads a truncated file to where it stops, without an error: the archive's
    sha256, checked whatever inflated it, is what finds it."""
    assert project.run("lock").returncode == 0
    digest = archive_digests(project)[0]
    cached = project.downloads / "sha256" / digest
    data = cached.read_bytes()
    cached.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:-100] + bytes(100))
    report = hublock.sync(project.manifest, jobs=1)
    assert {r.outcome for r in report.results} == {hublock.Outcome.FETCHED}
    assert cached in many_cores and cached.read_bytes() == data
    assert hublock.verify(project.manifest, full=True).ok
