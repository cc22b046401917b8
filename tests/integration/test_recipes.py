"""The recipes in the repository, run as their tools would run them (no Docker engine or GitHub
runner here: their commands are executed in order against the loopback world)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT, Project

HUBLOCK = f"{shlex.quote(sys.executable)} -m hublock"


def shell(project: Project, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = re.sub(r"(?<![\w/-])hublock(?= )", HUBLOCK, command)
    path = f"{Path(sys.executable).parent}:{project.env.get('PATH', '')}"  # `python` is this venv's
    return subprocess.run(
        ["bash", "-c", command],
        cwd=project.dir,
        env={**project.env, **env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pre_commit_hook_passes_in_sync_and_fails_when_stale(project: Project) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "hublock-lock-check" and hook["pass_filenames"] is False
    assert re.search(hook["files"], "hub.toml") and re.search(hook["files"], "models/hub.lock")
    assert shell(project, "hublock lock", {}).returncode == 0
    assert shell(project, hook["entry"], {}).returncode == 0
    project.write_manifest({"linear": "https://tfhub.dev/google/linear/2"})
    stale = shell(project, hook["entry"], {})
    assert stale.returncode == 1 and "linear: stale" in stale.stderr


def test_dockerfile_build_stage_fills_what_the_runtime_stage_copies(project: Project, tmp_path: Path) -> None:
    lines = [
        line.strip()
        for line in (ROOT / "examples" / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    stages = " ".join(lines).split("FROM ")[1:]
    build, runtime = stages
    built = tmp_path / "build-stage"
    run_steps = re.findall(r"RUN (.*?)(?= (?:RUN|COPY|WORKDIR|ENV|CMD|FROM)\b|$)", build)
    assert shell(project, "hublock lock", {}).returncode == 0
    for step in run_steps:
        if step.startswith("pip install"):
            continue
        result = shell(project, step.replace("/opt/models", str(built)), {})
        assert result.returncode == 0, (step, result.stderr)
    (source, destination) = re.search(r"COPY --from=models (\S+) (\S+)", runtime).groups()  # type: ignore[union-attr]
    assert source == destination == "/opt/models"
    env = dict(re.findall(r"(\w+)=(\S+)", re.search(r"ENV (.*?)(?= COPY| CMD|$)", runtime).group(1)))  # type: ignore[union-attr]
    assert env == {
        "TFHUB_CACHE_DIR": "/opt/models/tfhub",
        "KAGGLEHUB_CACHE": "/opt/models/kagglehub",
        "HF_HUB_CACHE": "/opt/models/huggingface",
        "HUBLOCK_OFFLINE": "1",
    }
    image = tmp_path / "image-copy"
    shutil.copytree(built, image)  # what COPY --from does: new inodes and ctimes, same bytes
    at_runtime = {k: v.replace("/opt/models", str(image)) for k, v in env.items()}
    check = shell(project, "hublock verify", at_runtime)  # as the image's environment says
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{image / 'tfhub'} (from TFHUB_CACHE_DIR)" in check.stdout + check.stderr
