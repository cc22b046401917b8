"""Bad bytes and broken transfers from the network: resumed where that is safe, refused (exit 3,
nothing published) where it is not."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hublock import read_lockfile
from tests.conftest import TFHUB_LINEAR, Project
from tests.world.fakehub import FakeHub
from tests.world.gcsproxy import make_certificates


def published(project: Project) -> list[str]:
    """What a loader could see in the cache: model directories and stamps."""
    if not project.cache.exists():
        return []
    return sorted(
        p for p in os.listdir(project.cache) if not p.endswith(".descriptor.txt") and p != ".hublock-roots"
    )


def locked_then_forgotten(project: Project) -> None:
    """Lock, then empty the download cache so that the sync must fetch over the network."""
    assert project.run("lock").returncode == 0
    shutil.rmtree(project.downloads)
    project.hub.reset_requests()


def test_reset_mid_stream_is_resumed_with_range(project: Project, archives: dict[str, bytes]) -> None:
    locked_then_forgotten(project)
    project.hub.reset_after, project.hub.resets = 700, 2  # each of the two models breaks once
    project.hub.body_bytes = 0
    result = project.run("sync")
    assert result.returncode == 0, result.stderr
    assert sorted(project.hub.range_requests) == ["bytes=700-", "bytes=700-"]
    # resumed, not restarted: the storage host sent each byte of each archive once
    assert project.hub.body_bytes == len(archives["linear-v1"]) + len(archives["other-v1"])
    assert project.run("verify", "--full").returncode == 0


def test_reset_mid_stream_restarts_where_range_is_not_supported(project: Project) -> None:
    locked_then_forgotten(project)
    project.hub.ranges = False
    project.hub.reset_after, project.hub.resets = 700, 2
    result = project.run("sync")
    assert result.returncode == 0, result.stderr
    assert len(project.hub.range_requests) == 2  # asked, was sent the whole body, skipped what it had
    assert project.run("verify", "--full").returncode == 0


def test_a_changed_object_is_never_spliced_onto_a_partial_download(
    project: Project, archives: dict[str, bytes]
) -> None:
    project.write_manifest({"linear": TFHUB_LINEAR}, '[cache]\ndir = "cache"')
    locked_then_forgotten(project)
    project.hub.reset_after, project.hub.resets = 700, 1
    # between the break and the resume, the object changes: If-Range fails and the whole new body comes
    project.hub.after_reset = lambda: project.hub.swap("google/linear/1", archives["linear-v2"])
    result = project.run("sync")
    assert result.returncode == 3, result.stderr
    assert (
        "linear:" in result.stderr and "changed on the server while it was being downloaded" in result.stderr
    )
    assert published(project) == []


def test_content_length_shorter_than_the_body_is_a_digest_mismatch(project: Project) -> None:
    locked_then_forgotten(project)
    model = read_lockfile(project.lockfile).get("linear")
    assert model is not None and model.archive is not None
    project.hub.length_delta = -100  # the server cuts the body to match its wrong header
    result = project.run("sync")
    assert result.returncode == 3, result.stderr
    assert f"expected {model.archive}" in result.stderr and "linear:" in result.stderr
    assert ", got sha256:" in result.stderr  # the actual digest too
    assert published(project) == []


def test_content_length_longer_than_the_body_is_refused(project: Project) -> None:
    locked_then_forgotten(project)
    project.hub.length_delta = 100  # promises 100 bytes more, then hangs up
    result = project.run("sync")
    assert result.returncode == 3, result.stderr
    assert "linear:" in result.stderr and "Content-Length is wrong" in result.stderr
    assert published(project) == []


def test_a_flipped_byte_mid_archive_is_refused_with_both_digests(
    project: Project, archives: dict[str, bytes]
) -> None:
    locked_then_forgotten(project)
    flipped = bytearray(archives["linear-v1"])
    flipped[len(flipped) // 2] ^= 0x01  # tarfile's streamed read never checks the gzip CRC
    project.hub.swap("google/linear/1", bytes(flipped))
    result = project.run("sync")
    assert result.returncode == 3, result.stderr
    actual = hashlib.sha256(bytes(flipped)).hexdigest()
    assert f"got sha256:{actual}" in result.stderr and "expected sha256:" in result.stderr
    assert not [
        p for p in published(project) if p.startswith(hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest())
    ]


@pytest.fixture
def https_hub(archives: dict[str, bytes], tmp_path: Path) -> Iterator[tuple[FakeHub, Path]]:
    ca, leaf, key = make_certificates(tmp_path / "tls")
    with FakeHub(tls=(leaf, key)) as fake:
        fake.add("google/linear/1", archives["linear-v1"])
        yield fake, ca


def test_https_to_http_downgrade_is_refused(project: Project, https_hub: tuple[FakeHub, Path]) -> None:
    from hublock.remote.http import tls_context

    secure, ca = https_hub
    tls_context()  # one made earlier in this process without the test CA: it must not be reused
    project.manifest.write_text(
        f'[models]\nlinear = "{TFHUB_LINEAR}"\n[mirrors]\n"https://tfhub.dev/" = "{secure.url}/tfhub/"\n'
    )
    env = {"SSL_CERT_FILE": str(ca)}
    secure.downgrade_to = project.hub.url  # the plain-http fake hub serves the same storage paths
    result = project.run("lock", env=env)
    assert result.returncode == 3, result.stderr
    assert "linear:" in result.stderr and "refused a redirect from https to plain http" in result.stderr
    assert not [r for r in project.hub.requests if r.startswith("/storage/")]  # never asked the http host
    secure.downgrade_to = None
    assert project.run("lock", env=env).returncode == 0  # the same chain over https is fine


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_with_backoff_then_succeed(project: Project, status: int) -> None:
    locked_then_forgotten(project)
    project.hub.fail(project.hub.storage_path("google/linear/1"), status, times=3)
    result = project.run("sync", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(f"HTTP {status}") >= 3  # each retry said why, with its pause
    assert project.run("verify", "--full").returncode == 0


def test_server_errors_that_never_end_are_bounded(project: Project) -> None:
    locked_then_forgotten(project)
    project.hub.fail(project.hub.storage_path("google/linear/1"), 502, times=1000)
    result = project.run("sync")
    assert result.returncode == 3, result.stderr
    assert (
        "linear:" in result.stderr
        and "HTTP 502" in result.stderr
        and "gave up after 4 attempts" in result.stderr
    )
    storage = [r for r in project.hub.requests if r.startswith(project.hub.storage_path("google/linear/1"))]
    assert len(storage) == 4 * 2  # 4 attempts at the mirror, 4 at the locked url; then it stops
