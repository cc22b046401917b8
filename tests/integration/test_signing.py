"""Signed models (OpenSSF Model Signing): hub.toml's [[trust]] names who may have signed a model;
`hublock lock` checks the signature with the real model-signing library and records the signer;
every refusal is exit 5, names the model, and leaves hub.lock as it was. The models are signed
by the tests with model-signing, with keys and certificate chains made by `cryptography`, and
served by the fake tfhub.dev."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "model_signing", reason="the signing extra is not installed: pip install 'hublock[signing]'"
)

import hublock
from tests.conftest import Project
from tests.e2e.offline import needs_unshare
from tests.integration.test_json_schemas import run_json
from tests.world.savedmodels import savedmodel_shaped
from tests.world.signing import Chain, Key, make_chain, make_key, signed_archive

HANDLE = "https://tfhub.dev/acme/tuned/1"
FILES = savedmodel_shaped(7.0, 3.0)


def serve(project: Project, tmp_path: Path, path: str = "acme/tuned/1", **kwargs: object) -> None:
    folder = tmp_path / "signed" / path.replace("/", "-")
    folder.mkdir(parents=True, exist_ok=True)
    project.hub.add(path, signed_archive(folder, dict(FILES), **kwargs))  # type: ignore[arg-type]


def trust(project: Project, rule: str, handle: str = HANDLE) -> None:
    project.write_manifest({"tuned": handle}, f'[cache]\ndir = "cache"\n\n[[trust]]\n{rule}\n')


@pytest.fixture
def acme(tmp_path: Path) -> Key:
    return make_key(tmp_path / "keys", "acme")


def test_a_model_signed_by_the_trusted_key_is_locked_with_its_signer(
    project: Project, tmp_path: Path, acme: Key
) -> None:
    serve(project, tmp_path, key=acme)
    trust(project, f'handles = "https://tfhub.dev/acme/"\nkey = "{acme.public}"\nrequire = "signed"')
    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    locked = hublock.read_lockfile(project.lockfile).models[0].signature
    assert locked is not None and locked.method == "key" and locked.path == "model.sig"
    assert locked.signer == "sha256:" + hashlib.sha256(acme.public.read_bytes()).hexdigest()
    assert "signed by key sha256:" in result.stderr
    assert project.run("sync").returncode == 0
    assert hublock.verify(project.manifest, full=True).ok
    checked = project.run("verify", "--signatures")
    assert checked.returncode == 0, checked.stderr
    assert f"signed by key {locked.signer}: checked" in checked.stdout
    assert (
        run_json(project, "verify", "verify", "--signatures")["models"]["tuned"]["signature"]
        == f"key {locked.signer}"
    )
    assert run_json(project, "verify", "verify")["models"]["tuned"]["signature"] is None  # not asked
    document = run_json(project, "lock", "lock", "--upgrade")
    assert document["models"]["tuned"]["signature"] == locked.to_dict()
    assert run_json(project, "status", "status")["models"]["tuned"]["signer"] == f"key {locked.signer}"
    assert f"signed by key {locked.signer}" in project.run("status").stdout
    bom = json.loads(project.run("export", "--format", "cyclonedx").stdout)
    properties = {p["name"]: p["value"] for p in bom["components"][0]["properties"]}
    assert properties["hublock:signer"] == f"key {locked.signer}"
    assert properties["hublock:signature"] == f"model.sig {locked.digest}"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            {"after": {"variables/variables.index": b"swapped"}},
            "variables/variables.index: changed after signing",
        ),
        ({"after": {"extra.bin": b"added"}}, "extra.bin: added after signing"),
        ({"drop": "variables/variables.index"}, "variables/variables.index: signed, but missing"),
    ],
    ids=["changed", "added", "left-out"],
)
def test_files_other_than_the_signed_ones_are_refused(
    project: Project, tmp_path: Path, acme: Key, change: dict[str, object], said: str
) -> None:
    serve(project, tmp_path, key=acme, **change)
    trust(project, f'key = "{acme.public}"')
    result = project.run("lock")
    assert result.returncode == 5, result.stderr
    assert "tuned:" in result.stderr and said in result.stderr
    assert not project.lockfile.exists()


def test_another_key_is_refused(project: Project, tmp_path: Path, acme: Key) -> None:
    mallory = make_key(tmp_path / "keys", "mallory")
    serve(project, tmp_path, key=mallory)
    trust(project, f'key = "{acme.public}"')
    result = project.run("lock")
    assert result.returncode == 5
    assert "tuned: its signature is not by the signer hub.toml trusts" in result.stderr
    assert "acme.pub" in result.stderr and not project.lockfile.exists()
    error = run_json(project, "error", "lock", code=5)["error"]
    assert error["type"] == "SignatureError" and error["model"] == "tuned" and error["exit_code"] == 5


def test_a_certificate_chain_is_checked_and_its_subject_recorded(project: Project, tmp_path: Path) -> None:
    chain = make_chain(tmp_path / "pki", "acme")
    serve(project, tmp_path, chain=chain)
    trust(project, f'certificate_chain = ["{chain.root}"]\nrequire = "signed"')
    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    locked = hublock.read_lockfile(project.lockfile).models[0].signature
    assert locked is not None and locked.method == "certificate"
    assert locked.signer.startswith("CN=acme model release sha256:")


@pytest.mark.parametrize("which", ["untrusted", "expired"])
def test_an_untrusted_or_expired_chain_is_refused(project: Project, tmp_path: Path, which: str) -> None:
    trusted = make_chain(tmp_path / "pki", "acme")
    signer: Chain = make_chain(tmp_path / "pki", "other") if which == "untrusted" else trusted
    if which == "expired":
        signer = make_chain(tmp_path / "pki", "old", expired=True)
        trusted = signer
    serve(project, tmp_path, chain=signer)
    trust(project, f'certificate_chain = ["{trusted.root}"]')
    result = project.run("lock")
    assert result.returncode == 5, result.stderr
    assert "tuned: its signature is not by the signer hub.toml trusts" in result.stderr


def test_unsigned_is_refused_only_where_a_signature_is_required(project: Project, acme: Key) -> None:
    trust(project, f'key = "{acme.public}"\nrequire = "signed"', handle="https://tfhub.dev/google/linear/1")
    result = project.run("lock")
    assert result.returncode == 5
    assert "tuned: unsigned, and hub.toml's [[trust]] for every model requires a signature" in result.stderr
    assert not project.lockfile.exists()
    trust(project, f'key = "{acme.public}"', handle="https://tfhub.dev/google/linear/1")
    assert project.run("lock").returncode == 0
    assert hublock.read_lockfile(project.lockfile).models[0].signature is None


def test_a_signer_that_changes_between_versions_is_refused_then_shown(
    project: Project, tmp_path: Path, acme: Key
) -> None:
    rotated = make_key(tmp_path / "keys", "acme-2027")
    serve(project, tmp_path, key=acme)
    serve(project, tmp_path, "acme/tuned/2", key=rotated)
    trust(project, f'key = "{acme.public}"')
    assert project.run("lock").returncode == 0
    trust(project, f'key = "{acme.public}"', handle="https://tfhub.dev/acme/tuned/2")
    refused = project.run("lock")
    assert refused.returncode == 5 and "acme.pub" in refused.stderr
    before = project.lockfile.read_text()
    (project.dir / "before.lock").write_text(before)
    trust(project, f'key = "{rotated.public}"', handle="https://tfhub.dev/acme/tuned/2")
    assert project.lockfile.read_text() == before
    changed = project.run("lock")
    assert changed.returncode == 0, changed.stderr
    assert "signer: key sha256:" in changed.stdout  # the lock's own summary says it in words
    diff = project.run("diff", "before.lock")
    assert "signer: key sha256:" in diff.stdout and " -> key sha256:" in diff.stdout, diff.stdout


def offline(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """hublock in a process with no network at all (``unshare -n``)."""
    return subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "hublock", *args],
        cwd=project.dir,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_unshare
def test_sync_and_verify_signatures_check_offline_with_the_policy_of_today(
    project: Project, tmp_path: Path, acme: Key
) -> None:
    serve(project, tmp_path, key=acme)
    trust(project, f'key = "{acme.public}"')
    assert project.run("lock").returncode == 0
    synced = offline(project, "sync")
    assert synced.returncode == 0, synced.stderr
    checked = offline(project, "verify", "--signatures")
    assert checked.returncode == 0, checked.stderr
    acme.public.write_bytes(make_key(tmp_path / "other", "x").public.read_bytes())  # the key file replaced
    result = offline(project, "verify", "--signatures")
    assert (
        result.returncode == 5
        and "tuned: its signature is not by the signer hub.toml trusts" in result.stderr
    )


def test_a_policy_without_the_signing_extra_names_it(project: Project, acme: Key) -> None:
    trust(project, f'key = "{acme.public}"')
    code = "import sys; sys.modules['model_signing'] = None\nfrom hublock.cli.main import run; sys.argv = ['hublock', 'lock']; run()"
    tmp = project.hub
    project.hub.add("acme/tuned/1", signed_archive(project.dir.parent / "s", dict(FILES), key=acme))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project.dir, env=project.env, capture_output=True, text=True
    )
    assert tmp is project.hub
    assert result.returncode == 2 and "pip install 'hublock[signing]'" in result.stderr


def test_a_sigstore_rule_refuses_a_key_signature_before_any_network(
    project: Project, tmp_path: Path, acme: Key
) -> None:
    """Keyless Sigstore needs Fulcio and Rekor, which no test can reach: what is tested is the
    policy and the refusals made before the library would go to the network."""
    serve(project, tmp_path, key=acme)
    trust(project, 'identity = "release@acme.example"\nissuer = "https://accounts.google.com"')
    result = project.run("lock")
    assert result.returncode == 5
    assert (
        "expected a Sigstore signature by release@acme.example (issuer https://accounts.google.com)"
        in result.stderr
    )
    assert "got a signature made with a key" in result.stderr
    assert not project.lockfile.exists()
    trust(project, 'identity = "release@acme.example"')
    half = project.run("lock")
    assert half.returncode == 2 and "a Sigstore signer needs both identity and issuer" in half.stderr


def test_several_signed_models_are_checked_in_worker_processes(
    project: Project, tmp_path: Path, acme: Key
) -> None:
    for n in range(3):
        folder = tmp_path / f"m{n}"
        folder.mkdir()
        project.hub.add(f"acme/m{n}/1", signed_archive(folder, savedmodel_shaped(float(n), 1.0), key=acme))
    models = {f"m{n}": f"https://tfhub.dev/acme/m{n}/1" for n in range(3)}
    project.write_manifest(
        models, f'[cache]\ndir = "cache"\n\n[[trust]]\nkey = "{acme.public}"\nrequire = "signed"\n'
    )
    result = project.run("lock", "--jobs", "2", process=True)
    assert result.returncode == 0, result.stderr
    assert all(m.signature is not None for m in hublock.read_lockfile(project.lockfile).models)


@pytest.mark.parametrize("upstream", ["resigned", "unsigned"])
def test_audit_reports_a_model_whose_upstream_signer_changed(
    project: Project, tmp_path: Path, acme: Key, upstream: str
) -> None:
    serve(project, tmp_path, key=acme)
    trust(project, f'key = "{acme.public}"')
    assert project.run("lock").returncode == 0
    folder = tmp_path / "swapped"
    folder.mkdir()
    if upstream == "resigned":  # the same files, signed again by someone else's key
        project.hub.swap(
            "acme/tuned/1", signed_archive(folder, dict(FILES), key=make_key(tmp_path / "k", "thief"))
        )
    else:
        project.hub.swap("acme/tuned/1", signed_archive(folder, dict(FILES), key=acme, drop="model.sig"))
    result = project.run("audit")
    assert result.returncode == 3
    said = (
        "signed by another key now (sha256:"
        if upstream == "resigned"
        else "no longer signed (hub.lock records key sha256:"
    )
    assert said in result.stdout + result.stderr


def signed_files(folder: Path, key: Key, after: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The files of a signed model, model.sig included, as a Hub repo holds them."""
    signed_archive(folder, dict(FILES), key=key, after=after)
    tree = folder / "tree"
    return {str(p.relative_to(tree)): p.read_bytes() for p in tree.rglob("*") if p.is_file()}


