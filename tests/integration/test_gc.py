"""hublock gc: leftovers of killed processes and models nobody locks go; what is in use stays."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import fsspec
import pytest

import hublock
from hublock.caches.layout import Entry
from hublock.commands.gc import find_garbage
from hublock.formats.lockfile import Lockfile
from tests.conftest import KAGGLE_OTHER, TFHUB_LINEAR, Project

K = "a" * 40
UID = "b" * 32


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_find_garbage_rules() -> None:
    host = socket.gethostname()
    now = time.time()
    live = f"{host}.{os.getpid()}.{UID}"
    gone = dead_pid()
    entries = [
        Entry(K, 10, now),  # a model hub.lock does not list
        Entry(f"{K}.descriptor.txt", 1, now),
        Entry("c" * 40 + f".{UID}.tmp", 5, now),  # staging, its lock is held by a live process
        Entry("c" * 40 + ".lock", 1, now, live),
        Entry("d" * 40 + f".{'e' * 32}.tmp", 7, now),  # staging without a lock
        Entry("f" * 40 + ".lock", 1, now, f"{host}.{dead_pid()}.{UID}"),  # owner dead
        Entry("0" * 40 + ".lock", 1, now - 3600, f"otherhost.1.{UID}"),  # stalled for an hour
        Entry("1" * 40 + ".lock", 1, now, f"otherhost.1.{UID}"),  # another host, recent: keep
        # lock files being created when their process was killed (kill -9 between write and link)
        Entry(f".{'2' * 40}.lock.{gone}-{UID}@{host}.part", 1, now),
        Entry(f".{'3' * 40}.lock.{gone}-{UID}@{host}.part", 0, now),  # killed before it wrote a byte
        Entry(f".{'4' * 40}.lock.{os.getpid()}-{UID}@{host}.part", 1, now),  # being made right now: keep
        # a stamp being written when its process was killed; and one being written now
        Entry(f".{'5' * 40}.hublock.json.{gone}-{UID}@{host}.part", 9, now),
        Entry(f".{'6' * 40}.hublock.json.{os.getpid()}-{UID}@{host}.part", 9, now),
    ]
    names = {g.name for g in find_garbage(entries, Lockfile(), now=now)}
    assert names == {
        K,
        f"{K}.descriptor.txt",
        "d" * 40 + f".{'e' * 32}.tmp",
        "f" * 40 + ".lock",
        "0" * 40 + ".lock",
        f".{'2' * 40}.lock.{gone}-{UID}@{host}.part",
        f".{'3' * 40}.lock.{gone}-{UID}@{host}.part",
        f".{'5' * 40}.hublock.json.{gone}-{UID}@{host}.part",
    }
    kept = {g.name for g in find_garbage(entries, Lockfile(), keep_unlocked=True, now=now)}
    assert K not in kept and f"{K}.descriptor.txt" not in kept


@pytest.mark.parametrize("where", ["local", "gs"])
def test_gc_cleans_leftovers_and_unlocked_models(
    project: Project, where: str, request: pytest.FixtureRequest
) -> None:
    cache = str(project.cache) if where == "local" else request.getfixturevalue("bucket") + "/cache"
    hublock.lock(project.manifest)
    hublock.sync(project.manifest, cache=cache)
    fs, root = fsspec.core.url_to_fs(cache, **({"token": "anon"} if where == "gs" else {}))

    def put(path: str, data: bytes) -> None:
        fs.makedirs(f"{root}/{path}".rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(f"{root}/{path}", data)

    stale_key = hublock.cache_key("https://tfhub.dev/google/old/1")
    put(f"{stale_key}/saved_model.pb", b"an old model nobody locks")
    put(f"{stale_key}.descriptor.txt", b"Module: old")
    put(f"{hublock.cache_key(TFHUB_LINEAR)}.{UID}.tmp/variables/v", b"partial")
    put(f"{hublock.cache_key(KAGGLE_OTHER)}.lock", f"{socket.gethostname()}.{dead_pid()}.{UID}".encode())
    (project.downloads / "sha256" / ("9" * 64)).write_bytes(b"an archive no model uses")

    dry = project.run(
        "gc",
        "--dry-run",
        "--cache",
        cache,
        "--format",
        "json",
        env={"STORAGE_EMULATOR_HOST": os.environ.get("STORAGE_EMULATOR_HOST", "")},
    )
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert sorted(i["name"] for i in planned["removed"]) == sorted(
        [
            stale_key,
            f"{stale_key}.descriptor.txt",
            f"{hublock.cache_key(TFHUB_LINEAR)}.{UID}.tmp",
            f"{hublock.cache_key(KAGGLE_OTHER)}.lock",
        ]
    )
    assert [i["name"] for i in planned["downloads"]] == ["sha256/" + "9" * 64]
    assert fs.exists(f"{root}/{stale_key}")  # a dry run removes nothing

    report = hublock.gc(project.manifest, cache=cache)
    assert report.freed > 0
    fs.invalidate_cache()
    left = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False))
    keys = sorted(hublock.cache_key(h) for h in (TFHUB_LINEAR, KAGGLE_OTHER))
    sidecars = [f"{k}.descriptor.txt" for k in keys] + [f"{k}.hublock.json" for k in keys]
    assert left == sorted([*keys, *sidecars, ".hublock-roots"])  # the roots stay: they are the cache's
    assert hublock.verify(project.manifest, cache=cache).ok
    assert not (project.downloads / "sha256" / ("9" * 64)).exists()
