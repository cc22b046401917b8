"""Helpers of the offline demo (examples/demo.sh).

    python examples/demo.py mirror MANIFEST DIR   build a stand-in for every model of MANIFEST as
                                                  DIR/<host>/<path>.tar.gz (kagglehub handles:
                                                  DIR/kaggle/<handle>.tar.gz); print the --mirror
                                                  options that point hublock at them
    python examples/demo.py load MANIFEST         load every model the way its code would: hub.load(),
                                                  kagglehub.model_download(), keras_hub's from_preset()

The real tfhub.dev and Kaggle are out of reach here, so each handle gets a tiny real model under
its real, canonical name (the cache keys are the ones real code uses): a SavedModel (y = a*x + b)
for TF models, a keras_hub preset (a tiny BertBackbone) for Keras ones.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hublock import load_manifest


def mirror(manifest_path: str, out: str) -> None:
    from tests.world.presets import make_preset
    from tests.world.savedmodels import build_savedmodel, pack

    root = Path(out).resolve()
    prefixes = set()
    for i, model in enumerate(load_manifest(manifest_path).models):
        if model.handle.startswith("kaggle://"):
            archive = root / "kaggle" / (model.handle.removeprefix("kaggle://") + ".tar.gz")
            archive.parent.mkdir(parents=True, exist_ok=True)
            make_preset(archive, seed=i)
            prefixes.add("kaggle://")
        else:
            url = urlsplit(model.handle)
            archive = root / url.netloc / (url.path.strip("/") + ".tar.gz")
            archive.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as tmp:
                build_savedmodel(Path(tmp) / "m", a=float(i + 2), b=1.0)
                pack(Path(tmp) / "m", archive)
            prefixes.add(f"{url.scheme}://{url.netloc}/")
        print(f"built {archive.relative_to(root)} for {model.name}", file=sys.stderr)
    where = {p: root / ("kaggle" if p == "kaggle://" else urlsplit(p).netloc) for p in prefixes}
    print(" ".join(f"--mirror {p}=file://{where[p]}/" for p in sorted(prefixes)))


def load(manifest_path: str) -> None:
    import kagglehub
    import tensorflow as tf
    import tensorflow_hub as hub

    for model in load_manifest(manifest_path).models:
        if not model.handle.startswith("kaggle://"):
            loaded = hub.load(model.handle)
            y = loaded(tf.constant([1.0, 2.0])).numpy().tolist()
            print(f"{model.name}: hub.load({model.handle!r})([1, 2]) = {y}")
            print(f"    from {hub.resolve(model.handle)}")
        if model.kaggle is None:
            continue
        path = kagglehub.model_download(model.kaggle)
        print(f"{model.name}: kagglehub.model_download({model.kaggle!r}) = {path}")
        unversioned = model.kaggle.rsplit("/", 1)[0]
        same = kagglehub.model_download(unversioned) == path
        print(f"    without its version: {'the locked version' if same else 'ANOTHER VERSION'}")
        if model.kaggle.split("/")[2] == "keras":
            import keras_hub

            backbone = keras_hub.models.Backbone.from_preset(f"kaggle://{unversioned}")
            print(
                f"{model.name}: keras_hub.models.Backbone.from_preset('kaggle://{unversioned}') = "
                f"{type(backbone).__name__} with {backbone.count_params()} parameters"
            )


if __name__ == "__main__":
    {"mirror": mirror, "load": load}[sys.argv[1]](*sys.argv[2:])
