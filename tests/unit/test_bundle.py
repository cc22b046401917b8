"""The bundle index parser, and what hub.lock may record of where an archive came from."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hublock import BundleError
from hublock.formats.bundle import BundledArchive, BundleIndex
from hublock.remote import portable_url

hexes = st.text("0123456789abcdef", min_size=64, max_size=64)
archives = st.lists(
    st.builds(
        BundledArchive, hexes, st.integers(0, 2**62), st.lists(st.text(min_size=1), max_size=3).map(tuple)
    ),
    max_size=5,
    unique_by=lambda a: a.sha256,
)
indexes = st.builds(BundleIndex, hexes.map(lambda h: "sha256:" + h), archives.map(tuple))


@given(indexes)
def test_index_round_trips(index: BundleIndex) -> None:
    assert BundleIndex.parse(index.to_json(), "b") == index


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_parse_or_fail_with_a_bundle_error(data: bytes) -> None:
    try:
        BundleIndex.parse(data, "b")
    except BundleError as exc:
        assert str(exc).startswith("b: index.json")


@given(indexes, st.sampled_from(["format", "version", "lock", "archives"]), json_values)
def test_a_damaged_field_is_a_bundle_error(index: BundleIndex, key: str, value: object) -> None:
    doc = json.loads(index.to_json())
    if doc[key] == value:
        return
    doc[key] = value
    try:
        parsed = BundleIndex.parse(json.dumps(doc).encode(), "b")
    except BundleError:
        return
    assert (key == "version" and value == 1) or (key == "archives" and parsed.archives == ())


def test_a_newer_format_asks_for_a_newer_hublock() -> None:
    doc = json.loads(BundleIndex("sha256:" + "0" * 64, ()).to_json()) | {"version": 2}
    with pytest.raises(BundleError, match="newer hublock"):
        BundleIndex.parse(json.dumps(doc).encode(), "b")


MIRRORS = {
    "https://tfhub.dev/": "http://mirror.internal/tfhub/",
    "https://www.kaggle.com/": "https://user:pw@artifacts.example/kaggle",
    "gs://bucket/": "/srv/mirror/gs",
}


@given(st.sampled_from(["http", "https", "file", "gs", ""]), st.text(max_size=30), st.booleans())
def test_portable_url_never_records_a_path_a_mirror_or_a_secret(scheme: str, rest: str, via: bool) -> None:
    url = f"{scheme}://user:secret@host/{rest}" if scheme else f"/home/alice/{rest}"
    for candidate in (
        url,
        "http://mirror.internal/tfhub/" + rest,
        "https://artifacts.example/kaggle/" + rest,
    ):
        recorded = portable_url(candidate, MIRRORS, via_mirror=via)
        assert "secret" not in recorded and "mirror.internal" not in recorded
        assert "artifacts.example" not in recorded
        assert recorded == "" or urlsplit(recorded).scheme in ("http", "https", "gs")


def test_portable_url_maps_a_mirror_back_to_its_upstream() -> None:
    assert portable_url("http://mirror.internal/tfhub/google/x/1?tf-hub-format=compressed", MIRRORS) == (
        "https://tfhub.dev/google/x/1?tf-hub-format=compressed"
    )
    assert portable_url("https://user:pw@artifacts.example/kaggle/models/a", MIRRORS) == (
        "https://www.kaggle.com/models/a"
    )
    assert portable_url("file:///srv/mirror/gs/x.tar.gz", MIRRORS) == ""
    assert portable_url("https://storage.example/backend/x", MIRRORS, via_mirror=True) == ""
    assert portable_url("https://storage.example/x", MIRRORS) == "https://storage.example/x"


def test_threads_sharing_a_fetcher_all_see_every_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync on threads (a bucket, an injected transport, a process that imported TensorFlow)
    shares one fetcher: a thread that asks for its bundles while another is still opening them
    waits for the whole list, never takes an empty one ("not in the bundle")."""
    from hublock import formats
    from hublock.caches.downloads import DownloadCache
    from hublock.remote import Fetcher

    opening, release = threading.Event(), threading.Event()

    class SlowReader:  # stands for a BundleReader still scanning a large bundle
        def __init__(self, path: Path) -> None:
            opening.set()
            release.wait(30)
            self.path = path

    monkeypatch.setattr(formats, "BundleReader", SlowReader)  # what the fetcher imports
    fetcher = Fetcher(DownloadCache(tmp_path / "d"), bundles=[tmp_path / "models.bundle"])
    seen: dict[str, int] = {}
    first = threading.Thread(target=lambda: seen.setdefault("first", len(fetcher.bundles)))
    first.start()
    assert opening.wait(30)
    second = threading.Thread(target=lambda: seen.setdefault("second", len(fetcher.bundles)))
    second.start()
    second.join(0.5)  # with the list published early it would be done, having seen none
    release.set()
    first.join(30)
    second.join(30)
    assert seen == {"first": 1, "second": 1}
