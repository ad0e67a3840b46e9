# Sourced by chaos/run.sh (after hosts.sh and fault.sh): the region
# scenarios. Two regions, eu and us, each a whole pipeline on hosts of its
# own (chaos/testbed.sh: eu-pg, eu-sidecar, eu-broker, eu-redis; us-...):
# PostgreSQL with pg_bss in its region (bss.region), a bss-faultproxy in
# front of it for its own clients (:5432) and one for the other region
# (:5442, the WAN link: 30 ms each way by default), the sidecar, tansu and
# Redis. The regions are joined both ways with bss.add_region through the
# WAN proxies (logical replication, dblink). Each region's functions of
# chaos/hosts.sh run on its turn (in_region: RPFX names its hosts, BED_DIR
# its data), so one region is the single-pipeline bed twice.
#
# A third region, the witness wt (wt-pg: PostgreSQL with pg_bss, nothing
# else), only votes: each region's bss-region-keeper (on its pg host, so it
# dies with the region) heartbeats the other two through their WAN proxies,
# renews its region's lease (bss.region_fencing is on in eu and us) while a
# majority of the three answer and it has every epoch they know, and, with
# takeover=auto, moves a region's streams to itself when it and the others
# have not heard from that region for takeover_after seconds. A region cut
# off from both others fences itself after lease_ttl; one that returns is
# fenced until it has applied the epoch that moved its streams.
#
# The load: one bss-loadgen per region on the shared loadgen host, half the
# rate each, appending to streams of its own (its run id) in its region. In
# region-loss, when us has taken eu's streams over, a second load with eu's
# run id appends to them in us, as eu's clients are pointed at us after a
# takeover: before it, us cannot tell a stream eu made and did not send
# from a new one (the README says why). One bss-chaos-check watch per
# region reads that region's Kafka and Redis for the events of every load.
#
# At the end, per region, bss-chaos-check account: every acknowledged event
# of both loads in that region's store (or its bss.conflicts), Kafka and
# Redis; and bss-chaos-check regions: both stores hold every stream alike,
# event by event, and the same conflicts. The report adds what each
# scenario measures (convergence_seconds, takeover_seconds, rpo_events).

REGIONS=(eu us)
WITNESS=wt
VOTERS=("${REGIONS[@]}" "$WITNESS")
REGION_ROOT="$BED_DIR"
WAN_PORT=5442
REGION_SCENARIOS=(region-partition region-latency region-loss)

