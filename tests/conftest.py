"""The world the tests build: real tiny SavedModels, a loopback fake hub, a project directory."""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.world.fakehub import FakeHub
from tests.world.gcs import start_gcs_emulator
from tests.world.savedmodels import pack, savedmodel_shaped, write_tree

ROOT = Path(__file__).resolve().parent.parent
TF_QUIET = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
os.environ.update(TF_QUIET)  # before any test imports TensorFlow in this process
# Every hublock CLI call a test makes is a new Python: without bytecode caching each one compiles
# hublock from source again (about a third of its start-up), which is most of this suite's CPU.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# How hard the stress tests push (kills, concurrent rounds): "full" where the whole suite runs
# (tests/run.sh, so CI), "quick" for a contributor's plain `pytest`: fewer trials, the same checks.
FULL_STRESS = os.environ.get("HUBLOCK_TEST_STRESS", "quick") == "full"


def stress(quick: int, full: int) -> int:
    return full if FULL_STRESS else quick


# name -> (a, b): the model computes a*x + b
MODELS = {"linear-v1": (2.0, 1.0), "linear-v2": (3.0, 1.0), "other-v1": (5.0, -1.0)}


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """SavedModel-shaped archives of plain bytes (no TensorFlow): all that lock, sync, verify and
    gc ever look at. The e2e tier overrides this with real SavedModels (tests/e2e/conftest.py)."""
    out = tmp_path_factory.mktemp("archives")
    built = {}
    for name, (a, b) in MODELS.items():
        tree = out / name
        write_tree(savedmodel_shaped(a, b), tree)
        pack(tree, out / f"{name}.tar.gz")
        built[name] = (out / f"{name}.tar.gz").read_bytes()
    return built


def real_archives(out: Path) -> dict[str, bytes]:
    """Real SavedModel archives, built in a TensorFlow process of their own."""
    specs = [f"{name}={a},{b}" for name, (a, b) in MODELS.items()]
    subprocess.run(
        [sys.executable, "-m", "tests.world.savedmodels", str(out), *specs],
        check=True,
        cwd=ROOT,
        env={**os.environ, **TF_QUIET},
        capture_output=True,
    )
    return {name: (out / f"{name}.tar.gz").read_bytes() for name in MODELS}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The fast tier (``-m "not e2e"``) runs where TensorFlow is not installed: there, tests/e2e
    (whose modules import it) is not even collected. Anywhere else it is, and fails loudly."""
    if collection_path == ROOT / "tests" / "e2e" and "not e2e" in (config.option.markexpr or ""):
        return importlib.util.find_spec("tensorflow") is None
    return None


# The longest tests, started first so that no worker is left with one at the end (as sync does
# with the largest model): a scheduling hint only, every test runs either way.
LONGEST = (
    "test_millions_of_tiny_members",
    "test_killed_bucket_syncs",
    "test_kills_never_expose",
    "test_lock_records_objects_and_sync_downloads_nothing",
    "test_cli_syncs_and_verifies_a_bucket",
    "test_no_output_and_no_file_shows_a_secret",
    "test_projects_syncing_and_collecting_at_once",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e loads models with TensorFlow: mark it ``e2e``. The longest
    tests go first."""
    e2e = ROOT / "tests" / "e2e"
    for item in items:
        if e2e in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: not any(name in item.nodeid for name in LONGEST))


@pytest.fixture
def hub(archives: dict[str, bytes]) -> Iterator[FakeHub]:
    with FakeHub() as fake:
        fake.add("google/linear/1", archives["linear-v1"])
        fake.add("google/linear/2", archives["linear-v2"])
        fake.add("google/other/1", archives["other-v1"], kaggle_path="google/other/TensorFlow2/small/1")
        # on Kaggle only (what keras_hub presets are): two versions of one variation
        fake.add_kaggle(KAGGLE_TINY + "/1", archives["other-v1"])
        fake.add_kaggle(KAGGLE_TINY + "/2", archives["linear-v2"])
        yield fake


TFHUB_LINEAR = "https://tfhub.dev/google/linear/1"
KAGGLE_TINY = "acme/tiny/keras/tiny_en"  # a kagglehub handle without its version
KAGGLE_OTHER = "https://www.kaggle.com/models/google/other/TensorFlow2/small/1"