def test_a_signed_kaggle_model_is_checked_too(project: Project, tmp_path: Path, acme: Key) -> None:
    folder = tmp_path / "kaggle"
    folder.mkdir()
    project.hub.add_kaggle("acme/tuned/keras/en/1", signed_archive(folder, dict(FILES), key=acme))
    trust(
        project,
        f'handles = "kaggle://acme/"\nkey = "{acme.public}"\nrequire = "signed"',
        handle="kaggle://acme/tuned/keras/en/1",
    )
    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    assert hublock.read_lockfile(project.lockfile).models[0].signature is not None
    assert project.run("sync").returncode == 0


@pytest.mark.parametrize("tampered", [False, True], ids=["signed", "changed-after-signing"])
def test_a_signed_hugging_face_repo_is_checked_file_by_file(
    project: Project, tmp_path: Path, acme: Key, tampered: bool
) -> None:
    from tests.world.fakehf import FakeHF

    with FakeHF() as hf:
        project.env["HF_ENDPOINT"] = hf.url
        files = signed_files(
            tmp_path / "hf", acme, after={"variables/variables.index": b"x"} if tampered else None
        )
        hf.move("acme/tuned", files)
        project.write_manifest({}, "")
        project.manifest.write_text(
            f'[models]\ntuned = "hf://acme/tuned"\n\n[[trust]]\nhandles = "hf://acme/"\nkey = "{acme.public}"\n'
        )
        result = project.run("lock")
        if tampered:
            assert (
                result.returncode == 5 and "variables/variables.index: changed after signing" in result.stderr
            )
            return
        assert result.returncode == 0, result.stderr
        assert hublock.read_lockfile(project.lockfile).models[0].signature is not None
        assert project.run("sync").returncode == 0
        checked = project.run("verify", "--signatures")
        assert checked.returncode == 0, checked.stderr
        acme.public.write_bytes(make_key(tmp_path / "other", "x").public.read_bytes())
        assert project.run("verify", "--signatures").returncode == 5  # the copy in huggingface_hub's cache


