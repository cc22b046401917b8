"""Real SavedModels with different signatures, and TensorFlow's own view of them, for checking
hublock's saved_model.pb reader against TensorFlow. Run as a program (TensorFlow in a process of
its own):

    python -m tests.world.apimodels OUT_DIR

writes OUT_DIR/<name>/ (a SavedModel) for each model and prints one JSON object: name ->
{"signatures": {key: {"inputs": {...}, "outputs": {...}}}, "signature_def_hash": int | null},
each tensor as {"dtype", "shape"} the way tf.saved_model.load(...).signatures reports it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def build(out: Path) -> dict[str, Any]:
    import tensorflow as tf

    class Vision(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32), tf.TensorSpec([None], tf.bool)]
        )
        def classify(self, images: tf.Tensor, mask: tf.Tensor) -> dict[str, tf.Tensor]:
            pooled = tf.reduce_mean(images, axis=[1, 2])
            logits = tf.tile(pooled[:, :1], [1, 10]) * tf.cast(mask, tf.float32)[:, None]
            return {"logits": logits, "embedding": tf.cast(tf.tile(pooled, [1, 16]), tf.float16)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def tokenize(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"ids": tf.zeros([tf.shape(text)[0], 5], tf.int64), "length": tf.strings.length(text)}

    class Odd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32), tf.TensorSpec([], tf.int32)])
        def __call__(self, anything: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
            return tf.reduce_sum(anything) * tf.cast(count, tf.float32)

    class Linear(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            return self.a * x

    vision = Vision()
    models = {
        "vision": (vision, {"serving_default": vision.classify, "tokenize": vision.tokenize}),
        "odd": (Odd(), None),
        "linear": (Linear(), None),
    }
    report: dict[str, Any] = {}
    for name, (module, signatures) in models.items():
        path = out / name
        tf.saved_model.save(module, str(path), signatures=signatures)
        loaded = tf.saved_model.load(str(path))
        seen = {}
        for key, fn in loaded.signatures.items():
            seen[key] = {
                "inputs": {k: _spec(v) for k, v in fn.structured_input_signature[1].items()},
                "outputs": {k: _spec(v) for k, v in fn.structured_outputs.items()},
            }
        try:
            signature_def_hash = int(
                tf.saved_model.experimental.read_fingerprint(str(path)).signature_def_hash
            )
        except Exception:
            signature_def_hash = None
        report[name] = {"signatures": seen, "signature_def_hash": signature_def_hash}
    return report


def _spec(spec: Any) -> dict[str, Any]:
    shape = None if spec.shape.rank is None else list(spec.shape.as_list())
    return {"dtype": spec.dtype.name, "shape": shape}


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1]))))
