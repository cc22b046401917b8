"""Air-gapped delivery: portable locks, bundles, content-addressed mirrors, the BOM."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from hublock import Lockfile, dump_lockfile, hash_directory, read_lockfile
from tests.conftest import KAGGLE_OTHER, TFHUB_LINEAR, Project
from tests.integration.test_lock_sync import key, lock_ok


def tree_of(cache: Path, handle: str) -> str:
    return hash_directory(cache / key(handle)).tree


# -- portable locks ---------------------------------------------------------------------------


def test_lock_through_a_local_mirror_syncs_unchanged_elsewhere(
    project: Project, archives: dict[str, bytes], tmp_path: Path
) -> None:
    """Machine A locks through a mirror directory of its own; hub.lock names no path of A, and
    machine B syncs it unchanged through another mirror directory, and C through the network."""
    a_mirror = tmp_path / "a" / "mirror"
    (a_mirror / "google" / "linear").mkdir(parents=True)
    (a_mirror / "google" / "linear" / "1.tar.gz").write_bytes(archives["linear-v1"])
    project.manifest.write_text(f'[models]\nlinear = "{TFHUB_LINEAR}"\n')
    result = project.run("lock", "--offline", "--mirror", f"https://tfhub.dev/={a_mirror}")
    assert result.returncode == 0, result.stderr
    text = project.lockfile.read_text()
    assert str(tmp_path) not in text and "file:" not in text
    locked = read_lockfile(project.lockfile)

    b_mirror = tmp_path / "b" / "elsewhere"
    shutil.copytree(a_mirror, b_mirror)
    shutil.rmtree(a_mirror)
    shutil.rmtree(project.downloads)
    result = project.run("sync", "--offline", "--cache", "b", "--mirror", f"https://tfhub.dev/={b_mirror}")
    assert result.returncode == 0, result.stderr
    assert tree_of(project.dir / "b", TFHUB_LINEAR) == locked.models[0].tree

    shutil.rmtree(project.downloads)
    result = project.run("sync", "--cache", "c", "--mirror", f"https://tfhub.dev/={project.hub.url}/tfhub/")
    assert result.returncode == 0, result.stderr
    assert tree_of(project.dir / "c", TFHUB_LINEAR) == locked.models[0].tree
    assert project.lockfile.read_text() == text  # nothing a sync does rewrites the lock


def test_an_older_lock_with_machine_addresses_reads_and_lock_says_what_it_drops(project: Project) -> None:
    lock_ok(project)
    good = project.lockfile.read_text()
    lock = read_lockfile(project.lockfile)
    linear, other = lock.models
    # what hublock 0.1 wrote: a mirror directory's file:// URL, and a mirror's address with a
    # password in it (properly sealed: an older hublock wrote them, not a hand)
    old = Lockfile.of(
        [
            replace(linear, url="file:///home/alice/mirror/google/linear/1.tar.gz"),
            replace(other, url=f"http://bob:hunter2@{project.hub.url.removeprefix('http://')}/kaggle/x"),
        ]
    )
    project.lockfile.write_text(dump_lockfile(old))
    assert project.run("lock", "--check").returncode == 0  # still a valid lock
    result = project.run("sync")
    assert result.returncode == 0, result.stderr

    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    assert "linear: hub.lock recorded file:///home/alice/mirror/google/linear/1.tar.gz" in result.stderr
    assert "no longer records a url" in result.stderr
    # the mirror's address maps back to the upstream it mirrors; the password is never shown
    assert "other: hub.lock recorded" in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert "now records its upstream URL https://www.kaggle.com/x" in result.stderr
    text = project.lockfile.read_text()
    assert "file:" not in text and "hunter2" not in text and project.hub.url not in text
    assert read_lockfile(project.lockfile).models[0].url == ""
    # content identity was never touched
    assert [(m.archive, m.tree) for m in read_lockfile(project.lockfile).models] == [
        (m.archive, m.tree) for m in lock.models
    ]
    assert good != text  # (the fresh lock recorded linear's upstream URL; the kept one has none)


# -- bundles ---------------------------------------------------------------------------------

TINY = "kaggle://acme/tiny/keras/tiny_en/2"


def three_models(project: Project) -> None:
    """linear (tfhub.dev), other (kaggle.com URL) and tiny (kagglehub only): both caches."""
    project.write_manifest(
        {"linear": TFHUB_LINEAR, "other": KAGGLE_OTHER, "tiny": TINY}, '[cache]\ndir = "cache"'
    )
    lock_ok(project)


def fresh_side(project: Project, tmp_path: Path, name: str) -> dict[str, str]:
    """The other side of the gap: the same project files, its own empty caches, the hub dead."""
    project.hub.fail("/", 500, times=10**6)
    return {
        "HUBLOCK_DOWNLOAD_CACHE": str(tmp_path / name / "downloads"),
        "KAGGLEHUB_CACHE": str(tmp_path / name / "kagglehub"),
    }


def members(bundle: Path) -> list[str]:
    with tarfile.open(bundle) as tar:
        return tar.getnames()


def test_bundle_carries_the_lock_across_the_gap(project: Project, tmp_path: Path) -> None:
    three_models(project)
    lock = read_lockfile(project.lockfile)
    out = tmp_path / "models.bundle"
    result = project.run("bundle", str(out))
    assert result.returncode == 0, result.stderr
    assert "3 archives" in result.stdout
    names = members(out)
    digests = sorted({m.archive.removeprefix("sha256:") for m in lock.models if m.archive})
    assert names[:3] == ["index.json", "hub.lock", "hub.toml"]
    assert sorted(names[3:]) == [f"sha256/{d}" for d in digests]
    # `tar` itself reads it: a plain tar, nothing of hublock's needed to unpack it
    listed = subprocess.run(["tar", "tf", str(out)], capture_output=True, text=True, check=True)
    assert listed.stdout.split() == names

    env = fresh_side(project, tmp_path, "b")
    project.hub.reset_requests()
    result = project.run("sync", "--from", str(out), "--cache", "c2", env=env)
    assert result.returncode == 0, result.stderr
    assert project.hub.requests == []  # no network
    for model in lock.models:
        if model.in_tfhub:
            assert tree_of(project.dir / "c2", model.handle) == model.tree
    assert (tmp_path / "b" / "kagglehub" / "models/acme/tiny/keras/tiny_en/2.complete").is_file()
    result = project.run("verify", "--full", "--cache", "c2", env=env)
    assert result.returncode == 0, result.stderr
    # nothing was copied into the download cache: the bundle stays the source
    assert not (tmp_path / "b" / "downloads" / "sha256").exists() or not any(
        (tmp_path / "b" / "downloads" / "sha256").iterdir()
    )


def test_bundles_are_deterministic_and_downloads_what_the_cache_lacks(
    project: Project, tmp_path: Path
) -> None:
    three_models(project)
    first = tmp_path / "1.bundle"
    assert project.run("bundle", str(first)).returncode == 0
    shutil.rmtree(project.downloads)
    result = project.run("bundle", str(tmp_path / "2.bundle"), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["fetched"]) == ["linear", "other", "tiny"]
    assert first.read_bytes() == (tmp_path / "2.bundle").read_bytes()


def test_verify_and_refusals_of_damaged_bundles(project: Project, tmp_path: Path) -> None:
    three_models(project)
    out = tmp_path / "models.bundle"
    assert project.run("bundle", str(out)).returncode == 0
    result = project.run("bundle", "--verify", str(out))
    assert result.returncode == 0, result.stderr
    assert "checked" in result.stdout

    with tarfile.open(out) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("sha256/"))
    data = out.read_bytes()
    truncated = tmp_path / "truncated.bundle"
    truncated.write_bytes(data[: member.offset_data + member.size // 2])
    tampered = tmp_path / "tampered.bundle"
    flip = member.offset_data + member.size // 2
    tampered.write_bytes(data[:flip] + bytes([data[flip] ^ 0xFF]) + data[flip + 1 :])

    result = project.run("bundle", "--verify", str(truncated))
    assert result.returncode == 3 and "truncated" in result.stderr, result.stderr
    result = project.run("bundle", "--verify", str(tampered))
    assert result.returncode == 3 and "holds other bytes" in result.stderr, result.stderr

    env = fresh_side(project, tmp_path, "b")
    for bad in (truncated, tampered):
        result = project.run("sync", "--from", str(bad), "--cache", "c2", env=env)
        assert result.returncode == 3, result.stderr
        assert f"{bad}: " in result.stderr, result.stderr
        assert "damaged or tampered with" in result.stderr or "truncated" in result.stderr, result.stderr
        # a damaged bundle publishes nothing, not even the models whose archives are intact
        models = [p for p in (project.dir / "c2").glob("*") if p.is_dir() and not p.name.startswith(".")]
        assert models == []
    not_a_bundle = tmp_path / "hub.lock.copy"
    shutil.copy(project.lockfile, not_a_bundle)
    result = project.run("sync", "--from", str(not_a_bundle), env=env)
    assert result.returncode == 3 and "not a readable bundle" in result.stderr


def test_a_bundle_of_another_lock_is_refused_with_the_difference(project: Project, tmp_path: Path) -> None:
    three_models(project)
    out = tmp_path / "models.bundle"
    assert project.run("bundle", str(out)).returncode == 0
    project.write_manifest(
        {"linear": "https://tfhub.dev/google/linear/2", "other": KAGGLE_OTHER, "tiny": TINY},
        '[cache]\ndir = "cache"',
    )
    lock_ok(project)
    result = project.run("sync", "--from", str(out), "--cache", "c2")
    assert result.returncode == 1, result.stderr
    assert "was made from another hub.lock" in result.stderr
    assert (
        "linear: handle https://tfhub.dev/google/linear/1 in the bundle, https://tfhub.dev/google/linear/2 here"
        in result.stderr
    )
    assert not (project.dir / "c2").exists() or not any((project.dir / "c2").iterdir())
    result = project.run("lock", "--check", "--from", str(out))
    assert result.returncode == 1 and "was made from another hub.lock" in result.stderr


def test_partial_bundles_several_bundles_and_an_unpacked_one(project: Project, tmp_path: Path) -> None:
    three_models(project)
    parts = []
    for name in ("linear", "other", "tiny"):
        parts.append(tmp_path / f"{name}.bundle")
        assert project.run("bundle", str(parts[-1]), "--only", name).returncode == 0
    assert len([n for n in members(parts[0]) if n.startswith("sha256/")]) == 1
    env = fresh_side(project, tmp_path, "b")
    result = project.run("sync", "--from", str(parts[0]), "--cache", "c2", env=env)
    assert result.returncode == 3
    assert "other:" in result.stderr and "--from uses no network" in result.stderr
    assert "hublock bundle" in result.stderr
    assert (project.dir / "c2" / key(TFHUB_LINEAR) / "saved_model.pb").is_file()  # linear made it
    result = project.run("lock", "--check", "--from", str(parts[0]))
    assert result.returncode == 1 and "other" in result.stderr and "tiny" in result.stderr

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "xf", str(parts[2]), "-C", str(unpacked)], check=True)
    result = project.run("sync", "--from", str(parts[1]), "--from", str(unpacked), "--cache", "c2", env=env)
    assert result.returncode == 0, result.stderr
    result = project.run(
        "lock", "--check", "--from", str(parts[0]), "--from", str(parts[1]), "--from", str(unpacked)
    )
    assert result.returncode == 0, result.stderr
    assert "hold all 3 of its archives" in result.stdout
    assert project.run("bundle", "--verify", str(unpacked)).returncode == 0
    assert project.run("bundle", str(tmp_path / "x"), "--only", "nope").returncode == 2


def test_bundle_refuses_a_stale_lock_and_leaves_nothing(project: Project, tmp_path: Path) -> None:
    three_models(project)
    project.write_manifest({"linear": "https://tfhub.dev/google/linear/2"})
    out = tmp_path / "models.bundle"
    result = project.run("bundle", str(out))
    assert result.returncode == 1 and "out of date" in result.stderr
    assert list(tmp_path.glob("*bundle*")) == []


# -- content-addressed mirrors ---------------------------------------------------------------


@contextmanager
def static_server(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Any static file server: here Python's, on a port of its own; yields its URL and the paths asked."""
    asked: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            asked.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hub/", asked
    finally:
        server.shutdown()


