"""The cache layouts: every name a layout makes reads back as what it is, and for the same model
(gc judges names by this alone); names a layout never makes read as nothing."""

from __future__ import annotations

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


@given(st.text(max_size=80))
def test_names_a_layout_never_makes_read_as_nothing_or_a_known_kind(name: str) -> None:
    for layout in (TFHUB, KAGGLEHUB):
        parsed = layout.parse(name)
        assert parsed is None or isinstance(parsed.kind, Kind)


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
