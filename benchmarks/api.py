"""What the API fingerprint costs at lock time, on a 1 GB model.

    python benchmarks/api.py [--scale 1.0] [--repeat 5]

Builds a 1 GB SavedModel-shaped archive whose saved_model.pb is a real protobuf (two signatures,
a 4 MB graph), then times, methods taking turns, what ``lock`` does with the archive's bytes:
the one-pass tree hash alone (``extract_archive`` with nothing kept), and the same pass keeping
saved_model.pb and fingerprint.pb and parsing them (what ``lock`` does now). Also the parse
alone. Medians with their spread (min-max). Results go to benchmarks/results.json under "api".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import make_archive  # noqa: E402
from hublock.formats.archive import extract_archive, unpacked_limit  # noqa: E402
from hublock.formats.saved_model_api import parse_fingerprint, parse_saved_model  # noqa: E402
from tests.world import protobuf  # noqa: E402

WORK = ROOT / "benchmarks" / ".work"
SIGNATURES = {
    "serving_default": (
        {"images": ("float32", (None, 224, 224, 3))},
        {"logits": ("float32", (None, 1001))},
    ),
    "tokenize": ({"text": ("string", (None,))}, {"ids": ("int64", (None, None))}),
}


def build(path: Path, weights_mb: float) -> None:
    """The benchmark's own SavedModel-shaped archive, with a real saved_model.pb (a 4 MB graph)."""
    import numpy as np

    graph = np.random.default_rng(0).bytes(4 << 20)
    files = {
        "saved_model.pb": protobuf.saved_model(SIGNATURES, graph),
        "fingerprint.pb": protobuf.fingerprint(1234567890123),
    }
    make_archive(path, weights_mb, 0, files=files)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"api-{1024 * args.scale:g}MB.tar.gz"
    if not path.exists():
        print(f"building {path.name}...", flush=True)
        build(path, 1024 * args.scale)
    size = path.stat().st_size

    def tree_only() -> float:
        start = time.perf_counter()
        with open(path, "rb") as f:
            extract_archive(f, None, max_bytes=unpacked_limit(size))
        return time.perf_counter() - start

    parsed: dict[str, object] = {}

    def with_api() -> float:
        start = time.perf_counter()
        kept: dict[str, bytes] = {}
        with open(path, "rb") as f:
            extract_archive(
                f, None, max_bytes=unpacked_limit(size), keep=("saved_model.pb", "fingerprint.pb"), kept=kept
            )
        parsed["api"] = parse_saved_model(kept["saved_model.pb"])
        parsed["hash"] = parse_fingerprint(kept["fingerprint.pb"])
        return time.perf_counter() - start

    model = protobuf.saved_model(SIGNATURES, b"\0" * (4 << 20))
    parse_times = []
    for _ in range(50):
        start = time.perf_counter()
        parse_saved_model(model)
        parse_times.append(time.perf_counter() - start)

    times: dict[str, list[float]] = {"tree_only": [], "with_api": []}
    methods = {"tree_only": tree_only, "with_api": with_api}
    for trial in range(args.repeat):
        for name in list(methods)[trial % 2 :] + list(methods)[: trial % 2]:
            times[name].append(methods[name]())
        print(f"trial {trial + 1}: " + ", ".join(f"{m} {times[m][-1]:.2f}s" for m in methods), flush=True)
    med = {m: statistics.median(v) for m, v in times.items()}
    result = {
        "archive_mb": round(size / 1e6, 1),
        "saved_model_pb_mb": round(len(model) / 1e6, 1),
        "seconds": {m: {"median": med[m], "min": min(v), "max": max(v)} for m, v in times.items()},
        "api_over_tree_only": med["with_api"] / med["tree_only"],
        "parse_ms": {
            "median": statistics.median(parse_times) * 1e3,
            "min": min(parse_times) * 1e3,
            "max": max(parse_times) * 1e3,
        },
        "signatures": sorted(parsed["api"].signatures),  # type: ignore[attr-defined]
    }
    out = ROOT / "benchmarks" / "results.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data["api"] = result
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