@dataclass
class Project:
    """A user's project directory: hub.toml, hub.lock, a cache and a download cache."""

    dir: Path
    hub: FakeHub
    env: dict[str, str]

    @property
    def manifest(self) -> Path:
        return self.dir / "hub.toml"

    @property
    def lockfile(self) -> Path:
        return self.dir / "hub.lock"

    @property
    def cache(self) -> Path:
        return self.dir / "cache"

    @property
    def downloads(self) -> Path:
        return Path(self.env["HUBLOCK_DOWNLOAD_CACHE"])

    @property
    def huggingface(self) -> Path:
        """huggingface_hub's cache of the test's own (HF_HUB_CACHE)."""
        return Path(self.env["HF_HUB_CACHE"])

    @property
    def kagglehub(self) -> Path:
        """kagglehub's cache (KAGGLEHUB_CACHE) for this project."""
        return Path(self.env["KAGGLEHUB_CACHE"])

    def write_manifest(self, models: dict[str, str], extra: str = "") -> None:
        lines = [
            "# models this project loads",
            "[models]",
            *(f'{name} = "{handle}"' for name, handle in models.items()),
            "",
            "[mirrors]",
            f'"https://tfhub.dev/" = "{self.hub.url}/tfhub/"',
            f'"https://www.kaggle.com/" = "{self.hub.url}/kaggle/"',
            extra,
        ]
        self.manifest.write_text("\n".join(lines) + "\n")

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start the hublock CLI in the background (to interrupt it, or to run several at once).
        Its SIGINT is Ctrl-C's, whatever this process inherited: a suite started as a background
        job of a script (``bash tests/run.sh &``) runs with SIGINT ignored, and so would the CLI."""
        return subprocess.Popen(
            [sys.executable, "-m", "hublock", *args],
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def killed_midway(
        self, rnd: random.Random, within: tuple[float, float], *args: str, env: dict[str, str] | None = None
    ) -> bool:
        """Run the hublock CLI and ``kill -9`` it at a random moment ``within`` (seconds after its
        start); True when it was killed (it may have finished first)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "hublock", *args],
            cwd=self.dir,
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rnd.uniform(*within))
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        return killed

    def run(
        self, *args: str, env: dict[str, str] | None = None, process: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the hublock CLI as a user would, in the project directory: in this process (its
        ``main(argv)``, as pip-tools' tests use click's runner), or in a process of its own when
        ``process`` (or for ``hublock run``, which replaces its process with the command)."""
        if process or (args and args[0] == "run"):
            return subprocess.run(
                [sys.executable, "-m", "hublock", *args],
                cwd=self.dir,
                env={**self.env, **(env or {})},
                capture_output=True,
                text=True,
                timeout=120,
            )
        return run_in_process(list(args), self.dir, {**self.env, **(env or {})})


def run_in_process(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hublock ARGV`` through ``hublock.cli.main.main`` in this process, with this working
    directory and exactly this environment (both restored after), its output captured, and the
    exit code from its SystemExit: what a user sees, without a Python start-up per call. The
    output is captured at the file descriptors, so that what the worker processes a sync forks
    write (their log lines) is captured too, as it is from a command."""
    from hublock.cli.main import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_term = signal.getsignal(signal.SIGTERM)
    saved_streams = sys.stdout, sys.stderr
    code = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        for stream in saved_streams:
            stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                sys.stderr.write(exc.code + "\n")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            signal.signal(signal.SIGTERM, saved_term)
            logging.getLogger().handlers.clear()  # main configures logging for the command only
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    return subprocess.CompletedProcess(["hublock", *argv], code, stdout, stderr)


@pytest.fixture
def project(tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> Project:
    env = {k: v for k, v in os.environ.items() if k != "TFHUB_CACHE_DIR"}
    env["HUBLOCK_DOWNLOAD_CACHE"] = str(tmp_path / "downloads")
    env["PYTHONPATH"] = str(ROOT)
    # the retry tests count requests; waiting 0.5 s, 1 s, 2 s between them only costs time
    env["HUBLOCK_RETRY_BACKOFF"] = "0.02"
    # the fake Kaggle API, kagglehub's and huggingface_hub's caches of the test's own, and no
    # credentials of the machine
    kaggle = {
        "HUBLOCK_KAGGLE_API": f"{hub.url}/api",
        "KAGGLEHUB_CACHE": str(tmp_path / "kagglehub"),
        "KAGGLE_CONFIG_DIR": str(tmp_path / "kaggle-config"),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_CACHE": str(tmp_path / "huggingface"),
    }
    for name in (
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",
        "KAGGLE_API_TOKEN",
        "KAGGLE_API_ENVIRONMENT",
        "HF_TOKEN",
        "HF_TOKEN_PATH",
        "HF_ENDPOINT",
        "HF_HUB_OFFLINE",
    ):
        env.pop(name, None)
        monkeypatch.delenv(name, raising=False)
    env.update(kaggle)
    for name, value in kaggle.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HUBLOCK_RETRY_BACKOFF", "0.02")
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    monkeypatch.setenv("HUBLOCK_DOWNLOAD_CACHE", env["HUBLOCK_DOWNLOAD_CACHE"])
    proj = Project(tmp_path / "proj", hub, env)
    proj.dir.mkdir()
    proj.write_manifest({"linear": TFHUB_LINEAR, "other": KAGGLE_OTHER}, '[cache]\ndir = "cache"')
    return proj


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    proc, url = start_gcs_emulator()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def bucket(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket in the emulator; returns its gs:// URL."""
    import fsspec

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    name = f"b-{os.urandom(6).hex()}"
    fsspec.filesystem("gs", token="anon", endpoint_url=gcs_emulator, skip_instance_cache=True).mkdir(name)
    return f"gs://{name}"
