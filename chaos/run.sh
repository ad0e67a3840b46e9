#!/usr/bin/env bash
# make chaos: the chaos suite. Each scenario brings up the test bed
# (chaos/testbed.sh, chaos/hosts.sh), offers a steady bss-loadgen load,
# injects its fault (chaos/fault.sh) after a warm-up, holds it, ends it, lets
# the load run on, and then bss-chaos-check accounts for every event the load
# generator sent (PostgreSQL, Kafka, Redis) while bss-listappend checks the
# isolation of stream histories. Report and chart: target/chaos/<scenario>/.
#
#   chaos/run.sh all [KEY=VALUE...]          every scenario, then a summary table
#   chaos/run.sh SCENARIO... [KEY=VALUE...]  those scenarios
#   chaos/run.sh list                        the scenarios and their faults
#
# KEY=VALUE (defaults in brackets): warmup [15] fault [20] after [20] seconds,
# rate [2000] events/s, connections [16], seed [1], latency_ms [500],
# jitter_ms [0], loss_pct [5], kill_min [2] kill_max [5] seconds between
# kills of sidecar-kill, settle [120] seconds for the sinks to catch up;
# for the region scenarios wan_ms [30] each way between the regions,
# region_latency_ms [200] during region-latency, takeover [auto] (auto: the
# region keepers' quorum takes a lost region over; command: the scenario runs
# bss.move_region), takeover_after [6] seconds of silence (auto) or of
# waiting (command) before region-loss's takeover (auto: more than lease_ttl
# plus the keepers' interval, 1 s, and peer timeout, 1 s), lease_ttl [3]
# seconds of a region's lease (rate is split between the regions).
# Exits 1 if any scenario's account is not clean.
#
# region-partition, region-latency and region-loss run on two regions
# (chaos/regions.sh): a pipeline each, joined by logical replication over a
# WAN link; each region's store, Kafka and Redis accounted for both loads,
# and both stores compared stream by stream.
#
# pg-primary-kill, pg-primary-partition and pg-standby-kill run on the HA bed (chaos/hosts.sh,
# BED_HA=1, set for them only): a primary with a synchronous standby under
# pg_auto_failover (hosts pg, pg2, monitor), clients given both nodes.
# Their report adds failover_seconds (the longest time without an
# acknowledged append across the fault) and the nodes' states at the end.
#
# restore-pitr (chaos/pitr.sh) restores the database with pgBackRest to a
# moment a third into the fault, mid-load, and brings the sidecar back with
# `bss-sidecar replay --after-restore`. Events acknowledged after that
# moment may be gone (undone_by_restore; Kafka may keep them, Redis must
# not); every one acknowledged before it must be everywhere. It runs
# without bss-listappend, whose histories a restore rewinds by design.
source "$(dirname "$0")/testbed.sh"
source "$ROOT/scripts/pipeline.sh"  # wait_until
source "$ROOT/chaos/hosts.sh"
source "$ROOT/chaos/fault.sh"
source "$ROOT/chaos/pitr.sh"
source "$ROOT/chaos/regions.sh"

SCENARIOS=(db-latency packet-loss broker-loss redis-pressure cpu-spike partition-sidecar-db
    partition-sidecar-broker sidecar-kill sidecar-pause sidecar-bandwidth pg-crash spool-disk-full
    pg-primary-kill pg-primary-partition pg-standby-kill restore-pitr
    region-partition region-latency region-loss)
# Those on the HA bed.
HA_SCENARIOS=(pg-primary-kill pg-primary-partition pg-standby-kill)
OUT="$ROOT/target/chaos"

declare -A P=([warmup]=15 [fault]=20 [after]=20 [rate]=2000 [connections]=16 [seed]=1
    [latency_ms]=500 [jitter_ms]=0 [loss_pct]=5 [kill_min]=2 [kill_max]=5 [bandwidth]=2mbit [listappend_rate]=200 [settle]=120
    [wan_ms]=30 [region_latency_ms]=200 [takeover]=auto [takeover_after]=6 [lease_ttl]=3)

