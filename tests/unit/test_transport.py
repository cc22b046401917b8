"""The public ``transport=`` parameter (docs/api.md): any httpx transport carries every request of
lock and sync, so a program can serve hublock's network itself (httpx.MockTransport here); and the
one retry rule holds on each HTTP path, the uncompressed protocol's included."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import hublock
from hublock.caches.downloads import DownloadCache
from hublock.core.errors import FetchError
from hublock.remote import Fetcher

HANDLE = "https://hub.example/google/tiny/1"


def _archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("saved_model.pb", b"not really a graph"), ("variables/variables.index", b"idx")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


ARCHIVE = _archive()


def _serving(answers: list[int]) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A hub that answers each status of ``answers`` in turn, then the archive."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if answers:
            return httpx.Response(answers.pop(0))
        return httpx.Response(200, content=ARCHIVE)

    return handler, seen


@pytest.fixture(autouse=True)
def _no_pauses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUBLOCK_RETRY_BACKOFF", "0")
    monkeypatch.setenv("HUBLOCK_DOWNLOAD_CACHE", str(tmp_path / "downloads"))


def test_lock_and_sync_go_through_the_given_transport(tmp_path: Path) -> None:
    manifest = tmp_path / "hub.toml"
    manifest.write_text(f'[models]\ntiny = "{HANDLE}"\n')
    handler, seen = _serving([503, 429])  # retried by the one rule, then served
    result = hublock.lock(manifest, transport=httpx.MockTransport(handler))
    (model,) = result.lockfile.models
    assert model.size == len(ARCHIVE) and model.files == 2
    assert [str(r.url) for r in seen] == [f"{HANDLE}?tf-hub-format=compressed"] * 3
    # a fresh download cache: sync must fetch again, through the transport it is given
    report = hublock.sync(
        manifest,
        cache=str(tmp_path / "tfhub"),
        download_cache=tmp_path / "d2",
        transport=httpx.MockTransport(handler),
    )
    assert [r.outcome.value for r in report.results] == ["fetched"]
    assert len(seen) == 4
    assert (Path(report.results[0].path) / "variables" / "variables.index").read_bytes() == b"idx"


def test_a_transport_that_keeps_failing_fails_lock_with_the_reason(tmp_path: Path) -> None:
    manifest = tmp_path / "hub.toml"
    manifest.write_text(f'[models]\ntiny = "{HANDLE}"\n')
    handler, seen = _serving([503] * 10)
    with pytest.raises(FetchError, match=r"HTTP 503 .*gave up after 4 attempts"):
        hublock.lock(manifest, transport=httpx.MockTransport(handler))
    assert len(seen) == 4  # the first attempt and three retries
    assert not (tmp_path / "hub.lock").exists()


def _fetcher(tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response]) -> Fetcher:
    return Fetcher(DownloadCache(tmp_path / "d"), transport=httpx.MockTransport(handler), backoff=0)


def test_the_uncompressed_protocol_retries_and_follows_redirects(tmp_path: Path) -> None:
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(
                302, headers={"location": "https://mirror.example/m/1?tf-hub-format=uncompressed"}
            ),
            httpx.Response(303, text="gs://bucket/m/1/uncompressed"),
        ]
    )
    with _fetcher(tmp_path, lambda request: next(answers)) as fetcher:
        assert fetcher.uncompressed_location(HANDLE) == "gs://bucket/m/1/uncompressed"


def test_the_uncompressed_protocol_stops_at_a_redirect_loop(tmp_path: Path) -> None:
    def loop(request: httpx.Request) -> httpx.Response:
        other = "https://b.example/x" if request.url.host == "hub.example" else HANDLE
        return httpx.Response(302, headers={"location": other})

    with _fetcher(tmp_path, loop) as fetcher, pytest.raises(FetchError, match="redirect loop"):
        fetcher.uncompressed_location(HANDLE)
