"""Private hubs and mirrors: a bearer token from the environment variable hub.toml names, or
~/.netrc; the secret never reaches hub.lock or the output."""

from __future__ import annotations

import shutil

from tests.conftest import Project

SECRET = "s3cr3t-t0ken-value"


def test_bearer_token_from_the_named_variable(project: Project) -> None:
    project.hub.token = SECRET
    project.manifest.write_text(project.manifest.read_text() + '\n[auth]\n"127.0.0.1" = "HUB_TOKEN"\n')
    refused = project.run("lock")
    assert refused.returncode == 3 and "HTTP 401" in refused.stderr and "[auth]" in refused.stderr
    rejected = project.run("lock", env={"HUB_TOKEN": "an-expired-token"})
    assert rejected.returncode == 3 and "rejected the credentials sent" in rejected.stderr, rejected.stderr
    assert "an-expired-token" not in rejected.stderr
    locked = project.run("lock", env={"HUB_TOKEN": SECRET})
    assert locked.returncode == 0, locked.stderr
    assert set(project.hub.authorizations[-3:]) == {f"Bearer {SECRET}"}
    assert SECRET not in project.lockfile.read_text() + locked.stdout + locked.stderr
    shutil.rmtree(project.downloads)  # so that sync must fetch, with the token, too
    synced = project.run("sync", env={"HUB_TOKEN": SECRET})
    assert synced.returncode == 0 and SECRET not in synced.stdout + synced.stderr


def test_secrets_are_refused_in_hub_toml(project: Project) -> None:
    project.manifest.write_text(project.manifest.read_text() + f'\n[auth]\n"127.0.0.1" = "Bearer {SECRET}"\n')
    result = project.run("lock")
    assert result.returncode == 2 and "never the secret itself" in result.stderr
    assert SECRET not in result.stderr


def test_netrc(project: Project) -> None:
    project.hub.token = None
    netrc = project.dir / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password pw\n")
    netrc.chmod(0o600)
    assert project.run("lock", env={"NETRC": str(netrc)}).returncode == 0
    assert project.hub.authorizations[-1].startswith("Basic ")
