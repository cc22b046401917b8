"""Hugging Face models, from hub.toml to huggingface_hub's cache, against a fake Hub (no
huggingface_hub needed: hublock fills the cache without it; tests/e2e loads with it)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hublock.core import FetchError, ManifestError
from hublock.formats import parse_manifest, read_lockfile
from hublock.formats.handles import parse_hf_repo
from hublock.remote.hf_api import parse_revision
from tests.conftest import Project
from tests.world.fakehf import FakeHF, git_blob_id

WEIGHTS = os.urandom(40_000)  # an LFS file (a .h5, and large)
FILES = {"config.json": b'{"name": "tiny"}', "model.weights.h5": WEIGHTS, "assets/vocab.txt": b"a\nb\n"}


@pytest.fixture
def hf(project: Project) -> Iterator[FakeHF]:
    """The fake Hub, where huggingface_hub looks for it (HF_ENDPOINT); the project's HF_HOME has
    no token file but the test's own."""
    with FakeHF() as fake:
        project.env["HF_ENDPOINT"] = fake.url
        yield fake


def write(project: Project, models: dict[str, str], extra: str = "") -> None:
    project.write_manifest({}, "")
    lines = ["[models]", *(f"{name} = {value}" for name, value in models.items()), extra]
    project.manifest.write_text("\n".join(lines) + "\n")


def cache(project: Project) -> Path:
    return project.huggingface


def test_lock_pins_the_branch_and_sync_fills_the_cache_as_huggingface_hub_lays_it_out(
    project: Project, hf: FakeHF
) -> None:
    commit = hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr
    model = read_lockfile(project.lockfile).models[0]
    assert (model.format, model.revision, model.commit, model.files) == ("huggingface", "main", commit, 3)
    blobs = {o.path: o.blob for o in model.objects}
    assert blobs["model.weights.h5"] == hashlib.sha256(WEIGHTS).hexdigest()  # LFS: its sha256
    assert blobs["config.json"] == git_blob_id(FILES["config.json"])  # in git: its blob id

    synced = project.run("sync")
    assert synced.returncode == 0, synced.stderr
    repo = cache(project) / "models--org--tiny"
    assert (repo / "refs" / "main").read_text() == commit
    snapshot = repo / "snapshots" / commit
    for path, data in FILES.items():
        link = snapshot / path
        assert link.is_symlink() and not os.path.isabs(
            os.readlink(link)
        )  # relative, as huggingface_hub makes
        assert link.read_bytes() == data
        assert os.path.realpath(link) == str((repo / "blobs" / blobs[path]).resolve())
    # hublock's own files sit in .locks/, the one folder huggingface_hub's scan skips
    assert sorted(p.name for p in cache(project).iterdir()) == [".locks", "models--org--tiny"]
    assert project.run("verify", "--full").returncode == 0
    again = project.run("sync", "--format", "json")
    assert json.loads(again.stdout)["huggingface"]["models"]["tiny"]["state"] == "present"


def test_a_branch_that_moves_after_lock_changes_nothing_until_upgrade(project: Project, hf: FakeHF) -> None:
    first = hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0
    second = hf.move("org/tiny", {**FILES, "config.json": b'{"name": "moved"}'})
    hf.requests.clear()
    assert project.run("sync").returncode == 0
    assert not [r for r in hf.requests if "/revision/" in r]  # the lock, not the branch, decides
    assert (cache(project) / "models--org--tiny" / "refs" / "main").read_text() == first
    assert project.run("lock").returncode == 0  # nothing changed in hub.toml: still pinned
    assert read_lockfile(project.lockfile).models[0].commit == first
    upgraded = project.run("lock", "--upgrade", "tiny")
    assert upgraded.returncode == 0, upgraded.stderr
    assert read_lockfile(project.lockfile).models[0].commit == second
    assert project.run("sync").returncode == 0
    assert (cache(project) / "models--org--tiny" / "refs" / "main").read_text() == second


def test_a_tag_and_a_commit_are_pinned_as_written(project: Project, hf: FakeHF) -> None:
    old = hf.move("org/tiny", FILES)
    hf.tag("org/tiny", "v1.0", old)
    hf.move("org/tiny", {**FILES, "config.json": b"{}"})
    write(
        project,
        {
            "tagged": '{ hf = "org/tiny", revision = "v1.0" }',
            "exact": f'{{ hf = "org/other", revision = "{hf.move("org/other", FILES)}" }}',
        },
    )
    assert project.run("lock").returncode == 0, project.run("lock").stderr
    lock = read_lockfile(project.lockfile)
    assert lock.get("tagged").commit == old and lock.get("tagged").revision == "v1.0"
    assert project.run("sync").returncode == 0
    assert (cache(project) / "models--org--tiny" / "refs" / "v1.0").read_text() == old
    assert not (cache(project) / "models--org--other" / "refs").exists()  # no ref for a commit


