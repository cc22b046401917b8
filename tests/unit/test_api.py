"""saved_model.pb read without TensorFlow: the signatures a test writes are the ones read back,
and no bytes (truncated, flipped, random) make the reader crash or hang."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hublock import ModelApi, SavedModelError, Signature, Tensor
from hublock.formats.saved_model_api import api_changes, format_shape, parse_fingerprint, parse_saved_model
from tests.world import protobuf

names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
dtypes = st.sampled_from(sorted(protobuf.DT))
shapes = st.none() | st.lists(st.none() | st.integers(0, 10_000), max_size=5).map(tuple)
specs = st.dictionaries(names, st.tuples(dtypes, shapes), max_size=4)
signatures = st.dictionaries(
    names.filter(lambda k: not k.startswith("__saved_model_init_op")), st.tuples(specs, specs), max_size=4
)


def expected(sigs: dict[str, tuple[protobuf.Spec, protobuf.Spec]]) -> ModelApi:
    def tensors(spec: protobuf.Spec) -> dict[str, Tensor]:
        return {k: Tensor(dtype, shape) for k, (dtype, shape) in spec.items()}

    return ModelApi(
        {k: Signature(tensors(i), tensors(o), "tensorflow/serving/predict") for k, (i, o) in sigs.items()}
    )


@given(signatures, st.binary(max_size=200))
def test_the_signatures_written_are_the_ones_read(sigs: dict, graph: bytes) -> None:  # type: ignore[type-arg]
    api = parse_saved_model(protobuf.saved_model(sigs, graph))
    assert api == expected(sigs)
    assert ModelApi.from_dict(api.to_dict()).digest == api.digest


@given(signatures, st.data())
@settings(max_examples=300)
def test_damaged_bytes_give_an_api_or_a_clear_error(sigs: dict, data: st.DataObject) -> None:  # type: ignore[type-arg]
    good = protobuf.saved_model(sigs)
    cut = data.draw(st.integers(0, len(good)))
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, max(0, len(good) - 1)), st.integers(1, 255)), max_size=3)
    )
    damaged = bytearray(good[:cut])
    for at, mask in flips:
        if at < len(damaged):
            damaged[at] ^= mask
    try:
        parse_saved_model(bytes(damaged))
    except SavedModelError as exc:
        assert str(exc)


@given(st.binary(max_size=500))
def test_random_bytes_give_an_api_or_a_clear_error(data: bytes) -> None:
    """Whatever the bytes: an API (every signature a name and tensors), a hash, or a
    SavedModelError that says what is wrong with them (never another exception)."""
    try:
        api = parse_saved_model(data)
    except SavedModelError as exc:
        assert str(exc).startswith(("truncated", "malformed", "no meta graph")), str(exc)
    else:
        assert isinstance(api, ModelApi)
        assert all(
            isinstance(s, Signature) and all(isinstance(t, Tensor) for t in s.inputs) for s in api.signatures
        )
    try:
        fingerprint = parse_fingerprint(data)
    except SavedModelError as exc:
        assert str(exc).startswith(("truncated", "malformed", "fingerprint.pb has no")), str(exc)
    else:
        assert isinstance(fingerprint, int) and fingerprint >= 0


def test_a_length_that_claims_more_than_there_is_is_refused_at_once() -> None:
    huge = protobuf.key(2, 2) + protobuf.varint(1 << 60)
    try:
        parse_saved_model(huge)
    except SavedModelError as exc:
        assert "truncated" in str(exc)
    else:
        raise AssertionError("accepted")


def test_the_fingerprint_hash_and_api_changes_in_words() -> None:
    assert parse_fingerprint(protobuf.fingerprint(2**64 - 5)) == 2**64 - 5
    old = expected(
        {"serving_default": ({"images": ("float32", (None, 224, 224, 3))}, {}), "tokenize": ({}, {})}
    )
    new = expected(
        {
            "serving_default": (
                {"images": ("float16", (None, 256, 256, 3)), "mask": ("bool", None)},
                {"out": ("int64", ())},
            )
        }
    )
    assert api_changes(old, new) == [
        "signature 'serving_default': input 'images' dtype float32 -> float16",
        "signature 'serving_default': input 'images' shape (None, 224, 224, 3) -> (None, 256, 256, 3)",
        "signature 'serving_default': input 'mask' added (bool <unknown>)",
        "signature 'serving_default': output 'out' added (int64 ())",
        "signature 'tokenize' removed",
    ]
    assert format_shape((3,)) == "(3,)" and format_shape(()) == "()"


def test_several_meta_graphs_keep_their_tags_apart() -> None:
    one = protobuf.saved_model(protobuf.LINEAR, tags=("serve",))
    two = protobuf.saved_model(protobuf.LINEAR, tags=("train",))
    # a SavedModel with two meta graphs: concatenated messages merge their repeated fields
    api = parse_saved_model(one + two[2:])
    assert sorted(api.signatures) == ["serve:serving_default", "train:serving_default"]


def test_lock_keeps_the_files_the_api_reader_reads() -> None:
    """``_fetch`` names them itself (a sync must not import the reader): the two must agree."""
    from hublock.formats.saved_model_api import FINGERPRINT, SAVED_MODEL
    from hublock.remote import API_FILES

    assert API_FILES == (SAVED_MODEL, FINGERPRINT)