describe() {
    case "$1" in
        db-latency) echo "${P[latency_ms]} ms (jitter ${P[jitter_ms]} ms) each way on PostgreSQL's link" ;;
        packet-loss) echo "${P[loss_pct]}% of packets dropped on every link" ;;
        broker-loss) echo "the broker killed (-9); an empty one replaces it at the end" ;;
        redis-pressure) echo "Redis at maxmemory with noeviction (writes refused)" ;;
        cpu-spike) echo "stress-ng on every core" ;;
        partition-sidecar-db) echo "sidecar and PostgreSQL cut off from each other" ;;
        partition-sidecar-broker) echo "sidecar and broker cut off from each other" ;;
        sidecar-kill) echo "sidecar killed (-9) every ${P[kill_min]}-${P[kill_max]} s, restarted 1 s later" ;;
        sidecar-pause) echo "sidecar frozen (SIGSTOP), resumed (SIGCONT) at the end" ;;
        sidecar-bandwidth) echo "the sidecar's outgoing link limited to ${P[bandwidth]} (tbf)" ;;
        pg-crash) echo "PostgreSQL stopped with -m immediate, started at the end" ;;
        spool-disk-full) echo "the sidecar's spool filesystem full" ;;
        pg-primary-kill) echo "HA: the primary's host killed (-9, pg_autoctl and postgres); pg_auto_failover promotes the standby; the old primary restarted at the end, rejoins as standby" ;;
        pg-primary-partition) echo "HA: the primary's host cut off from every other host (nftables); a client on it tries to append meanwhile; pg_auto_failover promotes the standby; healed at the end, the old primary rejoins as standby" ;;
        pg-standby-kill) echo "HA: the synchronous standby's host killed (-9); restarted at the end, rejoins" ;;
        region-partition) echo "regions eu and us: the link between them cut (nftables) under load in both; each appends to the streams it owns; healed, both converge" ;;
        region-latency) echo "regions eu and us: ${P[region_latency_ms]} ms each way on the link between them (${P[wan_ms]} ms otherwise)" ;;
        region-loss) if [ "${P[takeover]}" = auto ]; then
                echo "regions eu and us (and witness wt): eu's PostgreSQL, keeper and sidecar killed (-9), its broker and Redis cut off; us's keeper takes eu's streams over once us and wt have not heard from eu for ${P[takeover_after]} s, and eu's clients append to them in us; eu returns at the end, fenced until it knows the new epoch"
            else
                echo "regions eu and us: eu's PostgreSQL, keeper and sidecar killed (-9), its broker and Redis cut off; us takes eu's streams over (bss.move_region) after ${P[takeover_after]} s and eu's clients append to them in us; eu returns at the end, fenced until it knows the new epoch"
            fi ;;
        restore-pitr) echo "PostgreSQL restored with pgBackRest to a moment of the load (PITR); the sidecar stops on it, bss-sidecar replay --after-restore rebuilds the sinks, the sidecar starts again" ;;
        *) return 1 ;;
    esac
}

