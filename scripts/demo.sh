#!/usr/bin/env bash
# The main job end to end on the local broker: start Kafka, a worker, simulate and produce a
# day of inbox traffic, wait until it is processed, and show what the service computed.
set -euo pipefail
cd "$(dirname "$0")/.."
demo_dir=${1:-.data/demo}
seed=${2:-42}
conversations=${3:-200}
sp=.venv/bin/streamproc
mkdir -p "$demo_dir"
export STREAMPROC_APP_ID=${STREAMPROC_APP_ID:-streamproc-demo-$seed}
export STREAMPROC_TABLES_DIR=${STREAMPROC_TABLES_DIR:-$demo_dir/tables}

echo "== 1. local Kafka broker"
$sp kafka up
$sp topics create

echo "== 2. worker (log: $demo_dir/worker.log)"
$sp worker --loglevel warning >"$demo_dir/worker.log" 2>&1 &
worker_pid=$!
trap 'kill -TERM $worker_pid 2>/dev/null; wait $worker_pid 2>/dev/null || true' EXIT

echo "== 3. simulate one day of traffic (seed $seed, $conversations conversations)"
$sp simulate --seed "$seed" --days 1 --conversations "$conversations" --out "$demo_dir/events.jsonl"

echo "== 4. produce it to the inbound topics"
$sp produce "$demo_dir/events.jsonl"

echo "== 5. what the workers processed"
$sp stats --wait 300
echo "(the broker keeps running; stop it with: $sp kafka down)"
