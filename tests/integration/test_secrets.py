"""Secrets never leave: a mirror's password, a handle's userinfo, an [auth] token and signed
storage URLs appear in no output of any command (text, JSON, progress, -v logs, errors) and
never in hub.lock."""

from __future__ import annotations

import re

from hublock.core.redaction import redact, strip_secrets
from tests.conftest import Project

SECRETS = ("PASSWORD1", "SECRET2", "TOKEN3")


def test_no_output_and_no_file_shows_a_secret(project: Project) -> None:
    port = project.hub.url.rsplit(":", 1)[1]
    mirror = f"http://hubuser:PASSWORD1@127.0.0.1:{port}/tfhub/"
    project.write_manifest(
        {
            "linear": "https://tfhub.dev/google/linear/1",
            "private": "https://tok:SECRET2@tfhub.dev/google/linear/2",
            "gone": "https://tfhub.dev/google/gone/1",
        },
        f'"https://tok:SECRET2@tfhub.dev/" = "{mirror}"\n[auth]\n"127.0.0.1" = "HUB_TOKEN"\n',
    )
    env = {"HUB_TOKEN": "TOKEN3"}
    m = ("--mirror", f"https://tfhub.dev/={mirror}")
    outputs = []

    def run(*args: str) -> int:
        result = project.run(*args, env=env)
        outputs.append(result.stdout + result.stderr)
        return result.returncode

    assert run("lock", "-v", *m) == 3  # "gone" is a 404: its error names the mirror's URL
    assert run("lock", "-v", "--format", "json", *m) == 3
    project.write_manifest(
        {
            "linear": "https://tfhub.dev/google/linear/1",
            "private": "https://tok:SECRET2@tfhub.dev/google/linear/2",
        },
        f'"https://tok:SECRET2@tfhub.dev/" = "{mirror}"\n[auth]\n"127.0.0.1" = "HUB_TOKEN"\n',
    )
    assert run("lock", "-v", *m) == 0
    lock_text = project.lockfile.read_text()
    assert "PASSWORD1" not in lock_text and "TOKEN3" not in lock_text and "Signature" not in lock_text
    assert run("sync", "-v", "--offline", "--cache", "c1") == 0
    for path in project.downloads.glob("sha256/*"):
        path.unlink()  # the next sync goes through the network: redirects, signed storage URLs
    assert run("sync", "-v", "--no-progress", "--cache", "c2", *m) == 0
    assert run("sync", "--format", "json", "--dry-run", "--cache", "c3", *m) == 1
    for command in ("status", "verify", "gc"):
        assert run(command, "--cache", "c2") == 0
        assert run(command, "--cache", "c2", "--format", "json") == 0
    broken = ("--mirror", "https://tfhub.dev/=http://u:PASSWORD1@127.0.0.1:1/")  # nothing listens
    assert run("lock", "--upgrade", "linear", *broken) == 3
    assert run("lock", "--upgrade", "linear", "--format", "json", *broken) == 3

    everything = "\n".join(outputs)
    assert "127.0.0.1" in everything and "Signature=***" in everything  # the URLs are there, masked
    for secret in SECRETS:
        assert secret not in everything, secret
    assert not re.search(r"X-Goog-Signature=(?!\*\*\*)", everything)


def test_redact_masks_userinfo_and_signing_parameters() -> None:
    text = "get https://u:p@h/x?a=1&X-Goog-Signature=abc&token=t#f then http://k@h2/"
    assert redact(text) == "get https://***@h/x?a=1&X-Goog-Signature=***&token=***#f then http://***@h2/"
    assert strip_secrets("https://u:p@h/x?a=1&X-Amz-Credential=c&sig=s") == "https://h/x?a=1"
    assert strip_secrets("/srv/models/x.tar.gz") == "/srv/models/x.tar.gz"


def test_nothing_written_for_another_machine_carries_a_mirror_secret(project: Project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A bundle (its hub.lock, hub.toml and index), the CycloneDX BOM, a content-addressed mirror and
    hub.lock carry no mirror password, token or signature; a handle's own userinfo (part of the
    handle tensorflow_hub keys its cache by) is kept, and lock warns about it, masked."""
    import tarfile

    port = project.hub.url.rsplit(":", 1)[1]
    mirror = f"http://hubuser:PASSWORD1@127.0.0.1:{port}/tfhub/"
    project.write_manifest(
        {
            "linear": "https://tfhub.dev/google/linear/1",
            "private": "https://tok:SECRET2@tfhub.dev/google/linear/2",
        },
        f'"https://tok:SECRET2@tfhub.dev/" = "{mirror}"\n"sha256:" = "http://127.0.0.1:{port}/cas/?token=TOKEN3"\n'
        '[auth]\n"127.0.0.1" = "HUB_TOKEN"\n',
    )
    locked = project.run("lock", env={"HUB_TOKEN": "TOKEN3"})
    assert locked.returncode == 0, locked.stderr
    assert "private: its handle carries credentials (https://***@tfhub.dev/google/linear/2)" in locked.stderr
    assert "SECRET2" not in locked.stderr
    bundle = tmp_path / "out.bundle"
    assert project.run("bundle", str(bundle)).returncode == 0
    bom = tmp_path / "bom.json"
    assert project.run("export", "--format", "cyclonedx", "-o", str(bom)).returncode == 0
    assert project.run("mirror", str(tmp_path / "cas")).returncode == 0
    with tarfile.open(bundle) as tar:
        texts = {m.name: tar.extractfile(m).read().decode() for m in tar if not m.name.startswith("sha256/")}  # type: ignore[union-attr]
    written = {**texts, "hub.lock (project)": project.lockfile.read_text(), "bom": bom.read_text()}
    written |= {
        str(p): p.read_bytes().decode("latin-1") for p in (tmp_path / "cas").rglob("*") if p.is_file()
    }
    for name, text in written.items():
        for secret in ("PASSWORD1", "TOKEN3", "hubuser", "Signature"):
            assert secret not in text, (name, secret)
    assert "SECRET2" not in written["bom"]  # the BOM names each model's handle without its userinfo
    assert texts["hub.toml"].count("[mirrors]") == 1 and "127.0.0.1" in texts["hub.toml"]  # still a manifest
    # the other side reads the bundle's hub.toml and hub.lock as they are: in step
    other = tmp_path / "other"
    other.mkdir()
    (other / "hub.toml").write_text(texts["hub.toml"])
    (other / "hub.lock").write_text(texts["hub.lock"])
    check = project.run("lock", "--check", "-f", str(other / "hub.toml"))
    assert check.returncode == 0, check.stderr