# inject SCENARIO: starts the fault, holds it for P[fault] seconds, ends it.
inject() {
    local hold="${P[fault]}"
    case "$1" in
        db-latency) fault_start latency pg "${P[latency_ms]}" "${P[jitter_ms]}"; sleep "$hold"; fault_end latency pg ;;
        packet-loss) fault_start loss "${P[loss_pct]}"; sleep "$hold"; fault_end loss ;;
        broker-loss) fault_start kill broker; sleep "$hold"; fault_end kill broker ;;
        redis-pressure) fault_start redis-maxmemory; sleep "$hold"; fault_end redis-maxmemory ;;
        cpu-spike) fault_start cpu; sleep "$hold"; fault_end cpu ;;
        partition-sidecar-db) fault_start partition sidecar pg; sleep "$hold"; fault_end partition ;;
        partition-sidecar-broker) fault_start partition sidecar broker; sleep "$hold"; fault_end partition ;;
        sidecar-kill)
            # Kill times from the seed: the same seed, the same schedule.
            RANDOM="${P[seed]}"
            local end=$((SECONDS + hold)) gap
            while [ $SECONDS -lt "$end" ]; do
                gap=$((P[kill_min] + RANDOM % (P[kill_max] - P[kill_min] + 1)))
                [ $((SECONDS + gap)) -le "$end" ] || gap=$((end - SECONDS))
                sleep "$gap"
                [ $SECONDS -lt "$end" ] || break
                signal KILL sidecar || true
            done ;;
        sidecar-pause) fault_start pause sidecar; sleep "$hold"; fault_end pause sidecar ;;
        sidecar-bandwidth) fault_start bandwidth sidecar "${P[bandwidth]}"; sleep "$hold"; fault_end bandwidth sidecar ;;
        pg-crash) fault_start pg-crash; sleep "$hold"; fault_end pg-crash ;;
        spool-disk-full) fault_start spool-full; sleep "$hold"; fault_end spool-full ;;
        pg-primary-kill|pg-standby-kill)
            local victim
            if [ "$1" = pg-primary-kill ]; then victim="$(ha_primary)"; else victim="$(ha_standby)"; fi
            [ -n "$victim" ] || die "$1: no node to kill (monitor: $(ha_states))"
            echo "$victim" >"$BED_DIR/run/killed-host"
            log "$1: killing host $victim ($(bed_addr "$victim"), $(ha_node "$victim")); monitor: $(ha_states)"
            fault_start host-kill "$victim"
            sleep "$hold"
            log "$1: monitor: $(ha_states); restarting $(ha_node "$victim") on $victim"
            fault_end host-kill "$victim" ;;
        restore-pitr)
            sleep $((hold / 3))
            now >"$dir/restore-target"
            sleep $((hold / 3))
            pitr_restore "$(cat "$dir/restore-target")" "$dir" ;;
        pg-primary-partition)
            local victim
            victim="$(ha_primary)"
            [ -n "$victim" ] || die "$1: no primary to cut off (monitor: $(ha_states))"
            echo "$victim" >"$BED_DIR/run/killed-host"
            log "$1: cutting host $victim ($(bed_addr "$victim"), $(ha_node "$victim")) off; monitor: $(ha_states)"
            fault_start isolate "$victim"
            # A client on the isolated primary itself: synchronous replication
            # must keep its append from being acknowledged (the standby is
            # out of reach), or the new primary would lack an acknowledged
            # event. psql_node gives up after 10 s.
            (psql_node "$(ha_node "$victim")" bss -tAc \
                "SELECT bss.append_event('isolated-$(date +%s)', 'chaos.isolated', '{}')" >"$dir/isolated-append.out" 2>&1
             echo "rc=$?" >>"$dir/isolated-append.out") &
            local isolated_client=$!
            sleep "$hold"
            wait "$isolated_client" || true
            log "$1: monitor: $(ha_states); healing the partition of $victim"
            fault_end isolate "$victim" ;;
    esac
}

