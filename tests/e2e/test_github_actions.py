"""The GitHub Actions recipe, run step by step: its test step loads the model with TensorFlow."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from tests.conftest import ROOT, TFHUB_LINEAR, Project
from tests.integration.test_recipes import shell


def test_github_actions_steps_run_in_order(project: Project) -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    job = workflow["jobs"]["test"]
    cache_dir = str(project.dir / ".tfhub-cache")
    env = {k: v.replace("${{ github.workspace }}", str(project.dir)) for k, v in job["env"].items()}
    assert env["TFHUB_CACHE_DIR"] == cache_dir
    cache_step = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache"))
    assert "hashFiles('hub.lock')" in cache_step["with"]["key"]
    # every loader's cache is kept between runs, each named by the variable the loader reads
    kept = cache_step["with"]["path"].strip().splitlines()
    assert kept == [f"${{{{ env.{v} }}}}" for v in ("TFHUB_CACHE_DIR", "KAGGLEHUB_CACHE", "HF_HUB_CACHE")]
    assert set(env) == {"TFHUB_CACHE_DIR", "KAGGLEHUB_CACHE", "HF_HUB_CACHE"}
    (project.dir / "test_model.py").write_text(
        "import tensorflow as tf, tensorflow_hub as hub\n"
        "def test_model():\n"
        f"    assert hub.load({TFHUB_LINEAR!r})(tf.constant([1.0])).numpy().tolist() == [3.0]\n"
    )
    assert shell(project, "hublock lock", {}).returncode == 0  # the developer's commit
    for step in job["steps"]:
        if "run" not in step or step["run"].startswith("pip install"):
            continue
        result = shell(project, step["run"], env)
        assert result.returncode == 0, (step["name"], result.stdout[-2000:], result.stderr[-2000:])
    assert (Path(cache_dir) / hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest() / "saved_model.pb").is_file()