# in_region REGION COMMAND...: COMMAND on REGION's turn.
in_region() {
    local REGION="$1" RPFX="$1-" BED_DIR="$REGION_ROOT/$1"
    shift
    "$@"
}
other_region() { if [ "$1" = eu ]; then echo us; else echo eu; fi; }
is_region_scenario() { local s; for s in "${REGION_SCENARIOS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# How another region reaches REGION's PostgreSQL: through its WAN proxy.
region_conninfo() {
    echo "host=$(in_region "$1" bed_addr pg) port=$WAN_PORT dbname=bss user=$PG_USER connect_timeout=5"
}
# A load generator's URL: REGION's PostgreSQL, given up on when silent.
client_url() {
    echo "$(in_region "$1" db_url)?connect_timeout=2&tcp_user_timeout=3"
}
# start_load REGION NAME URL SECONDS: a load with REGION's run id, half the
# rate, for SECONDS, its history in DIR/history-NAME.jsonl.
start_load() {
    local region="$1" name="$2" url="$3" seconds="$4"
    in_region "$region" spawn loadgen "loadgen-$name" "$BIN/bss-loadgen" run --database-url "$url" \
        --run-id "$run_id$region" --seed "${P[seed]}" \
        --stages "1s:$((P[rate] / 2)),$((seconds - 1))s:$((P[rate] / 2))" --connections "$((P[connections] / 2))" \
        --history "$dir/history-$name.jsonl" --report "$dir/loadgen-$name.json" --no-progress --drain-timeout 60s
}

# On a region's turn: its PostgreSQL (in the region), proxies, broker, Redis.
region_servers_up() {
    mkdir -p "$BED_DIR/run" "$BED_DIR/logs"
    start_pg
    psql_bed -c "LOAD 'pg_bss'" -c "ALTER SYSTEM SET bss.region = '$REGION'" \
        -c "ALTER SYSTEM SET bss.region_fencing = on" -c "SELECT pg_reload_conf()" >/dev/null
    region_proxies_up
    start_broker
    start_proxy broker broker 9092 "$BROKER_PORT_INNER"
    start_redis
    start_proxy redis redis 6379 "$REDIS_PORT_INNER"
}
region_proxies_up() {
    start_proxy pg pg 5432 "$PG_PORT_INNER"
    start_proxy pg pgwan "$WAN_PORT" "$PG_PORT_INNER"
    fault_start latency pgwan "${P[wan_ms]}"
}
region_named() { [ "$(psql_bed -tAc "SELECT bss.local_region()")" = "$REGION" ]; }
# On the witness's turn: its PostgreSQL in its region, its WAN proxy.
witness_up() {
    mkdir -p "$BED_DIR/run" "$BED_DIR/logs"
    start_pg
    psql_bed -c "LOAD 'pg_bss'" -c "ALTER SYSTEM SET bss.region = '$REGION'" -c "SELECT pg_reload_conf()" >/dev/null
    start_proxy pg pgwan "$WAN_PORT" "$PG_PORT_INNER"
    fault_start latency pgwan "${P[wan_ms]}"
}
# On a region's turn: its keeper, on its pg host (quorum mode with
# takeover=auto; else it only lifts the fence once it has the epochs).
start_keeper() {
    local mode=()
    [ "${P[takeover]}" = auto ] && mode+=(--quorum)
    [ "$REGION" = "$WITNESS" ] && mode+=(--witness)
    serve pg keeper "$BIN/bss-region-keeper" --database-url "postgresql://$PG_USER@127.0.0.1:$PG_PORT_INNER/bss" \
        "${mode[@]}" --interval 1s --peer-timeout 1s --lease-ttl "${P[lease_ttl]}s" --takeover-after "${P[takeover_after]}s"
}
unfenced() { [ -z "$(psql_bed -tAc "SELECT reason FROM bss.region_fence()")" ]; }

regions_up() {
    bed_down
    local r
    for r in "${REGIONS[@]}"; do
        if mountpoint -q "$REGION_ROOT/$r/spool" 2>/dev/null; then umount "$REGION_ROOT/$r/spool"; fi
    done
    rm -rf "$REGION_ROOT"
    mkdir -p "$REGION_ROOT/run" "$REGION_ROOT/logs"
    bed_up
    for r in "${REGIONS[@]}"; do
        in_region "$r" region_servers_up
        in_region "$r" wait_until 10 "region $r's bss.region" region_named
    done
    in_region "$WITNESS" witness_up
    in_region "$WITNESS" wait_until 10 "region $WITNESS's bss.region" region_named
    for r in "${REGIONS[@]}"; do
        in_region "$r" psql_bed -c "SET client_min_messages = warning" \
            -c "SELECT bss.add_region('$(other_region "$r")', '$(region_conninfo "$(other_region "$r")")')" \
            -c "SELECT bss.add_voter('$WITNESS', '$(region_conninfo "$WITNESS")')" >/dev/null
        in_region "$WITNESS" psql_bed -c "SELECT bss.add_voter('$r', '$(region_conninfo "$r")')" >/dev/null
    done
    for r in "${VOTERS[@]}"; do
        in_region "$r" start_keeper
    done
    for r in "${REGIONS[@]}"; do
        in_region "$r" wait_until 30 "region $r's keeper lifting its fence" unfenced
        in_region "$r" start_sidecar
    done
    log "regions ${REGIONS[*]} and witness $WITNESS up and joined (WAN ${P[wan_ms]} ms each way; takeover ${P[takeover]})"
}

regions_down() {
    local r
    for r in "${VOTERS[@]}"; do
        touch "$REGION_ROOT/$r/run/sidecar.stop" 2>/dev/null || true
        if [ -f "$REGION_ROOT/$r/pg/data/postmaster.pid" ]; then
            as_pg "$PG_BIN/pg_ctl" -D "$REGION_ROOT/$r/pg/data" -m immediate stop >/dev/null 2>&1 || true
        fi
    done
    bed_down
    for r in "${REGIONS[@]}"; do
        if mountpoint -q "$REGION_ROOT/$r/spool" 2>/dev/null; then umount -l "$REGION_ROOT/$r/spool" || true; fi
    done
}

# region_count REGION ORIGIN: events appended in ORIGIN that REGION holds,
# in its streams or among its conflicts.
region_count() {
    in_region "$1" psql_bed -tAc "SELECT (SELECT count(*) FROM bss.events WHERE region = '$2')
                                        + (SELECT count(*) FROM bss.conflicts WHERE region = '$2')"
}

# converge DIR: from now, seconds until each region holds every event the
# other had appended by now (written to DIR/convergence_seconds).
converge() {
    local dir="$1" start eu_had us_had
    start="$(now)"
    eu_had="$(region_count eu eu)"
    us_had="$(region_count us us)"
    local _
    for _ in $(seq 1200); do
        if [ "$(region_count us eu)" -ge "$eu_had" ] && [ "$(region_count eu us)" -ge "$us_had" ]; then
            python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$start" "$(now)" \
                >"$dir/convergence_seconds"
            log "converged: each region holds every event the other had at the heal ($(cat "$dir/convergence_seconds") s)"
            return 0
        fi
        sleep 0.5
    done
    log "the regions did not converge within 600 s of the heal"
}

# inject_region SCENARIO DIR: starts the fault, holds it, ends it.
inject_region() {
    local hold="${P[fault]}" dir="$2"
    case "$1" in
        region-partition)
            fault_start partition eu-pg us-pg
            sleep "$hold"
            fault_end partition ;;
        region-latency)
            in_region eu fault_start latency pgwan "${P[region_latency_ms]}"
            in_region us fault_start latency pgwan "${P[region_latency_ms]}"
            sleep "$hold"
            in_region eu fault_start latency pgwan "${P[wan_ms]}"
            in_region us fault_start latency pgwan "${P[wan_ms]}" ;;
        region-loss)
            # The data centre goes dark: its database and sidecar die, its
            # broker and Redis are cut off (tansu keeps messages in memory
            # only, where a real broker keeps them on disk).
            now >"$dir/lost_at"
            ns_kill "$(bed_ns eu-pg)" || log "processes left on eu-pg"
            ns_kill "$(bed_ns eu-sidecar)" || log "processes left on eu-sidecar"
            fault_start isolate eu-broker
            fault_start isolate eu-redis
            if [ "${P[takeover]}" = auto ]; then
                log "region-loss: eu's PostgreSQL, keeper and sidecar killed; us's keeper takes eu's streams over when us and wt agree eu is lost"
                in_region us wait_until $((P[takeover_after] * 4 + 30)) "us's keeper taking eu over" served_by_us
                in_region us psql_bed -tAc "SELECT epoch FROM bss.region_owners WHERE region = 'eu'" >"$dir/takeover_epoch"
            else
                log "region-loss: eu's PostgreSQL, keeper and sidecar killed; us takes eu's streams over in ${P[takeover_after]} s"
                sleep "${P[takeover_after]}"
                in_region us psql_bed -tAc "SELECT bss.move_region('eu', reason => 'chaos: region eu lost')" >"$dir/takeover_epoch"
            fi
            now >"$dir/taken_over_at"
            # eu's clients, pointed at us, append to eu's streams there.
            start_load eu eu2 "$(client_url us)" "$(python3 -c "import sys; print(max(2, round(float(sys.argv[1]) - float(sys.argv[2]))))" "$load_end" "$(now)")"
            # What us holds of eu's events at the takeover: the rest of what
            # eu acknowledged was not replicated (the RPO).
            in_region us psql_bed -tAc "SELECT event_id FROM bss.events WHERE region = 'eu'" >"$dir/eu_events_in_us_at_takeover"
            log "region-loss: us serves eu's streams (epoch $(cat "$dir/takeover_epoch")); $(wc -l <"$dir/eu_events_in_us_at_takeover") of eu's events were replicated"
            sleep "$(python3 -c "import sys; print(max(0, float(sys.argv[1]) + $hold - float(sys.argv[2])))" "$(cat "$dir/lost_at")" "$(now)")"
            log "region-loss: eu returns"
            fault_end isolate
            in_region eu start_pg
            now >"$dir/returned_at"
            # Before its keeper runs: an append to one of its old streams.
            local old_stream
            old_stream="$(head -c 4096 "$dir/history-eu.jsonl" | grep -o '"stream_id":"[^"]*"' | head -1 | cut -d'"' -f4)"
            returned_append eu "$old_stream" >"$dir/returned_append"
            in_region eu region_proxies_up
            in_region eu start_keeper
            in_region eu start_sidecar
            in_region eu wait_until 60 "eu applying the epoch that moved its streams" served_by_us
            now >"$dir/epoch_learnt_at"
            returned_append eu "$old_stream" >>"$dir/returned_append"
            log "region-loss: eu knows the epoch; its appends to its old streams on return: $(tr '\n' ' ' <"$dir/returned_append")" ;;
    esac
}

