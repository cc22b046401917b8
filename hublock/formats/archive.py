"""The safe, streaming tar reader: model archive in, plain files in a private directory out.

A tar of any compression (what tfhub.dev and Kaggle serve), or a zip (Kaggle may serve one for
a model kagglehub downloads: kagglehub's own extractor takes both). A zip's index sits at its
end, so it is first spooled to a temporary file (disk, not memory) and then read with the same
refusals. Only regular files and directories are accepted, as tensorflow_hub does, and more strictly: a
member whose name is absolute, climbs with ``..``, is not UTF-8, repeats an earlier name, or
would exceed the byte or member budget stops the whole extraction. The caller owns ``dest`` and
removes it on any error, so nothing half-extracted is ever left where a loader could see it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import tarfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator
from types import ModuleType
from typing import BinaryIO, Protocol

from hublock.core import (
    CHUNK,
    FileEntry,
    Inline,
    IntegrityError,
    ReadAhead,
    TreeDigest,
    UnsafeArchiveError,
    tree_digest,
)

DEFAULT_MAX_MEMBERS = 200_000
# a saved_model.pb larger than this (a graph full of constants) is not read for its API: held in
# memory, it would break the bound on a sync's memory
KEEP_MAX = 64 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a first member, or the end of an empty zip
_S_IFMT, _S_IFREG, _S_IFDIR = 0o170000, 0o100000, 0o040000


@functools.cache
def unpacked_limit(archive_size: int) -> int:
    """Refuse archives that expand past this: real models compress 1-5x, bombs 1000x."""
    return max(256 << 20, archive_size * 100)


Budget = int | Callable[[], int]
"""A byte budget, fixed or computed when checked."""


def _limit(budget: Budget) -> int:
    return budget() if callable(budget) else budget


def inflater() -> ModuleType:
    """The fastest zlib-compatible inflater installed: ISA-L (a dependency wherever a wheel
    exists; about 1.7x zlib on model weights), else the standard library's zlib."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        return zlib


def inflater_name(cores: int) -> str:
    """Which inflaters are in use on ``cores`` cores, for ``hublock --version`` and ``hublock env``."""
    from importlib.metadata import version

    codec = inflater()
    if codec is zlib:
        name = f"zlib {zlib.ZLIB_RUNTIME_VERSION} (no ISA-L wheel installed: about 1.7x slower)"
    else:
        name = f"ISA-L (isal {version('isal')})"
    if threads := parallel_inflate_threads(cores, PARALLEL_MIN_SIZE):
        return (
            f"{name}; archives from {PARALLEL_MIN_SIZE >> 20} MB on {threads} threads at once "
            f"(rapidgzip {version('rapidgzip')})"
        )
    if _rapidgzip() is None:
        return f"{name}; one thread per archive (rapidgzip is not installed)"
    return f"{name}; one thread per archive ({cores} cores: in parallel from {PARALLEL_MIN_CORES})"


PARALLEL_MIN_CORES = 4
"""On fewer cores one thread inflating with ISA-L beats a parallel inflater: a sync's other
stages (the archive's sha256, untar, the files' sha256) need the second core (measured on two
cores: docs/performance.md)."""
PARALLEL_MIN_SIZE = 256 << 20
"""Smaller archives inflate in well under a second on one core: not worth reading them twice."""
PARALLEL_MAX_THREADS = 6
"""rapidgzip inflates ~160 MB/s a thread here and holds ~20 MB a thread; the one thread that
untars and hashes the files goes ~0.8 GB/s: more inflating threads would wait for it, and hold
memory."""


@functools.cache
def _rapidgzip() -> ModuleType | None:
    try:
        import rapidgzip
    except ImportError:  # no wheel for this platform: ISA-L's single stream
        return None
    return rapidgzip  # type: ignore[no-any-return]