is_ha() { local s; for s in "${HA_SCENARIOS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

now() { date +%s.%N; }

run_scenario() {
    if is_region_scenario "$1"; then
        run_region_scenario "$1"
        return
    fi
    local name="$1" dir="$OUT/$1"
    local fault_text total run_id
    fault_text="$(describe "$name")" || die "no scenario $name (chaos/run.sh list)"
    total=$((P[warmup] + P[fault] + P[after]))
    run_id="chaos$(date +%s)"
    rm -rf "$dir"
    mkdir -p "$dir"
    log "scenario $name: $fault_text; ${P[warmup]} s warm-up, ${P[fault]} s fault, ${P[after]} s after, ${P[rate]} events/s"
    BED_HA=""
    if is_ha "$name"; then BED_HA=1; fi
    hosts_up
    [ "$name" = restore-pitr ] && pitr_setup

    local history="$dir/history.jsonl" arrivals="$dir/arrivals.jsonl"
    spawn loadgen watch "$BIN/bss-chaos-check" watch --kafka-brokers "$(kafka_addr)" --redis-url "$(redis_url)" \
        --history "$history" --out "$arrivals" --settle-timeout "${P[settle]}s"
    [ "$name" = restore-pitr ] || spawn loadgen listappend "$BIN/bss-listappend" --database-url "$(db_url)" --run-id "$run_id" \
        --streams 4 --clients 2 --rate "${P[listappend_rate]}" --duration "${total}s" --seed "${P[seed]}" --out "$dir/listappend.json"
    spawn loadgen loadgen "$BIN/bss-loadgen" run --database-url "$(db_url)" --run-id "$run_id" --seed "${P[seed]}" \
        --stages "1s:${P[rate]},$((total - 1))s:${P[rate]}" --connections "${P[connections]}" \
        --history "$history" --report "$dir/loadgen.json" --no-progress --drain-timeout 60s

    sleep "${P[warmup]}"
    local fault_start fault_end
    fault_start="$(now)"
    log "$name: fault on"
    sidecar_metrics >"$dir/sidecar-metrics-before.txt" 2>/dev/null || true
    inject "$name"
    fault_end="$(now)"
    log "$name: fault off; load continues ${P[after]} s, then the sinks get up to ${P[settle]} s to catch up"

    local rc=0 p account_args=()
    # tansu keeps its messages in memory: what the killed broker held went
    # with it (counted apart as lost_with_broker; see the README).
    [ "$name" = broker-loss ] && account_args=(--broker-data-lost-at "$fault_start")
    [ "$name" = restore-pitr ] && account_args=(--restored-to "$(cat "$dir/restore-target")")
    wait "$(pid_of loadgen)" || { log "bss-loadgen exited with an error (log: $BED_DIR/logs/loadgen.log)"; rc=1; }
    if [ "$name" != restore-pitr ]; then
        wait "$(pid_of listappend)" || { log "bss-listappend found anomalies or failed (log: $BED_DIR/logs/listappend.log)"; rc=1; }
    fi
    wait "$(pid_of watch)" || { log "bss-chaos-check watch failed (log: $BED_DIR/logs/watch.log)"; rc=1; }
    sidecar_metrics >"$dir/sidecar-metrics-after.txt" 2>/dev/null || true
    local ha_end=""
    if [ -n "$BED_HA" ]; then
        # The restarted node back as a standby in sync (bounded; recorded
        # either way: the report says how the nodes ended).
        local _
        for _ in $(seq 60); do
            ha_synchronous "$(ha_primary)" 2>/dev/null && break
            sleep 1
        done
        ha_end="killed=$(cat "$BED_DIR/run/killed-host" 2>/dev/null || true);primary=$(ha_primary);$(ha_states)"
        log "$name: at the end: $ha_end; synchronous: $(ha_synchronous "$(ha_primary)" 2>/dev/null && echo yes || echo no)"
        ha_end="$ha_end;synchronous=$(ha_synchronous "$(ha_primary)" 2>/dev/null && echo yes || echo no)"
        if [ -f "$dir/isolated-append.out" ]; then
            # Acknowledged on the isolated primary: then the new primary must
            # have it.
            if grep -qx "rc=0" "$dir/isolated-append.out"; then
                ha_end="$ha_end;isolated_ack=yes;isolated_stored=$(psql_bed -tAc "SELECT count(*) FROM bss.events WHERE type = 'chaos.isolated'")"
            else
                ha_end="$ha_end;isolated_ack=no;isolated_stored=$(psql_bed -tAc "SELECT count(*) FROM bss.events WHERE type = 'chaos.isolated'")"
            fi
            log "$name: the isolated primary's own client: $(tr '\n' ' ' <"$dir/isolated-append.out")"
        fi
    fi
    bed_exec loadgen "$BIN/bss-chaos-check" account --scenario "$name" --fault "$fault_text" \
        --history "$history" --arrivals "$arrivals" --database-url "$(db_url)" \
        --fault-start "$fault_start" --fault-end "$fault_end" "${account_args[@]}" \
        --out "$dir/report.json" --chart "$dir/chart.svg" || rc=1
    # A second, independent read of the broker (not after broker-loss,
    # whose broker holds only what came after its replacement).
    if [ "$name" != broker-loss ]; then
        python3 -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("outcome") == "acknowledged":
        print("\n".join(r["event_ids"]))' "$history" |
            bed_exec loadgen "$PY_VENV/bin/python" "$ROOT/chaos/kafka_recount.py" "$(kafka_addr)" \
                bss.customer bss.usage bss.ticket >"$dir/kafka_recount.json" || rc=1
    fi
    # What the account cannot see: how often the sidecar started, the
    # isolation check's verdict, the parameters of the run.
    p="$(for k in "${!P[@]}"; do printf '%s=%s\n' "$k" "${P[$k]}"; done)"
    python3 - "$dir" "$BED_DIR/logs/sidecar-starts.log" "$p" "$ha_end" "$BED_DIR/logs/sidecar.log" <<'PY' || rc=1
import json, re, sys
d, starts, params, ha_end, sidecar_log = sys.argv[1:6]
r = json.load(open(f"{d}/report.json"))

def metrics(path):
    try:
        return {m[0]: float(m[1]) for m in re.findall(r"^(bss_sidecar_source_\w+) (\S+)$", open(path).read(), re.M)}
    except OSError:
        return {}
# The source's counts from the fault's start on (a restarted sidecar
# counts from its start: then only the end's figures are meaningful).
before, after = metrics(f"{d}/sidecar-metrics-before.txt"), metrics(f"{d}/sidecar-metrics-after.txt")
fills = re.findall(r"filled=(\d+) already_spooled=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", open(sidecar_log).read()))
r["source"] = {
    "events_streamed_since_fault": after.get("bss_sidecar_source_events_total", 0) - before.get("bss_sidecar_source_events_total", 0),
    "gap_fill_events_since_fault": after.get("bss_sidecar_source_gap_fill_events_total", 0) - before.get("bss_sidecar_source_gap_fill_events_total", 0),
    "slots_recreated_since_fault": after.get("bss_sidecar_source_slots_recreated_total", 0) - before.get("bss_sidecar_source_slots_recreated_total", 0),
    "gap_fills": [{"filled": int(f), "already_spooled": int(a)} for f, a in fills],
}
r["sidecar_restarts"] = max(0, sum(1 for l in open(starts) if l.startswith("start")) - 1)
try:
    la = json.load(open(f"{d}/listappend.json"))
    r["listappend_ok"] = bool(la.get("ok"))
except (OSError, ValueError):
    # restore-pitr runs without it (a restore rewinds its histories).
    r["listappend_ok"] = None if d.rstrip("/").endswith("/restore-pitr") else False
try:
    r["kafka_recount"] = json.load(open(f"{d}/kafka_recount.json"))
except (OSError, ValueError):
    pass
r["parameters"] = {k: v for k, v in (l.split("=", 1) for l in params.splitlines())}
if ha_end:
    # killed=HOST;primary=HOST;node1 REPORTED GOAL;node2 ...;synchronous=yes|no
    parts = ha_end.split(";")
    kv = dict(p.split("=", 1) for p in parts if "=" in p)
    r["ha"] = {
        "killed_host": kv.get("killed"),
        "primary_at_end": kv.get("primary"),
        "synchronous_at_end": kv.get("synchronous") == "yes",
        "nodes_at_end": {n[0]: {"reported": n[1], "goal": n[2]}
                         for n in (p.split() for p in parts if "=" not in p) if len(n) == 3},
    }
    if "isolated_ack" in kv:
        # An append acknowledged by the isolated old primary must be on the
        # new one: else an acknowledged event was lost.
        acked, stored = kv["isolated_ack"] == "yes", int(kv.get("isolated_stored") or 0)
        r["ha"]["isolated_primary"] = {"append_acknowledged": acked, "stored_on_new_primary": stored}
        if acked and stored != 1:
            r["ok"] = False
            r.setdefault("violations", []).append({"kind": "lost_isolated_ack", "detail": "an append the isolated primary acknowledged is not on the new primary"})
json.dump(r, open(f"{d}/report.json", "w"), indent=2)
sys.exit(0 if r.get("ok", True) else 1)
PY
    if [ -n "${CHAOS_KEEP_BED:-}" ]; then
        log "CHAOS_KEEP_BED: the bed stays up for inspection (make testbed-down removes it)"
        trap - EXIT
        return $rc
    fi
    cp "$BED_DIR/logs/"*.log "$BED_DIR/pg/postgres.log" "$dir/" 2>/dev/null || true
    if [ -n "$BED_HA" ]; then
        local n f
        for n in node1 node2 monitor; do
            for f in "$HA_DIR/$n/data/log/"*.log; do
                if [ -f "$f" ]; then cp "$f" "$dir/$n-$(basename "$f")"; fi
            done
        done
    fi
    hosts_down
    return $rc
}

