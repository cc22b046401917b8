"""Verify-on-load with the real tensorflow_hub: hublock.activate() in this process, real synced
caches, every way a cache can go wrong."""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_hub as hub
from tensorflow_hub import registry

import hublock
from tests.conftest import KAGGLE_OTHER, MODELS, TFHUB_LINEAR, Project

X = [1.0, 2.0]


def expected(model: str) -> list[float]:
    a, b = MODELS[model]
    return [a * x + b for x in X]


def run(model: object) -> list[float]:
    return model(tf.constant(X)).numpy().tolist()  # type: ignore[operator, no-any-return]


@pytest.fixture
def synced(project: Project) -> Iterator[Project]:
    assert project.run("lock").returncode == 0
    assert project.run("sync").returncode == 0
    yield project
    hublock.deactivate()


def model_dir(project: Project, handle: str = TFHUB_LINEAR) -> Path:
    return project.cache / hashlib.sha1(handle.encode()).hexdigest()


def test_locked_handle_loads_through_the_hook_without_tfhub_cache_dir(synced: Project) -> None:
    assert "TFHUB_CACHE_DIR" not in os.environ  # the lock's [cache] dir is found beside it
    hublock.activate(synced.lockfile, offline=True)
    assert run(hub.load(TFHUB_LINEAR)) == expected("linear-v1")
    assert hub.resolve(KAGGLE_OTHER) == str(model_dir(synced, KAGGLE_OTHER))
    assert synced.hub.requests[-1].startswith("/storage/")  # nothing new was requested by loads