def test_a_private_repo_needs_the_token_which_goes_only_to_the_hub(project: Project, hf: FakeHF) -> None:
    hf.move("org/secret", FILES, private=True)
    write(project, {"secret": '"hf://org/secret"'})
    refused = project.run("lock")
    assert refused.returncode == 3
    assert "private or gated" in refused.stderr and "set HF_TOKEN" in refused.stderr

    token_file = Path(project.env["HF_HOME"]) / "token"  # what `hf auth login` saves
    token_file.parent.mkdir(parents=True)
    token_file.write_text(hf.private_token + "\n")
    locked = project.run("lock")
    assert locked.returncode == 0, locked.stderr
    assert project.run("sync").returncode == 0
    sent = {path for path, auth in hf.authorizations if auth}
    assert sent and all(not p.startswith("/lfs-storage/") for p in sent)  # never to the storage host
    # nothing written for another machine, and no output, carries the token
    outputs = [locked.stdout + locked.stderr]
    for args in (
        ("sync", "-v"),
        ("status", "--format", "json"),
        ("env", "--all"),
        ("bundle", "out.tar"),
        ("export", "--format", "cyclonedx", "-o", "bom.json"),
        ("mirror", "mirror"),
        ("audit", "--format", "json"),
    ):
        done = project.run(*args, env={"HF_TOKEN": hf.private_token})  # the variable, this time
        assert done.returncode == 0, (args, done.stderr)
        outputs.append(done.stdout + done.stderr)
    written = [project.lockfile.read_bytes(), (project.dir / "bom.json").read_bytes()]
    written += [p.read_bytes() for p in (project.dir / "mirror").rglob("*") if p.is_file()]
    written.append((project.dir / "out.tar").read_bytes())
    assert not [o for o in outputs if hf.private_token in o]
    assert not [w for w in written if hf.private_token.encode() in w]

    token_file.write_text("hf_revoked\n")
    project.lockfile.unlink()
    rejected = project.run("lock")
    assert rejected.returncode == 3 and "rejected the token" in rejected.stderr
    assert "hf_revoked" not in rejected.stderr


def test_bytes_other_than_the_hub_listed_are_refused_and_nothing_is_published(
    project: Project, hf: FakeHF
) -> None:
    hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    hf.serve_bad(WEIGHTS)
    failed = project.run("lock")
    assert failed.returncode == 3
    assert "model.weights.h5" in failed.stderr and "differs from what the Hub listed" in failed.stderr
    assert not project.lockfile.exists()

    hf.bad.clear()
    assert project.run("lock").returncode == 0
    for item in project.downloads.rglob("*"):
        if item.is_file():
            item.unlink()  # sync must fetch again, from the bad server
    hf.serve_bad(WEIGHTS)
    synced = project.run("sync")
    assert synced.returncode == 3 and "model.weights.h5" in synced.stderr
    repo = cache(project) / "models--org--tiny"
    assert not (repo / "refs").exists() and not (repo / "snapshots").exists()  # no ref, no snapshot


def test_huggingface_hubs_own_download_is_adopted_with_no_network(project: Project, hf: FakeHF) -> None:
    commit = hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0
    # the cache as huggingface_hub.snapshot_download leaves it: blobs, links, the ref; no stamp
    repo = cache(project) / "models--org--tiny"
    for path, data in FILES.items():
        blob = (
            repo / "blobs" / (hashlib.sha256(data).hexdigest() if path.endswith(".h5") else git_blob_id(data))
        )
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    hf.requests.clear()
    synced = project.run("sync", "--offline", "--format", "json")
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["huggingface"]["models"]["tiny"]["state"] == "verified"
    assert hf.requests == []


def test_a_partial_copy_reuses_its_blobs_and_fetches_the_rest(project: Project, hf: FakeHF) -> None:
    hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0
    assert project.run("sync").returncode == 0
    config = next((cache(project) / "models--org--tiny" / "blobs").glob(git_blob_id(FILES["config.json"])))
    config.chmod(0o644)
    config.write_bytes(b'{"name": "edited"}')  # one blob changed in place
    assert project.run("verify").returncode == 1
    for item in project.downloads.rglob("*"):
        if item.is_file():
            item.unlink()
    hf.requests.clear()
    repaired = project.run("sync")
    assert repaired.returncode == 0, repaired.stderr
    fetched = [r for r in hf.requests if "/resolve/" in r or "/lfs-storage/" in r]
    assert len(fetched) == 1 and fetched[0].endswith("/config.json"), fetched  # the intact blobs reused
    assert project.run("verify", "--full").returncode == 0