def parallel_inflate_threads(cores: int, size: int) -> int:
    """How many threads inflate a gzip archive of ``size`` bytes on ``cores`` cores at once: 0
    (ISA-L, one stream) for small archives, below PARALLEL_MIN_CORES or without rapidgzip, else
    all cores but one (which untars and hashes the files), up to PARALLEL_MAX_THREADS."""
    if size < PARALLEL_MIN_SIZE or cores < PARALLEL_MIN_CORES or _rapidgzip() is None:
        return 0
    return max(1, min(cores - 1, PARALLEL_MAX_THREADS))


def is_gzip_file(path: str | os.PathLike[str]) -> bool:
    with open(path, "rb") as f:
        return f.read(len(GZIP_MAGIC)) == GZIP_MAGIC


class GunzippedFile:
    """A gzip file's inflated bytes, inflated by rapidgzip on ``threads`` threads at once (it
    splits one deflate stream at block boundaries it finds by search, so it needs the whole file
    and a seek: a file on disk, not a stream). Its failures are ``IntegrityError``s.

    It is stricter and laxer than ``gunzip``: it refuses bytes after the last member (zeros
    that some tools pad with, which tarfile ignores), and a truncated file ends early without an
    error. The caller checks the archive's sha256 in any case, and falls back to ``gunzip`` when
    the archive is the locked one and this refused it."""

    def __init__(self, path: str | os.PathLike[str], threads: int) -> None:
        rapidgzip = _rapidgzip()
        assert rapidgzip is not None, "parallel_inflate_threads said 0"
        self._file = rapidgzip.open(os.fspath(path), parallelization=threads)

    def read(self, n: int = -1, /) -> bytes:
        try:
            return bytes(self._file.read(n))
        except ValueError as exc:  # rapidgzip's word for a bad header, CRC or block
            raise IntegrityError(f"not a valid gzip stream: {exc}") from exc

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> GunzippedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Member:
    """One gzip member's inflater, whatever the codec: ``inflate(data)`` yields the output of
    ``data`` at most CHUNK bytes at a time, then ``eof`` says whether the member ended (and
    ``unused_data`` holds what followed it).

    With ISA-L this is its ``IgzipDecompressor``, which keeps what it has not inflated yet
    inside (zlib's ``unconsumed_tail`` is copied out at every step) and releases the GIL while
    it inflates: a third less CPU than ISA-L's ``decompressobj``, and the threads that hash and
    write the files run beside it instead of waiting for the GIL (on one 1 GB model: the critical
    path of a sync)."""

    def __init__(self, codec: ModuleType) -> None:
        self._zlib = None if codec.__name__.endswith("isal_zlib") else codec.decompressobj(31)
        if self._zlib is None:
            from isal import igzip_lib

            self._igzip = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)

    @property
    def eof(self) -> bool:
        return bool((self._zlib or self._igzip).eof)

    @property
    def unused_data(self) -> bytes:
        return bytes((self._zlib or self._igzip).unused_data)

    def inflate(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is not None:
            while data:
                if out := self._zlib.decompress(data, CHUNK):
                    yield out
                if self._zlib.eof:
                    return
                data = self._zlib.unconsumed_tail
            return
        out = self._igzip.decompress(data, CHUNK)
        while True:
            if out:
                yield out
            if self._igzip.eof or self._igzip.needs_input:
                return
            out = self._igzip.decompress(b"", CHUNK)

    def finish(self) -> Iterator[bytes]:
        """What the inflater still holds when the input ends (zlib's ``flush``)."""
        if self._zlib is not None and (tail := self._zlib.flush()):
            yield tail


def gunzip(chunks: Iterable[bytes], codec: ModuleType | None = None) -> Iterator[bytes]:
    """Inflate a gzip stream, at most CHUNK bytes per step however well it compresses (so a bomb
    meets the byte budget, not the memory limit). Members that follow one another (``cat a.gz
    b.gz``) are one stream; bytes after the last member are ignored, as tarfile does (the
    archive digest covers them all the same). A stream that stops inside a member is an error.
    ``codec``: a zlib-compatible module (default: ``inflater()``)."""
    codec = codec or inflater()
    member = _Member(codec)
    ended = False
    for data in chunks:
        if not data:
            continue
        if ended:
            if not data.startswith(GZIP_MAGIC[: len(data)]):
                return
            member, ended = _Member(codec), False
        while data:
            yield from member.inflate(data)
            if not member.eof:
                break
            data, ended = member.unused_data, True
            if data and not data.startswith(GZIP_MAGIC[: len(data)]):
                return
            if data:
                member, ended = _Member(codec), False
    if not ended:
        yield from member.finish()
        if not member.eof:
            raise IntegrityError("not a valid tar archive: the gzip stream ends too early (truncated)")


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Sink(Protocol):
    """Where extracted files go: a local directory, or a prefix in a bucket."""

    def mkdir(self, path: str) -> None: ...

    def open(self, path: str) -> BinaryIO:
        """A new file for writing; it must not exist yet."""
        ...


class LocalSink:
    def __init__(self, root: str) -> None:
        self.root = root
        self._made: set[str] = set()  # folders made so far: a mkdir per file is a syscall per file

    def mkdir(self, path: str) -> None:
        if path not in self._made:
            os.makedirs(os.path.join(self.root, path), exist_ok=True)
            self._made.add(path)

    def open(self, path: str) -> BinaryIO:
        self.mkdir(os.path.dirname(path))
        return open(os.path.join(self.root, path), "xb")


def member_path(name: str) -> str:
    """The normalised slash path of a tar member, or UnsafeArchiveError saying why not."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeArchiveError(f"member name is not UTF-8: {name!r}") from None
    if "\\" in name or "\x00" in name or "\n" in name or "\r" in name:
        raise UnsafeArchiveError(f"member name has a forbidden character: {name!r}")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"member has an absolute path: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"member path climbs out of the model directory: {name!r}")
    return "/".join(parts)


def extract_archive(
    fileobj: Readable,
    dest: str | Sink | None,
    *,
    max_bytes: Budget,
    max_members: int = DEFAULT_MAX_MEMBERS,
    threads: bool = True,
    keep: Collection[str] = (),
    kept: dict[str, bytes] | None = None,
) -> TreeDigest:
    """Extract a (gzipped) tar stream into ``dest`` (an existing empty directory, or a Sink) and
    return the tree digest of its files. With ``dest=None`` nothing is written: files are only hashed.
    ``threads``: inflate on a thread of its own (worth it for large archives only).
    ``max_bytes``: how far the files may expand, or a function saying it as the archive arrives
    (``lock`` learns the archive's size only at its end).
    ``keep``: paths of files whose bytes go into ``kept`` as they pass (``saved_model.pb``, read
    for its API in the same pass), each up to KEEP_MAX bytes.
    """
    sink = LocalSink(dest) if isinstance(dest, str) else dest
    files: list[FileEntry] = []
    kinds: dict[str, str] = {}  # path -> "f" or "d", to catch duplicates and file/dir clashes
    total = 0
    chunks = iter(fileobj) if isinstance(fileobj, ReadAhead) else iter(lambda: fileobj.read(CHUNK), b"")
    head = b""
    while len(head) < 6 and (more := next(chunks, b"")):
        head += more
    data = itertools.chain([head], chunks)
    if head.startswith(ZIP_MAGIC):
        return _extract_zip(data, sink, max_bytes=max_bytes, max_members=max_members, keep=keep, kept=kept)
    gzipped = head.startswith(GZIP_MAGIC)  # what tfhub.dev and Kaggle serve
    # gzip is inflated on a thread of its own, and tarfile reads the tar as a forward-only file
    # (no copies); bz2 and xz (tensorflow_hub accepts them too) are left to tarfile's own reader
    stage = (ReadAhead if threads else Inline)(gunzip(data) if gzipped else data)
    source: _Forward | ReadAhead = stage
    mode = "r|*"
    if not head.startswith((b"BZh", b"\xfd7zXZ")):
        source, mode = _Forward(iter(stage)), "r:"
    try:
        with tarfile.open(mode=mode, fileobj=source, bufsize=CHUNK) as tar:  # type: ignore[call-overload]
            for count, member in enumerate(tar, start=1):
                if count > max_members:
                    raise UnsafeArchiveError(f"archive has more than {max_members} members")
                path = member_path(member.name)
                if member.isdir():
                    if path:
                        _claim(kinds, path, "d")
                        if sink is not None:
                            sink.mkdir(path)
                    continue
                if not member.isfile() or member.issparse():
                    raise UnsafeArchiveError(
                        f"member {member.name!r} is not a regular file or directory "
                        "(links, devices and FIFOs are refused)"
                    )
                if not path:
                    raise UnsafeArchiveError(f"member {member.name!r} has an empty name")
                _claim(kinds, path, "f")
                total += member.size
                if total > (limit := _limit(max_bytes)):
                    raise UnsafeArchiveError(
                        f"archive expands past {limit} bytes (a compression bomb, or a "
                        "different archive than the one locked)"
                    )
                wanted = kept is not None and path in keep and member.size <= KEEP_MAX
                copy: list[bytes] | None = [] if wanted else None
                files.append(_copy_member(tar, member, path, sink, source, copy))
                if copy is not None and kept is not None:
                    kept[path] = b"".join(copy)
        if gzipped:
            # inflate what follows the tar's end (its padding) to the gzip trailer, so that a bad
            # CRC or length is seen; what is left is still under the byte budget
            for chunk in stage:
                total += len(chunk)
                if total > (limit := _limit(max_bytes)):
                    raise UnsafeArchiveError(f"archive expands past {limit} bytes after its end")
    except (tarfile.TarError, EOFError, zlib.error, inflater().error, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a local disk error, not a bad archive: the caller reports it as such
        raise IntegrityError(f"not a valid tar archive: {exc}") from exc
    finally:
        stage.close()
    if not files:
        raise IntegrityError("the archive holds no files")
    return tree_digest(files)


def _extract_zip(
    chunks: Iterator[bytes],
    sink: Sink | None,
    *,
    max_bytes: Budget,
    max_members: int,
    keep: Collection[str] = (),
    kept: dict[str, bytes] | None = None,
) -> TreeDigest:
    """A zip archive, spooled to a temporary file, read with the tar reader's refusals (and
    encrypted members refused). Bytes are counted as they inflate, not as the index declares."""
    import tempfile
    import zipfile

    files: list[FileEntry] = []
    kinds: dict[str, str] = {}
    total = 0
    with tempfile.TemporaryFile(prefix="hublock-zip-") as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        try:
            with zipfile.ZipFile(spool) as archive:
                for count, info in enumerate(archive.infolist(), start=1):
                    if count > max_members:
                        raise UnsafeArchiveError(f"archive has more than {max_members} members")
                    path = member_path(info.filename)
                    mode = (info.external_attr >> 16) & _S_IFMT
                    if info.filename.endswith("/") or mode == _S_IFDIR:  # is_dir() fails on ""
                        if mode not in (0, _S_IFDIR):  # a link (say) whose name ends in "/"
                            raise UnsafeArchiveError(
                                f"member {info.filename!r} is not a regular file or directory "
                                "(links, devices and FIFOs are refused)"
                            )
                        if path:
                            _claim(kinds, path, "d")
                            if sink is not None:
                                sink.mkdir(path)
                        continue
                    if mode not in (0, _S_IFREG):  # 0: written on a system without Unix modes
                        raise UnsafeArchiveError(
                            f"member {info.filename!r} is not a regular file or directory "
                            "(links, devices and FIFOs are refused)"
                        )
                    if info.flag_bits & 0x1:
                        raise UnsafeArchiveError(f"member {info.filename!r} is encrypted")
                    if not path:
                        raise UnsafeArchiveError(f"member {info.filename!r} has an empty name")
                    _claim(kinds, path, "f")
                    h = hashlib.sha256()
                    size = 0
                    out = sink.open(path) if sink is not None else None
                    copy: list[bytes] | None = [] if kept is not None and path in keep else None
                    try:
                        with archive.open(info) as member:
                            while block := member.read(CHUNK):
                                size += len(block)
                                total += len(block)
                                if total > (limit := _limit(max_bytes)):
                                    raise UnsafeArchiveError(
                                        f"archive expands past {limit} bytes (a compression bomb, "
                                        "or a different archive than the one locked)"
                                    )
                                h.update(block)
                                if out is not None:
                                    out.write(block)
                                if copy is not None and size <= KEEP_MAX:
                                    copy.append(block)
                    finally:
                        if out is not None:
                            out.close()
                    if copy is not None and kept is not None and size <= KEEP_MAX:
                        kept[path] = b"".join(copy)
                    files.append(FileEntry(path, size, h.hexdigest()))
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
            raise IntegrityError(f"not a valid zip archive: {exc}") from exc
    if not files:
        raise IntegrityError("the archive holds no files")
    return tree_digest(files)


def _claim(kinds: dict[str, str], path: str, kind: str) -> None:
    previous = kinds.get(path)
    if previous is not None and (previous == "f" or kind == "f"):
        raise UnsafeArchiveError(f"archive lists {path!r} twice")
    parts = path.split("/")
    for i in range(1, len(parts)):
        if kinds.get("/".join(parts[:i])) == "f":
            raise UnsafeArchiveError(f"member {path!r} lies below a file of the same archive")
        kinds.setdefault("/".join(parts[:i]), "d")
    kinds[path] = kind


def _copy_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    path: str,
    sink: Sink | None,
    source: _Forward | ReadAhead,
    copy: list[bytes] | None = None,
) -> FileEntry:
    h = hashlib.sha256()
    size = 0
    out = sink.open(path) if sink is not None else None
    try:
        if isinstance(source, _Forward):
            source.seek(member.offset_data)
            views = source.views(member.size)
        else:
            src = tar.extractfile(member)
            assert src is not None  # isfile() members always have a data stream
            views = iter(lambda: memoryview(src.read(CHUNK)), memoryview(b""))
        for view in views:
            h.update(view)
            size += len(view)
            if out is not None:
                out.write(view)
            if copy is not None:
                copy.append(bytes(view))
    finally:
        if out is not None:
            out.close()
    if size != member.size:
        raise IntegrityError(f"member {path!r} is truncated ({size} of {member.size} bytes)")
    return FileEntry(path, size, h.hexdigest())


class _Forward:
    """A tar stream as the random-access file that ``tarfile.open(mode="r:")`` wants, though it
    is read only once: members come in order, so every seek goes forward (skipping), and member
    data is handed out as views of the chunks as they arrived, never copied."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")
        self._pos = 0

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        if whence == 2 or pos < self._pos:
            raise UnsafeArchiveError("the archive's members overlap (a member points backwards)")
        for _ in self.views(pos - self._pos):
            pass
        return self._pos

    def _view(self, n: int) -> memoryview:
        if not self._buf:
            self._buf = memoryview(next(self._chunks, b""))
        view = self._buf[:n]
        self._buf = self._buf[len(view) :]
        self._pos += len(view)
        return view

    def views(self, n: int) -> Iterator[memoryview]:
        """The next ``n`` bytes (fewer at the end of the stream), as views."""
        while n > 0 and (view := self._view(n)):
            n -= len(view)
            yield view

    def read(self, n: int = -1) -> bytes:
        return b"".join(self.views(n if n >= 0 else 1 << 62))
