"""Every --format json document is an interface: each command's output, successes and failures,
validates against the JSON Schema hublock ships for it (hublock/schemas/)."""

from __future__ import annotations

import json
import tarfile
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hublock import FetchError, IntegrityError, ModelErrors, NotInSyncError
from hublock.core.errors import CacheError
from tests.conftest import Project


def schema(name: str) -> dict[str, Any]:
    text = resources.files("hublock").joinpath("schemas", f"{name}.json").read_text()
    document: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def run_json(project: Project, name: str, *args: str, code: int = 0) -> dict[str, Any]:
    result = project.run(*args, "--format", "json")
    assert result.returncode == code, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)  # exactly one document on stdout
    jsonschema.validate(document, schema(name))
    return document


def test_every_command_document_matches_its_schema(project: Project) -> None:
    project.manifest.unlink()
    assert run_json(project, "init", "init")["written"] is True
    added = run_json(project, "add", "add", "linear", "https://tfhub.dev/google/linear/1")
    assert added["added"] == {"name": "linear", "handle": "https://tfhub.dev/google/linear/1"}
    project.write_manifest(
        {"linear": "https://tfhub.dev/google/linear/1", "other": "https://tfhub.dev/google/linear/2"}
    )
    assert run_json(project, "remove", "remove", "other")["removed"] == "other"
    project.write_manifest(
        {"linear": "https://tfhub.dev/google/linear/1", "other": "https://tfhub.dev/google/other/1"}
    )
    locked = run_json(project, "lock", "lock")
    assert {m["state"] for m in locked["models"].values()} == {"added"}
    assert run_json(project, "sync", "sync", "--dry-run", "--cache", "c", code=1)["pending"] == 2
    assert run_json(project, "sync", "sync", "--cache", "c")["models"]["linear"]["state"] == "fetched"
    assert run_json(project, "verify", "verify", "--cache", "c")["ok"] is True
    assert run_json(project, "status", "status", "--cache", "c")["models"]["other"]["state"] == "ok"
    assert run_json(project, "gc", "gc", "--cache", "c", "--dry-run")["freed_bytes"] == 0
    every = run_json(project, "env", "env", "--all", "--cache", "c")
    assert every["TFHUB_CACHE_DIR"].endswith("/c") and every["variables"]["HUBLOCK_TIMEOUT"]["value"] == "30"
    # a stale entry is a state in the document, not a failure
    project.write_manifest(
        {"linear": "https://tfhub.dev/google/linear/2", "other": "https://tfhub.dev/google/other/1"}
    )
    assert run_json(project, "status", "status", "--cache", "c")["models"]["linear"]["state"] == "stale"


def test_a_failure_is_one_error_document_with_fields(project: Project) -> None:
    project.write_manifest({"gone": "https://tfhub.dev/google/gone/1"})
    error = run_json(project, "error", "lock", code=3)["error"]
    assert error["type"] == "FetchError" and error["model"] == "gone"
    assert error["handle"] == "https://tfhub.dev/google/gone/1" and "404" in error["message"]
    assert (
        error["path"].startswith(project.hub.url) and "/google/gone/1" in error["path"]
    )  # the URL that failed


def test_several_failures_are_all_reported_with_the_most_severe_exit_code(project: Project) -> None:
    project.write_manifest(
        {"gone": "https://tfhub.dev/google/gone/1", "lost": "https://tfhub.dev/google/lost/1"}
    )
    error = run_json(project, "error", "lock", code=3)["error"]
    assert error["type"] == "ModelErrors"
    assert sorted(e["model"] for e in error["errors"]) == ["gone", "lost"]


@pytest.mark.parametrize(
    ("errors", "worst"),
    [
        ((NotInSyncError("a"), FetchError("b"), IntegrityError("c")), IntegrityError),
        ((FetchError("a"), CacheError("b")), CacheError),
        ((NotInSyncError("a"), FetchError("b")), FetchError),
    ],
)
def test_the_most_severe_error_decides_the_exit_code(errors: tuple[Any, ...], worst: type[Any]) -> None:
    combined = ModelErrors(errors, 5)
    assert combined.exit_code == worst("x").exit_code
    assert combined.to_dict()["errors"][0]["message"] == errors[0].message
    assert f"{len(errors)} of 5 models failed" in str(combined)


def test_documents_with_kagglehubs_cache_match_their_schemas(project: Project) -> None:
    """A kagglehub model adds a `kagglehub` section of the same shape to each cache document."""
    project.write_manifest(
        {"tiny": "kaggle://acme/tiny/keras/tiny_en"},
        '[models.linear]\nhandle = "https://tfhub.dev/google/linear/1"\n'
        'kaggle = "google/linear/tensorFlow2/default/1"\n[cache]\ndir = "cache"',
    )
    added = run_json(project, "add", "add", "more", "--kaggle", "acme/tiny/keras/tiny_en/1")
    assert added["added"]["kaggle"] == "acme/tiny/keras/tiny_en/1"
    locked = run_json(project, "lock", "lock")
    assert locked["models"]["tiny"]["kaggle"] == "acme/tiny/keras/tiny_en/2"
    planned = run_json(project, "sync", "sync", "--dry-run", code=1)
    assert planned["kagglehub"]["pending"] == 3 and planned["pending"] == 1
    synced = run_json(project, "sync", "sync")
    assert set(synced["kagglehub"]["models"]) == {"linear", "more", "tiny"}
    assert run_json(project, "verify", "verify")["kagglehub"]["ok"] is True
    assert run_json(project, "status", "status")["kagglehub"]["models"]["tiny"]["state"] == "ok"
    assert run_json(project, "gc", "gc", "--dry-run")["kagglehub"]["removed"] == []
    assert run_json(project, "env", "env")["KAGGLEHUB_CACHE"] == str(project.kagglehub)


def test_air_gap_documents_match_their_schemas(project: Project, tmp_path: Path) -> None:
    assert project.run("lock").returncode == 0
    out = tmp_path / "models.bundle"
    wrote = run_json(project, "bundle", "bundle", str(out))
    assert wrote["bytes"] == sum(a["size"] for a in wrote["archives"]) and len(wrote["archives"]) == 2
    assert run_json(project, "bundle", "bundle", "--verify", str(out))["archives"] == wrote["archives"]
    exported = run_json(project, "mirror", "mirror", str(tmp_path / "cas"))
    assert len(exported["exported"]) == 2 and exported["present"] == []
    with tarfile.open(out) as tar:
        last = tar.getmembers()[-1]
    out.write_bytes(out.read_bytes()[: last.offset_data + last.size // 2])  # cut inside the last archive
    failed = run_json(project, "error", "bundle", "--verify", str(out), code=3)
    assert failed["error"]["type"] == "BundleError"


def test_upstream_documents_match_their_schemas(project: Project) -> None:
    assert project.run("lock").returncode == 0
    shown = run_json(project, "diff", "diff", "/dev/null", "hub.lock")
    assert {m["state"] for m in shown["models"].values()} == {"added"}
    audited = run_json(project, "audit", "audit")
    assert {m["state"] for m in audited["models"].values()} == {"unchanged", "newer"}  # linear 2 is out
    assert audited["exit_code"] == 0
