"""The TPU recipe end to end, run inside ``unshare -n`` by test_bucket_load.py: this process has
its own loopback and no other network. In it: the fake hub, a GCS emulator and the TLS proxy;
``hublock lock`` and ``hublock sync`` into ``gs://``; then a TensorFlow process with
``TFHUB_CACHE_DIR=gs://...`` loads the model through TensorFlow's own GCS client.

    python -m tests.e2e.scripts.bucket_scenario ARCHIVE UNCOMPRESSED_ARCHIVE WORKDIR   -> one JSON document

The second model is published uncompressed (its files as objects in the bucket, announced by the
hub's 303 protocol) and loaded in place from gs:// through the hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HANDLE = "https://tfhub.dev/google/linear/1"
UNCOMPRESSED = "https://tfhub.dev/google/other/1"
LOAD = """
import json, sys
import tensorflow as tf, tensorflow_hub as hub
handle, lockfile = sys.argv[1], sys.argv[2]
result = {"plain": hub.load(handle)(tf.constant([1.0, 2.0])).numpy().tolist(), "path": hub.resolve(handle)}
import hublock
hublock.activate(lockfile, offline=True)
options = tf.saved_model.LoadOptions(experimental_io_device="/job:localhost")
result["hook"] = hub.load(handle, options=options)(tf.constant([1.0, 2.0])).numpy().tolist()
result["uncompressed"] = hub.load(sys.argv[3])(tf.constant([1.0, 2.0])).numpy().tolist()
result["uncompressed_path"] = hub.resolve(sys.argv[3])
print(json.dumps(result))
"""


def main(archive: Path, uncompressed: Path, work: Path) -> None:
    import io
    import tarfile

    import fsspec

    from tests.world.fakehub import FakeHub
    from tests.world.gcs import start_gcs_emulator  # first: it configures gcsfs before its import
    from tests.world.gcsproxy import GcsProxy

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    emulator, url = start_gcs_emulator()
    try:
        fs = fsspec.filesystem("gs", token="anon", endpoint_url=url)
        fs.mkdir("tpu-bucket")
        with tarfile.open(fileobj=io.BytesIO(uncompressed.read_bytes())) as tar:
            for member in tar:
                if member.isfile():
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    fs.pipe_file(f"tpu-bucket/published/other/1/{member.name}", data)
        with FakeHub() as hub, GcsProxy(url, work / "certs") as proxy:
            hub.add("google/linear/1", archive.read_bytes())
            hub.add("google/other/1", b"").gcs_location = "gs://tpu-bucket/published/other/1"
            cache = "gs://tpu-bucket/tfhub-modules-cache"
            (work / "hub.toml").write_text(
                f'[cache]\ndir = "{cache}"\n\n[models]\nlinear = "{HANDLE}"\n'
                f'other = {{ handle = "{UNCOMPRESSED}", format = "uncompressed" }}\n\n'
                f'[mirrors]\n"https://tfhub.dev/" = "{hub.url}/tfhub/"\n'
            )
            env = {
                **os.environ,
                "STORAGE_EMULATOR_HOST": url,
                "HUBLOCK_DOWNLOAD_CACHE": str(work / "downloads"),
            }
            env.pop("TFHUB_CACHE_DIR", None)
            hublock = [sys.executable, "-m", "hublock"]
            lock = subprocess.run([*hublock, "lock"], cwd=work, env=env, capture_output=True, text=True)
            started = time.monotonic()
            sync = subprocess.run([*hublock, "sync"], cwd=work, env=env, capture_output=True, text=True)
            sync_s = time.monotonic() - started
            started = time.monotonic()
            noop = subprocess.run([*hublock, "sync"], cwd=work, env=env, capture_output=True, text=True)
            noop_s = time.monotonic() - started
            requests_before = len(hub.requests)
            (work / "gcloud").mkdir()
            load_env = {
                **env,
                **proxy.env(),
                "TFHUB_CACHE_DIR": cache,
                "CLOUDSDK_CONFIG": str(work / "gcloud"),
            }
            load = subprocess.run(
                [sys.executable, "-c", LOAD, HANDLE, str(work / "hub.lock"), UNCOMPRESSED],
                cwd=work,
                env=load_env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            result = {
                "lock": [lock.returncode, lock.stderr[-2000:]],
                "sync": [sync.returncode, sync.stdout, sync.stderr[-2000:]],
                "sync_s": sync_s,
                "noop": [noop.returncode, noop.stdout],
                "noop_s": noop_s,
                "load": [load.returncode, load.stderr[-4000:]],
                "loaded": json.loads(load.stdout.strip().splitlines()[-1]) if load.returncode == 0 else None,
                "hub_requests_during_load": len(hub.requests) - requests_before,
                "proxied": len(proxy.requests),
            }
    finally:
        emulator.terminate()
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
