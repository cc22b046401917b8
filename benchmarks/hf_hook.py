"""Overhead of verify-on-load for huggingface_hub, in one process, against plain huggingface_hub.

    python benchmarks/hf_hook.py [--files 3 --files 200] [--repeat 200]

Serves a repo of N small files from the loopback fake Hub, locks and syncs it with hublock, then
in this process times ``hf_hub_download(repo, "config.json")`` (the call keras_hub makes per
file) and ``snapshot_download(repo)``: plain huggingface_hub offline (``HF_HUB_OFFLINE=1``: its
own cache lookup, refs then the snapshot's link), through the hook with verify="fast", and with
verify="full". Reports medians with their spread (p10-p90), in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.kaggle_hook import spread  # noqa: E402 - the same timing, medians and p10-p90


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, action="append")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    from tests.world.fakehf import FakeHF

    rows = []
    for files in args.files or [3, 200]:
        repo = f"acme/bench{files}"
        with tempfile.TemporaryDirectory() as tmp, FakeHF() as hub:
            tree = {
                "config.json": b"{}",
                **{f"assets/file-{i:04d}.bin": os.urandom(4096) for i in range(files - 1)},
            }
            hub.move(repo, tree)
            env = {
                **os.environ,
                "HF_ENDPOINT": hub.url,
                "HF_HUB_CACHE": f"{tmp}/hf",
                "HUBLOCK_DOWNLOAD_CACHE": f"{tmp}/dl",
            }
            os.environ.update({k: env[k] for k in ("HF_HUB_CACHE", "HUBLOCK_DOWNLOAD_CACHE")})
            os.environ["HF_HUB_OFFLINE"] = "1"  # read before huggingface_hub is imported
            Path(tmp, "hub.toml").write_text(f'[models]\nm = "hf://{repo}"\n')
            for command in ("lock", "sync"):
                subprocess.run([sys.executable, "-m", "hublock", command], cwd=tmp, env=env, check=True)
            import huggingface_hub as h

            import hublock

            plain_file = spread(
                lambda r=repo, c=env["HF_HUB_CACHE"]: h.hf_hub_download(r, "config.json", cache_dir=c),
                args.repeat,
            )
            plain_snapshot = spread(
                lambda r=repo, c=env["HF_HUB_CACHE"]: h.snapshot_download(r, cache_dir=c), args.repeat
            )
            hublock.activate(Path(tmp, "hub.lock"), offline=True, loaders=["huggingface_hub"])
            fast_file = spread(
                lambda r=repo, c=env["HF_HUB_CACHE"]: h.hf_hub_download(r, "config.json", cache_dir=c),
                args.repeat,
            )
            fast_snapshot = spread(
                lambda r=repo, c=env["HF_HUB_CACHE"]: h.snapshot_download(r, cache_dir=c), args.repeat
            )
            hublock.activate(Path(tmp, "hub.lock"), offline=True, loaders=["huggingface_hub"], verify="full")
            full = spread(
                lambda r=repo, c=env["HF_HUB_CACHE"]: h.hf_hub_download(r, "config.json", cache_dir=c),
                max(10, args.repeat // 10),
            )
            hublock.deactivate()
        rows.append(
            {
                "files": files,
                "plain_hf_hub_download_ms": plain_file,
                "plain_snapshot_download_ms": plain_snapshot,
                "hook_fast_hf_hub_download_ms": fast_file,
                "hook_fast_snapshot_download_ms": fast_snapshot,
                "hook_full_hf_hub_download_ms": full,
            }
        )
    for row in rows:
        print(f"repo of {row['files']} files (median, p10-p90, ms):")
        for key, (median, low, high) in [(k, v) for k, v in row.items() if k != "files"]:
            print(f"  {key:32} {median:8.3f}  ({low:.3f}-{high:.3f})")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
