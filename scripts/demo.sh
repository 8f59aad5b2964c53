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
export STREAMPROC_WORKER_ID=${STREAMPROC_WORKER_ID:-demo-worker-1}
# The simulated day is dated 2026-11-02: widen the accepted event-time window so the demo
# replays it whenever it runs (docs/operations.md, "out_of_range").
export STREAMPROC_EVENT_MAX_AGE_DAYS=${STREAMPROC_EVENT_MAX_AGE_DAYS:-36500}

echo "== 1. local Kafka broker"
$sp kafka up
$sp topics create

# A previous demo's worker, exporter and web service (left running for the dashboard): stop them.
if [ -f "$demo_dir/pids" ]; then
  kill -TERM $(cat "$demo_dir/pids") 2>/dev/null || true
  for pid in $(cat "$demo_dir/pids"); do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
  rm -f "$demo_dir/pids"
fi

echo "== 2. worker, exporter and web service (logs: $demo_dir/worker.log, exporter.log, web.log)"
export STREAMPROC_READMODEL_PATH=${STREAMPROC_READMODEL_PATH:-$demo_dir/readmodel.sqlite}
export STREAMPROC_EXPORT_DIR=${STREAMPROC_EXPORT_DIR:-$demo_dir/exports}
$sp worker --loglevel warning >"$demo_dir/worker.log" 2>&1 &
worker_pid=$!
$sp exporter --loglevel warning >"$demo_dir/exporter.log" 2>&1 &
exporter_pid=$!
$sp web --loglevel warning >"$demo_dir/web.log" 2>&1 &
web_pid=$!
trap 'kill -TERM $worker_pid $exporter_pid $web_pid 2>/dev/null; wait $worker_pid $exporter_pid $web_pid 2>/dev/null || true' EXIT

echo "== 3. simulate one day of traffic (seed $seed, $conversations conversations)"
$sp simulate --seed "$seed" --days 1 --conversations "$conversations" --out "$demo_dir/events.jsonl"

echo "== 4. produce it to the inbound topics"
$sp produce "$demo_dir/events.jsonl"

echo "== 5. what the workers processed"
$sp stats --wait 300

echo "== 6. the twelve exports of the simulated day (requests on the command topic, files"
echo "      downloaded from streamproc web at ${STREAMPROC_PUBLIC_URL:-http://127.0.0.1:${STREAMPROC_HTTP_PORT:-8080}})"
mkdir -p "$demo_dir/csv"
for type in $($sp export --list | awk '{print $1}'); do
  if [ "$type" = conversations_open ]; then range=(); else range=(--from 2026-11-02 --to 2026-11-02); fi
  $sp export "$type" "${range[@]}" --out "$demo_dir/csv/$type.csv" >/dev/null 2>"$demo_dir/export-$type.log" \
    || { cat "$demo_dir/export-$type.log"; exit 1; }
done
printf '%-28s %8s\n' file rows
for file in "$demo_dir"/csv/*.csv; do
  printf '%-28s %8d\n' "$(basename "$file")" "$(( $(wc -l <"$file") - 1 ))"
done
# Leave the worker, exporter and web service running: the dashboard follows the feed.
trap - EXIT
echo "$worker_pid $exporter_pid $web_pid" >"$demo_dir/pids"
dashboard=${STREAMPROC_PUBLIC_URL:-http://127.0.0.1:${STREAMPROC_HTTP_PORT:-8080}}
echo
echo "== dashboard: ${dashboard%/}/  (English; ${dashboard%/}/?lang=es in Spanish)"
echo "(the broker, worker, exporter and web service keep running; stop them with:"
echo " kill \$(cat $demo_dir/pids); $sp kafka down)"