def test_a_mirror_of_the_hub_serves_lock_and_sync(project: Project, hf: FakeHF) -> None:
    hf.move("org/tiny", FILES)
    del project.env["HF_ENDPOINT"]  # huggingface.co itself, through the organisation's mirror
    write(project, {"tiny": '"hf://org/tiny"'}, f'[mirrors]\n"https://huggingface.co/" = "{hf.url}/"')
    assert project.run("lock").returncode == 0
    assert read_lockfile(project.lockfile).models[0].url == "https://huggingface.co/org/tiny"
    assert project.run("sync").returncode == 0
    assert project.run("verify", "--full").returncode == 0


def test_status_env_and_json_name_the_third_cache(project: Project, hf: FakeHF) -> None:
    hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    status = project.run("status", "--format", "json")
    assert json.loads(status.stdout)["huggingface"]["models"]["tiny"]["state"] == "not_locked"
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    env = project.run("env", "--format", "json")
    assert json.loads(env.stdout)["HF_HUB_CACHE"] == project.env["HF_HUB_CACHE"]
    other = project.dir / "elsewhere"
    assert project.run("sync", "--hf-cache", str(other)).returncode == 0
    assert (other / "models--org--tiny" / "refs" / "main").is_file()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('"hf://org"', "not a Hugging Face model repo"),
        ('"hf://org/a--b"', "not a Hugging Face model repo"),
        ('"hf://org/../x"', "not a Hugging Face model repo"),
        ('{ hf = "org/x", revision = "a..b" }', "is not a git revision"),
        ('{ hf = "org/x", handle = "https://tfhub.dev/x/1" }', "'hf' names the whole model"),
        ('{ handle = "https://tfhub.dev/x/1", revision = "main" }', "'revision' is for Hugging Face"),
    ],
)
def test_bad_hf_entries_name_the_key(entry: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(f"[models]\nm = {entry}\n")


@given(st.text(max_size=40))
def test_any_accepted_repo_is_two_safe_parts(text: str) -> None:
    try:
        repo = parse_hf_repo(text)
    except ManifestError:
        return
    assert len(repo.split("/")) == 2
    assert ".." not in repo and "--" not in repo and not repo.startswith("/")
    assert "hf://" + repo == "hf://" + text.removeprefix("hf://")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=12,
    )
)
def test_the_revision_parser_raises_only_fetch_errors(doc: object) -> None:
    try:
        parsed = parse_revision(doc, "test")
    except FetchError:
        return
    assert all(".." not in f.path.split("/") for f in parsed.files)


def test_documents_with_huggingface_hubs_cache_match_their_schemas(project: Project, hf: FakeHF) -> None:
    from tests.integration.test_json_schemas import run_json

    hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    locked = run_json(project, "lock", "lock")
    assert locked["models"]["tiny"]["commit"] == read_lockfile(project.lockfile).models[0].commit
    assert run_json(project, "sync", "sync")["huggingface"]["models"]["tiny"]["state"] == "fetched"
    assert run_json(project, "verify", "verify")["huggingface"]["models"]["tiny"]["state"] == "ok"
    assert run_json(project, "status", "status")["huggingface"]["models"]["tiny"]["state"] == "ok"
    assert run_json(project, "env", "env")["HF_HUB_CACHE"] == str(project.huggingface)


def test_audit_says_a_branch_moved_a_tag_changed_and_a_repo_is_gone(project: Project, hf: FakeHF) -> None:
    first = hf.move("org/branch", FILES)
    tagged = hf.move("org/tagged", FILES)
    hf.tag("org/tagged", "v1", tagged)
    hf.move("org/gone", FILES)
    hf.move("org/same", FILES)
    write(
        project,
        {
            "branch": '"hf://org/branch"',
            "tagged": '{ hf = "org/tagged", revision = "v1" }',
            "gone": '"hf://org/gone"',
            "same": '"hf://org/same"',
        },
    )
    assert project.run("lock").returncode == 0
    unchanged = json.loads(project.run("audit", "--format", "json").stdout)
    assert {n: m["state"] for n, m in unchanged["models"].items()} == dict.fromkeys(
        ("branch", "gone", "same", "tagged"), "unchanged"
    )
    moved = hf.move("org/branch", {**FILES, "config.json": b"{}"})
    hf.tag(
        "org/tagged", "v1", hf.move("org/tagged", {**FILES, "model.weights.h5": b"other weights"}, branch="x")
    )
    hf.remove("org/gone")
    audited = project.run("audit", "--format", "json")
    assert audited.returncode == 3  # a tag that moved and a repo gone fail the audit
    models = json.loads(audited.stdout)["models"]
    assert models["branch"]["state"] == "newer" and models["branch"]["newer"] == f"hf://org/branch@{moved}"
    assert first in models["branch"]["detail"] and models["branch"]["files"] == ["config.json"]
    assert models["tagged"]["state"] == "changed" and models["tagged"]["files"] == ["model.weights.h5"]
    assert models["gone"]["state"] == "gone"
    assert models["same"]["state"] == "unchanged"


