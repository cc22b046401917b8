"""Tiny real SavedModels (y = a*x + b, with a variables/ dir and an assets/ file), packed the way
tfhub.dev packs them: a .tar.gz with the SavedModel's files at the archive root.

Run as a program so that TensorFlow is imported in a process of its own:

    python -m tests.world.savedmodels OUT_DIR NAME=A,B [NAME=A,B ...]

writes OUT_DIR/NAME.tar.gz for each model. The archives are deterministic (sorted members,
mtime 0, gzip mtime 0), so the same A,B always gives the same bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import tarfile
import tempfile
from pathlib import Path


def build_savedmodel(out_dir: Path, a: float, b: float) -> None:
    import tensorflow as tf

    class Linear(tf.Module):
        def __init__(self, labels: str) -> None:
            super().__init__()
            self.a = tf.Variable(a, dtype=tf.float32)
            self.b = tf.Variable(b, dtype=tf.float32)
            self.labels = tf.saved_model.Asset(labels)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            return self.a * x + self.b

    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "labels.txt"
        labels.write_text(f"linear a={a} b={b}\n")
        tf.saved_model.save(Linear(str(labels)), str(out_dir))


def pack(model_dir: Path, archive: Path) -> None:
    """tar.gz the files of ``model_dir`` at the archive root, byte-for-byte reproducibly."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for root, dirs, files in sorted(os.walk(model_dir)):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = Path(root) / name
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(model_dir)))
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isfile():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    with open(archive, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(buf.getvalue())


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for spec in argv[1:]:
        name, _, coefficients = spec.partition("=")
        a, b = (float(v) for v in coefficients.split(","))
        with tempfile.TemporaryDirectory() as tmp:
            build_savedmodel(Path(tmp) / "m", a, b)
            pack(Path(tmp) / "m", out / f"{name}.tar.gz")


if __name__ == "__main__":
    main(sys.argv[1:])