served_by_us() { [ "$(psql_bed -tAc "SELECT served_by FROM bss.region_owners WHERE region = 'eu'")" = us ]; }
# returned_append REGION STREAM: the SQLSTATE of an append to STREAM in
# REGION (its own psql session), or "accepted".
returned_append() {
    in_region "$1" psql_bed -tA -c "DO \$\$ BEGIN
            PERFORM bss.append_event('$2', 'chaos.returned', '{}');
            RAISE NOTICE 'accepted';
        EXCEPTION WHEN OTHERS THEN RAISE NOTICE '%', SQLSTATE;
        END \$\$" 2>&1 | sed -n 's/^NOTICE: *//p'
}

run_region_scenario() {
    local name="$1" dir="$OUT/$1" fault_text total run_id r
    fault_text="$(describe "$name")"
    total=$((P[warmup] + P[fault] + P[after]))
    run_id="rg$(date +%s)"
    rm -rf "$dir"
    mkdir -p "$dir"
    log "scenario $name: $fault_text; ${P[warmup]} s warm-up, ${P[fault]} s fault, ${P[after]} s after, ${P[rate]} events/s over both regions"
    BED_HA=""
    regions_up
    local histories=() load_end
    load_end="$(python3 -c "import time; print(time.time() + $total)")"
    for r in "${REGIONS[@]}"; do histories+=(--history "$dir/history-$r.jsonl"); done
    [ "$name" = region-loss ] && histories+=(--history "$dir/history-eu2.jsonl")
    for r in "${REGIONS[@]}"; do
        in_region "$r" spawn loadgen watch "$BIN/bss-chaos-check" watch --kafka-brokers "$(in_region "$r" kafka_addr)" \
            --redis-url "$(in_region "$r" redis_url)" "${histories[@]}" --out "$dir/arrivals-$r.jsonl" \
            --settle-timeout "${P[settle]}s"
    done
    for r in "${REGIONS[@]}"; do
        start_load "$r" "$r" "$(client_url "$r")" "$total"
    done
    sleep "${P[warmup]}"
    local fault_start fault_end
    fault_start="$(now)"
    log "$name: fault on"
    inject_region "$name" "$dir"
    fault_end="$(now)"
    log "$name: fault off"
    converge "$dir"
    log "$name: load continues, then the sinks get up to ${P[settle]} s to catch up"

    local rc=0
    for r in "${REGIONS[@]}"; do
        wait "$(in_region "$r" pid_of "loadgen-$r")" || { log "bss-loadgen of $r exited with an error"; rc=1; }
    done
    if [ "$name" = region-loss ]; then
        wait "$(in_region eu pid_of loadgen-eu2)" || { log "bss-loadgen of eu's clients in us exited with an error"; rc=1; }
    fi
    for r in "${REGIONS[@]}"; do
        wait "$(in_region "$r" pid_of watch)" || { log "bss-chaos-check watch of $r failed"; rc=1; }
    done
    for r in "${REGIONS[@]}"; do
        bed_exec loadgen "$BIN/bss-chaos-check" account --scenario "$name ($r)" --fault "$fault_text" \
            "${histories[@]}" --arrivals "$dir/arrivals-$r.jsonl" --database-url "$(in_region "$r" db_url)" \
            --fault-start "$fault_start" --fault-end "$fault_end" \
            --out "$dir/report-$r.json" --chart "$dir/chart-$r.svg" || rc=1
    done
    # Replication lag before the fault: each event appended in one region
    # from its transaction's start there to its apply transaction's start in
    # the other (recorded_at in each; one clock).
    for r in "${REGIONS[@]}"; do
        in_region "$r" psql_bed -c "COPY (SELECT event_id, region, extract(epoch FROM recorded_at) FROM bss.events
            WHERE recorded_at < to_timestamp($fault_start + 60)) TO STDOUT" >"$dir/recorded-$r.tsv"
    done
    bed_exec loadgen "$BIN/bss-chaos-check" regions "${histories[@]}" \
        --database-url "$(in_region eu db_url)" --database-url "$(in_region us db_url)" \
        --out "$dir/regions.json" || rc=1
    CHAOS_TAKEOVER="${P[takeover]}" python3 - "$dir" "$fault_start" <<'PY' || rc=1
