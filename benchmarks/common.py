"""What every benchmark shares: generated SavedModel-shaped archives, a loopback server that
serves them with ``sendfile``, hublock as a command (from a plain install of this checkout),
tensorflow_hub's resolve loop, the bare verified pipeline, and medians with their spread."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
PYTHON = sys.executable  # tensorflow_hub's baseline runs here (the project's dev venv)
# hublock runs from a plain (non-editable) install of this checkout, as users get it; main() makes it
HUBLOCK_PYTHON = PYTHON  # main() of a benchmark may point it at a plain install
SIZES_MB = [1, 4, 16, 48, 96, 160, 256, 400]  # the mixed set: 981 MB of weights
SHARD_MB = 64  # variables are split in shards of at most this size, as TensorFlow does


# -- the models ------------------------------------------------------------------------------


def make_archive(
    path: Path,
    weights_mb: float,
    seed: int,
    shard_mb: float = SHARD_MB,
    compressible: bool = False,
    files: dict[str, bytes] | None = None,
) -> None:
    """A SavedModel-shaped .tar.gz with ``weights_mb`` MB of float32 weights (gzip level 6) in
    shards of at most ``shard_mb`` MB (0: one file). ``compressible``: weights of few distinct
    values (quantised), which gzip shrinks ~4x; else normal floats, which it barely shrinks.
    ``files``: files of the model's root to write instead of the made-up ones (a real
    saved_model.pb, say)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    total = int(weights_mb * (1 << 20))
    shard_bytes = int(shard_mb * (1 << 20)) or total
    shards = max(1, -(-total // shard_bytes))
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for folder in ("assets", "variables"):  # tensorflow_hub creates no parent directories
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        files = dict(files or {})
        add("saved_model.pb", files.pop("saved_model.pb", None) or rng.bytes(20_000))
        for name, data in files.items():
            add(name, data)
        add("variables/variables.index", rng.bytes(2_000))
        left = total
        for i in range(shards):
            n = min(left, shard_bytes) // 4 * 4
            left -= n
            values = rng.standard_normal(n // 4, dtype=np.float32)
            data = (np.round(values * 4) / 4 if compressible else values).tobytes()
            add(f"variables/variables.data-{i:05d}-of-{shards:05d}", data)
        add("assets/labels.txt", b"\n".join(b"label-%d" % i for i in range(1000)))
    tmp.rename(path)


def generate(
    specs: dict[str, float], shard_mb: float = SHARD_MB, compressible: bool = False
) -> dict[str, Path]:
    """name -> archive; made once (2 processes) and kept in benchmarks/.work."""
    folder = WORK / "archives"
    folder.mkdir(parents=True, exist_ok=True)
    kind = f"s{shard_mb:g}{'c' if compressible else ''}"
    paths = {name: folder / f"{name}-{mb:g}MB-{kind}.tar.gz" for name, mb in specs.items()}
    todo = [
        (paths[n], mb, i, shard_mb, compressible)
        for i, (n, mb) in enumerate(specs.items())
        if not paths[n].exists()
    ]
    if todo:
        print(f"generating {len(todo)} archives ({sum(t[1] for t in todo):.0f} MB of weights)...", flush=True)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            pool.starmap(make_archive, sorted(todo, key=lambda t: -t[1]))
    return paths


# -- the server ------------------------------------------------------------------------------


class Server:
    """Serves ``/m/<name>`` (any query) from a file with sendfile; counts requests."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests += 1
                name = self.path.split("?")[0].removeprefix("/m/")
                path = server.files.get(name)
                if path is None:
                    self.send_error(404)
                    return
                size = path.stat().st_size
                self.send_response(200)
                self.send_header("Content-Type", "application/x-gzip")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                self.wfile.flush()
                with open(path, "rb") as f:
                    offset = 0
                    while offset < size:
                        offset += os.sendfile(self.connection.fileno(), f.fileno(), offset, size - offset)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def handle(self, name: str) -> str:
        return f"{self.url}/m/{name}"


# -- measuring -------------------------------------------------------------------------------


def run(cmd: list[str] | str, **kw: object) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process; fails loudly."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed:\n{out.decode()}\n{err.decode()}")
    return wall, usage.ru_maxrss * 1024


def timed(fn, repeat: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """``fn()``'s seconds over ``repeat`` runs: the median with its spread (never the best)."""
    return spread([fn() for _ in range(repeat)])


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def project(where: Path, handles: dict[str, str]) -> Path:
    fresh(where)
    lines = ["[models]", *(f'{n} = "{h}"' for n, h in handles.items()), "", "[cache]", 'dir = "cache"']
    (where / "hub.toml").write_text("\n".join(lines) + "\n")
    return where


def hublock_env(downloads: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TFHUB_CACHE_DIR"}
    env["HUBLOCK_DOWNLOAD_CACHE"] = str(downloads)
    return env


def hublock(
    proj: Path, *args: str, downloads: Path, profile: Path | None = None, cores: int | None = None
) -> tuple[float, int]:
    """``hublock ARGS`` in ``proj``: wall seconds and peak RSS; ``profile``: where it reports its
    work; ``cores``: run it on that many of this machine's cores only (as ``taskset`` does)."""
    env = hublock_env(downloads)
    if profile is not None:
        env["HUBLOCK_PROFILE"] = str(profile)
    pinned = sorted(os.sched_getaffinity(0))[:cores] if cores else None
    return run(
        [HUBLOCK_PYTHON, "-m", "hublock", *args],
        cwd=proj,
        env=env,
        preexec_fn=(lambda: os.sched_setaffinity(0, pinned)) if pinned else None,
    )


def plain_install() -> str:
    """The Python of a venv (in .work) holding a plain ``pip install`` of this checkout, with
    its default dependencies only: what a user runs, without the dev venv's editable-install
    import hook and its hundreds of packages that Python's start-up walks. Made once, with the
    dependencies; hublock alone is reinstalled on later runs, so it is this checkout's code."""
    venv = WORK / "plain-venv"
    python = venv / "bin" / "python"
    if python.exists():
        install = ["--force-reinstall", "--no-deps"]
    else:
        subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
        install = []
    subprocess.run([str(python), "-m", "pip", "install", "-q", *install, str(ROOT)], check=True)
    return str(python)


WARM_SYNC = """
import sys, time
import hublock
for line in sys.stdin:
    start = time.perf_counter()
    hublock.sync()
    print(time.perf_counter() - start, flush=True)
"""


class WarmHublock:
    """``hublock.sync()`` in a process that has imported hublock and synced once already: how
    the baselines are timed (each in a process that has imported its library), so the comparison
    is like for like; the command's start-up is the difference to ``hublock sync``."""

    def __init__(self, proj: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [HUBLOCK_PYTHON, "-c", WARM_SYNC],
            cwd=proj,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def sync(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("sync\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise SystemExit(f"the warm hublock process died (exit {self.proc.wait()})")
        return float(answer)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


TFHUB_RESOLVE = """
import os, sys, time
import tensorflow_hub as hub
start = time.perf_counter()
for handle in sys.argv[1:]:
    hub.resolve(handle)
print(time.perf_counter() - start)
"""


def tfhub_resolve(handles: list[str], cache: Path, whole: list[float] | None = None) -> float:
    """Seconds of the resolve loop alone (TensorFlow's import is not counted against it); the
    whole process's, start-up and imports included, are appended to ``whole``."""
    env = {**os.environ, "TFHUB_CACHE_DIR": str(fresh(cache)), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run([PYTHON, "-c", TFHUB_RESOLVE, *handles], env=env, capture_output=True, text=True)
    if whole is not None:
        whole.append(time.perf_counter() - start)
    if done.returncode != 0:
        raise SystemExit(f"tensorflow_hub failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _gunzip_module():  # type: ignore[no-untyped-def]
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        return zlib


class _Gunzip:
    """What the reference pipeline reads through: urllib stream -> sha256 -> gunzip."""

    def __init__(self, url: str, copy: io.BufferedWriter | None = None) -> None:
        self.raw = urllib.request.urlopen(url)
        self.sha = hashlib.sha256()
        self.z = _gunzip_module().decompressobj(31)
        self.buf = b""
        self.copy = copy

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.raw.read(1 << 20)
            if not chunk:
                break
            self.sha.update(chunk)
            if self.copy is not None:
                self.copy.write(chunk)
            self.buf += self.z.decompress(chunk)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def reference_one(job: tuple[str, str, bool]) -> str:
    url, dest, keep = job
    if keep:
        return _keeping(url, dest)
    return _untar(_Gunzip(url), dest)


def _keeping(url: str, dest: str) -> str:
    """The bare pipeline, also writing what hublock keeps for each model (the files that make
    its guarantees): tensorflow_hub's lock file, the archive's copy in a download cache, the
    model's stamp and tensorflow_hub's descriptor file, each as hublock writes it."""
    lock, downloads = f"{dest}.lock", os.path.join(os.path.dirname(dest), "downloads")
    os.makedirs(downloads, exist_ok=True)
    with open(f"{lock}.part", "w") as f:
        f.write("host.1.uuid")
    os.link(f"{lock}.part", lock)
    os.unlink(f"{lock}.part")
    part = os.path.join(downloads, f"{os.getpid()}-{time.perf_counter_ns()}.part")
    with open(part, "wb") as copy:
        digest = _untar(_Gunzip(url, copy), dest)
    os.rename(part, os.path.join(downloads, digest))
    for suffix in (".descriptor.txt", ".hublock.json"):
        with open(f"{dest}{suffix}.part", "w") as f:
            f.write(json.dumps({"sha256": digest}))
        os.rename(f"{dest}{suffix}.part", f"{dest}{suffix}")
    os.unlink(lock)
    return digest


def _untar(src: _Gunzip, dest: str) -> str:
    with tarfile.open(fileobj=src, mode="r|", bufsize=1 << 20) as tar:  # type: ignore[call-overload]
        for member in tar:
            target = os.path.join(dest, member.name)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            h = hashlib.sha256()
            data = tar.extractfile(member)
            with open(target, "wb") as out:
                while chunk := data.read(1 << 20):  # type: ignore[union-attr]
                    h.update(chunk)
                    out.write(chunk)
    return src.sha.hexdigest()


def reference(urls: dict[str, str], sizes: dict[str, int], dest: Path, keep: bool = False) -> float:
    fresh(dest)
    jobs = [(urls[n], str(dest / n), keep) for n in sorted(urls, key=lambda n: -sizes[n])]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 2) as pool:
        pool.map(reference_one, jobs, chunksize=1)
    return time.perf_counter() - start


def curl_tar(urls: dict[str, str], sizes: dict[str, int], dest: Path) -> float:
    fresh(dest)

    def one(name: str) -> None:
        (dest / name).mkdir()
        subprocess.run(f"curl -sf '{urls[name]}' | tar xz -C '{dest / name}'", shell=True, check=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, sorted(urls, key=lambda n: -sizes[n])))
    return time.perf_counter() - start


def curl_null(urls: list[str]) -> float:
    """The server alone: curl to /dev/null, 2 at a time."""
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda u: subprocess.run(["curl", "-sf", "-o", "/dev/null", u], check=True), urls))
    return time.perf_counter() - start


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def stage_costs(paths: list[Path], scratch: Path) -> dict[str, float]:
    """Seconds of one core for each stage of a verified unpack of these archives, each stage on
    its own (what no pipeline on this machine can go below, divided by the cores it has), and
    ``critical_path``: the longest single stage of one model (one gzip stream inflates on one
    core, whatever the cores), which no number of cores shortens either. Inflate is timed as
    hublock streams it (1 MiB at a time), not in one call (whose 1 GB buffer reallocs cost more
    than the inflating)."""
    from isal import isal_zlib

    from hublock.formats.archive import gunzip

    costs = dict.fromkeys(("sha256_archive", "gunzip_isal", "gunzip_zlib", "untar_sha256", "write"), 0.0)
    critical = untar_critical = 0.0
    for path in paths:
        data = path.read_bytes()
        t = time.perf_counter()
        hashlib.sha256(data).digest()
        costs["sha256_archive"] += time.perf_counter() - t
        pieces = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
        t = time.perf_counter()
        for _ in gunzip(pieces, isal_zlib):  # the chunks dropped as they come, as a sync does
            pass
        inflate = time.perf_counter() - t
        costs["gunzip_isal"] += inflate
        raw = isal_zlib.decompress(data, 31)
        t = time.perf_counter()
        for _ in gunzip(pieces, zlib):
            pass
        costs["gunzip_zlib"] += time.perf_counter() - t
        t = time.perf_counter()
        members = []
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if member.isfile():
                    body = tar.extractfile(member).read()  # type: ignore[union-attr]
                    hashlib.sha256(body).digest()
                    members.append((member.name, body))
        untar = time.perf_counter() - t
        costs["untar_sha256"] += untar
        t = time.perf_counter()
        out = fresh(scratch)
        for name, body in members:
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        write = time.perf_counter() - t
        costs["write"] += write
        critical = max(critical, inflate)
        untar_critical = max(untar_critical, untar + write)
    shutil.rmtree(scratch, ignore_errors=True)
    return {**costs, "critical_path": critical, "critical_path_parallel": untar_critical}


def limit(costs: dict[str, float], cores: int) -> float:
    """The fastest any pipeline could fill the cache on ``cores`` cores: all the stages' CPU
    seconds shared by the cores, or the one stage that cannot be shared, whichever is longer:
    the inflate of one gzip stream, or, where hublock inflates one archive on several threads
    (``parallel_inflate_threads``: from 4 cores), the untar of one archive, which reads the tar
    in order."""
    from hublock.formats.archive import PARALLEL_MIN_CORES

    cpu = sum(v for k, v in costs.items() if not k.startswith(("gunzip_zlib", "critical_path")))
    unshared = "critical_path_parallel" if cores >= PARALLEL_MIN_CORES else "critical_path"
    return max(cpu / cores, costs.get(unshared, costs["critical_path"]))
