"""Small local-file helpers shared by the lock file and the cache directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

# ".<name>.<pid>-<uuid>@<host>.part": who writes it is in the name, so that `hublock gc` can
# remove the temp file of a killed writer at once (a writer's text is all payload)
_TEMP = re.compile(r"^\..+\.(\d+)-([0-9a-f]{32})@([^/@]+)\.part$")


def host_name() -> str:
    """This host's name, as ``socket.gethostname()`` gives it (without importing socket: a sync
    that needs no network should not pay for it at start-up)."""
    return os.uname().nodename


def unique_id() -> str:
    """32 random hex digits, like ``uuid.uuid4().hex`` (without importing uuid and platform)."""
    return os.urandom(16).hex()


def temp_path(path: Path) -> Path:
    """A unique temp name beside ``path`` that says who writes it (see ``temp_owner``)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{unique_id()}@{host_name()}.part")


def atomic_write(path: Path, text: str) -> None:
    """Write via a unique temp file and a rename: readers see the old or the new text, never half."""
    tmp = temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def temp_owner(name: str) -> str | None:
    """The ``host.pid.uuid`` owner of a ``temp_path`` name (the form of a lock file's content)."""
    m = _TEMP.match(name)
    return f"{m[3]}.{m[1]}.{m[2]}" if m else None


def remove_tree(path: Path) -> None:
    """Remove a directory tree, whatever is left of it (a staging area, a replaced model)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
