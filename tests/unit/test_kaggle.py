"""kagglehub handles: parsed as kagglehub parses them, normalised, refused with a reason."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hublock import ManifestError, parse_manifest
from hublock.formats.handles import (
    KaggleHandle,
    find_kaggle_model,
    framework_enum,
    handle_of_url,
    has_fixed_version,
    parse_kaggle_handle,
    trailing_version,
)
from hublock.formats.lockfile import LockfileError, parse_lockfile
from hublock.remote.kaggle_api import api_url, credentials

slug = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,12}", fullmatch=True)
frameworks = st.sampled_from(
    ["tensorFlow2", "tensorflow2", "TensorFlow2", "keras", "jax", "pyTorch", "tfLite"]
)


@given(slug, slug, frameworks, slug, st.one_of(st.none(), st.integers(1, 10**6)), st.booleans())
def test_every_handle_reads_back_as_written(
    owner: str, model: str, framework: str, variation: str, version: int | None, scheme: bool
) -> None:
    text = "/".join([owner, model, framework, variation, *([str(version)] if version else [])])
    handle = parse_kaggle_handle(("kaggle://" if scheme else "") + text)
    assert str(handle) == text  # the framework keeps its case: kagglehub's cache folder does
    assert handle == KaggleHandle(owner, model, framework, variation, version)
    assert handle.pinned is (version is not None)


@given(st.text(max_size=60))
def test_any_text_is_a_handle_or_a_clear_error(text: str) -> None:
    try:
        handle = parse_kaggle_handle(text)
    except ManifestError as exc:
        # the message quotes the text and says which rule it breaks
        reasons = (
            "is not a Kaggle model handle",
            "is not a valid Kaggle slug",
            "unknown framework",
            "must be a number",
        )
        assert str(exc).startswith(f"kaggle handle: {text!r}"), str(exc)
        assert sum(reason in str(exc) for reason in reasons) == 1, str(exc)
    else:
        assert str(handle) == text.removeprefix("kaggle://")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("google/mobilenet", "not a Kaggle model handle"),
        ("a/b/c/d/e/f", "not a Kaggle model handle"),
        ("a/b/nosuchframework/d", "unknown framework"),
        ("a/b/keras/d/0", "from 1 up"),
        ("a/b/keras/d/latest", "from 1 up"),
        ("a/../keras/d/1", "not a valid Kaggle slug"),
        ("a/b/keras/d e/1", "not a valid Kaggle slug"),
    ],
)
def test_bad_handles_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_kaggle_handle(text)


def test_frameworks_match_the_api_enum_whatever_the_spelling() -> None:
    assert framework_enum("tensorFlow2") == framework_enum("tensorflow2") == "MODEL_FRAMEWORK_TENSOR_FLOW_2"
    assert framework_enum("pyTorch") == framework_enum("pytorch") == "MODEL_FRAMEWORK_PY_TORCH"
    assert framework_enum("keras") == "MODEL_FRAMEWORK_KERAS"
    assert framework_enum("caffe") is None


def test_one_model_whatever_the_spelling_has_one_identity() -> None:
    a = parse_kaggle_handle("google/mobilenet-v2/tensorFlow2/100-224/5")
    b = handle_of_url(
        "https://www.kaggle.com/models/google/mobilenet-v2/TensorFlow2/100-224/5?tf-hub-format=compressed"
    )
    assert b is not None and a.identity == b.identity and a != b
    assert handle_of_url("https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5") is None


def test_manifest_entries_in_every_spelling(tmp_path: Path) -> None:
    manifest = parse_manifest(
        """
[models]
a = "kaggle://acme/tiny/keras/tiny_en/2"
b = { kaggle = "acme/tiny/keras/tiny_en" }
c = { handle = "https://tfhub.dev/google/linear/1", kaggle = "kaggle://google/linear/tensorFlow2/default/1" }
d = { handle = "kaggle://acme/tiny/keras/other/1", kaggle = "acme/tiny/keras/other/1" }
[cache]
kaggle = "kh"
""",
        base_dir=tmp_path,
    )
    by = {m.name: m for m in manifest.models}
    assert (by["a"].handle, by["a"].kaggle) == (
        "kaggle://acme/tiny/keras/tiny_en/2",
        "acme/tiny/keras/tiny_en/2",
    )
    assert (by["b"].handle, by["b"].kaggle) == ("kaggle://acme/tiny/keras/tiny_en", "acme/tiny/keras/tiny_en")
    assert (by["c"].handle, by["c"].kaggle) == (
        "https://tfhub.dev/google/linear/1",
        "google/linear/tensorFlow2/default/1",
    )
    assert by["d"].kaggle == "acme/tiny/keras/other/1"
    assert manifest.kaggle_cache_dir == str(tmp_path / "kh")
    # the kagglehub handle is part of what is locked: changing it makes the lock stale
    moved = parse_manifest(
        '[models]\nc = { handle = "https://tfhub.dev/google/linear/1", kaggle = "google/linear/tensorFlow2/default/2" }'
    )
    assert moved.models[0].entry_digest != by["c"].entry_digest


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('x = { kaggle = "a/b/keras" }', "not a Kaggle model handle"),
        ('x = { handle = "kaggle://a/b/keras/c/1", kaggle = "a/b/keras/c/2" }', "different models"),
        ('x = { kaggle = "a/b/keras/c/1", format = "uncompressed" }', "tensorflow_hub handles only"),
        ('x = { handle = "gs://b/m.tar.gz", kaggle = "a/b/keras/c/1" }', "https:// handle"),
        ("x = { kaggle = 5 }", "expected a string"),
    ],
)
def test_bad_kaggle_entries_name_the_model(entry: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as caught:
        parse_manifest(f"[models]\n{entry}\n")
    assert "models.x" in str(caught.value)


def test_a_lock_entry_needs_a_pinned_kaggle_handle() -> None:
    entry = """version = 1
