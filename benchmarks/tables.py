"""Write the benchmark's tables into README.md and docs/performance.md, from results.json.

    .venv/bin/python benchmarks/tables.py [--results benchmarks/results.json]

Each table sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers; the prose
around them is written by hand, after reading the new numbers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout's root

from benchmarks.sync import cores_table, marginal_table, matrix_table, startup_table, table

ROOT = Path(__file__).resolve().parent.parent
LABELS = {
    "few-large": "4 x 150 MB, 64 MB shards",
    "one-file": "6 models, 10-120 MB, one weights file",
    "many-mid": "24 x 6 MB, 2 shards",
    "many-small": "60 x 0.5 MB",
    "one-huge": "1 x 1 GB, 16 shards",
    "compressible": "4 x 100 MB, compressible",
}


def readme_table(matrix: dict[str, dict]) -> str:  # type: ignore[type-arg]
    """README's short table: medians, the ratios the goals name, and the limit."""
    lines = [
        "| mix | tensorflow_hub | hublock | bare pipeline | vs tensorflow_hub | vs bare "
        "| `hublock sync`, start-up included | vs tensorflow_hub's loop | limit | at the limit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in matrix.items():
        sec = {m: v["median"] for m, v in row["seconds"].items()}
        lines.append(
            f"| {LABELS.get(name, name)} | {sec['tensorflow_hub']:.2f} | {sec['hublock_warm']:.2f} | "
            f"{sec['bare']:.2f} | {row['hublock_vs_tensorflow_hub']:.2f}x | {row['hublock_vs_bare']:.2f}x | "
            f"{sec['hublock']:.2f} | {row['command_vs_tensorflow_hub']:.2f}x | {row['limit_s']:.2f} | "
            f"{row['command_vs_limit']:.2f} |"
        )
    return "\n".join(lines)


def stages_table(matrix: dict[str, dict]) -> str:  # type: ignore[type-arg]
    lines = [
        "| mix | sha256 archive | gunzip ISA-L (zlib) | untar + sha256 files | writes | longest inflate |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in matrix.items():
        c = row["stage_cpu_s"]
        lines.append(
            f"| {name} | {c['sha256_archive']:.2f} | {c['gunzip_isal']:.2f} ({c['gunzip_zlib']:.2f}) | "
            f"{c['untar_sha256']:.2f} | {c['write']:.2f} | {c.get('critical_path', 0.0):.2f} |"
        )
    return "\n".join(lines)


def replace_between(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no <!-- {name}:start --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m[1] + body + "\n" + m[2], text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args()
    data = json.loads(Path(args.results).read_text())
    matrix = data["matrix"]
    readme = ROOT / "README.md"
    text = replace_between(readme.read_text(), "matrix", readme_table(matrix))
    readme.write_text(replace_between(text, "cores", cores_table(matrix)))
    docs = ROOT / "docs" / "performance.md"
    text = docs.read_text()
    for name, body in (
        ("matrix", matrix_table(matrix)),
        ("cores", cores_table(matrix)),
        ("marginal", marginal_table(matrix)),
        ("startup", startup_table(data["startup"])),
        ("stages", stages_table(matrix)),
        ("sync", table(data["sync"])),
    ):
        text = replace_between(text, name, body)
    docs.write_text(text)


if __name__ == "__main__":
    main()
