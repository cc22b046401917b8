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