[[models]]
name = "x"
handle = "kaggle://a/b/keras/c"
kaggle = "a/b/keras/c"
url = "https://www.kaggle.com/models/a/b/keras/c/1"
size = 1
archive = "sha256:{0}"
tree = "h1:{1}="
files = 1
manifest = "sha256:{0}"
""".format("0" * 64, "A" * 43)
    with pytest.raises(LockfileError, match="has no version"):
        parse_lockfile(entry)
    assert (
        parse_lockfile(entry.replace('kaggle = "a/b/keras/c"', 'kaggle = "a/b/keras/c/1"')).models[0].kaggle
    )


def test_endpoint_and_credentials_are_found_where_kagglehub_looks(tmp_path: Path) -> None:
    assert (
        api_url("GetModelInstance", {}) == "https://api.kaggle.com/v1/models.ModelApiService/GetModelInstance"
    )
    assert api_url("X", {"KAGGLE_API_ENVIRONMENT": "TEST"}).startswith("http://localhost:7777/api/v1/")
    assert api_url("X", {"HUBLOCK_KAGGLE_API": "http://127.0.0.1:9/api/"}) == (
        "http://127.0.0.1:9/api/v1/models.ModelApiService/X"
    )
    config = tmp_path / "cfg"
    config.mkdir()
    env = {"KAGGLE_CONFIG_DIR": str(config)}
    assert credentials(env) is None
    (config / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert credentials(env) == "Basic " + base64.b64encode(b"u:k").decode()
    assert (
        credentials({**env, "KAGGLE_USERNAME": "v", "KAGGLE_KEY": "w"})
        == "Basic " + base64.b64encode(b"v:w").decode()
    )
    token = tmp_path / "token"
    token.write_text("tok\n")
    assert credentials({**env, "KAGGLE_API_TOKEN": str(token)}) == "Bearer tok"
    assert credentials({**env, "KAGGLE_API_TOKEN": "raw"}) == "Bearer raw"


@given(
    st.sampled_from(["https://tfhub.dev", "https://www.kaggle.com/models", "http://127.0.0.1:8/m"]),
    st.lists(slug, min_size=1, max_size=4),
    st.integers(1, 10**6),
    st.sampled_from(["", "/", "?tf-hub-format=compressed"]),
)
def test_a_url_handle_ending_in_a_number_names_that_version(
    host: str, path: list[str], version: int, tail: str
) -> None:
    """One rule for the version a URL handle ends with, used by lock (a fixed version's content
    must not change), audit (which numbers come after it) and the BOM (its version)."""
    base = f"{host}/{'/'.join(path)}"
    handle = f"{base}/{version}{tail}"
    assert trailing_version(handle) == (base, version)
    assert has_fixed_version(handle)
    assert trailing_version(base + "/latest") is None
    assert not has_fixed_version(f"{base}/v{version}")


def test_which_kaggle_model_an_entry_is_reads_the_lock_url_too() -> None:
    """The BOM and the lock's spelling warnings ask the same question: a tfhub.dev handle whose
    redirects led to kaggle.com is that Kaggle model, by its hub.lock url."""
    url = "https://www.kaggle.com/models/google/mobilenet-v2/tensorFlow2/classification/2"
    found = find_kaggle_model(None, "https://tfhub.dev/google/mobilenet/2", url)
    assert found == KaggleHandle("google", "mobilenet-v2", "tensorFlow2", "classification", 2)
    assert find_kaggle_model("keras/bert/keras/tiny/3", "kaggle://keras/bert/keras/tiny/3") == KaggleHandle(
        "keras", "bert", "keras", "tiny", 3
    )
    assert find_kaggle_model(None, "https://tfhub.dev/google/m/1", "https://storage.example/x.tar.gz") is None
    assert has_fixed_version("kaggle://keras/bert/keras/tiny/3")
    assert not has_fixed_version("kaggle://keras/bert/keras/tiny")
