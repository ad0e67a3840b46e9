#!/usr/bin/env bash
# make bench-anomaly, make bench-intelligence: what a sidecar stage costs
# (benches/stage/run.sh anomaly|intelligence). The pipeline of `make demo`
# runs twice under the same bss-loadgen traffic (a 10 s ramp to 6,667
# events/s, then 400,000 a minute held for BENCH_STAGE_SECONDS, default 60,
# with labelled anomalies and the simulator's tickets): once without the
# stage, once with it (anomaly: bss-detect/detectors.toml; intelligence: an
# [intelligence] table over target/intel). For each run, the sidecar's CPU
# time (user + system, /proc) from its start until Kafka, Redis and the
# stage have everything, per event and as a share of a core at 6,667
# events/s; for the intelligence stage also what it classified and how
# long a classification took after its ticket's commit, and a third run
# with it at a real operator's share of tickets (BENCH_REAL_TICKET_SHARE,
# default 0.1%, ten times the 0.01% of a telco; the simulator's is 3%); for
# every run what
# the others paid: Kafka's and Redis's commit-to-ack latency (interpolated
# in the sidecar's histogram buckets) and bss-loadgen's append latency.
source "$(dirname "$0")/../../scripts/lib.sh"
STAGE="${1:?usage: benches/stage/run.sh anomaly|intelligence}"
URL="$("$ROOT/scripts/devdb.sh" url)"
LOAD_SECONDS="${BENCH_STAGE_SECONDS:-${BENCH_ANOMALY_SECONDS:-60}}"
WORK="$ROOT/target/bench-$STAGE"
SLOT="bss_bench_$STAGE"
source "$ROOT/scripts/pipeline.sh"
make_pg_dir "$WORK"
trap stop_pipeline EXIT
case "$STAGE" in
anomaly) STAGE_CONFIG="$ROOT/bss-detect/detectors.toml" ;;
intelligence)
    [ -f "$ROOT/target/intel/classifier.json" ] || "$ROOT/scripts/intel_classifier.sh"
    STAGE_CONFIG="$WORK/intelligence.toml"
    mkdir -p "$WORK"
    printf '[intelligence]\ndata_dir = "%s"\n' "$ROOT/target/intel" >"$STAGE_CONFIG"
    ;;
*) die "unknown stage $STAGE: anomaly or intelligence" ;;
esac
start_broker_and_redis "$WORK"
log "building bss-loadgen"
build_binaries
psql_b() { as_pg "$PG_BIN/psql" -X -qtA -v ON_ERROR_STOP=1 "$URL" "$@"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"

# run_once NAME CONFIG [bss-loadgen options]: prints "NAME events cpu_seconds".
run_once() {
    local name="$1" config="$2" dir="$WORK/$1" head events
    shift 2
    rm -rf "$dir" && mkdir -p "$dir"
    head="$(psql_b -c 'SELECT coalesce(max(global_position), 0) FROM bss.events')"
    SIDECAR_CONFIG="$config" start_sidecar "$dir"
    "$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages "10s:6667,${LOAD_SECONDS}s:6667" \
        --connections 16 --batch-size 20 --seed 7 --anomalies 0.001 --labels "$dir/labels.jsonl" \
        --report "$dir/report.json" "$@" >"$dir/loadgen.txt" 2>&1
    # What the stage appends are events too: wait for those to settle.
    settled() {
        [ "$(metric "bss_sidecar_sink_lag_events{sink=\"$STAGE\"}")" = 0 ] || return 1
        [ "$(metric bss_sidecar_intelligence_backlog)" = 0 ] || return 1
        events="$(psql_b -c "SELECT count(*) FROM bss.events WHERE global_position > $head")"
        local k r
        k="$(metric 'bss_sidecar_sink_delivered_events_total{sink="kafka"}')"
        r="$(metric 'bss_sidecar_sink_delivered_events_total{sink="redis"}')"
        [ "${k%.*}" -ge "$events" ] && [ "${r%.*}" -ge "$events" ]
    }
    wait_until 900 "the $name run delivered" settled
    sleep 1
    settled
    http_get "$METRICS_PORT" /metrics >"$dir/metrics.txt"
    local ticks
    ticks="$(cpu_ticks "$SIDECAR_PID")"
    stop_sidecar
    echo "$name $events $(python3 -c "print($ticks / $TICKS)")"
}

log "run 1: the sidecar without the $STAGE stage"
base="$(run_once without '')"
log "run 2: the sidecar with the $STAGE stage ($STAGE_CONFIG)"
with="$(run_once with "$STAGE_CONFIG")"
runs=("$base" "$with")
if [ "$STAGE" = intelligence ]; then
    share="${BENCH_REAL_TICKET_SHARE:-0.001}"
    log "run 3: with the $STAGE stage, tickets $share of events"
    runs+=("$(run_once with_real_tickets "$STAGE_CONFIG" --ticket-share "$share")")
fi
grep -E '^bss_sidecar_(anomalies_total|intelligence_)' "$WORK/with/metrics.txt" || true
python3 - "$STAGE" "$WORK" "${runs[@]}" <<'PY'
import json, re, sys
stage, work, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
def samples(name, text):
    return [(dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or "")), float(m.group(2)))
            for m in re.finditer(rf'^{name}(?:\{{(.*)\}})? (\S+)$', text, re.M)]
