"""Overhead of verify-on-load for kagglehub, in one process, against plain kagglehub.

    python benchmarks/kaggle_hook.py [--files 3 --files 200] [--repeat 200]

Serves a model of N small files from the loopback fake Kaggle, locks and syncs it with hublock,
then in this process times ``kagglehub.model_download(handle)`` (and one file of it, the call
keras_hub makes per file): plain kagglehub with a version (its own cache check: two
``os.path.exists``), through the hook with verify="fast" (versioned and unversioned), and with
verify="full". Reports medians with their spread (p10-p90), in milliseconds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def spread(fn, repeat: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=10)
    return statistics.median(times), q[0], q[-1]


def archive_of(files: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(files):
            data = os.urandom(4096)
            info = tarfile.TarInfo(f"assets/file-{i:04d}.bin" if i else "config.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    import kagglehub

    import hublock
    from tests.world.fakehub import FakeHub

    rows = []
    for files in args.files or [3, 200]:
        handle = f"acme/bench{files}/keras/v"
        with tempfile.TemporaryDirectory() as tmp, FakeHub() as hub:
            hub.add_kaggle(f"{handle}/1", archive_of(files))
            env = {
                **os.environ,
                "HUBLOCK_KAGGLE_API": f"{hub.url}/api",
                "KAGGLEHUB_CACHE": f"{tmp}/kh",
                "HUBLOCK_DOWNLOAD_CACHE": f"{tmp}/dl",
            }
            os.environ.update({k: env[k] for k in ("KAGGLEHUB_CACHE", "HUBLOCK_DOWNLOAD_CACHE")})
            Path(tmp, "hub.toml").write_text(f'[models]\nm = "kaggle://{handle}/1"\n')
            for command in ("lock", "sync"):
                subprocess.run([sys.executable, "-m", "hublock", command], cwd=tmp, env=env, check=True)
            versioned = f"{handle}/1"
            plain = spread(lambda v=versioned: kagglehub.model_download(v), args.repeat)
            plain_file = spread(
                lambda v=versioned: kagglehub.model_download(v, path="config.json"), args.repeat
            )
            hublock.activate(Path(tmp, "hub.lock"), offline=True, loaders=["kagglehub"])
            fast = spread(lambda v=versioned: kagglehub.model_download(v), args.repeat)
            fast_file = spread(
                lambda v=versioned: kagglehub.model_download(v, path="config.json"), args.repeat
            )
            unversioned = spread(lambda h=handle: kagglehub.model_download(h), args.repeat)
            hublock.activate(Path(tmp, "hub.lock"), offline=True, loaders=["kagglehub"], verify="full")
            full = spread(lambda v=versioned: kagglehub.model_download(v), max(10, args.repeat // 10))
            hublock.deactivate()
        rows.append(
            {
                "files": files,
                "plain_kagglehub_ms": plain,
                "plain_kagglehub_one_file_ms": plain_file,
                "hook_fast_ms": fast,
                "hook_fast_one_file_ms": fast_file,
                "hook_fast_unversioned_ms": unversioned,
                "hook_full_ms": full,
            }
        )
    for row in rows:
        print(f"model of {row['files']} files (median, p10-p90, ms):")
        for key, (median, low, high) in (
            row.items() if False else [(k, v) for k, v in row.items() if k != "files"]
        ):
            print(f"  {key:30} {median:8.3f}  ({low:.3f}-{high:.3f})")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