import json, os, sys
d, fault_start = sys.argv[1], float(sys.argv[2])
def read(name):
    try:
        return open(f"{d}/{name}").read().strip()
    except OSError:
        return None
regions = {r: json.load(open(f"{d}/report-{r}.json")) for r in ("eu", "us")}
compare = json.load(open(f"{d}/regions.json"))
first = regions["eu"]
r = {k: first.get(k) for k in ("fault", "fault_seconds", "acknowledged", "failed", "unknown", "append_p95_ms_before", "append_p95_ms")}
r["scenario"] = os.path.basename(d)
for k in ("lost", "duplicates", "out_of_order", "conflicted"):
    r[k] = max(rep.get(k) or 0 for rep in regions.values())
r["regions"] = regions
r["streams_identical"] = compare["ok"]
r["compare"] = compare
r["convergence_seconds"] = float(read("convergence_seconds")) if read("convergence_seconds") else None
# Replication lag of the events appended before the fault, each way.
recorded = {}
for reg in ("eu", "us"):
    recorded[reg] = {}
    for line in open(f"{d}/recorded-{reg}.tsv"):
        eid, origin, at = line.rstrip("\n").split("\t")
        recorded[reg][eid] = (origin, float(at))
lags = []
for reg, other in (("eu", "us"), ("us", "eu")):
    for eid, (origin, at) in recorded[reg].items():
        if origin == reg and at < fault_start and eid in recorded[other]:
            lags.append((recorded[other][eid][1] - at) * 1000)
