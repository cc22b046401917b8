"""How fast hublock fills a model cache, side by side with what users do today, as ratios.

    .venv/bin/python benchmarks/sync.py [--mix NAME] [--matrix-only | --skip-matrix] [--repeat 5]

Everything runs on this machine, against a loopback HTTP server that serves generated models with
``sendfile`` (its own throughput is measured too, so it is known not to be the bottleneck).
hublock runs from a plain ``pip install`` of this checkout into a venv of its own (made in
``benchmarks/.work``; ``--editable`` uses this venv instead), as users get it.

1. the matrix (``MIXES``: few large models, many mid-size and small ones, one huge one, weights
   in one file or in shards, well- or poorly-compressible weights), each method cold and taking
   turns: tensorflow_hub's ``hub.resolve`` of each handle one after another into an empty
   TFHUB_CACHE_DIR (its loop, and its whole process); ``hublock.sync()`` in a process that has
   imported hublock (as the other loops are timed); the ``hublock sync`` command, start-up
   included; a bare verified pipeline with one process per core (urllib stream, sha256, the
   fastest gunzip installed, untar, sha256 of each file), alone and also writing the files
   hublock keeps for each model; ``hublock lock``. Mixes of many models run again on a quarter
   of their models, which splits each method's time into a cost per model and a cost paid once.
   Then the command's start-up, step by step.
2. the mixed set of 8 models (1 MB to 400 MB, ~1 GB; float32 weights that compress poorly) with
   ``hublock sync`` against tensorflow_hub, the bare pipeline, ``curl -s URL | tar xz`` 2 at a
   time, and ``sha256sum`` of the archives;
3. a no-op ``hublock sync`` of 100 locked, synced small models, against ``python -c "import
   hublock"`` and ``python -c pass``;
4. ``hublock lock`` of 20 handles from scratch, and again with nothing changed;
5. ``hublock verify --full`` of the synced ~1 GB, against ``sha256sum`` of the same files;
6. peak RSS of the cold sync, and of syncing one 1 GB model.

Every figure is the median of ``--repeat`` (5) runs, with its spread. Generated archives are kept in
``benchmarks/.work`` (git-ignored) and reused by later runs. The models are SavedModel-shaped
(saved_model.pb, variables/ shards, assets/) but random: tensorflow_hub resolves them (download and
unpack), nobody loads them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout's root

from benchmarks import common
from benchmarks.common import (
    ROOT,
    SIZES_MB,
    WORK,
    Server,
    WarmHublock,
    curl_null,
    curl_tar,
    fresh,
    generate,
    hublock,
    hublock_env,
    limit,
    plain_install,
    project,
    reference,
    run,
    spread,
    stage_costs,
    tfhub_resolve,
    timed,
)

ALL_CORES = len(os.sched_getaffinity(0))
CORES_SHOWN = (1, 2)  # and ALL_CORES: how one huge model's sync scales

# The matrix: (sizes in MB of weights, shard MB (0: one weights file), compressible weights)
MIXES: dict[str, tuple[list[float], float, bool]] = {
    "few-large": ([150.0] * 4, 64, False),
    "one-file": ([10.0, 25.0, 40.0, 56.0, 70.0, 120.0], 0, False),
    "many-mid": ([6.0] * 24, 3, False),
    "many-small": ([0.5] * 60, 64, False),
    "one-huge": ([1024.0], 64, False),
    "compressible": ([100.0] * 4, 64, True),
}


def run_mix(name: str, scale: float, trials: int, tmp: Path) -> dict[str, object]:
    """One mix: each method cold, taking turns (the order rotates every trial, so none always
    goes first), with the disk flushed before each run. A mix of many models is also run on a
    quarter of them: the difference is what each further model costs, the rest is fixed."""
    sizes_mb, shard, compressible = MIXES[name]
    files = mix_archives(name, scale)
    server = Server(files)
    sizes = {n: p.stat().st_size for n, p in files.items()}
    urls = {n: server.handle(n) + "?tf-hub-format=compressed" for n in files}
    peak: list[int] = []

    def measure(
        names: list[str], commands: tuple[str, ...]
    ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        """Seconds of each method on these models, and the work ``hublock COMMAND`` reports."""
        proj = project(tmp / f"{name}-{len(names)}", {n.replace("-", "_"): server.handle(n) for n in names})
        profile = tmp / f"{name}-profile.jsonl"
        # what ``hublock COMMAND`` reports as its work, and tensorflow_hub's whole process
        work: dict[str, list[float]] = {c: [] for c in ("sync", "lock", "tensorflow_hub_process")}

        def empty_caches() -> None:
            shutil.rmtree(proj / "cache", ignore_errors=True)
            shutil.rmtree(tmp / "downloads", ignore_errors=True)
            os.sync()

        def hublock_cold(command: str, cores: int | None = None) -> float:
            empty_caches()
            if command == "lock":
                (proj / "hub.lock").unlink(missing_ok=True)
                os.sync()
            profile.unlink(missing_ok=True)
            wall, rss = hublock(proj, command, downloads=tmp / "downloads", profile=profile, cores=cores)
            peak.append(rss)
            if cores is None:
                work[command].append(json.loads(profile.read_text().splitlines()[-1])["wall_s"])
            return wall

        def hublock_warm() -> float:
            empty_caches()
            return warm.sync()

        methods = {
            "tensorflow_hub": lambda: tfhub_resolve(
                [server.handle(n) for n in names], tmp / "tfhub", work["tensorflow_hub_process"]
            ),
            "hublock": lambda: hublock_cold("sync"),
            "hublock_warm": hublock_warm,
            "bare": lambda: reference({n: urls[n] for n in names}, sizes, tmp / "bare"),
            "bare_keeping": lambda: reference({n: urls[n] for n in names}, sizes, tmp / "bare", keep=True),
            **({"hublock_lock": lambda: hublock_cold("lock")} if "lock" in commands else {}),
            # one model: how its time falls with the cores (the machine's all is "hublock")
            **{
                f"hublock_{n}_cores": (lambda n=n: hublock_cold("sync", cores=n))
                for n in CORES_SHOWN
                if len(names) == 1 and n < ALL_CORES
            },
        }
        times: dict[str, list[float]] = {m: [] for m in methods}
        hublock_cold("lock")  # the lock every sync starts from
        work["lock"].clear()
        warm = WarmHublock(proj, hublock_env(tmp / "downloads"))
        hublock_warm()  # its first sync imports what a sync needs; not counted
        order = list(methods)
        for trial in range(trials):
            for method in order[trial % len(order) :] + order[: trial % len(order)]:
                if method.startswith("hublock") and not (proj / "hub.lock").exists():
                    hublock_cold("lock")
                    work["lock"].pop()
                os.sync()
                times[method].append(methods[method]())
            print(
                f"  {name} ({len(names)} models) trial {trial + 1}: "
                + ", ".join(f"{m} {times[m][-1]:.2f}s" for m in methods),
                flush=True,
            )
        warm.close()
        shutil.rmtree(proj, ignore_errors=True)
        return times, work

    names = list(files)
    times, work = measure(names, ("sync", "lock"))
    costs = measure_stages(name, scale, tmp)
    med = {m: statistics.median(v) for m, v in times.items()}
    sync_work, lock_work = statistics.median(work["sync"]), statistics.median(work["lock"])
    on_cores = {n: "hublock" if n == ALL_CORES else f"hublock_{n}_cores" for n in {*CORES_SHOWN, ALL_CORES}}
    by_cores = {
        str(n): {**spread(times[on_cores[n]]), "vs_tensorflow_hub": med["tensorflow_hub"] / med[on_cores[n]]}
        for n in sorted({*CORES_SHOWN, ALL_CORES})
        if n <= ALL_CORES and len(names) == 1
    }
    marginal = {}
    if len(names) >= 12:
        few = names[: len(names) // 4]
        few_times, few_work = measure(few, ("sync",))
        few_med = {m: statistics.median(v) for m, v in few_times.items()}
        full = {**{m: med[m] for m in few_med}, "hublock_work": sync_work}
        few_med["hublock_work"] = statistics.median(few_work["sync"])
        extra = len(names) - len(few)
        per_model = {m: (full[m] - few_med[m]) / extra for m in full}
        marginal = {
            "few_models": len(few),
            "few_seconds": {m: spread(v) for m, v in few_times.items()},
            "per_model_ms": {m: v * 1000 for m, v in per_model.items()},
            "fixed_s": {m: full[m] - len(names) * per_model[m] for m in full},
        }
    server.httpd.shutdown()
    row = {
        "models": len(files),
        "archive_mb": round(sum(sizes.values()) / 1e6, 1),
        "weights_mb": round(sum(sizes_mb) * scale, 1),
        "shard_mb": shard,
        "compressible": compressible,
        "seconds": {m: spread(v) for m, v in times.items()},
        "hublock_work_s": {**spread(work["sync"])},
        "hublock_lock_work_s": {**spread(work["lock"])},
        "trials_s": times,
        # like for like: every method timed in a process that has imported its library
        "hublock_vs_bare": med["bare"] / med["hublock_warm"],
        "hublock_vs_tensorflow_hub": med["tensorflow_hub"] / med["hublock_warm"],
        # the command, start-up included, against the same in-process baselines
        "command_vs_bare": med["bare"] / med["hublock"],
        # the bare pipeline writing what hublock keeps too: the limit for what hublock must do
        "hublock_vs_bare_keeping": med["bare_keeping"] / med["hublock_warm"],
        "command_vs_tensorflow_hub": med["tensorflow_hub"] / med["hublock"],
        "command_startup_s": med["hublock"] - med["hublock_warm"],
        # start-up included on both sides: Python, and importing tensorflow_hub (and TensorFlow)
        "tensorflow_hub_process_s": spread(work["tensorflow_hub_process"]),
        "command_vs_tensorflow_hub_process": statistics.median(work["tensorflow_hub_process"])
        / med["hublock"],
        "lock_vs_sync": lock_work / sync_work,
        **({"cores": by_cores} if by_cores else {}),
        "peak_rss_mb": max(peak) / 1e6,
        **({"marginal": marginal} if marginal else {}),
    }
    # the limit: the stages' CPU seconds over the cores, or the one stage no core can share
    return with_limits(row, costs)


def mix_archives(name: str, scale: float) -> dict[str, Path]:
    """A mix's archives (model name -> file), generated the first time."""
    sizes_mb, shard, compressible = MIXES[name]
    return generate({f"{name}-{i:03d}": mb * scale for i, mb in enumerate(sizes_mb)}, shard, compressible)


