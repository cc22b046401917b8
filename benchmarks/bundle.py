"""Bundle throughput and memory, against tar on the same archives, in the same run.

    python benchmarks/bundle.py [--scale 0.25] [--repeat 5]

Locks a set of models served from loopback (4 x 250 MB of weights by default, so ~1 GB of
archives in the download cache), then, methods taking turns and the disk flushed before each run:

- write: ``hublock bundle OUT`` (reads each archive from the download cache, hashes it, writes the
  tar) against ``tar cf`` of the same archive files;
- read: ``hublock bundle --verify OUT`` (one sequential read, every archive hashed) against
  ``tar xf`` of the same bundle (reads it and writes every member out);
- fill: ``hublock sync --from OUT`` into an empty cache (read in place, gunzip, untar, hash, write)
  against ``hublock sync`` from the download cache (the same work, the archives in another place).

Reports medians with their spread (min-max) in seconds, MB/s of archive bytes, the ratios, and the
peak RSS of each hublock process. Results go to benchmarks/results.json under "bundle".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout's root

from benchmarks.common import PYTHON, ROOT, WORK, Server, fresh, generate, hublock_env, project, run, spread


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every model size")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    specs = {f"bundle-{i}": 250 * args.scale for i in range(4)}
    files = generate(specs)
    server = Server(files)
    tmp = fresh(WORK / "bundle-run")
    proj = project(tmp / "proj", {n.replace("-", "_"): server.handle(n) for n in files})
    downloads = tmp / "downloads"
    env = hublock_env(downloads)
    run([PYTHON, "-m", "hublock", "lock"], cwd=proj, env=env)
    archives = sorted((downloads / "sha256").iterdir())
    size = sum(p.stat().st_size for p in archives)
    out, by_tar, unpacked = tmp / "models.bundle", tmp / "tar.tar", tmp / "unpacked"
    hublock = [PYTHON, "-m", "hublock"]
    run([*hublock, "bundle", str(out)], cwd=proj, env=env)  # the bundle the readers read

    def tar_create() -> tuple[float, int]:
        by_tar.unlink(missing_ok=True)
        return run(["tar", "cf", str(by_tar), "-C", str(downloads), "sha256"])

    def tar_extract() -> tuple[float, int]:
        fresh(unpacked)
        return run(["tar", "xf", str(out), "-C", str(unpacked)])

    def sync_from(bundle: bool) -> tuple[float, int]:
        shutil.rmtree(proj / "cache", ignore_errors=True)
        extra = ["--from", str(out)] if bundle else []
        return run([*hublock, "sync", *extra], cwd=proj, env=env)

    def bundle() -> tuple[float, int]:
        (tmp / "again.bundle").unlink(missing_ok=True)  # as for tar: a new file each time
        return run([*hublock, "bundle", str(tmp / "again.bundle")], cwd=proj, env=env)

    methods = {
        "bundle": bundle,
        "tar_cf": tar_create,
        "bundle_verify": lambda: run([*hublock, "bundle", "--verify", str(out)], cwd=proj, env=env),
        "tar_xf": tar_extract,
        "sync_from_bundle": lambda: sync_from(True),
        "sync_from_download_cache": lambda: sync_from(False),
    }
    times: dict[str, list[float]] = {m: [] for m in methods}
    rss: dict[str, int] = {m: 0 for m in methods}
    order = list(methods)
    for trial in range(args.repeat):
        for method in order[trial % len(order) :] + order[: trial % len(order)]:
            os.sync()
            wall, peak = methods[method]()
            times[method].append(wall)
            rss[method] = max(rss[method], peak)
        print(f"trial {trial + 1}: " + ", ".join(f"{m} {times[m][-1]:.2f}s" for m in methods), flush=True)
    server.httpd.shutdown()
    med = {m: statistics.median(v) for m, v in times.items()}
    result = {
        "archives": len(archives),
        "archive_mb": round(size / 1e6, 1),
        "seconds": {m: spread(v) for m, v in times.items()},
        "mb_per_s": {m: round(size / 1e6 / med[m], 1) for m in methods},
        "peak_rss_mb": {m: round(v / 1e6, 1) for m, v in rss.items()},
        "write_vs_tar_cf": med["tar_cf"] / med["bundle"],
        "verify_vs_tar_xf": med["tar_xf"] / med["bundle_verify"],
        "sync_from_bundle_vs_download_cache": med["sync_from_download_cache"] / med["sync_from_bundle"],
    }
    path = ROOT / "benchmarks" / "results.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data["bundle"] = result
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=2))
    for m, s in result["seconds"].items():
        print(f"  {m:26} {s['median']:.2f} s ({s['min']:.2f}-{s['max']:.2f})")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