lags.sort()
pct = lambda q: round(lags[min(len(lags) - 1, int(q * len(lags)))], 1) if lags else None
r["replication_lag_ms"] = {"events": len(lags), "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": round(lags[-1], 1) if lags else None}
lost_at = read("lost_at")
if lost_at:
    lost_at = float(lost_at)
    taken = float(read("taken_over_at"))
    # eu's load: its appends acknowledged, before the loss and after it.
    def acked(name):
        return [a for a in (json.loads(l) for l in open(f"{d}/history-{name}.jsonl") if l.startswith('{"stream_id"'))
                if a["outcome"] == "acknowledged"]
    before = [a for a in acked("eu") if a["done_unix"] <= lost_at]
    # eu's clients in us: when an append to a stream eu held was accepted again.
    old_streams = {a["stream_id"] for a in before}
    resumed = min((a["done_unix"] for a in acked("eu2") if a["stream_id"] in old_streams), default=None)
    r["takeover_decided_seconds"] = round(taken - lost_at, 2)
    r["takeover_seconds"] = round(resumed - lost_at, 2) if resumed else None
    present = set(l.strip() for l in open(f"{d}/eu_events_in_us_at_takeover") if l.strip())
    unreplicated = [(a["done_unix"], e) for a in before for e in a["event_ids"] if e not in present]
    r["rpo_events"] = len(unreplicated)
    r["rpo_seconds"] = round(lost_at - min(t for t, _ in unreplicated), 2) if unreplicated else 0.0
    # eu on its return: fenced (XB020) until it applied the epoch, then
    # refusing appends to the streams it lost (XB018); never accepting them.
    r["returned_appends"] = (read("returned_append") or "").split()
    r["epoch_learnt_seconds"] = round(float(read("epoch_learnt_at")) - float(read("returned_at")), 2)
    r["takeover_mode"] = os.environ.get("CHAOS_TAKEOVER")
r["ok"] = all(rep.get("ok") for rep in regions.values()) and compare["ok"]
if "returned_appends" in r:
    r["ok"] = r["ok"] and len(r["returned_appends"]) == 2 and all(s in ("XB020", "XB018") for s in r["returned_appends"])
json.dump(r, open(f"{d}/report.json", "w"), indent=2)
print(f"{r['scenario']}: {'OK' if r['ok'] else 'FAILED'}; streams identical: {compare['ok']}; "
      + ", ".join(f"{k} {r.get(k)}" for k in ("acknowledged", "lost", "conflicted", "convergence_seconds", "takeover_seconds", "rpo_events", "rpo_seconds", "returned_appends", "epoch_learnt_seconds", "replication_lag_ms") if k in r))
sys.exit(0 if r["ok"] else 1)
PY
    if [ -n "${CHAOS_KEEP_BED:-}" ]; then
        log "CHAOS_KEEP_BED: the bed stays up for inspection (make testbed-down removes it)"
        trap - EXIT
        return $rc
    fi
    for r in "${VOTERS[@]}"; do
        mkdir -p "$dir/logs-$r"
        cp "$REGION_ROOT/$r/logs/"*.log "$REGION_ROOT/$r/pg/postgres.log" "$dir/logs-$r/" 2>/dev/null || true
    done
    regions_down
    return $rc
}