def test_mirror_exports_by_digest_and_any_static_server_serves_every_model(
    project: Project, tmp_path: Path
) -> None:
    three_models(project)
    lock = read_lockfile(project.lockfile)
    dest = tmp_path / "www" / "hub"
    result = project.run("mirror", str(dest))
    assert result.returncode == 0, result.stderr
    assert "3 archives exported" in result.stdout
    for model in lock.models:
        assert model.archive is not None
        hexdigest = model.archive.removeprefix("sha256:")
        assert hashlib.sha256((dest / "sha256" / hexdigest).read_bytes()).hexdigest() == hexdigest
    again = project.run("mirror", str(dest), "--format", "json")
    assert again.returncode == 0 and len(json.loads(again.stdout)["present"]) == 3

    env = fresh_side(project, tmp_path, "b")  # upstream is gone: only the mirror answers
    with static_server(tmp_path / "www") as (url, asked):
        extra = f'"sha256:" = "{url}"'
        project.write_manifest({"linear": TFHUB_LINEAR, "other": KAGGLE_OTHER, "tiny": TINY}, extra)
        project.hub.reset_requests()
        result = project.run("sync", "--cache", "c2", env=env)
        assert result.returncode == 0, result.stderr
        assert sorted(asked) == sorted(
            f"/hub/sha256/{m.archive.removeprefix('sha256:')}" for m in lock.models if m.archive
        )
    assert project.hub.requests == []
    assert tree_of(project.dir / "c2", TFHUB_LINEAR) == lock.models[0].tree
    # a directory works as well, given on the command line
    env = fresh_side(project, tmp_path, "c")
    result = project.run("sync", "--cache", "c3", "--mirror", f"sha256:={dest}", env=env)
    assert result.returncode == 0, result.stderr


