"""The bundle index parser, and what hub.lock may record of where an archive came from."""

from __future__ import annotations

import json
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
