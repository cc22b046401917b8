"""The cache layouts: every name a layout makes reads back as what it is, and for the same model
(gc judges names by this alone); names a layout never makes read as nothing."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from hublock.caches.layout import KAGGLEHUB, TFHUB, Kind, Layout

slug = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,10}", fullmatch=True).filter(lambda s: ".." not in s)
kaggle_handles = st.builds(
    lambda o, m, f, v, n: f"{o}/{m}/{f}/{v}/{n}",
    slug,
    slug,
    st.sampled_from(["keras", "tensorFlow2", "tensorflow2", "jax"]),
    slug,
    st.integers(1, 10**6),
)
tfhub_handles = st.builds(lambda p: f"https://tfhub.dev/{p}", st.text(min_size=1, max_size=40))
uids = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)


def names(layout: Layout, handle: str, uid: str) -> dict[str, Kind]:
    made = {
        layout.model(handle): Kind.MODEL,
        layout.lock(handle): Kind.LOCK,
        layout.staging(handle, uid): Kind.STAGING,
        layout.stamp(handle): Kind.STAMP,
    }
    if layout is KAGGLEHUB:
        made[KAGGLEHUB.marker(handle)] = Kind.MARKER
        made[KAGGLEHUB.file_markers(handle)] = Kind.MARKER
    else:
        made[str(layout.descriptor(handle))] = Kind.DESCRIPTOR
    return made


@given(kaggle_handles, uids)
def test_every_kagglehub_name_reads_back_as_its_kind_and_model(handle: str, uid: str) -> None:
    for name, kind in names(KAGGLEHUB, handle, uid).items():
        parsed = KAGGLEHUB.parse(name)
        assert parsed is not None and parsed.kind is kind, name
        assert parsed.key == KAGGLEHUB.key(handle)
        if kind is Kind.STAGING:
            assert parsed.owner == uid
    assert KAGGLEHUB.model(handle) == f"models/{handle}"  # exactly where kagglehub looks


@given(tfhub_handles, uids)
def test_every_tfhub_name_reads_back_as_its_kind_and_model(handle: str, uid: str) -> None:
    for name, kind in names(TFHUB, handle, uid).items():
        parsed = TFHUB.parse(name)
        assert parsed is not None and parsed.kind is kind and parsed.key == TFHUB.key(handle)


# tensorflow_hub's own names beside a model (its resolver: sha1(handle), then .lock,
# .descriptor.txt, <uuid>.tmp) and hublock's stamp: an independent statement of the format
TFHUB_SUFFIXES = {
    Kind.MODEL: "",
    Kind.LOCK: ".lock",
    Kind.DESCRIPTOR: ".descriptor.txt",
    Kind.STAMP: ".hublock.json",
}
near_tfhub_names = st.builds(
    lambda key, tail: key + tail,
    st.from_regex(r"[0-9a-fA-F]{39,41}", fullmatch=True),
    st.sampled_from(
        [
            *(
                "",
                ".lock",
                ".descriptor.txt",
                ".hublock.json",
                ".lock.bak",
                ".txt",
                ".tmp",
                "/",
                ".LOCK",
                "x",
            ),
            *(".0123456789abcdef0123456789abcdef.tmp", ".0123456789abcdef0123456789abcde.tmp"),
        ]
    ),
)


@given(st.one_of(st.text(max_size=80), near_tfhub_names))
def test_a_tfhub_cache_name_reads_as_what_tensorflow_hub_names_it(name: str) -> None:
    """gc removes what parses: a name reads as a kind exactly when it is that kind's name for
    its 40-hex key, so a file that only looks close (a user's ``<key>.lock.bak``) is left alone."""
    parsed = TFHUB.parse(name)
    key, dot, rest = name.partition(".")
    staging = dot and rest.endswith(".tmp") and re.fullmatch(r"[0-9a-f]{32}", rest.removesuffix(".tmp"))
    by_spec = {suffix: kind for kind, suffix in TFHUB_SUFFIXES.items()}.get(name[len(key) :])
    if not re.fullmatch(r"[0-9a-f]{40}", key) or (by_spec is None and not staging):
        assert parsed is None or parsed.kind in (Kind.TEMP, Kind.ROOTS), (name, parsed)
        return
    assert parsed is not None and parsed.key == key, name
    assert parsed.kind is (Kind.STAGING if staging else by_spec)


def test_kagglehubs_own_files_and_other_resources_are_not_hublocks() -> None:
    for name in ("models/o/m/keras/v/3.archive", "datasets/o/d/versions/1", "models/o/m/keras/v", "x"):
        assert KAGGLEHUB.parse(name) is None


def test_each_layout_places_only_its_own_models() -> None:
    from hublock.formats.lockfile import LockedModel

    def model(handle: str, kaggle: str | None) -> LockedModel:
        d = "sha256:" + "0" * 64
        return LockedModel(
            name="m",
            handle=handle,
            url="",
            size=1,
            archive=d,
            tree="h1:",
            files=1,
            manifest=d,
            kaggle=kaggle,  # type: ignore[arg-type]
        )

    only_kaggle = model("kaggle://o/m/keras/v", "o/m/keras/v/1")
    both = model("https://tfhub.dev/o/m/1", "o/m/keras/v/1")
    only_tfhub = model("https://tfhub.dev/o/m/1", None)
    assert [TFHUB.address(m) for m in (only_kaggle, both, only_tfhub)] == [
        None,
        both.handle,
        only_tfhub.handle,
    ]
    assert [KAGGLEHUB.address(m) for m in (only_kaggle, both, only_tfhub)] == [
        "o/m/keras/v/1",
        "o/m/keras/v/1",
        None,
    ]
