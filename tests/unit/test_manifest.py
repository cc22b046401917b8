from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st

from hublock import ManifestError, parse_manifest
from hublock.formats.manifest import near_duplicates

BASE = Path("/project")


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_manifest(text, base_dir=BASE)


def test_reads_the_documented_example() -> None:
    manifest = parse(
        """
        [cache]
        dir = "~/.cache/tfhub_modules"   # a comment

        [models]
        mobilenet = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"
        bert = { handle = "https://www.kaggle.com/models/tensorflow/bert/TensorFlow2/en-uncased-l-12-h-768-a-12/3" }

        [mirrors]
        "https://tfhub.dev/" = "http://127.0.0.1:8080/tfhub/"
        "https://www.kaggle.com/" = "mirror-dir"
        """
    )
    assert manifest.names == ["mobilenet", "bert"]
    assert manifest.model("bert").handle.endswith("/3")
    assert manifest.cache_dir == str(Path.home() / ".cache/tfhub_modules")
    assert manifest.mirrors == {
        "https://tfhub.dev/": "http://127.0.0.1:8080/tfhub/",
        "https://www.kaggle.com/": "/project/mirror-dir",
    }


def test_file_url_mirror_becomes_a_path() -> None:
    manifest = parse(
        '[models]\na = "https://tfhub.dev/a/1"\n[mirrors]\n"https://tfhub.dev/" = "file:///srv/m/"'
    )
    assert manifest.mirrors["https://tfhub.dev/"] == "/srv/m"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[models]\na = "https://x/1"\nb = ?\n', "not valid TOML: Invalid value (at line 3, column 5)"),
        ('[model]\na = "https://x/1"', "unknown key 'model' (did you mean 'models'?)"),
        ('[models]\na = { handel = "https://x/1" }', "unknown key 'handel' (did you mean 'handle'?)"),
        ('[cache]\ndri = "x"\n[models]\na = "https://x/1"', "did you mean 'dir'?"),
        ("[models]\na = 3", "expected a handle string"),
        ("[models]\na = {}", "missing required key 'handle'"),
        ('[models]\na = "https://x/1"\nb = "https://x/1"', "already listed as 'a'"),
        ('[models]\na = "http:// bad"', "white space"),
        ('[models]\na = "https://"', "not a valid http(s) URL"),
        ('[models]\na = "gs://bucket/model"', "must name a .tar.gz archive"),
        ('[models]\na = "ftp://host/m"', "scheme hublock does not know"),
        ('[models]\n"bad name" = "https://x/1"', "model names use letters"),
        ("", "no models listed"),
        ('models = "x"', "must be a table"),
        ('[models]\na = "https://x/1"\n[mirrors]\n"tfhub.dev" = "x"', "mirror prefix must start"),
        ('cache = 1\n[models]\na = "https://x/1"', "'cache' must be a table"),
    ],
)
def test_bad_manifests_are_refused_with_a_message(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=None) as info:
        parse(text)
    assert message in str(info.value)


def test_unknown_model_name_suggests_the_closest() -> None:
    manifest = parse('[models]\nmobilenet = "https://x/1"')
    with pytest.raises(ManifestError, match="did you mean 'mobilenet'"):
        manifest.model("mobilnet")


def test_entry_digest_changes_with_the_handle_only() -> None:
    a = parse('[models]\nm = "https://x/1"').models[0]
    b = parse('# comment\n[models]\nm = { handle = "https://x/1" }').models[0]
    c = parse('[models]\nm = "https://x/2"').models[0]
    assert a.entry_digest == b.entry_digest != c.entry_digest


def test_near_duplicate_handles_are_found() -> None:
    manifest = parse(
        '[models]\na = "https://tfhub.dev/g/m/1"\nb = "https://tfhub.dev/G/m/1/"\n'
        'c = "https://tfhub.dev/g/m/1?tf-hub-format=compressed"\nd = "https://tfhub.dev/g/m/2"'
    )
    assert [(x.name, y.name) for x, y in near_duplicates(manifest)] == [("a", "b"), ("a", "c")]


names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True)
# segments a hub publishes ('..' climbs out, and hub.toml refuses it: test_lock_sync covers that)
segments = st.from_regex(r"[a-z0-9_.-]{1,10}", fullmatch=True).filter(lambda s: s != "..")
paths = st.lists(segments, min_size=1, max_size=5)
handles = st.builds(
    lambda host, p: f"https://{host}/{'/'.join(p)}",
    st.sampled_from(["tfhub.dev", "www.kaggle.com", "example.org"]),
    paths,
)


@given(st.dictionaries(names, handles, min_size=1, max_size=8), st.booleans())
def test_round_trip_through_toml(models: dict[str, str], inline: bool) -> None:
    handles_seen: set[str] = set()
    models = {n: h for n, h in models.items() if not (h in handles_seen or handles_seen.add(h))}  # type: ignore[func-returns-value]
    doc = tomlkit.document()
    table = tomlkit.table()
    for name, handle in models.items():
        table.add(name, {"handle": handle} if inline else handle)
    doc.add("models", table)
    manifest = parse(tomlkit.dumps(doc))
    assert {m.name: m.handle for m in manifest.models} == models


@given(st.text(max_size=200))
def test_parser_raises_only_hublock_errors(text: str) -> None:
    with contextlib.suppress(ManifestError):
        parse(text)


def test_an_empty_models_table_is_a_valid_project() -> None:
    assert parse_manifest("[models]\n# nothing yet\n").models == ()


segments = st.lists(
    st.sampled_from(["..", ".", "%2e%2e", "%2E%2e", "%252e%252e", "..%5c", "a", "b", "5", "x..y", "%2e"]),
    min_size=1,
    max_size=6,
)


@given(segments)
def test_a_url_handle_never_maps_outside_a_directory_mirror(parts: list[str]) -> None:
    """Whatever a URL handle's path, hub.toml refuses it or a directory mirror serves it from
    inside the directory (as ``..`` in a Kaggle handle is refused)."""
    import os
    from urllib.parse import unquote

    from hublock.remote import apply_mirror

    handle = "https://tfhub.dev/" + "/".join(parts)
    try:
        parse(f'[models]\nm = "{handle}"\n')
    except ManifestError as exc:
        assert "climbs out" in str(exc) and repr(handle) in str(exc)
        return
    mirror = "/srv/mirror"
    location = apply_mirror(handle, {"https://tfhub.dev/": mirror})
    assert os.path.normpath(location).startswith(mirror + os.sep), location
    # a URL mirror would decode the path: nothing that decodes to '..' got through
    assert ".." not in unquote(unquote(location)).split("/")


@pytest.mark.parametrize(
    "path", ["google/../../etc/passwd", "google/%2e%2e/%2e%2e/secret", "g/%252E%252E/x", "g/..%5c..%5cx"]
)
def test_a_url_handle_that_climbs_out_is_refused_by_name(path: str) -> None:
    with pytest.raises(ManifestError, match=r"models\.m: .* climbs out with '\.\.'"):
        parse(f'[models]\nm = "https://tfhub.dev/{path}"\n')
