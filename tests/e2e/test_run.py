"""`hublock run -- CMD`: the hook is active in Python processes the command starts, unchanged
scripts load verified models, and nothing needs the network."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import sysconfig
from pathlib import Path

import hublock
from tests.conftest import MODELS, TF_QUIET, TFHUB_LINEAR, Project
from tests.e2e.offline import needs_unshare

SCRIPT = """
import tensorflow as tf, tensorflow_hub as hub
from tensorflow_hub import registry
model = hub.load("https://tfhub.dev/google/linear/1")
print("hook:", type(registry.resolver._impls[-1]).__name__)
print("y:", model(tf.constant([1.0, 2.0])).numpy().tolist())
"""


def run_offline(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "hublock", "run", *args],
        cwd=project.dir,
        env={**project.env, **TF_QUIET},
        capture_output=True,
        text=True,
        timeout=180,
    )


@needs_unshare
def test_run_guards_plain_scripts_offline(project: Project) -> None:
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    (project.dir / "script.py").write_text(SCRIPT)

    ok = run_offline(project, "--", sys.executable, "script.py")
    assert ok.returncode == 0, ok.stderr[-3000:]
    a, b = MODELS["linear-v1"]
    assert "hook: LockedResolver" in ok.stdout and f"y: {[a + b, 2 * a + b]}" in ok.stdout

    model_dir = project.cache / hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest()
    (model_dir / "variables" / "variables.index").unlink()
    refused = run_offline(project, "--verify", "fast", "--", sys.executable, "script.py")
    assert refused.returncode != 0
    assert "IntegrityError" in refused.stderr and "variables/variables.index (deleted)" in refused.stderr


def test_run_passes_the_exit_code_and_the_environment(project: Project) -> None:
    assert project.run("lock").returncode == 0
    code = "import os, sys; print(os.environ['TFHUB_CACHE_DIR'], os.environ['HUBLOCK_OFFLINE']); sys.exit(7)"
    result = project.run("run", "--", sys.executable, "-c", code)
    assert result.returncode == 7
    assert result.stdout.split() == [str(project.cache), "1"]
    missing = project.run("run", "--", "no-such-command-here")
    assert missing.returncode == 127 and "cannot run 'no-such-command-here'" in missing.stderr


def test_run_does_not_import_tensorflow_in_processes_that_do_not(project: Project) -> None:
    assert project.run("lock").returncode == 0
    code = "import sys; import json; print('tensorflow' in sys.modules, 'hublock' in sys.modules)"
    result = project.run("run", "--", sys.executable, "-c", code)
    assert result.returncode == 0 and result.stdout.split() == ["False", "False"]


def python_without_hublock(tmp_path: Path) -> str:
    """A venv whose Python finds TensorFlow and tensorflow_hub (this venv's site-packages, added by
    a .pth line) but not hublock (installed here in editable mode by a .pth that is not read)."""
    venv = tmp_path / "other-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_paths()["purelib"]
    other = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(other, "main-venv.pth").write_text(purelib + "\n")
    python = str(venv / "bin" / "python")
    probe = subprocess.run(
        [python, "-c", "import tensorflow_hub, hublock"], capture_output=True, text=True, cwd=tmp_path
    )
    assert "No module named 'hublock'" in probe.stderr, probe.stderr[-2000:]
    return python


@needs_unshare
def test_run_verifies_in_a_python_that_lacks_hublock(project: Project, tmp_path: Path) -> None:
    python = python_without_hublock(tmp_path)
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    (project.dir / "script.py").write_text(SCRIPT)
    env = {k: v for k, v in project.env.items() if k != "PYTHONPATH"}  # the tests' own path has hublock
    ok = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "hublock", "run", "--", python, "script.py"],
        cwd=project.dir,
        env={**env, **TF_QUIET, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "hook: LockedResolver" in ok.stdout


def test_run_in_a_python_that_cannot_import_hublock_fails_in_one_line(
    project: Project, tmp_path: Path
) -> None:
    python = python_without_hublock(tmp_path)
    assert project.run("lock").returncode == 0
    (project.dir / "script.py").write_text(SCRIPT)
    env = {k: v for k, v in project.env.items() if k != "PYTHONPATH"}
    # HUBLOCK_PATH names nothing: as when hublock's own environment was removed since
    autoload = str(Path(hublock.__file__).parent / "hooks" / "autoload")
    failed = subprocess.run(
        [python, "script.py"],
        cwd=project.dir,
        env={
            **env,
            **TF_QUIET,
            "PYTHONPATH": autoload,
            "HUBLOCK_LOCKFILE": str(project.lockfile),
            "HUBLOCK_PATH": str(tmp_path / "nowhere"),
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert failed.returncode == 2
    lines = [line for line in failed.stderr.splitlines() if line.startswith("hublock run:")]
    assert len(lines) == 1 and "cannot import hublock" in lines[0] and "pip install hublock" in lines[0]
    assert "Traceback" not in failed.stderr
    assert "y:" not in failed.stdout  # no model was loaded