def test_an_unreadable_key_file_is_a_clear_input_error(project: Project, tmp_path: Path, acme: Key) -> None:
    serve(project, tmp_path, key=acme)
    trust(project, 'key = "keys/missing.pub"')
    result = project.run("lock")
    assert result.returncode == 2
    assert "hub.toml's [[trust]] for every model: cannot use its signer" in result.stderr
    assert "missing.pub" in result.stderr and "Traceback" not in result.stderr


def test_a_detached_signature_is_read_from_where_the_rule_says(
    project: Project, tmp_path: Path, acme: Key
) -> None:
    """An organisation that keeps signatures apart from its models (signatures/<name>.sig beside
    hub.toml): the archive holds only the model's files; the signature's place and digest are locked."""
    from tests.world.savedmodels import pack, write_tree
    from tests.world.signing import sign_detached

    tree = tmp_path / "detached-tree"
    write_tree(dict(FILES), tree)
    (project.dir / "signatures").mkdir()
    sign_detached(tree, project.dir / "signatures" / "tuned.sig", key=acme)
    pack(tree, tmp_path / "detached.tar.gz")
    project.hub.add("acme/tuned/1", (tmp_path / "detached.tar.gz").read_bytes())
    trust(project, f'key = "{acme.public}"\ndetached = "signatures/{{name}}.sig"\nrequire = "signed"')
    result = project.run("lock")
    assert result.returncode == 0, result.stderr
    locked = hublock.read_lockfile(project.lockfile).models[0].signature
    assert locked is not None and locked.detached and locked.path == "signatures/tuned.sig"
    assert project.run("sync").returncode == 0
    assert project.run("verify", "--signatures").returncode == 0  # the download cache's copy, by digest
    shutil.rmtree(project.downloads)
    assert project.run("verify", "--signatures").returncode == 0  # read again where the rule says
    shutil.rmtree(project.downloads)
    (project.dir / "signatures" / "tuned.sig").write_bytes(b"{}")  # replaced where it is kept
    replaced = project.run("verify", "--signatures")
    assert (
        replaced.returncode == 5
        and "tuned: signatures/tuned.sig is not the locked signature" in replaced.stderr
    )
    (project.dir / "signatures" / "tuned.sig").unlink()
    gone = project.run("verify", "--signatures")  # and no copy in the download cache
    assert gone.returncode == 5 and "its detached signature is not at signatures/tuned.sig" in gone.stderr
    (project.dir / "hub.lock").unlink()
    missing = project.run("lock")
    assert missing.returncode == 5 and "nothing at signatures/tuned.sig" in missing.stderr