def test_mirror_to_a_bucket(project: Project, bucket: str) -> None:
    three_models(project)
    env = {
        "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"],
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    result = project.run("mirror", f"{bucket}/hub", env=env)
    assert result.returncode == 0, result.stderr
    assert project.run("mirror", f"{bucket}/hub", env=env).stdout.count("3 already there") == 1
    import fsspec

    fs = fsspec.filesystem(
        "gs", token="anon", endpoint_url=os.environ["STORAGE_EMULATOR_HOST"], skip_instance_cache=True
    )
    stored = sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{bucket.removeprefix('gs://')}/hub/sha256"))
    lock = read_lockfile(project.lockfile)
    assert stored == sorted(m.archive.removeprefix("sha256:") for m in lock.models if m.archive)


# -- the BOM ---------------------------------------------------------------------------------


def test_cyclonedx_bom_validates_and_is_deterministic(project: Project, tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    three_models(project)
    result = project.run("export", "--format", "cyclonedx")
    assert result.returncode == 0, result.stderr
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.stdout)
    assert errors is None, errors
    bom = json.loads(result.stdout)
    assert bom["specVersion"] == "1.6"
    by_ref = {c["bom-ref"]: c for c in bom["components"]}
    lock = read_lockfile(project.lockfile)
    for model in lock.models:
        component = by_ref[f"model:{model.name}"]
        assert component["type"] == "machine-learning-model"
        assert component["hashes"] == [{"alg": "SHA-256", "content": model.archive.removeprefix("sha256:")}]
        properties = {p["name"]: p["value"] for p in component["properties"]}
        assert properties["hublock:tree"] == model.tree
        assert model.handle in [r["url"] for r in component["externalReferences"]]
    assert by_ref["model:linear"] | {} and by_ref["model:tiny"]["group"] == "acme"
    assert by_ref["model:tiny"]["name"] == "tiny/keras/tiny_en" and by_ref["model:tiny"]["version"] == "2"
    assert by_ref["model:linear"]["group"] == "google" and by_ref["model:linear"]["version"] == "1"
    out = tmp_path / "bom.json"
    assert project.run("export", "--format", "cyclonedx", "-o", str(out)).returncode == 0
    assert out.read_text() == result.stdout  # the same lock, the same bytes
