#!/usr/bin/env bash
# The test command: installs everything it needs into ./.venv, then runs the whole suite.
#   bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/venv.sh
# the whole suite pushes the stress tests as hard as CI does (plain `pytest` runs them quick)
export HUBLOCK_TEST_STRESS="${HUBLOCK_TEST_STRESS:-full}"
exec "$PYTHON" -m pytest "$@"
