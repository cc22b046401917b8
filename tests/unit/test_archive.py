"""The archive reader: safe members extract exactly, anything hostile is refused, and nothing is
ever written outside the staging directory."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hublock import IntegrityError, UnsafeArchiveError
from hublock.formats.archive import (
    DEFAULT_MAX_MEMBERS,
    GunzippedFile,
    extract_archive,
    gunzip,
    inflater,
    inflater_name,
    parallel_inflate_threads,
)

Member = tuple[str, str, bytes]  # (kind, name, data or link target)


def build(members: list[Member], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "chardev": tarfile.CHRTYPE,
                "blockdev": tarfile.BLKTYPE,
            }[kind]
            info.linkname = data.decode()
            tar.addfile(info)
    return buf.getvalue()


def extract(data: bytes, staging: Path, max_bytes: int = 1 << 20):  # type: ignore[no-untyped-def]
    return extract_archive(io.BytesIO(data), str(staging), max_bytes=max_bytes)


def test_regular_archive_extracts_exactly(tmp_path: Path) -> None:
    data = build(
        [("dir", "variables", b""), ("file", "saved_model.pb", b"pb"), ("file", "./variables/v.index", b"ix")]
    )
    tree = extract(data, tmp_path)
    assert sorted(f.path for f in tree.files) == ["saved_model.pb", "variables/v.index"]
    assert (tmp_path / "variables" / "v.index").read_bytes() == b"ix"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("file", "../x", b"x")], "climbs out"),
        ([("file", "a/../../x", b"x")], "climbs out"),
        ([("file", "/etc/x", b"x")], "absolute path"),
        ([("symlink", "link", b"/etc/passwd")], "not a regular file"),
        ([("symlink", "link", b"inside")], "not a regular file"),
        ([("file", "a", b"x"), ("hardlink", "b", b"a")], "not a regular file"),
        ([("fifo", "pipe", b"")], "not a regular file"),
        ([("chardev", "dev", b"")], "not a regular file"),
        ([("blockdev", "dev", b"")], "not a regular file"),
        ([("file", "a", b"x"), ("file", "a", b"y")], "twice"),
        ([("file", "a", b"x"), ("file", "a/b", b"y")], "below a file"),
        ([("file", "a\\b", b"x")], "forbidden character"),
        ([("dir", "only-a-dir", b"")], "holds no files"),
    ],
)
def test_hostile_members_are_refused(tmp_path: Path, members: list[Member], message: str) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(IntegrityError, match=message):
        extract(build(members), staging)
    assert os.listdir(tmp_path) == ["staging"]


def test_non_utf8_names_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        info = tarfile.TarInfo("caf\xe9")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(UnsafeArchiveError, match="not UTF-8"):
        extract_archive(io.BytesIO(buf.getvalue()), str(tmp_path), max_bytes=100)


def test_gzip_bomb_stops_at_the_budget(tmp_path: Path) -> None:
    data = build([("file", "zeros", bytes(5 << 20))])
    assert len(data) < 20_000
    with pytest.raises(UnsafeArchiveError, match="expands past"):
        extract(data, tmp_path, max_bytes=1 << 20)
    assert not (tmp_path / "zeros").exists()


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    data = build([("file", f"f{i}", b"") for i in range(50)])
    with pytest.raises(UnsafeArchiveError, match="more than 10 members"):
        extract_archive(io.BytesIO(data), None, max_bytes=100, max_members=10)


_EMPTY_HEADER = bytearray(tarfile.TarInfo("").tobuf(format=tarfile.USTAR_FORMAT))
_EMPTY_HEADER[148:156] = b" " * 8  # the checksum field counts as spaces while it is summed


def _header(name: bytes) -> bytes:
    """A ustar header of an empty regular file (tarfile's own tobuf is 20x slower)."""
    block = bytearray(_EMPTY_HEADER)
    block[: len(name)] = name
    block[148:156] = b"%06o\x00 " % (sum(_EMPTY_HEADER) + sum(name))
    return bytes(block)


class _ManyMembers:
    """A tar stream of ``count`` empty files, made as it is read; counts the bytes read."""

    def __init__(self, count: int) -> None:
        self._blocks = (
            b"".join(_header(b"f%d" % i) for i in range(start, min(count, start + 1000)))
            for start in range(0, count, 1000)
        )
        self._buf = memoryview(b"")
        self.consumed = 0

    def read(self, n: int = -1) -> bytes:
        if not self._buf:
            self._buf = memoryview(next(self._blocks, b""))
        out = bytes(self._buf[: n if n >= 0 else None])
        self._buf = self._buf[len(out) :]
        self.consumed += len(out)
        return out


def test_millions_of_tiny_members_stop_at_the_default_bound() -> None:
    stream = _ManyMembers(3_000_000)  # 1.5 GB of headers, if it were read to the end
    with pytest.raises(UnsafeArchiveError, match=f"more than {DEFAULT_MAX_MEMBERS} members"):
        extract_archive(stream, None, max_bytes=1 << 40)
    # stopped at the bound (plus the few MB that the pipeline reads ahead), not at the end
    assert stream.consumed < DEFAULT_MAX_MEMBERS * 512 + (16 << 20)


def test_truncated_and_garbage_streams_are_integrity_errors(tmp_path: Path) -> None:
    data = build([("file", "weights", os.urandom(100_000))])
    with pytest.raises(IntegrityError):
        extract_archive(io.BytesIO(data[: len(data) // 2]), None, max_bytes=1 << 20)
    with pytest.raises(IntegrityError):
        extract_archive(io.BytesIO(gzip.compress(b"this is not a tar file" * 100)), None, max_bytes=1 << 20)


segment = st.sampled_from(["a", "b", "variables", "..", ".", "", "assets"])
names = st.one_of(
    st.lists(segment, min_size=1, max_size=4).map("/".join),
    st.lists(segment, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p)),
)
members = st.lists(
    st.tuples(
        st.sampled_from(["file", "file", "file", "dir", "symlink", "hardlink", "fifo"]),
        names,
        st.sampled_from([b"", b"data", b"../../escape", b"/etc/passwd", b"a"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members, st.booleans())
def test_nothing_is_ever_written_outside_staging(tmp_path: Path, archive: list[Member], gz: bool) -> None:
    outer = tmp_path / f"run-{os.urandom(4).hex()}"
    staging = outer / "deep" / "staging"
    staging.mkdir(parents=True)
    # Absolute names aimed at the test's own directory, so an escape would be visible.
    aimed = [(k, n.replace("/", str(outer) + "/", 1) if n.startswith("/") else n, d) for k, n, d in archive]
    try:
        tree = extract(build(aimed, gz), staging)
    except IntegrityError:
        tree = None
    assert sorted(os.listdir(outer)) == ["deep"] and os.listdir(outer / "deep") == ["staging"]
    for root, dirs, files in os.walk(staging):
        for name in dirs + files:
            path = Path(root) / name
            assert not path.is_symlink()
            assert path.is_dir() or path.is_file()
    if tree is not None:
        assert all(kind in ("file", "dir") for kind, _, _ in aimed)
        assert all(".." not in f.path.split("/") for f in tree.files)


codecs = [pytest.param(zlib, id="zlib"), pytest.param(inflater(), id=inflater().__name__)]


@pytest.mark.parametrize("codec", codecs)
@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    cuts=st.lists(st.integers(1, 4000), max_size=8),
    level=st.integers(0, 9),
)
def test_gunzip_of_any_split_and_any_members_is_the_plain_bytes(
    codec: object, members: list[bytes], cuts: list[int], level: int
) -> None:
    """Several gzip members are one stream; however the bytes arrive, the output is the same."""
    data = b"".join(gzip.compress(m, compresslevel=level, mtime=0) for m in members)
    pieces, at = [], 0
    for cut in [*sorted(cuts), len(data)]:
        pieces.append(data[at:cut])
        at = max(at, cut)
    pieces.append(data[at:])
    assert b"".join(gunzip(pieces, codec)) == b"".join(members)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match="truncated"):
        b"".join(gunzip([data[:-3]], codec))  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    members=st.lists(st.binary(max_size=200_000), min_size=1, max_size=3),
    level=st.integers(0, 9),
    threads=st.integers(1, 3),
    damage=st.sampled_from(["none", "crc", "padded"]),
)
def test_parallel_gunzip_gives_the_stream_s_bytes_or_an_integrity_error(
    tmp_path: Path, members: list[bytes], level: int, threads: int, damage: str
) -> None:
    """rapidgzip (many cores) reads what gunzip reads, or raises an IntegrityError: never other
    bytes. It is not gunzip's equal (it skips the CRC of an empty member; it refuses zeros after
    the last member, which gunzip accepts): the sync checks the archive's sha256 whatever
    inflates it, and inflates a locked archive that rapidgzip refused as a stream."""
    data = b"".join(gzip.compress(m, compresslevel=level, mtime=0) for m in members)
    if damage == "crc":
        data = data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]
    elif damage == "padded":
        data += bytes(512)
    path = tmp_path / f"{threads}-{level}-{damage}.gz"
    path.write_bytes(data)
    with GunzippedFile(path, threads) as gz:
        try:
            out = b"".join(iter(lambda: gz.read(1 << 16), b""))
        except IntegrityError as exc:
            assert damage != "none" and "not a valid gzip stream" in str(exc)
        else:
            assert out == b"".join(members)


@pytest.mark.parametrize("damage", ["crc", "padded"])
def test_parallel_gunzip_refuses_a_bad_crc_and_padding(tmp_path: Path, damage: str) -> None:
    data = gzip.compress(os.urandom(300_000), mtime=0)
    path = tmp_path / "a.gz"
    path.write_bytes(data[:-8] + bytes(4) + data[-4:] if damage == "crc" else data + bytes(512))
    with GunzippedFile(path, 2) as gz, pytest.raises(IntegrityError, match="not a valid gzip stream"):
        b"".join(iter(lambda: gz.read(1 << 16), b""))


@pytest.mark.parametrize("codec", codecs)
def test_gunzip_steps_are_bounded_however_well_it_compresses(codec: object) -> None:
    bomb = gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 MiB of zeros in ~64 KB
    steps = gunzip([bomb], codec)  # type: ignore[arg-type]
    assert max(len(next(steps)) for _ in range(8)) <= 1 << 20  # never more than 1 MiB at once


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("mode", ["w:gz", "w", "w:bz2", "w:xz"])
def test_every_tar_format_and_compression_gives_the_same_tree(tmp_path: Path, fmt: int, mode: str) -> None:
    """tensorflow_hub reads any tar tarfile can; so does hublock, with long and non-ASCII names."""
    long_name = "variables/" + "x" * (89 if fmt == tarfile.USTAR_FORMAT else 120) + "/shard"
    members = {
        long_name: b"w" * 5000,
        "assets/ünï/çødé.txt": os.urandom(70_000),
        "big": os.urandom(3 << 19),
    }  # > 1 MiB: crosses chunks
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=fmt) as tar:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tree = extract(buf.getvalue(), tmp_path, max_bytes=1 << 30)
    assert {f.path: f.size for f in tree.files} == {n: len(d) for n, d in members.items()}
    assert {n: (tmp_path / n).read_bytes() for n in members} == members


class _Pieces:
    """A stream that arrives in the given pieces, one per read, as a network does."""

    def __init__(self, *pieces: bytes) -> None:
        self._pieces = list(pieces)

    def read(self, n: int = -1) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def test_a_bad_gzip_crc_is_refused_even_after_the_tar_ends(tmp_path: Path) -> None:
    data = bytearray(build([("file", "weights", os.urandom(10_000))]))
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer, after the tar's end-of-archive blocks
    # the trailer comes in a read of its own, after tarfile has seen the end of the archive
    with pytest.raises(IntegrityError, match="not a valid tar archive"):
        extract_archive(_Pieces(bytes(data[:-8]), bytes(data[-8:])), str(tmp_path), max_bytes=1 << 20)


def test_a_bomb_after_the_tar_end_is_refused(tmp_path: Path) -> None:
    tar = gzip.decompress(build([("file", "weights", b"w" * 1000)]))
    bomb = gzip.compress(tar + bytes(8 << 20), compresslevel=9)  # 8 MiB of zeros after the end
    with pytest.raises(UnsafeArchiveError, match="after its end"):
        extract(bomb, tmp_path, max_bytes=1 << 20)


def build_zip(members: list[Member], *, encrypt_flag: bool = False) -> bytes:
    """A zip as Kaggle may serve it; symlinks and FIFOs carry their Unix mode as zip(1) writes it."""
    import stat
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for kind, name, data in members:
            info = zipfile.ZipInfo(name + ("/" if kind == "dir" else ""))
            mode = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "fifo": stat.S_IFIFO}
            info.external_attr = (mode.get(kind, stat.S_IFREG) | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    data = bytearray(buf.getvalue())
    if encrypt_flag:  # zipfile writes no encrypted zips: set the flag in both headers
        data[6] |= 0x1
        central = data.rfind(b"PK\x01\x02")
        data[central + 8] |= 0x1
    return bytes(data)


def test_a_zip_extracts_to_the_same_tree_as_the_tar_of_the_same_files(tmp_path: Path) -> None:
    files = [("file", "saved_model.pb", b"pb"), ("file", "variables/v.index", os.urandom(3 << 19))]
    from_tar = extract(build(files), tmp_path / "t", max_bytes=1 << 30)
    from_zip = extract(build_zip([("dir", "variables", b""), *files]), tmp_path / "z", max_bytes=1 << 30)
    assert from_zip.tree == from_tar.tree
    assert (tmp_path / "z" / "variables" / "v.index").read_bytes() == files[1][2]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("file", "../x", b"x")], "climbs out"),
        ([("file", "/etc/x", b"x")], "absolute path"),
        ([("symlink", "link", b"/etc/passwd")], "not a regular file"),
        # a link named like a directory (found by the property test below)
        ([("file", "b", b""), ("symlink", "a/", b"")], "not a regular file"),
        ([("fifo", "pipe", b"")], "not a regular file"),
        ([("file", "a", b"x"), ("file", "a/b", b"y")], "below a file"),
        ([("dir", "only-a-dir", b"")], "holds no files"),
    ],
)
def test_hostile_zip_members_are_refused(tmp_path: Path, members: list[Member], message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        extract(build_zip(members), tmp_path)


def test_zip_bombs_damage_and_encryption_are_refused(tmp_path: Path) -> None:
    bomb = build_zip([("file", "zeros", bytes(8 << 20))])
    with pytest.raises(UnsafeArchiveError, match="expands past"):
        extract(bomb, tmp_path / "bomb", max_bytes=1 << 20)
    damaged = bytearray(build_zip([("file", "weights", os.urandom(5000))]))
    damaged[60] ^= 0xFF  # inside the member's compressed data: its CRC no longer matches
    with pytest.raises(IntegrityError, match="not a valid zip"):
        extract(bytes(damaged), tmp_path / "damaged")
    with pytest.raises(UnsafeArchiveError, match="encrypted"):
        extract(build_zip([("file", "weights", b"w")], encrypt_flag=True), tmp_path / "encrypted")
    with pytest.raises(IntegrityError, match="not a valid zip"):
        extract(build_zip([("file", "weights", os.urandom(5000))])[:-30], tmp_path / "truncated")


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile writes them; the reader must refuse them
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members)
def test_nothing_from_a_zip_is_ever_written_outside_staging(tmp_path: Path, archive: list[Member]) -> None:
    outer = tmp_path / f"run-{os.urandom(4).hex()}"
    staging = outer / "deep" / "staging"
    staging.mkdir(parents=True)
    aimed = [(k if k != "hardlink" else "file", n, d) for k, n, d in archive]
    try:
        tree = extract(build_zip(aimed), staging)
    except IntegrityError:
        tree = None
    assert sorted(os.listdir(outer)) == ["deep"] and os.listdir(outer / "deep") == ["staging"]
    for root, dirs, files in os.walk(staging):
        for name in dirs + files:
            assert not (Path(root) / name).is_symlink()
    if tree is not None:
        assert all(kind in ("file", "dir") for kind, _, _ in aimed)


@pytest.mark.parametrize(
    ("cores", "size", "threads"),
    [
        (1, 1 << 30, 0),
        (2, 1 << 30, 0),
        (4, 1 << 30, 3),
        (8, 1 << 30, 6),
        (96, 20 << 30, 6),
        (64, 100 << 20, 0),
    ],
)
def test_archives_are_inflated_in_parallel_only_where_it_pays(cores: int, size: int, threads: int) -> None:
    """On two cores ISA-L's one stream wins (the other stages need the second core); small
    archives are not read twice; past six threads the untar thread is the bound."""
    assert parallel_inflate_threads(cores, size) == threads
    assert ("threads at once" in inflater_name(cores)) == (cores >= 4)
