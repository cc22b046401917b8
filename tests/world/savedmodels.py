"""SavedModel archives for the tests, packed the way tfhub.dev packs them: a .tar.gz with the
SavedModel's files at the archive root.

Two kinds, with the same file layout:
- ``savedmodel_shaped(a, b)``: plain bytes shaped like a SavedModel (``saved_model.pb``,
  ``variables/``, ``assets/``), made without TensorFlow. Everything hublock itself does (lock,
  sync, verify, gc, faults) only ever sees bytes, so the unit and integration tiers use these.
- real SavedModels (y = a*x + b) built with TensorFlow, for the e2e tier that loads them with
  ``hub.load``. Run as a program so that TensorFlow is imported in a process of its own:

    python -m tests.world.savedmodels OUT_DIR NAME=A,B [NAME=A,B ...]

writes OUT_DIR/NAME.tar.gz for each model. The archives are deterministic (sorted members,
mtime 0, gzip mtime 0), so the same A,B always gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import sys
import tarfile
import tempfile
from pathlib import Path

from tests.world import protobuf


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


def savedmodel_shaped(a: float, b: float, signatures: dict | None = None) -> dict[str, bytes]:  # type: ignore[type-arg]
    """The files of a SavedModel-shaped tree (no TensorFlow), ~16 KB like a tiny real one.
    Different coefficients give different content of the same sizes (weights are
    incompressible, text fixed-width), the same coefficients the same bytes. saved_model.pb is a
    real protobuf with ``signatures`` (default: the linear model's one), fingerprint.pb too."""
    label = f"linear a={a:+09.3f} b={b:+09.3f}"
    seed = label.encode()
    weights = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(512))
    graph = b"graph:" + label.encode()
    model = protobuf.saved_model(signatures or protobuf.LINEAR, graph)
    return {
        "saved_model.pb": model,
        "fingerprint.pb": protobuf.fingerprint(int.from_bytes(hashlib.sha256(model).digest()[:8], "big")),
        "variables/variables.index": b"\x00index:a,b\x00" + struct.pack("<2f", a, b),
        "variables/variables.data-00000-of-00001": weights,
        "assets/labels.txt": f"{label}\n".encode(),
    }


def write_tree(files: dict[str, bytes], root: Path) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def pack(model_dir: Path, archive: Path, level: int = 9) -> None:
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
    with (
        open(archive, "wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=level) as gz,
    ):
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
