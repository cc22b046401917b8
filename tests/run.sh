#!/usr/bin/env bash
# The test command: installs everything it needs into ./.venv, then runs the whole suite.
#   bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/venv.sh
exec "$PYTHON" -m pytest "$@"
