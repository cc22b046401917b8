#!/usr/bin/env bash
# The offline demo, end to end with real parts:
#   1. builds a mirror directory with a tiny real SavedModel for each handle of examples/hub.toml
#   2. hublock lock   (offline, through the mirror)       -> demo-work/hub.lock
#   3. hublock sync   (offline, into demo-work/cache and demo-work/kagglehub)
#                                                         -> tensorflow_hub's and kagglehub's layouts
#   4. the real hub.load(handle), kagglehub.model_download(handle) and keras_hub from_preset(...)
#      of each canonical handle, through `hublock run`, in a process with no network at all
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${PYTHON:-}" ] || source .ci/venv.sh
export TF_CPP_MIN_LOG_LEVEL=3
WORK="${DEMO_WORK:-$PWD/demo-work}"
rm -rf "$WORK" && mkdir -p "$WORK"
export HUBLOCK_DOWNLOAD_CACHE="$WORK/downloads"
unset TFHUB_CACHE_DIR KAGGLEHUB_CACHE
export KERAS_BACKEND=tensorflow
hublock() { "$PYTHON" -m hublock -f examples/hub.toml --lockfile "$WORK/hub.lock" "$@"; }

echo "== 1. a mirror directory standing in for tfhub.dev and Kaggle (and a keras_hub preset)"
read -r -a MIRRORS <<< "$("$PYTHON" examples/demo.py mirror examples/hub.toml "$WORK/mirror" 2>/dev/null)"

echo "== 2. hublock lock --offline ${MIRRORS[*]}"
hublock lock --offline "${MIRRORS[@]}"
cat "$WORK/hub.lock"

CACHES=(--cache "$WORK/cache" --kaggle-cache "$WORK/kagglehub")
echo "== 3. hublock sync --offline ${CACHES[*]}"
hublock sync --offline "${CACHES[@]}" "${MIRRORS[@]}"
echo "-- again: nothing to do"
hublock sync --offline "${CACHES[@]}" "${MIRRORS[@]}"

echo "== 4. hub.load, kagglehub and keras_hub, through hublock run (every load verified), with no network"
LOAD=(hublock run "${CACHES[@]}" -- "$PYTHON" examples/demo.py load examples/hub.toml)
if unshare -n true 2>/dev/null; then
  unshare -n "$PYTHON" -m hublock -f examples/hub.toml --lockfile "$WORK/hub.lock" "${LOAD[@]:1}"
else
  echo "(unshare -n is not permitted here: loading with the network still present)"
  "${LOAD[@]}"
fi
echo "== done: every model loaded offline from what hub.lock pinned"
