"""What `import hublock` costs: it runs at every CLI start, and a no-op sync is little more."""

from __future__ import annotations

import subprocess
import sys


def test_import_hublock_stays_light() -> None:
    """`import hublock` (every CLI start, a no-op sync) loads no network, storage or ML stack."""
    heavy = ["tensorflow", "tensorflow_hub", "httpx", "httpcore", "gcsfs", "fsspec", "rich", "isal"]
    code = f"import sys, hublock; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_httpx_comes_without_its_command_line_client() -> None:
    """httpx imports its CLI (click, rich, pygments: half its import time) whenever they are
    installed; hublock's stand-in keeps them out until something calls ``httpx.main``."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from hublock.remote.http import import_httpx\n"
        "httpx = import_httpx()\n"
        "print('pygments' in sys.modules, 'rich' in sys.modules)\n"
        "try:\n    httpx.main(['--help'])\nexcept SystemExit as exc:\n    print(exc.code)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = ran.stdout.strip().splitlines()
    assert lines[0] == "False False"  # not imported until asked for
    assert lines[-1] == "0" and "Usage: httpx" in ran.stdout  # and then the real CLI runs


def test_sync_imports_only_what_a_sync_uses() -> None:
    """The modules of other commands cost a sync start-up time (dataclasses are built at import):
    a sync into a local cache loads no other command's CLI module, API reader, bundle reader,
    bucket cache, Hugging Face cache, lock diff or signature verifier; and until it has
    something to fetch, neither the fetcher, the network (socket), a thread pool
    (concurrent.futures) nor the unpacker; the [[trust]] rules only when hub.toml has some."""
    others = [
        "hublock.formats.saved_model_api",
        "hublock.formats.bundle",
        "hublock.caches.bucket",
        "hublock.caches.huggingface",
        "hublock.formats.lock_diff",
        "hublock.formats.cyclonedx",
        "socket",
        "concurrent.futures",
        "hublock.remote.fetcher",  # imported where a model is fetched
        "model_signing",  # only lock and verify --signatures check a signature's signer
        "rapidgzip",  # only from 4 cores, for a large archive
        "hublock.formats.archive",  # and the unpacker (tarfile, the inflaters): where one is unpacked
        "tarfile",
        "hublock.formats.trust",  # [[trust]] rules, read when hub.toml has some
        "hublock.commands.trust",  # a signed model's checks
        "tempfile",  # tensorflow_hub's default cache dir only (it imports shutil, random, bz2, lzma)
        "difflib",  # "did you mean", on a mistake
        "hublock.cli.airgap",  # the other commands' CLI modules (the group imports a command's on use)
        "hublock.cli.audit",
        "hublock.cli.gc",
        "hublock.cli.edit",
    ]
    code = (
        "import sys, hublock.cli.main, hublock.cli.sync, hublock.commands.sync\n"
        "hublock.cli.main.cli.get_command(None, 'sync')\n"
        f"print([m for m in {others!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
