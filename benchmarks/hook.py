"""Overhead of verify-on-load, in one process, as ratios against plain tensorflow_hub.

    python benchmarks/hook.py [--blob-mb 100] [--out benchmarks/results.json]

Builds a real SavedModel (y = a*x + b) plus two incompressible asset files of --blob-mb MB each,
serves it from the loopback fake hub, locks and syncs it with hublock, then in this process times
``hub.load`` of the synced handle: plain, through the hook with verify="fast", and with
verify="full"; the fast check alone (``hub.resolve``); and the full check's hashing speed against
``hashlib.sha256`` of the same files on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def median_time(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def build_archive(work: Path, blob_mb: int) -> bytes:
    from tests.world.savedmodels import build_savedmodel

    model = work / "model"
    build_savedmodel(model, 2.0, 1.0)
    for i in range(2):
        (model / "assets" / f"blob-{i}.bin").write_bytes(os.urandom(blob_mb << 20))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(model.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model)), recursive=False)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blob-mb", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()

    import hublock
    from tests.world.fakehub import FakeHub

    with tempfile.TemporaryDirectory() as tmp, FakeHub() as fake:
        work = Path(tmp)
        fake.add("bench/linear/1", build_archive(work, args.blob_mb))
        handle = "https://tfhub.dev/bench/linear/1"
        (work / "hub.toml").write_text(
            f'[models]\nlinear = "{handle}"\n[mirrors]\n"https://tfhub.dev/" = "{fake.url}/tfhub/"\n'
        )
        os.environ["HUBLOCK_DOWNLOAD_CACHE"] = str(work / "downloads")
        os.environ["TFHUB_CACHE_DIR"] = str(work / "cache")
        hublock.lock(work / "hub.toml")
        hublock.sync(work / "hub.toml")
        model_dir = work / "cache" / hublock.cache_key(handle)
        files = [p for p in model_dir.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)

        import tensorflow_hub as hub

        hub.load(handle)  # warm: TensorFlow's first load pays one-off costs
        plain = median_time(lambda: hub.load(handle), 7)
        hublock.activate(work / "hub.lock", verify="fast", offline=True)
        fast = median_time(lambda: hub.load(handle), 7)
        fast_check = median_time(lambda: hub.resolve(handle), 200)
        hublock.activate(work / "hub.lock", verify="full", offline=True)
        full = median_time(lambda: hub.load(handle), 3)
        full_check = median_time(lambda: hub.resolve(handle), 3)
        hublock.deactivate()

        def sha256_one_core() -> None:
            for p in files:
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)

        one_core = median_time(sha256_one_core, 3)

    results = {
        "model_bytes": total,
        "model_files": len(files),
        "plain_load_s": plain,
        "hook_fast_load_s": fast,
        "hook_fast_overhead_ms": (fast - plain) * 1000,
        "fast_check_ms": fast_check * 1000,
        "hook_full_load_s": full,
        "full_check_s": full_check,
        "full_check_mb_s": total / full_check / 1e6,
        "sha256_one_core_mb_s": total / one_core / 1e6,
        "full_vs_sha256_one_core": one_core / full_check,
    }
    print(f"model: {len(files)} files, {total / 1e6:.0f} MB")
    print(f"hub.load plain            {plain * 1000:8.1f} ms")
    overhead = results["hook_fast_overhead_ms"]
    print(f"hub.load hook fast        {fast * 1000:8.1f} ms   overhead {overhead:+.2f} ms")
    print(f"  fast check alone        {fast_check * 1000:8.3f} ms")
    print(f"hub.load hook full        {full * 1000:8.1f} ms")
    print(f"  full check alone        {full_check * 1000:8.1f} ms   {results['full_check_mb_s']:.0f} MB/s")
    print(f"sha256, one core          {one_core * 1000:8.1f} ms   {results['sha256_one_core_mb_s']:.0f} MB/s")
    print(f"full check / sha256 1-core speed: {results['full_vs_sha256_one_core']:.2f}x")
    existing = json.loads(args.out.read_text()) if args.out.exists() else {}
    existing["hook"] = results
    args.out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
