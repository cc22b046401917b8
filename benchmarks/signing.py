"""What checking a signature costs on a large model, against the same commands unsigned.

    python benchmarks/signing.py [--mb 1024] [--repeat 5]

One SavedModel-shaped model (``--mb`` MB of weights), signed with a key by the real
model-signing library (as its CLI does, ``model.sig`` among the files), packed and served from
loopback. Methods take turns, each timed as a whole command (start-up included):

- lock: ``hublock lock`` of the signed model with a ``[[trust]]`` rule naming the key, against
  ``hublock lock`` of the same archive without one (the download cache warm for both: the
  archive is read, inflated and hashed from it, the signature checked on the way);
- sync: ``hublock sync`` into an empty cache from the download cache, with the signer in hub.lock
  (the signature's manifest compared with the files before publishing) and without;
- the check alone, in-process: ``signed_by`` (model-signing's verifier and the manifest against
  the model's files, whose sha256 a lock has already) and ``check_published`` (sync's).

Reports medians with their spread (min-max); results go to benchmarks/results.json under "signing".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout's root

from benchmarks.common import PYTHON, ROOT, WORK, Server, fresh, generate, hublock_env, run, spread


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import model_signing
    from isal import igzip

    from tests.world.signing import make_key

    tmp = fresh(WORK / "signing-run")
    plain = generate({"signed-base": args.mb})["signed-base"]
    tree = tmp / "tree"
    with tarfile.open(plain) as tar:
        tar.extractall(tree, filter="data")
    key = make_key(tmp / "keys", "publisher")
    start = time.perf_counter()
    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=key.private)
    config.set_hashing_config(model_signing.hashing.Config().set_ignored_paths(paths=["model.sig"]))
    config.sign(tree, tree / "model.sig")
    signing_s = time.perf_counter() - start
    archive = tmp / "signed.tar.gz"
    with igzip.open(archive, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for path in sorted(tree.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(tree)), recursive=False)
    server = Server({"signed": archive})
    handle = server.handle("signed")
    downloads = tmp / "downloads"
    env = hublock_env(downloads)
    projects = {}
    for name, rule in (("trusted", f'[[trust]]\nkey = "{key.public}"\nrequire = "signed"\n'), ("plain", "")):
        proj = fresh(tmp / name)
        (proj / "hub.toml").write_text(f'[models]\nbig = "{handle}"\n\n[cache]\ndir = "cache"\n\n{rule}')
        run([PYTHON, "-m", "hublock", "lock"], cwd=proj, env=env)  # fills the download cache once
        projects[name] = proj

    def lock(name: str) -> float:
        (projects[name] / "hub.lock").unlink()
        return run([PYTHON, "-m", "hublock", "lock"], cwd=projects[name], env=env)[0]

    def sync(name: str) -> float:
        fresh(projects[name] / "cache")
        return run([PYTHON, "-m", "hublock", "sync"], cwd=projects[name], env=env)[0]

    times: dict[str, list[float]] = {f"{step}_{name}": [] for step in ("lock", "sync") for name in projects}
    for _ in range(args.repeat):
        for name in projects:
            times[f"lock_{name}"].append(lock(name))
            times[f"sync_{name}"].append(sync(name))

    from hublock import read_lockfile
    from hublock.commands.trust import check_published, signed_by
    from hublock.core import hash_directory
    from hublock.formats import load_manifest

    files = hash_directory(tree, 2).files
    signature = (tree / "model.sig").read_bytes()
    spec = load_manifest(projects["trusted"] / "hub.toml").models[0]
    model = read_lockfile(projects["trusted"] / "hub.lock").models[0]
    check: dict[str, list[float]] = {"signed_by": [], "check_published": []}
    for _ in range(args.repeat):
        start = time.perf_counter()
        signed_by(spec.trust, files, signature)
        check["signed_by"].append(time.perf_counter() - start)
        start = time.perf_counter()
        check_published(model, files, lambda p: (tree / p).read_bytes())
        check["check_published"].append(time.perf_counter() - start)

    result = {
        "model_mb": args.mb,
        "files": len(files),
        "archive_bytes": archive.stat().st_size,
        "signing_s": signing_s,
        **{k: spread(v) for k, v in times.items()},
        **{f"{k}_ms": spread([x * 1000 for x in v]) for k, v in check.items()},
        "lock_ratio": statistics.median(times["lock_trusted"]) / statistics.median(times["lock_plain"]),
        "sync_ratio": statistics.median(times["sync_trusted"]) / statistics.median(times["sync_plain"]),
    }
    print(json.dumps(result, indent=2))
    path = ROOT / "benchmarks" / "results.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored["signing"] = result
    path.write_text(json.dumps(stored, indent=2) + "\n")


if __name__ == "__main__":
    main()