def quantile(buckets, q):
    """Linear within the bucket that holds the q-th observation."""
    count = buckets[-1][1] if buckets else 0
    lo_le, lo_c = 0.0, 0.0
    for le, c in buckets:
        if c >= q * count:
            if le == float("inf"):
                return lo_le
            return lo_le + (le - lo_le) * (q * count - lo_c) / max(c - lo_c, 1e-9)
        lo_le, lo_c = le, c
    return float("nan")
def bucket_list(name, text, **want):
    return [(float(l["le"]) if l["le"] != "+Inf" else float("inf"), v)
            for l, v in samples(name + "_bucket", text)
            if all(l.get(k) == v2 for k, v2 in want.items())]
rows = [a.split() for a in runs]
print(f"| sidecar | events | CPU s | CPU us/event | cores at 6,667 events/s |")
print(f"|---|---:|---:|---:|---:|")
per = {}
for name, events, cpu in rows:
    us = float(cpu) / int(events) * 1e6
    per[name] = us
    print(f"| {name} | {int(events):,} | {float(cpu):.1f} | {us:.1f} | {us * 6667 / 1e6:.3f} |")
cost = per["with"] - per["without"]
print(f"\n{stage} stage: {cost:.1f} us CPU per event, {cost * 6667 / 1e6:.3f} of a core at 6,667 events/s")
print("\n| sidecar | Kafka p50 / p95 ms | Redis p50 / p95 ms | append p50 / p95 ms | events/s |")
print("|---|---:|---:|---:|---:|")
for name, _, _ in rows:
    text = open(f"{work}/{name}/metrics.txt").read()
    cells = []
    for sink in ("kafka", "redis"):
        b = bucket_list("bss_sidecar_commit_to_ack_seconds", text, sink=sink)
        cells.append(f"{quantile(b, 0.5) * 1e3:.0f} / {quantile(b, 0.95) * 1e3:.0f}")
    report = json.load(open(f"{work}/{name}/report.json"))
    a = report.get("append_ms") or {}
    cells.append(f"{a.get('p50', float('nan')):.0f} / {a.get('p95', float('nan')):.0f}")
    cells.append(f"{report.get('achieved_rate', float('nan')):,.0f}")
    print(f"| {name} | " + " | ".join(cells) + " |")
for name, _, _ in rows[1:] if stage == "intelligence" else []:
    metrics = open(f"{work}/{name}/metrics.txt").read()
    print(f"\n{name}:")
    by = samples("bss_sidecar_intelligence_classified_total", metrics)
    total = sum(v for _, v in by)
    modelled = sum(v for l, v in by if l.get("class") != "none")
    model_s = sum(v for _, v in samples("bss_sidecar_intelligence_model_seconds_total", metrics))
    print(f"tickets {total:.0f}: {modelled:.0f} classified by the model ({modelled / max(total, 1):.0%}), "
          f"{total - modelled:.0f} routed without a class; model {model_s:.1f} s, "
          f"{model_s / max(modelled, 1) * 1e3:.1f} ms a classified ticket")
    buckets = bucket_list("bss_sidecar_intelligence_latency_seconds", metrics)
    for q in (0.5, 0.95, 0.99):
        print(f"commit to classification p{int(q * 100)}: {quantile(buckets, q):.3f} s")
PY
