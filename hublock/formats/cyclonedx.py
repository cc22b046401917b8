"""hub.lock as a CycloneDX 1.6 ML-BOM: what a supply-chain review asks for before a model enters
a regulated environment. Pure and deterministic: the same lock gives the same bytes (no time
stamp; the serial number is derived from the lock's content)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from hublock.core import strip_secrets
from hublock.formats.handles import handle_kind, trailing_version
from hublock.formats.lockfile import LockedModel, Lockfile

SPEC_VERSION = "1.6"
_PROPERTY = "hublock:"


def model_identity(model: LockedModel) -> tuple[str | None, str, str | None]:
    """(group, name, version) of a locked model as its host names it: a Kaggle model's owner,
    ``model/framework/variation`` and version; a tfhub.dev-style URL's publisher, path and
    trailing version number; a Hugging Face repo's org, name and locked commit; else the name it
    has in hub.toml."""
    if model.from_hf:
        org, _, name = model.hf_repo.partition("/")
        return org, name, model.commit
    kaggle = model.kaggle_model
    if kaggle is not None:
        version = str(kaggle.version) if kaggle.version is not None else None
        return kaggle.owner, f"{kaggle.model}/{kaggle.framework}/{kaggle.variation}", version
    if handle_kind(model.handle) == "http":
        found = trailing_version(model.handle)
        parts = [p for p in urlsplit(found[0] if found else model.handle).path.split("/") if p]
        if len(parts) >= 2:
            return parts[0], "/".join(parts[1:]), str(found[1]) if found else None
    return None, model.name, None


def _component(model: LockedModel) -> dict[str, Any]:
    group, name, version = model_identity(model)
    component: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": f"model:{model.name}"}
    if group:
        component["group"] = group
    component["name"] = name
    if version:
        component["version"] = version
    if model.archive:
        component["hashes"] = [{"alg": "SHA-256", "content": model.archive.removeprefix("sha256:")}]
    if model.from_hf:  # the package URL type Hugging Face models have; the commit is the version
        component["purl"] = f"pkg:huggingface/{model.hf_repo}@{model.commit}"
    # a handle is written by hand: a password pasted into it must not reach a reviewer's BOM
    references = [
        {"type": "distribution", "url": strip_secrets(model.handle), "comment": "handle in hub.toml"}
    ]
    if model.kaggle and model.handle != f"kaggle://{model.kaggle}":
        references.append({"type": "distribution", "url": f"kaggle://{model.kaggle}", "comment": "kagglehub"})
    if model.url and model.url != model.handle:
        references.append({"type": "distribution", "url": model.url, "comment": "upstream URL"})
    component["externalReferences"] = references
    properties = {
        "name": model.name,
        "tree": model.tree,
        "files": str(model.files),
        "size": str(model.size),
        "format": model.format,
    }
    if model.from_hf:
        properties["revision"] = model.revision or "main"
        # each file's sha256: the model has no single archive to hash
        properties |= {f"file:{o.path}": o.checksum for o in model.objects}
    if model.signature is not None:  # who signed it, as lock verified it against [[trust]]
        properties |= {
            "signer": str(model.signature),
            "signature": f"{model.signature.path} {model.signature.digest}",
        }
    component["properties"] = [{"name": _PROPERTY + k, "value": v} for k, v in properties.items()]
    return component


def cyclonedx_bom(lock: Lockfile, *, project: str, tool_version: str) -> dict[str, Any]:
    """The BOM of ``lock``'s models, as a JSON-ready dict."""
    canonical = json.dumps([m.to_dict() for m in lock.models], sort_keys=True, separators=(",", ":"))
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "hublock:" + hashlib.sha256(canonical.encode()).hexdigest())
    components = [_component(m) for m in lock.models]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "hublock", "version": tool_version}]},
            "component": {"type": "application", "bom-ref": "project", "name": project},
        },
        "components": components,
        "dependencies": [
            {"ref": "project", "dependsOn": [c["bom-ref"] for c in components]},
            *({"ref": c["bom-ref"]} for c in components),
        ],
    }
