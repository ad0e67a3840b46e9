#!/usr/bin/env bash
# make test-local: the local layout end to end. Brings it up from scratch in
# target/local-test (deploy/local/local.sh), offers a short bss-loadgen load,
# and checks through Prometheus's HTTP API that the sidecar's, PostgreSQL's
# and Redis's metrics arrived there with values that match the load
# (deploy/local/e2e_check.py). Takes it down again, pass or fail.
source "$(dirname "$0")/../../scripts/lib.sh"
export LOCAL_DIR="$ROOT/target/local-test"
LOCAL="$ROOT/deploy/local/local.sh"

"$LOCAL" reset >/dev/null 2>&1 || true
trap '"$LOCAL" down >/dev/null 2>&1 || true' EXIT
cargo build -q -p bss-loadgen --release
"$LOCAL" up
URL="$("$LOCAL" url)"

# 7,500 events over 30 s: a bounded load that stops by itself.
log "bss-loadgen: 10 s ramp to 300 events/s, then 20 s at 300/s"
"$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages 10s:300,20s:300 --customers 500 \
    --seed 8 --connections 4 --no-progress --report "$LOCAL_DIR/report.json" >"$LOCAL_DIR/loadgen.txt"
"$ROOT/deploy/local/e2e_check.py" --report "$LOCAL_DIR/report.json"