def test_a_bundle_and_a_content_mirror_carry_hf_models_with_no_hub(project: Project, hf: FakeHF) -> None:
    hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0
    bundled = project.run("bundle", "out.tar")
    assert bundled.returncode == 0, bundled.stderr
    assert project.run("bundle", "--verify", "out.tar").returncode == 0
    mirrored = project.run("mirror", str(project.dir / "mirror"))
    assert mirrored.returncode == 0, mirrored.stderr
    for data in FILES.values():  # every file by its digest, as for archives
        assert (project.dir / "mirror" / "sha256" / hashlib.sha256(data).hexdigest()).read_bytes() == data
    for item in project.downloads.rglob("*"):
        if item.is_file():
            item.unlink()
    hf.requests.clear()
    checked = project.run("lock", "--check", "--from", "out.tar")
    assert checked.returncode == 0, checked.stderr
    synced = project.run("sync", "--from", "out.tar")  # the air-gapped side: no network at all
    assert synced.returncode == 0, synced.stderr
    assert "from out.tar" in synced.stderr and "fetching" not in synced.stderr
    assert hf.requests == []
    assert project.run("verify", "--full").returncode == 0

    other = project.dir / "other-cache"
    for item in project.downloads.rglob("*"):
        if item.is_file():
            item.unlink()
    write(
        project,
        {"tiny": '"hf://org/tiny"'},
        f'[mirrors]\n"sha256:" = "{project.dir / "mirror"}"',
    )
    del project.env["HF_ENDPOINT"]  # no Hub: the content-addressed mirror is all there is
    synced = project.run("sync", "--hf-cache", str(other))
    assert synced.returncode == 0, synced.stderr
    assert hf.requests == []


def test_the_bom_and_diff_describe_hf_models(project: Project, hf: FakeHF) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    first = hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0
    exported = project.run("export", "--format", "cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(exported.stdout) is None
    (component,) = json.loads(exported.stdout)["components"]
    assert (component["group"], component["name"], component["version"]) == ("org", "tiny", first)
    assert component["purl"] == f"pkg:huggingface/org/tiny@{first}"
    properties = {p["name"]: p["value"] for p in component["properties"]}
    assert properties["hublock:file:model.weights.h5"] == f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()}"

    old = project.lockfile.read_text()
    (project.dir / "old.lock").write_text(old)
    second = hf.move("org/tiny", {**FILES, "config.json": b"{}"})
    upgraded = project.run("lock", "--upgrade", "tiny")
    assert upgraded.returncode == 0
    diff = project.run("diff", "old.lock", "hub.lock")
    assert f"{first[:12]}" in diff.stdout and f"{second[:12]}" in diff.stdout, diff.stdout


def test_gc_removes_only_what_hublock_synced_and_no_project_needs(project: Project, hf: FakeHF) -> None:
    from tests.integration.test_json_schemas import run_json

    old = hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    repo = cache(project) / "models--org--tiny"
    # huggingface_hub's own download of another repo, and of a newer commit of this one
    own = cache(project) / "models--org--own" / "snapshots" / ("c" * 40)
    own.mkdir(parents=True)
    (own / "config.json").write_text("{}")
    newer = repo / "snapshots" / ("d" * 40)
    newer.mkdir()
    blob = repo / "blobs" / ("e" * 64)
    blob.write_bytes(b"its own weights")
    (newer / "weights.h5").symlink_to(os.path.relpath(blob, newer))
    partial = repo / "blobs" / ("f" * 64 + ".incomplete")
    partial.write_bytes(b"half")
    kept = project.run("gc")
    assert kept.returncode == 0 and (repo / "snapshots" / old).is_dir()  # still needed

    write(project, {})  # the project drops the model
    assert project.run("lock").returncode == 0
    document = run_json(project, "gc", "gc")
    removed = {g["name"] for g in document["huggingface"]["removed"]}
    assert "models--org--tiny" in removed
    assert not (repo / "snapshots" / old).exists() and not (repo / "refs" / "main").exists()
    assert (newer / "weights.h5").read_bytes() == b"its own weights" and partial.exists()
    assert {b.name for b in (repo / "blobs").iterdir()} == {blob.name, partial.name}
    assert (own / "config.json").exists()
    assert not list((cache(project) / ".locks" / "hublock").glob("*.json"))