summary() {
    python3 - "$OUT" "$@" <<'PY'
import json, sys
out, names = sys.argv[1], sys.argv[2:]
cols = ["fault", "fault_seconds", "acknowledged", "lost", "lost_with_broker", "duplicates", "out_of_order", "unknown",
        "recovery_seconds", "failover_seconds", "undone_by_restore", "append_p95_ms_before", "append_p95_ms", "sidecar_restarts", "listappend_ok", "ok"]
lines = ["| scenario | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
for n in names:
    try:
        r = json.load(open(f"{out}/{n}/report.json"))
    except (OSError, ValueError):
        lines.append(f"| {n} | (no report) |")
        continue
    def cell(v):
        if isinstance(v, float):
            return f"{v:.1f}"
        return "—" if v is None else str(v)
    lines.append(f"| {n} | " + " | ".join(cell(r.get(c)) for c in cols) + " |")
text = "\n".join(lines)
open(f"{out}/summary.md", "w").write(text + "\n")
print(text)
PY
}

main() {
    local names=() arg
    for arg in "$@"; do
        case "$arg" in
            *=*) [ -n "${P[${arg%%=*}]+x}" ] || die "unknown setting ${arg%%=*} (settings: ${!P[*]})"
                 P[${arg%%=*}]="${arg#*=}" ;;
            all) names+=("${SCENARIOS[@]}") ;;
            list) for arg in "${SCENARIOS[@]}"; do printf '  %-26s %s\n' "$arg" "$(describe "$arg")"; done; exit 0 ;;
            *) describe "$arg" >/dev/null || die "no scenario $arg (chaos/run.sh list)"; names+=("$arg") ;;
        esac
    done
    [ ${#names[@]} -gt 0 ] || die "usage: $0 all|list|SCENARIO... [KEY=VALUE...]"
    [ "$(id -u)" = 0 ] || die "the chaos suite creates network namespaces and mounts: run as root"
    trap 'hosts_down; regions_down' EXIT
    trap 'exit 130' INT TERM
    if [ -z "${CHAOS_NO_BUILD:-}" ]; then
        "$ROOT/scripts/setup.sh"
        install_pg_bss
        build_binaries
    fi
    local failed=() n
    for n in "${names[@]}"; do
        run_scenario "$n" || failed+=("$n")
    done
    summary "${names[@]}"
    [ ${#failed[@]} -eq 0 ] || die "not clean: ${failed[*]} (reports in $OUT/<scenario>/)"
    log "every scenario clean"
}

main "$@"
