"""A real keras_hub preset, tiny: a backbone saved with ``save_to_preset`` and packed as Kaggle
serves it (a tar.gz of the preset directory's files).

    python -m tests.world.presets OUT.tar.gz [SEED]

Run in a child process: importing keras_hub (and TensorFlow) in the test process would slow
every test.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import tempfile
from pathlib import Path


def make_preset(out: Path, seed: int = 1) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=16,
        num_layers=1,
        num_heads=1,
        hidden_dim=4,
        intermediate_dim=8,
        max_sequence_length=8,
    )
    with tempfile.TemporaryDirectory() as tmp:
        backbone.save_to_preset(tmp)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=path.relative_to(tmp).as_posix())
    out.write_bytes(buf.getvalue())


if __name__ == "__main__":
    make_preset(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1)