def test_a_sync_killed_at_any_moment_never_leaves_a_ref_to_a_partial_snapshot(
    project: Project, hf: FakeHF
) -> None:
    import random
    import shutil

    from tests.conftest import stress

    # enough bytes that a sync is still at work for most of the window the kills fall in
    many = {f"shards/shard-{i:03d}.bin": os.urandom(400_000) for i in range(40)} | FILES
    commit = hf.move("org/big", many)
    write(project, {"big": '"hf://org/big"'})
    assert project.run("lock").returncode == 0
    repo = cache(project) / "models--org--big"
    rnd, trials, kills = random.Random(25), stress(6, 30), 0
    for _ in range(trials):
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(project.downloads, ignore_errors=True)  # every trial downloads again
        kills += project.killed_midway(rnd, (0.05, 0.6), "sync")
        ref = repo / "refs" / "main"
        if ref.exists():  # what huggingface_hub follows offline: then every file is there, whole
            assert ref.read_text() == commit
            snapshot = repo / "snapshots" / commit
            assert {p: (snapshot / p).read_bytes() for p in many} == many
    assert kills >= trials // 4, f"only {kills} of {trials} syncs were interrupted"
    healed = project.run("sync")
    assert healed.returncode == 0, healed.stderr
    assert project.run("verify", "--full").returncode == 0
    assert project.run("gc").returncode == 0
    assert not [
        p for p in (cache(project) / ".locks" / "hublock").iterdir() if p.name.endswith((".tmp", ".lock"))
    ]


def test_add_names_an_hf_model_after_its_repo_and_pins_a_revision(project: Project, hf: FakeHF) -> None:
    commit = hf.move("org/tiny", FILES)
    hf.tag("org/tiny", "v1", commit)
    write(project, {})
    added = project.run("add", "hf://org/tiny", "--lock")
    assert added.returncode == 0, added.stderr
    assert read_lockfile(project.lockfile).get("tiny").commit == commit
    tagged = project.run("add", "tagged", "hf://org/other", "--revision", "v1")
    assert (
        tagged.returncode == 0
        and 'tagged = {hf = "org/other", revision = "v1"}' in project.manifest.read_text()
    )
    refused = project.run("add", "x", "https://tfhub.dev/a/b/1", "--revision", "v1")
    assert refused.returncode == 2 and "--revision is for Hugging Face handles" in refused.stderr


def test_where_the_filesystem_has_no_symlinks_the_snapshot_holds_copies(
    project: Project, hf: FakeHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0

    def no_symlinks(*args: object, **kwargs: object) -> None:
        raise OSError(1, "Operation not permitted")  # what such a filesystem answers

    monkeypatch.setattr(os, "symlink", no_symlinks)
    assert project.run("sync").returncode == 0
    snapshot = cache(project) / "models--org--tiny" / "snapshots" / commit
    assert all(not (snapshot / p).is_symlink() and (snapshot / p).read_bytes() == d for p, d in FILES.items())
    assert project.run("verify", "--full").returncode == 0
    assert project.run("verify").returncode == 0


def test_gc_in_one_project_keeps_what_another_project_synced(project: Project, hf: FakeHF) -> None:
    commit = hf.move("org/tiny", FILES)
    write(project, {"tiny": '"hf://org/tiny"'})
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    other = project.dir / "other"  # a second project on the same huggingface_hub cache
    other.mkdir()
    (other / "hub.toml").write_text("[models]\n")
    assert project.run("-f", "other/hub.toml", "lock").returncode == 0
    collected = project.run("-f", "other/hub.toml", "gc", "--format", "json")
    assert collected.returncode == 0, collected.stderr
    kept = json.loads(collected.stdout)["huggingface"]["kept"]
    assert [k["name"] for k in kept] == ["models--org--tiny"]
    assert str(project.lockfile.resolve()) in kept[0]["projects"][0]
    assert (cache(project) / "models--org--tiny" / "snapshots" / commit).is_dir()
