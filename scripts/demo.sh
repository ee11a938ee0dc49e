#!/usr/bin/env bash
# The Berth demo: builds Berth, starts `berthd up` (the embedded default:
# controller, router and local agents in one process, state in SQLite), puts
# two models on ONE endpoint as inference components, and invokes each.
#   scripts/demo.sh            run the demo, then stop berthd
#   scripts/demo.sh --keep     leave berthd running for you to explore
set -euo pipefail
cd "$(dirname "$0")/.."
keep="${1:-}"

scripts/setup.sh
bin="$PWD/build"
data="$(mktemp -d /tmp/berth-demo.XXXXXX)"
control="${BERTH_CONTROL_LISTEN:-127.0.0.1:8070}"
runtime="${BERTH_RUNTIME_LISTEN:-127.0.0.1:8080}"
export BERTH_CONTROL_URL="http://$control" BERTH_RUNTIME_URL="http://$runtime"
# berth signs every call with the admin key berthd writes to DATA_DIR/credentials.
export BERTH_DATA_DIR="$data"

"$bin/berthd" up --data-dir "$data" --control-listen "$control" --runtime-listen "$runtime" \
  >"$data/berthd.log" 2>&1 &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
[ "$keep" = "--keep" ] || trap stop EXIT

for _ in $(seq 1 100); do
  curl -fsS "http://$control/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/berthd.log"; echo "demo: berthd exited"; exit 1; }
  sleep 0.1
done

echo "== deploy two models onto one endpoint (demo, one ml.m5.xlarge instance)"
"$bin/berth" deploy eu --endpoint demo --instance-type ml.m5.xlarge --cpus 1 --memory 512 \
  --env BERTH_MODEL_ID=eu-llm
"$bin/berth" deploy us --endpoint demo --instance-type ml.m5.xlarge --cpus 1 --memory 512 \
  --env BERTH_MODEL_ID=us-llm
echo
"$bin/berth" endpoints
echo
"$bin/berth" ics
echo
"$bin/berth" instances
echo
echo "== invoke each model by inference component name"
echo '$ berth invoke demo --ic eu --data '"'"'{"inputs":"Hello from Europe"}'"'"
"$bin/berth" invoke demo --ic eu --data '{"inputs":"Hello from Europe","parameters":{"max_new_tokens":6}}'
echo
echo '$ berth invoke demo --ic us --data '"'"'{"inputs":"Hello from America"}'"'"
"$bin/berth" invoke demo --ic us --data '{"inputs":"Hello from America","parameters":{"max_new_tokens":6}}'
echo
if [ "$keep" = "--keep" ]; then
  echo "berthd keeps running (pid $pid, data in $data). Try:"
  echo "  export BERTH_CONTROL_URL=$BERTH_CONTROL_URL BERTH_RUNTIME_URL=$BERTH_RUNTIME_URL BERTH_DATA_DIR=$data"
  echo "  build/berth scale eu 2 --wait && build/berth ics"
  echo "Stop it with: kill $pid"
else
  echo "demo: done; stopping berthd (run 'scripts/demo.sh --keep' to leave it running)"
fi
