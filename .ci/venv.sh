# Sourced by examples/demo.sh and tests/run.sh: make ./.venv with hublock and its test extras.
# Re-running is cheap: pip sees everything is installed and returns.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HUBLOCK_VENV:-$HERE/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$HERE[${HUBLOCK_EXTRAS:-test,e2e}]" 2> >(grep -v "^WARNING: Location" >&2)
PYTHON="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"
