#!/usr/bin/env bash
# The offline demo, end to end with real parts:
#   1. builds a mirror directory with a tiny real SavedModel for each handle of examples/hub.toml,
#      and a loopback stand-in for the Hugging Face Hub serving a keras_hub preset
#   2. hublock lock   (through the mirror and the loopback Hub)  -> demo-work/hub.lock
#   3. hublock sync   (offline, into demo-work/cache, demo-work/kagglehub, demo-work/huggingface)
#                                                 -> tensorflow_hub's, kagglehub's, huggingface_hub's layouts
#   4. the real hub.load(handle), kagglehub.model_download(handle), keras_hub from_preset(...) and
#      huggingface_hub.hf_hub_download(...) of each canonical handle, through `hublock run`, in a
#      process with no network at all
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${PYTHON:-}" ] || source .ci/venv.sh
export TF_CPP_MIN_LOG_LEVEL=3
WORK="${DEMO_WORK:-$PWD/demo-work}"
rm -rf "$WORK" && mkdir -p "$WORK"
export HUBLOCK_DOWNLOAD_CACHE="$WORK/downloads"
unset TFHUB_CACHE_DIR KAGGLEHUB_CACHE HF_HUB_CACHE HF_HOME HF_TOKEN
export KERAS_BACKEND=tensorflow
hublock() { "$PYTHON" -m hublock -f examples/hub.toml --lockfile "$WORK/hub.lock" "$@"; }

echo "== 1. a mirror directory standing in for tfhub.dev and Kaggle (and a keras_hub preset)"
read -r -a MIRRORS <<< "$("$PYTHON" examples/demo.py mirror examples/hub.toml "$WORK/mirror" 2>/dev/null)"

"$PYTHON" examples/demo.py hub examples/hub.toml "$WORK/hf-url" 2>/dev/null &
HUB_PID=$!
trap 'kill $HUB_PID 2>/dev/null || true' EXIT
for _ in $(seq 600); do [ -s "$WORK/hf-url" ] && break; sleep 0.1; done
export HF_ENDPOINT="$(cat "$WORK/hf-url")"
echo "   the Hugging Face stand-in: $HF_ENDPOINT (loopback)"

echo "== 2. hublock lock ${MIRRORS[*]}   (the mirror, and the loopback Hub for hf:// models)"
hublock lock "${MIRRORS[@]}"
cat "$WORK/hub.lock"

CACHES=(--cache "$WORK/cache" --kaggle-cache "$WORK/kagglehub" --hf-cache "$WORK/huggingface")
echo "== 3. hublock sync --offline ${CACHES[*]}"
hublock sync --offline "${CACHES[@]}" "${MIRRORS[@]}"
echo "-- again: nothing to do"
hublock sync --offline "${CACHES[@]}" "${MIRRORS[@]}"

kill $HUB_PID 2>/dev/null || true  # from here on, no Hub at all
echo "== 4. hub.load, kagglehub, keras_hub and huggingface_hub, through hublock run (every load verified), with no network"
LOAD=(hublock run "${CACHES[@]}" -- "$PYTHON" examples/demo.py load examples/hub.toml)
if unshare -n true 2>/dev/null; then
  unshare -n "$PYTHON" -m hublock -f examples/hub.toml --lockfile "$WORK/hub.lock" "${LOAD[@]:1}"
else
  echo "(unshare -n is not permitted here: loading with the network still present)"
  "${LOAD[@]}"
fi
echo "== done: every model loaded offline from what hub.lock pinned"
