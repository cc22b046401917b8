from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hublock import hash_directory, tree_hash
from hublock.formats.archive import extract_archive


def test_tree_hash_matches_an_independent_sha256sum_computation(tmp_path: Path) -> None:
    """h1 as defined in the README, recomputed with coreutils: sha256sum lines, sorted, hashed."""
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"graph")
    (tmp_path / "variables" / "variables.index").write_bytes(b"index")
    (tmp_path / "a b.txt").write_bytes(b"space in name")
    (tmp_path / "empty-dir").mkdir()
    files = sorted(["saved_model.pb", "variables/variables.index", "a b.txt"])
    listing = subprocess.run(["sha256sum", *files], cwd=tmp_path, capture_output=True, check=True).stdout
    expected = "h1:" + base64.b64encode(hashlib.sha256(listing).digest()).decode()
    assert hash_directory(tmp_path).tree == expected


def test_tree_hash_of_nothing_is_the_hash_of_the_empty_string() -> None:
    assert tree_hash([]) == "h1:" + base64.b64encode(hashlib.sha256(b"").digest()).decode()


file_sets = st.dictionaries(
    st.lists(
        st.from_regex(r"[a-z0-9_.-]{1,8}", fullmatch=True).filter(lambda s: s not in (".", "..")),
        min_size=1,
        max_size=3,
    ).map("/".join),
    st.binary(max_size=2000),
    min_size=1,
    max_size=8,
).filter(lambda d: not any(other.startswith(p + "/") for p in d for other in d))


def make_tar(files: dict[str, bytes], order: list[str], compression: str, level: int) -> bytes:
    buf = io.BytesIO()
    mode = "w:gz" if compression == "gz" else "w"
    kwargs = {"compresslevel": level} if compression == "gz" else {}
    with tarfile.open(fileobj=buf, mode=mode, **kwargs) as tar:  # type: ignore[call-overload]
        for name in order:
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


@settings(max_examples=60, deadline=None)
@given(file_sets, st.randoms(), st.sampled_from(["gz", "none"]), st.integers(1, 9))
def test_tree_hash_ignores_member_order_and_compression(
    files: dict[str, bytes], rnd, compression: str, level: int
) -> None:  # type: ignore[no-untyped-def]
    order = sorted(files)
    shuffled = list(order)
    rnd.shuffle(shuffled)
    reference = extract_archive(io.BytesIO(make_tar(files, order, "gz", 6)), None, max_bytes=1 << 30)
    other = extract_archive(
        io.BytesIO(make_tar(files, shuffled, compression, level)), None, max_bytes=1 << 30
    )
    assert other.tree == reference.tree
    assert reference.tree == tree_hash((p, hashlib.sha256(d).hexdigest()) for p, d in files.items())
