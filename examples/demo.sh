#!/usr/bin/env bash
# The offline demo, end to end with real parts:
#   1. builds a mirror directory with a tiny real SavedModel for each handle of examples/hub.toml
#   2. hublock lock   (offline, through the mirror)       -> demo-work/hub.lock
#   3. hublock sync   (offline, into demo-work/cache)     -> tensorflow_hub's cache layout
#   4. the real hub.load(handle) of each canonical handle, in a process with no network at all
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${PYTHON:-}" ] || source .ci/venv.sh
export TF_CPP_MIN_LOG_LEVEL=3
WORK="${DEMO_WORK:-$PWD/demo-work}"
rm -rf "$WORK" && mkdir -p "$WORK"
export HUBLOCK_DOWNLOAD_CACHE="$WORK/downloads"
unset TFHUB_CACHE_DIR
hublock() { "$PYTHON" -m hublock -f examples/hub.toml --lockfile "$WORK/hub.lock" "$@"; }

echo "== 1. a mirror directory standing in for tfhub.dev and Kaggle"
read -r -a MIRRORS <<< "$("$PYTHON" examples/demo.py mirror examples/hub.toml "$WORK/mirror" 2>/dev/null)"

echo "== 2. hublock lock --offline ${MIRRORS[*]}"
hublock lock --offline "${MIRRORS[@]}"
cat "$WORK/hub.lock"

echo "== 3. hublock sync --offline --cache $WORK/cache"
hublock sync --offline --cache "$WORK/cache" "${MIRRORS[@]}"
echo "-- again: nothing to do"
hublock sync --offline --cache "$WORK/cache" "${MIRRORS[@]}"

echo "== 4. hub.load(handle) with TFHUB_CACHE_DIR=$WORK/cache and no network"
if unshare -n true 2>/dev/null; then
  TFHUB_CACHE_DIR="$WORK/cache" unshare -n "$PYTHON" examples/demo.py load examples/hub.toml
else
  echo "(unshare -n is not permitted here: loading with the network still present)"
  TFHUB_CACHE_DIR="$WORK/cache" "$PYTHON" examples/demo.py load examples/hub.toml
fi
echo "== done: every model loaded offline from what hub.lock pinned"
