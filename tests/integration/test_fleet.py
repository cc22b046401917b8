"""A fleet on one bucket (the TPU setup): N hosts, each a process with a host name of its own,
sync the same hub.lock into one gs:// cache at once. Every host succeeds, each model is written by
exactly one of them (the lock object is created with a GCS precondition, not check-then-write),
and what is there verifies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hublock.caches.bucket import BucketCache
from tests.conftest import TFHUB_LINEAR, Project
from tests.integration.test_lock_sync import lock_ok
from tests.world.savedmodels import pack, savedmodel_shaped, write_tree

HOSTS = 8
BIG = "https://tfhub.dev/google/big/1"


def _big_archive(where: Path, megabytes: int = 24) -> bytes:
    """A SavedModel-shaped archive whose weights do not compress: its upload takes long enough
    that the hosts' attempts overlap."""
    files = savedmodel_shaped(7.0, 3.0)
    files["variables/variables.data-00000-of-00001"] = os.urandom(megabytes << 20)
    write_tree(files, where / "big")
    pack(where / "big", where / "big.tar.gz", level=1)
    return (where / "big.tar.gz").read_bytes()


def test_a_fleet_syncing_one_bucket_writes_each_model_once(
    project: Project, bucket: str, tmp_path: Path
) -> None:
    project.hub.add("google/big/1", _big_archive(tmp_path))
    project.write_manifest({"linear": TFHUB_LINEAR, "big": BIG})
    lock_ok(project)
    cache = f"{bucket}/fleet"
    env = {
        **project.env,
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    unshare = shutil.which("unshare")
    hosts = []
    for i in range(HOSTS):
        command = [
            sys.executable,
            "-m",
            "hublock",
            "sync",
            "--cache",
            cache,
            "--format",
            "json",
            "--no-progress",
        ]
        if unshare is not None:  # a host name of its own (a UTS namespace), as on a real fleet
            command = [unshare, "-u", "sh", "-c", f'hostname fleet-{i} && exec "$@"', "sh", *command]
        hosts.append(
            subprocess.Popen(
                command, cwd=project.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    documents = []
    for host in hosts:
        out, err = host.communicate(timeout=600)
        assert host.returncode == 0, err
        documents.append(json.loads(out))
    written: dict[str, int] = {}
    for document in documents:
        for name, result in document["models"].items():
            written[name] = written.get(name, 0) + (result["state"] != "present")
    print(f"fleet of {HOSTS}: models written {written} times")  # the closing note's figure
    assert written == {"linear": 1, "big": 1}, written
    verify = project.run("verify", "--full", "--cache", cache, env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_two_hosts_that_both_find_no_lock_never_both_hold_it(bucket: str) -> None:
    """The interleaving that check-then-write loses: A and B both see no lock, A writes and reads
    its own back, then B writes and reads its own back. With a create-only write (a GCS
    precondition) B's write is refused and B waits for A. (The sync points only order the calls;
    where one never comes, as with a create-only write, its wait ends after 2 s.)"""
    import threading
    import time

    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    a = BucketCache(f"{bucket}/race", {"skip_instance_cache": True})
    b = BucketCache(f"{bucket}/race", {"skip_instance_cache": True})
    b_read, a_read_back = threading.Event(), threading.Event()
    a_pipe, a_cat, b_pipe, b_cat = a.fs.pipe_file, a.fs.cat_file, b.fs.pipe_file, b.fs.cat_file

    a_wrote = threading.Event()

    def a_pipe_file(*args: object, **kwargs: object) -> object:
        b_read.wait(2)  # B has looked, and found no lock, before A writes
        try:
            return a_pipe(*args, **kwargs)
        finally:
            a_wrote.set()

    def a_cat_file(*args: object, **kwargs: object) -> object:
        try:
            return a_cat(*args, **kwargs)
        finally:
            if a_wrote.is_set():
                a_read_back.set()

    def b_pipe_file(*args: object, **kwargs: object) -> object:
        a_read_back.wait(2)  # A has written and read its own lock back before B writes
        return b_pipe(*args, **kwargs)

    def b_cat_file(*args: object, **kwargs: object) -> object:
        try:
            return b_cat(*args, **kwargs)
        finally:
            b_read.set()

    a.fs.pipe_file, a.fs.cat_file = a_pipe_file, a_cat_file
    b.fs.pipe_file, b.fs.cat_file = b_pipe_file, b_cat_file
    held: list[tuple[str, float, float]] = []

    def take(name: str, cache: BucketCache) -> None:
        with cache.model_lock(TFHUB_LINEAR, timeout=60):
            start = time.monotonic()
            time.sleep(0.5)  # holds it a while: what a sync does with it
            held.append((name, start, time.monotonic()))

    threads = [threading.Thread(target=take, args=(n, c)) for n, c in (("a", a), ("b", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(held) == 2, held
    first, second = sorted(held, key=lambda h: h[1])
    assert first[2] <= second[1], f"both held the lock at once: {held}"


def test_a_sync_that_finds_a_model_while_gc_runs_looks_only_after_gc(project: Project, bucket: str) -> None:
    """The interleaving cache roots alone lose on a bucket: gc reads the roots, another project's
    first sync records its root and finds the model present, then gc removes the model. gc's lock
    object (created before gc reads the roots) and the sync's wait for it (after it records its
    root) order them: this sync looks at the bucket only once gc is done, and finds the model gone
    (so it would fetch it) instead of present. (The 2 s join is the time a sync that does not
    wait would need to look; it can only let the old behaviour pass, never fail the new one.)"""
    import threading

    from hublock.caches.inspection import State
    from hublock.caches.roots import Root
    from hublock.formats import read_lockfile

    project.write_manifest({"linear": TFHUB_LINEAR})
    lock_ok(project)
    cache = f"{bucket}/gc-race"
    env = {**project.env, "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"]}
    first = project.run("sync", "--cache", cache, env=env)
    assert first.returncode == 0, first.stderr
    model = read_lockfile(project.dir / "hub.lock").models[0]
    other = Root(
        "another-host",
        "/elsewhere/hub.lock",
        Root.of(project.dir / "hub.lock", read_lockfile(project.dir / "hub.lock")).models,
    )
    gc_side = BucketCache(cache, {"skip_instance_cache": True})
    sync_side = BucketCache(cache, {"skip_instance_cache": True})
    found: list[State] = []

    def first_sync_of_another_project() -> None:
        sync_side.write_root(other)
        found.append(sync_side.inspect(model).state)

    sync = threading.Thread(target=first_sync_of_another_project)
    with gc_side.guard(exclusive=True):
        assert other.id not in {root.id for root in gc_side.roots()}  # gc decides without it
        sync.start()
        recorded = f"{gc_side.root}/{gc_side.layout.roots()}/{other.id}.json"
        assert wait_until(lambda: recorded_root(gc_side, recorded)), "the sync never recorded its root"
        sync.join(2)
        gc_side.remove(gc_side.layout.model(model.handle))
    sync.join(120)
    assert found == [State.MISSING], found
    assert not gc_side.fs.exists(f"{gc_side.root}/{gc_side.layout.roots()}/gc.lock")  # released


def recorded_root(cache: BucketCache, path: str) -> bool:
    cache.fs.invalidate_cache()  # gcsfs answers exists() from its listing cache otherwise
    return bool(cache.fs.exists(path))


def wait_until(condition: Callable[[], bool], deadline: float = 60.0) -> bool:
    """Poll ``condition`` (an event the test observes, not a guess at how long something takes)."""
    import time

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False
