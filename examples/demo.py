"""Helpers of the offline demo (examples/demo.sh).

    python examples/demo.py mirror MANIFEST DIR   build a stand-in for every model of MANIFEST as
                                                  DIR/<host>/<path>.tar.gz (kagglehub handles:
                                                  DIR/kaggle/<handle>.tar.gz); print the --mirror
                                                  options that point hublock at them
    python examples/demo.py hub MANIFEST URLFILE  serve a stand-in Hugging Face Hub on loopback with a
                                                  keras_hub preset for every hf:// model of MANIFEST;
                                                  write its URL to URLFILE; serve until killed
    python examples/demo.py load MANIFEST         load every model the way its code would: hub.load(),
                                                  kagglehub.model_download(), keras_hub's from_preset(),
                                                  huggingface_hub.hf_hub_download()

The real tfhub.dev, Kaggle and Hugging Face are out of reach here, so each handle gets a tiny real
model under its real, canonical name (the cache keys are the ones real code uses): a SavedModel
(y = a*x + b) for TF models, a keras_hub preset (a tiny BertBackbone) for Keras ones, on Kaggle
or on a loopback stand-in for the Hugging Face Hub.
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
        if model.handle.startswith("hf://"):
            continue  # served by `demo.py hub`
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


def hub(manifest_path: str, url_file: str) -> None:
    import io
    import tarfile
    import threading

    from tests.world.fakehf import FakeHF
    from tests.world.presets import make_preset

    with FakeHF() as fake, tempfile.TemporaryDirectory() as tmp:
        for i, model in enumerate(load_manifest(manifest_path).models):
            if model.handle.startswith("hf://"):
                make_preset(Path(tmp) / "preset.tar.gz", seed=i)
                with tarfile.open(fileobj=io.BytesIO((Path(tmp) / "preset.tar.gz").read_bytes())) as tar:
                    files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
                fake.move(model.handle.removeprefix("hf://"), files)
                print(f"serving {model.handle} for {model.name}", file=sys.stderr)
        Path(url_file).write_text(fake.url)
        threading.Event().wait()  # until the demo kills it


def load(manifest_path: str) -> None:
    import kagglehub
    import tensorflow as tf
    import tensorflow_hub as hub

    for model in load_manifest(manifest_path).models:
        if model.handle.startswith("hf://"):
            import huggingface_hub
            import keras_hub

            repo = model.handle.removeprefix("hf://")
            path = huggingface_hub.hf_hub_download(repo, "config.json")
            print(f"{model.name}: huggingface_hub.hf_hub_download({repo!r}, 'config.json') = {path}")
            backbone = keras_hub.models.Backbone.from_preset(model.handle)
            print(
                f"{model.name}: keras_hub.models.Backbone.from_preset({model.handle!r}) = "
                f"{type(backbone).__name__} with {backbone.count_params()} parameters"
            )
            continue
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
    {"mirror": mirror, "hub": hub, "load": load}[sys.argv[1]](*sys.argv[2:])
