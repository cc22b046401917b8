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