def flip_a_byte_keep_size_and_mtime(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def corrupt(project: Project, how: str) -> str:
    """Damage the synced linear model; return a file name the error must mention."""
    d = model_dir(project)
    if how == "deleted":
        (d / "variables" / "variables.index").unlink()
        return "variables/variables.index (deleted)"
    if how == "added":
        (d / "assets" / "extra.txt").write_text("not from the archive")
        return "assets/extra.txt (added)"
    if how == "flipped":
        flip_a_byte_keep_size_and_mtime(d / "saved_model.pb")
        return "saved_model.pb (changed)"
    if how == "truncated":
        with open(d / "variables" / "variables.data-00000-of-00001", "r+b") as f:
            f.truncate(10)
        return "variables/variables.data-00000-of-00001 (changed)"
    if how == "replaced":
        shutil.rmtree(d)
        shutil.copytree(model_dir(project, KAGGLE_OTHER), d)
        return "(changed)"
    raise AssertionError(how)


@pytest.mark.parametrize("verify", ["fast", "full"])
@pytest.mark.parametrize("how", ["deleted", "added", "flipped", "truncated", "replaced"])
def test_every_kind_of_damage_is_refused_then_repaired_by_sync(
    synced: Project, how: str, verify: str
) -> None:
    mentioned = corrupt(synced, how)
    hublock.activate(synced.lockfile, verify=verify, offline=True)  # type: ignore[arg-type]
    with pytest.raises(hublock.IntegrityError) as info:
        hub.load(TFHUB_LINEAR)
    message = str(info.value)
    assert TFHUB_LINEAR in message and "'linear'" in message and "hublock sync" in message
    assert mentioned in message
    assert run(hub.load(KAGGLE_OTHER)) == expected("other-v1")  # the intact model still loads

    assert synced.run("verify").returncode == 1
    repaired = synced.run("sync")
    assert repaired.returncode == 0 and "1 replaced" in repaired.stdout
    assert synced.run("verify", "--full").returncode == 0
    assert run(hub.load(TFHUB_LINEAR)) == expected("linear-v1")


def test_unlocked_handles_allow_warn_error(synced: Project, tmp_path: Path) -> None:
    plain = tmp_path / "plain-model"
    shutil.copytree(model_dir(synced, KAGGLE_OTHER), plain)
    for mode in ("allow", "warn", "error"):
        # a SavedModel directory on disk downloads nothing: it loads in every mode, unwarned
        hublock.activate(synced.lockfile, unlocked=mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert run(hub.load(str(plain))) == expected("other-v1")
    unlocked = "http://127.0.0.1:9/google/unlocked/1"  # not in hub.lock; nothing listens there
    hublock.activate(synced.lockfile, unlocked="warn")
    warned = pytest.warns(UserWarning, match="not in .*hub.lock: it is not verified")
    with warned as caught, pytest.raises(Exception):  # noqa: B017 - then tensorflow_hub's download fails
        hub.load(unlocked)
    assert caught[0].filename == __file__  # the warning points at the line above, not inside tensorflow_hub
    hublock.activate(synced.lockfile, unlocked="error")
    with pytest.raises(hublock.NotInSyncError, match="unlocked handles are refused"):
        hub.load(unlocked)
    assert run(hub.load(TFHUB_LINEAR)) == expected("linear-v1")


def test_missing_model_offline_is_a_clear_error_online_is_fetched_verified(synced: Project) -> None:
    shutil.rmtree(model_dir(synced))
    hublock.activate(synced.lockfile, offline=True)
    with pytest.raises(hublock.NotInSyncError, match=r"not in the cache .* run `hublock sync`"):
        hub.load(TFHUB_LINEAR)
    shutil.rmtree(synced.downloads)
    hublock.activate(synced.lockfile, offline=False)
    assert run(hub.load(TFHUB_LINEAR)) == expected("linear-v1")  # fetched via hub.toml's mirrors
    assert synced.run("verify").returncode == 0  # published with its stamp, like sync does


def test_activate_is_idempotent_and_deactivate_restores_the_registry(synced: Project) -> None:
    before = list(registry.resolver._impls)
    first = hublock.activate(synced.lockfile)
    second = hublock.activate(synced.lockfile, verify="full")
    impls = registry.resolver._impls
    assert len(impls) == len(before) + 1 and impls[-1] is second.tfhub and first.tfhub not in impls
    hublock.deactivate()
    hublock.deactivate()
    assert registry.resolver._impls == before
    assert all(a is b for a, b in zip(registry.resolver._impls, before, strict=True))


def test_environment_configures_activate(synced: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBLOCK_LOCKFILE", str(synced.lockfile))
    monkeypatch.setenv("HUBLOCK_VERIFY", "full")
    monkeypatch.setenv("HUBLOCK_UNLOCKED", "error")
    monkeypatch.setenv("HUBLOCK_OFFLINE", "1")
    resolver = hublock.activate()
    assert (resolver.verify, resolver.unlocked, resolver.offline) == ("full", "error", True)
    monkeypatch.setenv("HUBLOCK_VERIFY", "fastest")
    with pytest.raises(hublock.HublockError, match="verify='fastest'"):
        hublock.activate()


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_load_options_keras_layer_and_saved_keras_model(synced: Project, tmp_path: Path) -> None:
    import tf_keras

    hublock.activate(synced.lockfile, offline=True)
    options = tf.saved_model.LoadOptions(experimental_io_device="/job:localhost")
    assert run(hub.load(TFHUB_LINEAR, options=options)) == expected("linear-v1")

    keras_model = tf_keras.Sequential(
        [tf_keras.layers.InputLayer(input_shape=()), hub.KerasLayer(TFHUB_LINEAR)]
    )
    assert keras_model(tf.constant(X)).numpy().tolist() == expected("linear-v1")
    keras_model.save(tmp_path / "keras")  # SavedModel format: the layer's graph is saved inside
    keras_model.save(tmp_path / "keras.h5")  # HDF5: the layer is rebuilt from its handle on load
    custom = {"KerasLayer": hub.KerasLayer}
    corrupt(synced, "flipped")
    # tf_keras re-raises the hook's IntegrityError as a TypeError with the same message
    with pytest.raises((hublock.IntegrityError, TypeError), match=r"saved_model.pb \(changed\)"):
        tf_keras.models.load_model(tmp_path / "keras.h5", custom_objects=custom)
    assert synced.run("sync").returncode == 0
    for saved in ("keras", "keras.h5"):
        again = tf_keras.models.load_model(tmp_path / saved, custom_objects=custom)
        assert again(tf.constant(X)).numpy().tolist() == expected("linear-v1")


def test_a_copied_cache_still_verifies_fast_and_sync_refreshes_the_stamp(
    synced: Project, tmp_path: Path
) -> None:
    """docker COPY / cp -a give new inodes and ctimes, not new content: the fast check re-hashes
    those files and accepts them; a real change in a copy is still refused."""
    copy = tmp_path / "copied-cache"
    shutil.copytree(synced.cache, copy)
    hublock.activate(synced.lockfile, cache=str(copy), offline=True)
    assert run(hub.load(TFHUB_LINEAR)) == expected("linear-v1")
    found = hublock.verify(synced.manifest, cache=str(copy)).checks[0].inspection
    assert found.ok and found.restamp and "re-hashed" in found.note
    assert synced.run("sync", "--cache", str(copy)).returncode == 0
    assert not hublock.verify(synced.manifest, cache=str(copy)).checks[0].inspection.restamp
    flip_a_byte_keep_size_and_mtime(copy / model_dir(synced).name / "saved_model.pb")
    with pytest.raises(hublock.IntegrityError, match=r"saved_model.pb \(changed\)"):
        hub.load(TFHUB_LINEAR)
