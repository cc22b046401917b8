"""The everyday CLI as scripts use it: options after the subcommand, one JSON document, -q
silence, status states, an eval-able env, upgrade diffs, and clean logs without a TTY."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

from tests.conftest import KAGGLE_OTHER, TFHUB_LINEAR, Project

ANSI = re.compile(r"\x1b\[|\r")


def test_json_after_the_subcommand_is_one_document_even_while_downloading(project: Project) -> None:
    lock = project.run("lock", "--format", "json", "-f", "hub.toml", "--lockfile", "hub.lock")
    assert lock.returncode == 0, lock.stderr
    document = json.loads(lock.stdout)
    assert document["models"]["linear"]["state"] == "added" and document["written"] is True
    sync = project.run("sync", "--format", "json", "--cache", "c")
    assert sync.returncode == 0, sync.stderr
    synced = json.loads(sync.stdout)  # progress went to stderr, nothing else on stdout
    assert {n: m["state"] for n, m in synced["models"].items()} == {"linear": "fetched", "other": "fetched"}
    assert "linear:" in sync.stderr
    dry = project.run("sync", "--dry-run", "--format", "json", "--cache", "elsewhere")
    assert dry.returncode == 1 and json.loads(dry.stdout)["pending"] == 2
    for result in (lock, sync, dry):
        assert not ANSI.search(result.stdout + result.stderr)


def test_quiet_prints_nothing_on_success_and_plain_output_says_where(project: Project) -> None:
    assert project.run("lock", "-q").stdout == ""
    quiet = project.run("sync", "-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    again = project.run("sync")
    assert f"cache: {project.cache}" in again.stdout and "2 present" in again.stdout


def test_status_shows_every_state(project: Project) -> None:
    def states() -> dict[str, str]:
        result = project.run("status", "--format", "json")
        assert result.returncode == 0, result.stderr
        return {n: m["state"] for n, m in json.loads(result.stdout)["models"].items()}

    project.write_manifest({"linear": TFHUB_LINEAR}, '[cache]\ndir = "cache"')
    (project.dir / "hub.lock").unlink(missing_ok=True)
    assert project.run("lock").returncode == 0
    assert states() == {"linear": "missing"}
    assert project.run("sync").returncode == 0
    assert states() == {"linear": "ok"}
    key = hashlib.sha1(TFHUB_LINEAR.encode()).hexdigest()
    (project.cache / key / "saved_model.pb").write_bytes(b"x")
    assert states() == {"linear": "modified"}
    project.write_manifest(
        {"linear": "https://tfhub.dev/google/linear/2", "other": KAGGLE_OTHER}, '[cache]\ndir = "cache"'
    )
    assert states() == {"linear": "stale", "other": "not_locked"}
    listing = project.run("list")
    assert listing.returncode == 0 and "not_locked" in listing.stdout


def test_env_output_can_be_evaluated(project: Project) -> None:
    project.manifest.write_text(
        project.manifest.read_text().replace('dir = "cache"', 'dir = "~/my models/tfhub"')
    )
    line = project.run("env").stdout
    script = 'eval "$LINE"; printf %s "$TFHUB_CACHE_DIR"'
    result = subprocess.run(
        ["bash", "-c", script], env={"LINE": line, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    home = subprocess.run(["bash", "-c", "printf %s ~"], capture_output=True, text=True).stdout
    assert result.stdout == f"{home}/my models/tfhub"
    assert project.run("env", "--shell", "fish").stdout.startswith("set -gx TFHUB_CACHE_DIR ")
    assert project.run("env", "--shell", "powershell").stdout.startswith("$env:TFHUB_CACHE_DIR = '")


def test_upgrade_prints_a_diff_with_digests_and_sizes(project: Project, archives: dict[str, bytes]) -> None:
    assert project.run("lock").returncode == 0
    project.hub.swap("google/linear/1", archives["linear-v2"])
    result = project.run("lock", "--upgrade", "linear")
    assert result.returncode == 0, result.stderr
    old = hashlib.sha256(archives["linear-v1"]).hexdigest()
    new = hashlib.sha256(archives["linear-v2"]).hexdigest()
    assert f"archive sha256:{old[:16]} -> sha256:{new[:16]}" in result.stdout
    assert "tree changed" in result.stdout
    if len(archives["linear-v1"]) != len(archives["linear-v2"]):
        assert f"size {len(archives['linear-v1'])} -> {len(archives['linear-v2'])} bytes" in result.stdout
    assert "other" not in result.stdout.split("wrote")[0]


def test_verify_json_and_exit_code(project: Project) -> None:
    assert project.run("lock").returncode == 0 and project.run("sync").returncode == 0
    ok = project.run("verify", "--format", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    (project.cache / hashlib.sha1(KAGGLE_OTHER.encode()).hexdigest() / "extra").write_text("x")
    bad = project.run("verify", "--format", "json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["models"]["other"]["state"] == "extra_files"


def test_shell_completion_uses_clicks_mechanism(project: Project) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hublock"],
        env={**project.env, "_HUBLOCK_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
    )
    assert "_hublock_completion" in result.stdout


def test_progress_bars_on_a_terminal_plain_lines_otherwise(project: Project) -> None:
    import os
    import pty

    assert project.run("lock").returncode == 0
    project.hub.throttle = 0.05
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hublock", "sync", "--cache", "tty-cache"],
        cwd=project.dir,
        env={**project.env, "HUBLOCK_DOWNLOAD_CACHE": str(project.dir / "empty-dl"), "COLUMNS": "120"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    drawn = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "\x1b[" in drawn and "linear" in drawn and "kB" in drawn  # a live bar with bytes
    plain = project.run(
        "sync",
        "--cache",
        "plain-cache",
        "--no-progress",
        env={"HUBLOCK_DOWNLOAD_CACHE": str(project.dir / "other-dl")},
    )
    assert plain.returncode == 0 and not ANSI.search(plain.stderr) and "linear: fetching" in plain.stderr


def test_version_and_env_say_which_gunzip_is_in_use(project: Project) -> None:
    """ISA-L is a dependency wherever a wheel exists; hublock says when it fell back to zlib."""
    version = project.run("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("hublock, version ") and "gunzip: ISA-L (isal " in version.stdout
    shown = project.run("env")
    assert shown.stdout.splitlines()[-1].startswith("# gunzip: ISA-L")
    fallback = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['isal'] = None\nfrom hublock.formats.archive import inflater_name; print(inflater_name(2))",
        ],
        capture_output=True,
        text=True,
        env=project.env,
    )
    assert fallback.stdout.startswith("zlib ") and "no ISA-L" in fallback.stdout
