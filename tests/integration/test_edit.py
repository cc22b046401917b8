"""init / add / remove edit hub.toml like a careful person would: comments, blank lines and key
order stay; duplicates and near-duplicates are refused with the reason."""

from __future__ import annotations

from pathlib import Path

from hublock import read_lockfile
from tests.conftest import Project

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def golden(name: str, project: Project) -> str:
    return (GOLDEN / name).read_text().replace("MIRROR", project.hub.url)


def test_add_and_remove_keep_comments_and_order(project: Project) -> None:
    project.manifest.write_text(golden("before.toml", project))
    result = project.run("add", "other", "https://tfhub.dev/google/other/1", "--lock")
    assert result.returncode == 0, result.stderr
    assert project.manifest.read_text() == golden("added.toml", project)
    assert [m.name for m in read_lockfile(project.lockfile).models] == ["linear", "other"]
    removed = project.run("remove", "other", "--lock")
    assert removed.returncode == 0, removed.stderr
    assert project.manifest.read_text() == golden("before.toml", project)
    assert [m.name for m in read_lockfile(project.lockfile).models] == ["linear"]


def test_add_refuses_duplicates_and_near_duplicates(project: Project) -> None:
    project.manifest.write_text(golden("before.toml", project))
    cases = {
        ("linear", "https://tfhub.dev/google/x/1"): "already listed",
        ("copy", "https://tfhub.dev/google/linear/1"): "already listed as 'linear'",
        (
            "slash",
            "https://tfhub.dev/google/linear/1/",
        ): "tensorflow_hub would cache the two as different models",
        ("case", "https://tfhub.dev/Google/linear/1"): "only by case",
        ("fmt", "https://tfhub.dev/google/linear/1?tf-hub-format=compressed"): "tf-hub-format",
        ("bad name", "https://tfhub.dev/google/x/1"): "model names use",
        ("gcs", "gs://bucket/model"): ".tar.gz",
    }
    for (name, handle), message in cases.items():
        result = project.run("add", name, handle)
        assert result.returncode == 2 and message in result.stderr, (name, result.stderr)
    assert project.manifest.read_text() == golden("before.toml", project)


def test_remove_suggests_and_init_refuses_to_overwrite(project: Project, tmp_path: Path) -> None:
    project.manifest.write_text(golden("before.toml", project))
    result = project.run("remove", "lineer")
    assert result.returncode == 2 and "did you mean 'linear'?" in result.stderr
    assert project.run("init").returncode == 2
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    init = project.run("-f", str(fresh / "hub.toml"), "init")
    assert init.returncode == 0 and (fresh / "hub.toml").read_text().startswith("# hub.toml")
    add = project.run("-f", str(fresh / "hub.toml"), "add", "m", "https://tfhub.dev/google/linear/1")
    assert add.returncode == 0, add.stderr
    assert "# mobilenet = " in (fresh / "hub.toml").read_text()  # the starter's comments survive


def test_edits_and_env_speak_json(project: Project, tmp_path: Path) -> None:
    import json

    fresh = tmp_path / "j" / "hub.toml"
    fresh.parent.mkdir()
    assert json.loads(project.run("-f", str(fresh), "init", "--format", "json").stdout) == {
        "manifest": str(fresh),
        "written": True,
    }
    added = project.run("add", "x", "https://tfhub.dev/google/other/1", "--format", "json", "-f", str(fresh))
    assert json.loads(added.stdout)["added"] == {"name": "x", "handle": "https://tfhub.dev/google/other/1"}
    removed = project.run("remove", "x", "--format", "json", "-f", str(fresh))
    assert json.loads(removed.stdout) == {"manifest": str(fresh), "removed": "x"}
    env = json.loads(project.run("env", "--format", "json").stdout)
    assert env.pop("inflater").startswith(("ISA-L", "zlib"))
    assert env == {
        "TFHUB_CACHE_DIR": str(project.cache),
        "KAGGLEHUB_CACHE": str(project.kagglehub),
        "HF_HUB_CACHE": str(project.huggingface),
    }


def test_add_and_remove_work_when_models_are_split_across_the_file(tmp_path: Path) -> None:
    """`[models]` first, `[models.x]` tables after other tables: still one [models] for edits."""
    from hublock.commands.edit import add_model, remove_model
    from hublock.formats.manifest import parse_manifest

    text = '[models]\na = "https://tfhub.dev/a/1"\n\n[mirrors]\n\n[models.b]\nkaggle = "o/m/keras/v/1"\n'
    added = add_model(text, "c", None, kaggle="kaggle://o/m/keras/w")
    assert parse_manifest(added).names == ["a", "c", "b"]
    assert parse_manifest(remove_model(added, "b")).names == ["a", "c"]
    assert "[mirrors]" in remove_model(added, "b")


def test_remove_takes_the_model_out_of_the_trust_rules_that_name_it(project: Project) -> None:
    """A rule left naming a removed model would make every command refuse hub.toml; a rule that
    named it alone goes with it (with no models left it would cover every model)."""
    project.manifest.write_text(
        '[models]\nlinear = "https://tfhub.dev/google/linear/1"\nother = "https://tfhub.dev/google/other/1"\n\n'
        '# our models\n[[trust]]\nmodels = ["linear"]\nkey = "linear.pub"\n\n'
        '[[trust]]\nmodels = ["linear", "other"]  # both\nkey = "both.pub"\n\n'
        '[[trust]]\nhandles = "https://tfhub.dev/acme/"\nkey = "acme.pub"\n'
    )
    assert project.run("remove", "linear").returncode == 0
    assert project.manifest.read_text() == (
        '[models]\nother = "https://tfhub.dev/google/other/1"\n\n'
        '# our models\n[[trust]]\nmodels = ["other"]  # both\nkey = "both.pub"\n\n'
        '[[trust]]\nhandles = "https://tfhub.dev/acme/"\nkey = "acme.pub"\n'
    )
    assert project.run("lock", "--check").returncode in (0, 1)  # hub.toml is readable: no exit 2
    assert project.run("remove", "other").returncode == 0
    assert "both.pub" not in project.manifest.read_text() and "acme.pub" in project.manifest.read_text()