def measure_stages(name: str, scale: float, tmp: Path) -> dict[str, float]:
    """A mix's stage costs (``stage_costs``), in a child process: the archives it holds in
    memory must not grow this process, whose children's peak RSS (Linux carries it across fork
    and exec) is what the table reports."""
    files = mix_archives(name, scale)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(stage_costs, (list(files.values()), tmp / "stages"))  # type: ignore[no-any-return]


def with_limits(row: dict, costs: dict[str, float]) -> dict:  # type: ignore[type-arg]
    """A mix's row with its stage costs and the limits they give."""
    med = {m: v["median"] for m, v in row["seconds"].items()}
    floor = limit(costs, ALL_CORES)
    cores = {n: {**c, "limit_s": limit(costs, int(n))} for n, c in row.get("cores", {}).items()}
    return {
        **row,
        "stage_cpu_s": costs,
        "limit_s": floor,
        "hublock_work_vs_limit": floor / row["hublock_work_s"]["median"],
        "command_vs_limit": floor / med["hublock"],
        **({"cores": cores} if cores else {}),
    }


def matrix_table(matrix: dict[str, dict]) -> str:  # type: ignore[type-arg]
    """The README's table: medians (min-max) of every method, and the ratios the goals name."""
    lines = [
        "| mix | models, MB | tensorflow_hub | hublock | bare pipeline | vs tensorflow_hub | vs bare "
        "| vs bare, keeping | `hublock sync`, start-up included | vs tensorflow_hub's loop "
        "| vs its whole process | lock / sync | limit | `hublock sync` at the limit |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in matrix.items():
        sec = row["seconds"]
        cell = {m: "{median:.2f} ({min:.2f}-{max:.2f})".format(**sec[m]) for m in sec}
        lines.append(
            f"| {name} | {row['models']}, {row['archive_mb']:.0f} | {cell['tensorflow_hub']} | "
            f"{cell['hublock_warm']} | {cell['bare']} | "
            f"{row['hublock_vs_tensorflow_hub']:.2f}x | {row['hublock_vs_bare']:.2f}x | "
            f"{row['hublock_vs_bare_keeping']:.2f}x | {cell['hublock']} | "
            f"{row['command_vs_tensorflow_hub']:.2f}x | "
            f"{row['command_vs_tensorflow_hub_process']:.1f}x | {row['lock_vs_sync']:.2f}x | "
            f"{row['limit_s']:.2f} | {row['command_vs_limit']:.2f} |"
        )
    return "\n".join(lines)


# What ``hublock sync`` does before its first model, step by step, each step a process of its own
# that does what the step before did and one thing more (hublock's sync imports the standard
# library modules that click needs too, so click adds little of its own).
STARTUP_STEPS = {
    "Python": "pass",
    "hublock's sync (and the standard library it uses)": "import hublock.commands.sync",
    "its command line (click)": "import hublock.commands.sync, hublock.cli.main, hublock.cli.sync",
    "the fetcher and the HTTP stack (httpx, httpcore, h11)": "import hublock.commands.sync, "
    "hublock.cli.main, hublock.cli.sync, hublock.remote; hublock.remote.prepare_network([])",
}


def startup_costs(repeat: int) -> dict[str, dict[str, float]]:
    """Seconds of each step of STARTUP_STEPS (medians, taking turns), and what each adds."""
    times: dict[str, list[float]] = {step: [] for step in STARTUP_STEPS}
    for _ in range(repeat):
        for step, code in STARTUP_STEPS.items():
            # leaving as the command does, without the interpreter's teardown
            times[step].append(run([common.HUBLOCK_PYTHON, "-c", f"{code}; import os; os._exit(0)"])[0])
    result, before = {}, 0.0
    for step, values in times.items():
        median = statistics.median(values)
        result[step] = {**spread(values), "adds": median - before}
        before = median
    return result


def startup_table(startup: dict[str, dict[str, float]]) -> str:
    lines = ["| step | seconds, start-up to here | what it adds |", "| --- | ---: | ---: |"]
    for step, row in startup.items():
        lines.append(
            f"| {step} | {row['median']:.3f} ({row['min']:.3f}-{row['max']:.3f}) | {row['adds']:.3f} |"
        )
    return "\n".join(lines)


def cores_table(matrix: dict[str, dict]) -> str:  # type: ignore[type-arg]
    """One huge model on 1, 2, ... all of this machine's cores: `hublock sync` (start-up included)
    against tensorflow_hub on all of them, and the limit on that many cores."""
    lines = [
        "| mix | cores | `hublock sync`, s | vs tensorflow_hub (all cores) | limit, s | vs limit |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in matrix.items():
        for n, c in row.get("cores", {}).items():
            lines.append(
                f"| {name} | {n} | {c['median']:.2f} ({c['min']:.2f}-{c['max']:.2f}) | "
                f"{c['vs_tensorflow_hub']:.2f}x | {c['limit_s']:.2f} | {c['limit_s'] / c['median']:.2f} |"
            )
    return "\n".join(lines)


def marginal_table(matrix: dict[str, dict]) -> str:  # type: ignore[type-arg]
    """What each further model costs and what is paid once, for the mixes of many models: the
    mix against a quarter of it (medians), per method."""
    lines = [
        "| mix | per further model, ms: tensorflow_hub | hublock | `hublock sync` | bare | bare, keeping "
        "| paid once, s: tensorflow_hub | hublock | `hublock sync` | bare | bare, keeping |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    methods = ("tensorflow_hub", "hublock_warm", "hublock", "bare", "bare_keeping")
    for name, row in matrix.items():
        if "marginal" not in row:
            continue
        per, fixed = row["marginal"]["per_model_ms"], row["marginal"]["fixed_s"]
        lines.append(
            f"| {name} ({row['marginal']['few_models']} vs {row['models']} models) | "
            + " | ".join(f"{per[m]:.1f}" for m in methods)
            + " | "
            + " | ".join(f"{fixed[m]:.2f}" for m in methods)
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every model size (0.1 for a quick run)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    parser.add_argument("--mix", action="append", choices=sorted(MIXES), help="only these mixes (repeatable)")
    parser.add_argument(
        "--matrix-only", action="store_true", help="skip the no-op, lock, verify and RSS runs"
    )
    parser.add_argument(
        "--skip-matrix", action="store_true", help="only the no-op, lock, verify and RSS runs"
    )
    parser.add_argument(
        "--editable", action="store_true", help="run hublock from this venv rather than a plain install"
    )
    parser.add_argument(
        "--restage",
        action="store_true",
        help="measure the stage costs (and the limits) of the mixes in --out again, nothing else",
    )
    args = parser.parse_args()
    if args.restage:
        out = Path(args.out)
        data = json.loads(out.read_text())
        for name, row in data["matrix"].items():
            data["matrix"][name] = with_limits(row, measure_stages(name, args.scale, WORK / "run"))
        out.write_text(json.dumps(data, indent=2) + "\n")
        print(matrix_table(data["matrix"]))
        print(cores_table(data["matrix"]))
        return
    if not args.editable:
        common.HUBLOCK_PYTHON = plain_install()
    r = args.repeat
    tmp = WORK / "run"
    fresh(tmp)
    matrix = {}
    for name in [] if args.skip_matrix else args.mix or MIXES:
        print(f"mix {name}", flush=True)
        matrix[name] = run_mix(name, args.scale, r, tmp)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    data["matrix"] = {**data.get("matrix", {}), **matrix}
    if matrix:
        data["startup"] = startup_costs(max(r, 11))
    out.write_text(json.dumps(data, indent=2) + "\n")
    if matrix:
        print(matrix_table(matrix), flush=True)
        print(cores_table(data["matrix"]), flush=True)
        print(marginal_table(data["matrix"]), flush=True)
        print(startup_table(data["startup"]), flush=True)
    if args.matrix_only:
        return

    mixed = {f"mixed-{mb}mb": mb * args.scale for mb in SIZES_MB}
    small = {f"small-{i:03d}": 0.004 for i in range(100)}
    twenty = {f"lock-{i:02d}": 1.0 * args.scale for i in range(20)}
    big = {"big-1gb": 1024 * args.scale}
    served = Served(generate({**mixed, **small, **twenty, **big}))
    tmp = WORK / "run"
    results: dict[str, object] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    proj, results["cold_sync"] = cold_sync_mixed(served, list(mixed), r, tmp)
    results["verify_full"] = verify_full(proj, r, tmp)
    results["noop_sync_100"] = noop_sync(served, list(small), r, tmp)
    results["lock_20"] = lock_from_scratch(served, list(twenty), r, tmp)
    results["one_model_rss"] = one_model_rss(served, ["big-1gb", "lock-00"], tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    data["sync"] = results
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(table(results))


class Served:
    """Generated archives, served on loopback: their files, sizes and tensorflow_hub's URLs."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.sizes = {n: p.stat().st_size for n, p in files.items()}
        self.server = Server(files)
        self.urls = {n: self.server.handle(n) + "?tf-hub-format=compressed" for n in files}

    def project(self, where: Path, names: list[str]) -> Path:
        return project(where, {n.replace("-", "_"): self.server.handle(n) for n in names})


def cold_sync_mixed(served: Served, mixed: list[str], r: int, tmp: Path) -> tuple[Path, dict[str, object]]:
    """1. The mixed set, cold. The methods take turns, trial after trial, and the disk is flushed
    before each run, so that no method pays for another's writeback."""
    files, sizes, urls, server = served.files, served.sizes, served.urls, served.server
    mixed_bytes = sum(sizes[n] for n in mixed)
    print(f"mixed set: {len(mixed)} models, {mixed_bytes / 1e6:.0f} MB of archives", flush=True)
    proj = served.project(tmp / "mixed", mixed)
    hublock(proj, "lock", downloads=tmp / "lock-downloads")
    cold: list[tuple[float, int]] = []

    def cold_sync() -> float:
        shutil.rmtree(proj / "cache", ignore_errors=True)
        shutil.rmtree(tmp / "downloads", ignore_errors=True)
        os.sync()
        cold.append(hublock(proj, "sync", downloads=tmp / "downloads"))
        return cold[-1][0]

    methods = {
        "server": lambda: curl_null([urls[n] for n in mixed]),
        "sha256sum": lambda: run(["sha256sum", *(str(files[n]) for n in mixed)])[0],
        "curl": lambda: curl_tar({n: urls[n] for n in mixed}, sizes, tmp / "curl"),
        "reference": lambda: reference({n: urls[n] for n in mixed}, sizes, tmp / "ref"),
        "tfhub": lambda: tfhub_resolve([server.handle(n) for n in mixed], tmp / "tfhub"),
        "hublock": cold_sync,
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for trial in range(r):
        # taking turns: the order rotates every trial, so that no method always follows the one
        # that leaves the most to write back (tensorflow_hub's 1 GB of files)
        for name in names[trial % len(names) :] + names[: trial % len(names)]:
            os.sync()
            times[name].append(methods[name]())
        print(f"trial {trial + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    server_s, sha256sum_s, curl_s, ref_s, tfhub_s, hublock_s = (spread(times[n]) for n in methods)
    return proj, {
        "archive_mb": round(mixed_bytes / 1e6, 1),
        "hublock_s": hublock_s,
        "tensorflow_hub_s": tfhub_s,
        "reference_s": ref_s,
        "curl_tar_s": curl_s,
        "sha256sum_s": sha256sum_s,
        "server_alone_s": server_s,
        "speedup_vs_tensorflow_hub": tfhub_s["median"] / hublock_s["median"],
        "throughput_vs_reference": ref_s["median"] / hublock_s["median"],
        "speedup_vs_curl_tar": curl_s["median"] / hublock_s["median"],
        "server_vs_fastest_client": min(ref_s["median"], hublock_s["median"], curl_s["median"])
        / server_s["median"],
        "peak_rss_mb": max(m for _, m in cold) / 1e6,
        "trials_s": times,
    }


def verify_full(proj: Path, r: int, tmp: Path) -> dict[str, object]:
    """5. ``verify --full`` of what was just synced, against ``sha256sum`` of the same files."""
    synced = [str(p) for p in (proj / "cache").rglob("*") if p.is_file() and p.parent != proj / "cache"]
    verify_s = timed(lambda: hublock(proj, "verify", "--full", downloads=tmp / "downloads")[0], r)
    sum_files_s = timed(lambda: run(["sha256sum", *synced])[0], r)
    return {
        "files": len(synced),
        "hublock_s": verify_s,
        "sha256sum_s": sum_files_s,
        "ratio_to_sha256sum": verify_s["median"] / sum_files_s["median"],
    }


def noop_sync(served: Served, small: list[str], r: int, tmp: Path) -> dict[str, object]:
    """3. A no-op sync of 100 locked, synced small models, against ``import hublock`` and ``pass``."""
    proj = served.project(tmp / "small", small)
    hublock(proj, "lock", downloads=tmp / "downloads")
    hublock(proj, "sync", downloads=tmp / "downloads")
    before = served.server.requests
    noop_s = timed(lambda: hublock(proj, "sync", downloads=tmp / "downloads")[0], max(r, 5))
    import_s = timed(lambda: run([common.HUBLOCK_PYTHON, "-c", "import hublock"])[0], max(r, 5))
    pass_s = timed(lambda: run([common.HUBLOCK_PYTHON, "-c", "pass"])[0], max(r, 5))
    return {
        "hublock_sync_s": noop_s,
        "import_hublock_s": import_s,
        "python_pass_s": pass_s,
        "ratio_to_import": noop_s["median"] / import_s["median"],
        "requests": served.server.requests - before,
    }


def lock_from_scratch(served: Served, twenty: list[str], r: int, tmp: Path) -> dict[str, object]:
    """4. ``hublock lock`` of 20 handles from scratch, then with nothing changed."""
    proj = served.project(tmp / "twenty", twenty)

    def lock_scratch() -> float:
        (proj / "hub.lock").unlink(missing_ok=True)
        shutil.rmtree(tmp / "downloads20", ignore_errors=True)
        return hublock(proj, "lock", downloads=tmp / "downloads20")[0]

    scratch_s = timed(lock_scratch, r)
    before = served.server.requests
    relock_s = timed(lambda: hublock(proj, "lock", downloads=tmp / "downloads20")[0], max(r, 5))
    return {
        "from_scratch_s": scratch_s,
        "unchanged_s": relock_s,
        "unchanged_requests": served.server.requests - before,
    }


def one_model_rss(served: Served, names: list[str], tmp: Path) -> dict[str, object]:
    """6. Peak RSS of syncing one model (a 1 GB one, and a 1 MB one for the floor)."""
    rss: dict[str, object] = {}
    for name in names:
        one = project(tmp / f"one-{name}", {"m": served.server.handle(name)})
        hublock(one, "lock", downloads=tmp / f"dl-{name}")
        shutil.rmtree(tmp / f"dl-{name}")
        wall, peak = hublock(one, "sync", downloads=tmp / f"dl-{name}")
        rss[name] = {"archive_mb": served.sizes[name] / 1e6, "sync_s": wall, "peak_rss_mb": peak / 1e6}
        shutil.rmtree(one)
    return rss


def table(res: dict) -> str:  # type: ignore[type-arg]
    """The results as the markdown table of README's Performance section."""
    c, v, n, lk = res["cold_sync"], res["verify_full"], res["noop_sync_100"], res["lock_20"]
    mb = c["archive_mb"]
    rows = [
        (f"cold sync, 8 models, {mb:.0f} MB: `hublock sync`", c["hublock_s"], True, "1.00"),
        (
            "(a) tensorflow_hub `hub.resolve`, one by one",
            c["tensorflow_hub_s"],
            True,
            f"hublock {c['speedup_vs_tensorflow_hub']:.2f}x faster",
        ),
        (
            "(b) reference pipeline, one process per core",
            c["reference_s"],
            True,
            f"hublock at {c['throughput_vs_reference']:.2f}x its throughput",
        ),
        (
            "(c) `curl -s URL \\| tar xz`, 2 at a time",
            c["curl_tar_s"],
            True,
            f"hublock {c['speedup_vs_curl_tar']:.2f}x faster",
        ),
        ("(d) `sha256sum` of the archives", c["sha256sum_s"], True, ""),
        (
            "the server alone (curl to /dev/null, 2 at a time)",
            c["server_alone_s"],
            True,
            f"{c['server_vs_fastest_client']:.1f}x faster than the fastest client",
        ),
        (
            "`hublock verify --full` of the synced models",
            v["hublock_s"],
            False,
            f"{v['ratio_to_sha256sum']:.2f}x the time of `sha256sum` of the same files "
            f"({v['sha256sum_s']['median']:.3f} s)",
        ),
        (
            "no-op `hublock sync`, 100 models",
            n["hublock_sync_s"],
            False,
            f"{n['ratio_to_import']:.2f}x `python -c 'import hublock'` "
            f"({n['import_hublock_s']['median']:.3f} s; "
            f"`python -c pass` {n['python_pass_s']['median']:.3f} s); {n['requests']} requests",
        ),
        ("`hublock lock`, 20 handles from scratch", lk["from_scratch_s"], False, ""),
        (
            "`hublock lock`, 20 handles, nothing changed",
            lk["unchanged_s"],
            False,
            f"{lk['unchanged_requests']} requests",
        ),
    ]
    lines = ["| what | seconds, median (min-max) | MB/s | ratio |", "| --- | ---: | ---: | --- |"]
    for what, seconds, rate, ratio in rows:
        cell = f"{seconds['median']:.3f} ({seconds['min']:.3f}-{seconds['max']:.3f})"
        throughput = f"{mb / seconds['median']:.0f}" if rate else ""
        lines.append(f"| {what} | {cell} | {throughput} | {ratio} |")
    big, small = res["one_model_rss"]["big-1gb"], res["one_model_rss"]["lock-00"]
    lines += [
        "",
        f"Peak RSS: cold sync of the mixed set {c['peak_rss_mb']:.0f} MB; syncing one "
        f"{big['archive_mb']:.0f} MB model {big['peak_rss_mb']:.0f} MB ({big['sync_s']:.2f} s); "
        f"one {small['archive_mb']:.1f} MB model {small['peak_rss_mb']:.0f} MB.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
