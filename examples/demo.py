"""Helpers of the offline demo (examples/demo.sh).

    python examples/demo.py mirror MANIFEST DIR   build a stand-in SavedModel for every handle of
                                                  MANIFEST as DIR/<host>/<path>.tar.gz; print the
                                                  --mirror options that point hublock at them
    python examples/demo.py load MANIFEST         hub.load() every handle and print what it computes

The real tfhub.dev and Kaggle are out of reach here, so each handle gets a tiny real SavedModel
(y = a*x + b) under its real, canonical name: the cache keys are the ones real code uses.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hublock import load_manifest


def mirror(manifest_path: str, out: str) -> None:
    from tests.world.savedmodels import build_savedmodel, pack

    root = Path(out).resolve()
    prefixes = set()
    for i, model in enumerate(load_manifest(manifest_path).models):
        url = urlsplit(model.handle)
        archive = root / url.netloc / (url.path.strip("/") + ".tar.gz")
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            build_savedmodel(Path(tmp) / "m", a=float(i + 2), b=1.0)
            pack(Path(tmp) / "m", archive)
        prefixes.add(f"{url.scheme}://{url.netloc}/")
        print(f"built {archive.relative_to(root)} for {model.name}", file=sys.stderr)
    print(" ".join(f"--mirror {p}=file://{root / urlsplit(p).netloc}/" for p in sorted(prefixes)))


def load(manifest_path: str) -> None:
    import tensorflow as tf
    import tensorflow_hub as hub

    for model in load_manifest(manifest_path).models:
        loaded = hub.load(model.handle)
        y = loaded(tf.constant([1.0, 2.0])).numpy().tolist()
        print(f"{model.name}: hub.load({model.handle!r})([1, 2]) = {y}")
        print(f"    from {hub.resolve(model.handle)}")


if __name__ == "__main__":
    {"mirror": mirror, "load": load}[sys.argv[1]](*sys.argv[2:])
