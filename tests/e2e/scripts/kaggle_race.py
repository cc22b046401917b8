"""Run inside a network namespace of its own (``unshare -n``): the real kagglehub and
``hublock sync`` fill one kagglehub cache with the same model at the same time.

    python -m tests.e2e.scripts.kaggle_race PROJECT_DIR ARCHIVE HANDLE ROUNDS

kagglehub only talks to its TEST API at localhost:7777, so the fake Kaggle listens there: in a
namespace of this process's own, where no other test's port can clash and nothing leaves the
machine. Prints one JSON document: what each round found.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from tests.world.fakehub import FakeHub


def loopback_up() -> None:
    """``ip link set lo up``, without needing iproute2: a new namespace's loopback starts down."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sh", fcntl.ioctl(s, siocgifflags, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def main(project: Path, archive: Path, handle: str, rounds: int) -> None:
    loopback_up()
    cache = Path(os.environ["KAGGLEHUB_CACHE"])
    results = []
    with FakeHub(port=7777) as hub:
        hub.add_kaggle(handle, archive.read_bytes())
        hub.throttle = 0.02  # ~1.3 s per copy of the weights: the two downloads overlap
        env = {
            **os.environ,
            "KAGGLE_API_ENVIRONMENT": "TEST",
            "HUBLOCK_KAGGLE_API": "http://127.0.0.1:7777/api",
        }
        for round_ in range(rounds):
            hub.api_calls.clear()
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(os.environ["HUBLOCK_DOWNLOAD_CACHE"], ignore_errors=True)
            download = f"import kagglehub, json; print(json.dumps(kagglehub.model_download({handle!r})))"
            kaggle = subprocess.Popen(
                [sys.executable, "-c", download],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            # hublock starts once kagglehub is downloading, a little later each round
            deadline = time.monotonic() + 60
            while "ListModelInstanceVersionFiles" not in [m for m, _ in hub.api_calls]:
                if time.monotonic() > deadline or kaggle.poll() is not None:
                    break
                time.sleep(0.01)
            time.sleep(0.3 * round_)
            sync = subprocess.Popen(
                [sys.executable, "-m", "hublock", "sync"],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            k_out, k_err = kaggle.communicate(timeout=120)
            _, s_err = sync.communicate(timeout=120)
            verified = subprocess.run(
                [sys.executable, "-m", "hublock", "verify", "--full"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
            )
            results.append(
                {
                    "kagglehub": kaggle.returncode,
                    "kagglehub_path": json.loads(k_out.strip().splitlines()[-1])
                    if kaggle.returncode == 0
                    else k_err[-1500:],
                    "sync": sync.returncode,
                    "sync_err": s_err[-1500:],
                    "verify": verified.returncode,
                    "verify_out": verified.stdout[-1500:],
                    "api_calls": sorted(method for method, _ in hub.api_calls),
                }
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
