#!/usr/bin/env bash
# One-command local streaming setup (./dev streaming [PORT]):
# starts Google's Pub/Sub emulator on loopback, creates the topics/subscriptions/directories of
# klio-job.yaml (klio job verify --create-resources), runs both jobs as streaming pipelines, and
# publishes one top-down upload event per demo video. Labels appear in demo-output/labels/.
# Ctrl-C stops the jobs and the emulator.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${1:-8085}"
KLIO=.venv/bin/klio
SDK_ROOT=$(gcloud info --format='value(installation.sdk_root)')
EMULATOR="$SDK_ROOT/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
[[ -x "$EMULATOR" ]] || { echo "local-streaming: install the Pub/Sub emulator (google-cloud-cli-pubsub-emulator)" >&2; exit 1; }
export PUBSUB_EMULATOR_HOST="127.0.0.1:$PORT" NO_GCE_CHECK=true
mkdir -p demo-output
setsid "$EMULATOR" --host=127.0.0.1 --port="$PORT" > demo-output/pubsub-emulator.log 2>&1 &
EMULATOR_PID=$!
JOBS_PID=""
cleanup() {
  [[ -n "$JOBS_PID" ]] && kill "$JOBS_PID" 2>/dev/null || true
  kill -- -"$EMULATOR_PID" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
"$KLIO" job verify --create-resources
"$KLIO" job run --direct-runner --streaming --summary-json 'demo-output/counters-{job}.json' &
JOBS_PID=$!
sleep 15
IDS=$(cd demo/videos && ls *.mp4 | sed 's/\.mp4$//')
"$KLIO" message publish --top-down $IDS
echo "local-streaming: published $(echo $IDS | wc -w) upload events; labels go to demo-output/labels/,"
echo "counters to demo-output/counters-*.json. Publish more with PUBSUB_EMULATOR_HOST=$PUBSUB_EMULATOR_HOST"
echo "  .venv/bin/klio message publish [--job video-iab] [--force] [--ping] [--top-down] ID ...   (Ctrl-C stops)"
wait "$JOBS_PID"
