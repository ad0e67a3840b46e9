#!/usr/bin/env bash
# make test-local, its second part: the local layout with its standby
# (LOCAL_HA=1 deploy/local/local.sh: pg_auto_failover, a primary and a
# synchronous standby on 127.0.0.1). Brings it up from scratch in
# target/local-ha-test, offers a bounded bss-loadgen load, and mid-load
# has pg_auto_failover promote the standby (`local.sh failover`). Checks:
# the standby became the primary with the old one back as its synchronous
# standby, the load went on through it, the sidecar made its slot anew on
# the new primary (the gap fill), and every event of the store is in
# Redis exactly once (one stream entry each), every session with the new
# primary over TLS and plaintext refused. Takes it down, pass or fail.
source "$(dirname "$0")/../../scripts/lib.sh"
export LOCAL_DIR="$ROOT/target/local-ha-test" LOCAL_HA=1
LOCAL="$ROOT/deploy/local/local.sh"
source "$ROOT/scripts/pipeline.sh"  # wait_until, metric, METRICS_PORT

ok() { printf '  ok   %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; exit 1; }

"$LOCAL" reset >/dev/null 2>&1 || true
trap '"$LOCAL" down >/dev/null 2>&1 || true' EXIT
build_binaries
"$LOCAL" up
URL="$("$LOCAL" url)"
sql() { as_pg "$PG_BIN/psql" -X -qtA "$URL" -c "$1"; }
# The monitor, over TLS as every node (the superuser's certificate).
CERTS="$LOCAL_DIR/certs"
MONITOR_URL="postgresql://$PG_USER@localhost:29430/pg_auto_failover?sslmode=verify-full&sslrootcert=$CERTS/ca.crt&sslcert=$CERTS/$PG_USER.crt&sslkey=$CERTS/$PG_USER.key"
monitor() { as_pg "$PG_BIN/psql" -X -qtA "$MONITOR_URL" -c "$1"; }
state() { monitor "SELECT string_agg(nodename || ' ' || reportedstate, ', ' ORDER BY nodename) FROM pgautofailover.node"; }

[ "$(state)" = "node1 primary, node2 secondary" ] || fail "after up: $(state)"
[ "$(sql "SHOW synchronous_standby_names")" != "" ] || fail "the primary has no synchronous standby"
ok "up: node1 primary, node2 its synchronous standby ($(sql "SHOW synchronous_standby_names"))"

# 9,000 events over 30 s: a bounded load that stops by itself.
log "bss-loadgen: 30 s at 300 events/s; the failover after 10 s"
"$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages 1s:300,29s:300 --customers 500 \
    --seed 9 --connections 4 --no-progress --report "$LOCAL_DIR/report.json" >"$LOCAL_DIR/loadgen.txt" &
loadgen=$!
sleep 10
"$LOCAL" failover
failover_at="$(date +%s.%N)"
wait "$loadgen" || fail "bss-loadgen failed ($(tail -3 "$LOCAL_DIR/loadgen.txt"))"
in_sync() { [ "$(state)" = "node1 secondary, node2 primary" ]; }
wait_until 120 "node2 primary with node1 back as its standby" in_sync
ok "failover: $(state)"

# How many appends fail depends on how long the switch takes on a busy
# machine (a demote timeout adds seconds): not a thing to assert. What is
# asserted: every offered event is accounted for, the only errors are those
# of a primary going away (connection lost, shut down, read-only), and no
# acknowledged event is missing from the store.
report_check() {
    python3 - "$LOCAL_DIR/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
parts = ["acknowledged", "failed", "unknown", "not_sent", "in_flight_abandoned"]
if sum(r[k] for k in parts) != r["offered"]:
    sys.exit("the report does not balance: " + ", ".join(f"{k} {r[k]}" for k in ["offered"] + parts))
for code in list(r["errors_by_sqlstate"]) + list(r["unknown_by_sqlstate"]):
    if not (code[:2] in ("08", "57") or code in ("25006", "client")):
        sys.exit(f"an append failed with SQLSTATE {code}, not an error of a primary going away: {r['error_samples'][:3]}")
print(r["acknowledged"], r["failed"] + r["unknown"])
PY
}
read -r acked refused < <(report_check) || fail "bss-loadgen's report: $(report_check 2>&1 >/dev/null)"
[ "$(sql "SELECT count(*) FROM bss.events WHERE stream_id NOT LIKE 'anomaly-%'")" -ge "$acked" ] ||
    fail "fewer events in the store than the $acked acknowledged"
ok "every offered event accounted for: $acked acknowledged (all in the store), $refused refused or unknown during the switch"
late="$(sql "SELECT count(*) FROM bss.events WHERE recorded_at > to_timestamp($failover_at)")"
[ "$late" -gt 1000 ] || fail "the load did not go on after the failover (only $late events appended after it)"
ok "the load went on through it: $late appended after the failover"

stored="$(sql "SELECT count(*) FROM bss.events")"
in_redis() {
    local n=0 k
    for k in $("$LOCAL" redis-cli --scan --pattern 'bss:events:*'); do
        n=$((n + $("$LOCAL" redis-cli XLEN "$k")))
    done
    echo "$n"
}
all_in_redis() { stored="$(sql "SELECT count(*) FROM bss.events")"; [ "$(in_redis)" = "$stored" ]; }
wait_until 60 "every event of the store in Redis ($(in_redis) of $stored)" all_in_redis
ok "every event of the store ($stored) in Redis, one stream entry each"
recreated="$(metric bss_sidecar_source_slots_recreated_total)"
[ "$recreated" = 1 ] || fail "the sidecar made its slot anew $recreated times, not once"
ok "the sidecar made its slot anew on the new primary once and filled the gap ($(metric bss_sidecar_source_gap_fill_events_total) events)"
plain="$(sql "$PLAINTEXT_TCP_SESSIONS_SQL")"
[ "$plain" = 0 ] || fail "$plain TCP sessions with the new primary are not encrypted"
walsenders="$(sql "SELECT string_agg(usename || ' ' || ssl, ', ' ORDER BY usename) FROM pg_stat_replication JOIN pg_stat_ssl USING (pid)")"
[ "$walsenders" = "pgautofailover_replicator true, sidecar true" ] || fail "the new primary's replication sessions: $walsenders"
ok "every TCP session with the new primary is encrypted, the standby's and the sidecar's replication too ($walsenders)"
if as_pg "$PG_BIN/psql" -X -qtA "postgresql://$PG_USER@127.0.0.1:29433/bss?sslmode=disable" -c "SELECT 1" >/dev/null 2>&1; then
    fail "the new primary took a plaintext session"
fi
ok "the new primary refuses plaintext"
