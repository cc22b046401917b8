"""Hostile bundles: one set of rules wherever a bundle is read (``bundle --verify``, ``sync --from``,
``lock --check --from``), and a bundle that breaks any of them publishes nothing."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.integration.test_airgap import fresh_side, three_models

Edit = Callable[[tarfile.TarFile, list[tuple[tarfile.TarInfo, bytes]]], None]


def rewritten(good: Path, out: Path, edit: Edit) -> Path:
    """The members of ``good``, written again into ``out`` after ``edit`` added or changed some."""
    with tarfile.open(good) as tar:
        original = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        edit(tar, original)
    return out


def _add(tar: tarfile.TarFile, info: tarfile.TarInfo, data: bytes = b"") -> None:
    info.size = len(data) if info.isfile() else 0
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def _copy(tar: tarfile.TarFile, original: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    for info, data in original:
        _add(tar, info, data)


def _extra(name: str, data: bytes = b"x") -> Edit:
    def edit(tar: tarfile.TarFile, original: list[tuple[tarfile.TarInfo, bytes]]) -> None:
        _copy(tar, original)
        _add(tar, tarfile.TarInfo(name), data)

    return edit


def _link(kind: bytes) -> Edit:
    def edit(tar: tarfile.TarFile, original: list[tuple[tarfile.TarInfo, bytes]]) -> None:
        _copy(tar, original)
        info = tarfile.TarInfo("sha256/" + "a" * 64)
        info.type, info.linkname = kind, "/etc/passwd" if kind == tarfile.SYMTYPE else original[-1][0].name
        _add(tar, info)

    return edit


def _duplicate(tar: tarfile.TarFile, original: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    _copy(tar, original)
    info, data = original[-1]
    _add(tar, tarfile.TarInfo(info.name), data)


def _flipped(tar: tarfile.TarFile, original: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    """One byte flipped in the last of several archives: the others are intact."""
    *rest, (info, data) = original
    _copy(tar, rest)
    _add(tar, tarfile.TarInfo(info.name), data[:100] + bytes([data[100] ^ 1]) + data[101:])


HOSTILE: dict[str, tuple[Edit, str]] = {
    "extra archive": (_extra("sha256/" + "b" * 64), "an archive its index does not list"),
    "extra file": (_extra("notes.txt"), "not part of a bundle"),
    "traversal": (_extra("sha256/../../escaped"), "an absolute or '..' name"),
    "absolute": (_extra("/tmp/absolute"), "an absolute or '..' name"),
    "bad name": (_extra("sha256/not-a-digest"), "not named sha256/<64 hex digits>"),
    "symlink": (_link(tarfile.SYMTYPE), "not a plain file"),
    "hard link": (_link(tarfile.LNKTYPE), "not a plain file"),
    "duplicate": (_duplicate, "a second member of this name"),
    "flipped byte": (_flipped, "sha256/"),
}


def published(root: Path) -> list[str]:
    """What a loader could see: model directories of tensorflow_hub's cache, kagglehub's models."""
    if not root.exists():
        return []
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and not p.name.startswith(".")
    )


@pytest.fixture
def good_bundle(project: Project, tmp_path: Path) -> Path:
    three_models(project)
    out = tmp_path / "good.bundle"
    assert project.run("bundle", str(out)).returncode == 0
    return out


@pytest.mark.parametrize("case", list(HOSTILE))
def test_every_reader_refuses_a_hostile_bundle_and_publishes_nothing(
    project: Project, good_bundle: Path, tmp_path: Path, case: str
) -> None:
    edit, reason = HOSTILE[case]
    bad = rewritten(good_bundle, tmp_path / "bad.bundle", edit)
    env = fresh_side(project, tmp_path, "b")
    runs = {
        "bundle --verify": project.run("bundle", "--verify", str(bad)),
        "sync --from": project.run("sync", "--from", str(bad), "--cache", "c2", env=env),
        "lock --check --from": project.run("lock", "--check", "--from", str(bad)),
    }
    for command, result in runs.items():
        said = result.stderr
        assert result.returncode == 3, f"{command}: {said}"
        assert "Traceback" not in said, f"{command}: {said}"
        assert f"{bad}: damaged or tampered with" in said or (
            case == "flipped byte" and "holds other bytes" in said
        ), f"{command}: {said}"
        assert reason in said, f"{command}: {said}"
        # the right action at an air-gapped site: a new bundle, not a new lock, and no host to blame
        assert "lock --upgrade" not in said and "the host" not in said and "server" not in said, said
    assert published(project.dir / "c2") == []
    assert published(tmp_path / "b" / "kagglehub") == []


def test_an_unpacked_bundle_follows_the_same_rules(
    project: Project, good_bundle: Path, tmp_path: Path
) -> None:
    unpacked = tmp_path / "unpacked"
    with tarfile.open(good_bundle) as tar:
        tar.extractall(unpacked, filter="data")
    (unpacked / "sha256" / ("c" * 64)).symlink_to("/etc/passwd")
    env = fresh_side(project, tmp_path, "b")
    for result in (
        project.run("bundle", "--verify", str(unpacked)),
        project.run("sync", "--from", str(unpacked), "--cache", "c2", env=env),
        project.run("lock", "--check", "--from", str(unpacked)),
    ):
        assert result.returncode == 3, result.stderr
        assert f"{unpacked}: damaged or tampered with: sha256/{'c' * 64}: not a plain file" in result.stderr
    assert published(project.dir / "c2") == []
