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
# long a classification took after its ticket's commit.
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

# run_once NAME CONFIG: prints "NAME events cpu_seconds".
run_once() {
    local name="$1" dir="$WORK/$1" head events
    rm -rf "$dir" && mkdir -p "$dir"
    head="$(psql_b -c 'SELECT coalesce(max(global_position), 0) FROM bss.events')"
    SIDECAR_CONFIG="$2" start_sidecar "$dir"
    "$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages "10s:6667,${LOAD_SECONDS}s:6667" \
        --connections 16 --batch-size 20 --seed 7 --anomalies 0.001 --labels "$dir/labels.jsonl" \
        --report "$dir/report.json" >"$dir/loadgen.txt" 2>&1
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
grep -E '^bss_sidecar_(anomalies_total|intelligence_)' "$WORK/with/metrics.txt" || true
python3 - "$STAGE" "$base" "$with" "$WORK/with/metrics.txt" <<'PY'
import re, sys
stage, runs, metrics = sys.argv[1], sys.argv[2:4], open(sys.argv[4]).read()
rows = [a.split() for a in runs]
print(f"| sidecar | events | CPU s | CPU us/event | cores at 6,667 events/s |")
print(f"|---|---:|---:|---:|---:|")
per = {}
for name, events, cpu in rows:
    us = float(cpu) / int(events) * 1e6
    per[name] = us
    print(f"| {name} the {stage} stage | {int(events):,} | {float(cpu):.1f} | {us:.1f} | {us * 6667 / 1e6:.3f} |")
cost = per["with"] - per["without"]
print(f"\n{stage} stage: {cost:.1f} us CPU per event, {cost * 6667 / 1e6:.3f} of a core at 6,667 events/s")
if stage == "intelligence":
    def samples(name):
        return [(dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or "")), float(m.group(2)))
                for m in re.finditer(rf'^{name}(?:\{{(.*)\}})? (\S+)$', metrics, re.M)]
    by = samples("bss_sidecar_intelligence_classified_total")
    total = sum(v for _, v in by)
    modelled = sum(v for l, v in by if l.get("class") != "none")
    model_s = sum(v for _, v in samples("bss_sidecar_intelligence_model_seconds_total"))
    print(f"tickets {total:.0f}: {modelled:.0f} classified by the model ({modelled / max(total, 1):.0%}), "
          f"{total - modelled:.0f} routed without a class; model {model_s:.1f} s, "
          f"{model_s / max(modelled, 1) * 1e3:.1f} ms a classified ticket")
    buckets = [(float(l["le"]) if l["le"] != "+Inf" else float("inf"), v)
               for l, v in samples("bss_sidecar_intelligence_latency_seconds_bucket")]
    count = buckets[-1][1] if buckets else 0
    for q in (0.5, 0.95, 0.99):
        le = next((b for b, c in buckets if c >= q * count), float("nan"))
        print(f"commit to classification p{int(q * 100)}: <= {le:.3f} s")
PY
