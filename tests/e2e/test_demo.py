"""README's first command, run as it is (with this interpreter instead of a fresh venv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_offline_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "DEMO_WORK": str(tmp_path / "work")}
    env.pop("TFHUB_CACHE_DIR", None)
    proc = subprocess.run(
        ["bash", "examples/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "3 models: 3 fetched" in out and "3 models: 3 present" in out  # tensorflow_hub's cache
    assert "2 models: 2 fetched" in out and "2 models: 2 present" in out  # kagglehub's
    # each stand-in model i computes (i+2)*x + 1, loaded under its real handle
    assert (
        "hub.load('https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5')([1, 2]) = [3.0, 5.0]"
        in out
    )
    assert (
        "bert: hub.load('https://www.kaggle.com/models/tensorflow/bert/TensorFlow2/en-uncased-l-12-h-768-a-12/3')([1, 2]) = [5.0, 9.0]"
        in out
    )
    # the same model through kagglehub, and a keras_hub preset, from kagglehub's cache
    work = tmp_path / "work" / "kagglehub" / "models"
    bert = work / "tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/3"
    assert (
        f"bert: kagglehub.model_download('tensorflow/bert/tensorFlow2/en-uncased-l-12-h-768-a-12/3') = {bert}"
        in out
    )
    assert out.count("without its version: the locked version") == 2
    assert (
        "keras_hub.models.Backbone.from_preset('kaggle://keras/bert/keras/bert_tiny_en_uncased') = BertBackbone"
        in out
    )
    # the Hugging Face preset, from huggingface_hub's cache, at the commit hub.lock pinned
    assert "1 model: 1 fetched" in out and "1 model: 1 present" in out  # huggingface_hub's
    snapshot = tmp_path / "work" / "huggingface" / "models--keras--bert_tiny_en_uncased" / "snapshots"
    assert f"hf_hub_download('keras/bert_tiny_en_uncased', 'config.json') = {snapshot}/" in out
    assert "keras_hub.models.Backbone.from_preset('hf://keras/bert_tiny_en_uncased') = BertBackbone" in out
