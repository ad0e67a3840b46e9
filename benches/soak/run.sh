#!/usr/bin/env bash
# make soak DURATION=1h (any length bss-loadgen reads: 30m, 2h, ...): the
# whole pipeline as make bench-e2e runs it (the devdb, a tansu broker,
# redis-server, bss-sidecar; bss-loadgen offering BSS traffic and reading it
# back from Kafka) at 1x, 6,667 events/s, for DURATION (BENCH_GROUP_APPEND=
# calls sends its groups as append_events calls). Every process's
# memory and CPU are sampled each SOAK_INTERVAL seconds (default 60) from
# /proc, with the machine's (steal, memory available, page reclaim) and
# PostgreSQL's WAL and checkpoints. The
# report: the load's account (nothing lost), CPU per event (over the run,
# and per SOAK_WINDOW_MINUTES, default 10, beside the latency), and
# each part's private memory (RssAnon) growth per hour, least squares after
# the first SOAK_SKIP_MINUTES (default 25: the anomaly stage's keyed
# detectors forget a key after at most 15 idle minutes, so their key counts
# settle by then, and the memory with them); it fails when a part grows faster
# than SOAK_MAX_MB_PER_HOUR (default 16). The broker, Redis and the load
# generator are reported but not judged: tansu's memory storage keeps every
# message (lz4-compressed, below), Redis the latest state of every stream
# (its category streams are trimmed, below), and bss-loadgen
# keeps an account of every event it offered (about 100 bytes each, 2.4 GB
# an hour at 1x) to find at the end any acknowledged one that never reached
# Kafka. Files in target/soak/.
source "$(dirname "$0")/../../scripts/lib.sh"
URL="$("$ROOT/scripts/devdb.sh" url)"
DURATION="${DURATION:-1h}"
INTERVAL="${SOAK_INTERVAL:-60}"
MAX_GROWTH="${SOAK_MAX_MB_PER_HOUR:-16}"
SKIP="${SOAK_SKIP_MINUTES:-25}"
WORK="$ROOT/target/soak"
SLOT=bss_soak
# 1x: 400,000 events a minute.
RATE=6667
source "$ROOT/scripts/pipeline.sh"
source "$ROOT/benches/usage.sh"
make_pg_dir "$WORK"
# The store keeps every event: about 630 bytes each on disk at 1x (the
# table and its indexes; 2026-12-06), 15 GB an hour, plus up to
# max_wal_size of WAL. Refuse to start a soak the devdb's disk cannot hold.
secs=$(python3 -c 'import re, sys
d = sys.argv[1]
print(sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in re.findall(r"(\d+)([hms])", d)) or int(d))' "$DURATION") ||
    die "soak: DURATION=$DURATION is not a duration like 1h, 30m or 1h30m"
need_mb=$(( secs * RATE * 630 / 1000000 + 5000 ))
free_mb=$(df -Pm "${DEVDB:-$ROOT/target/devdb}" | awk 'NR == 2 { print $4 }')
[ "$free_mb" -ge "$need_mb" ] ||
    die "soak: $DURATION at $RATE events/s needs about $need_mb MB for the devdb's events and WAL, and its disk has $free_mb MB free; free space (make devdb-reset empties the devdb) or run shorter"
rm -rf "$WORK/spool" "$WORK/usage.jsonl"
SAMPLER=""
trap '[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true; stop_pipeline' EXIT
# The sidecar runs as bss-sidecar/sidecar.example.toml advises for a long
# run: Kafka records compressed with lz4 and Redis's category streams
# trimmed to about SOAK_STREAM_MAXLEN entries each (default 500,000), so the
# broker's and Redis's memory last an hour on this machine.
{
    cat "$ROOT/bss-detect/detectors.toml"
    printf '\n[kafka.properties]\n"compression.type" = "lz4"\n\n[redis]\nstream_maxlen = %s\n' \
        "${SOAK_STREAM_MAXLEN:-500000}"
} >"$WORK/sidecar.toml"
SIDECAR_CONFIG="$WORK/sidecar.toml"
# What the sidecar's memory holds besides its buffers: the anomaly stage's
# keys (one series per MSISDN, cell or customer seen within its idle time)
# and the events spooled, sampled beside its memory.
USAGE_METRICS="bss_sidecar_detector_keys bss_sidecar_spool_depth"
# PostgreSQL's WAL (bytes, full-page images) and checkpoints, per window.
USAGE_PG="$URL"
start_measured_pipeline "$WORK" "$INTERVAL"

log "soak: $RATE events/s for $DURATION, memory sampled every ${INTERVAL}s"
"$ROOT/target/release/bss-loadgen" run --database-url "$URL" --stages "10s:$RATE,$DURATION:$RATE" \
    --connections 8 --batch-size 20 --seed 42 --group-append "${BENCH_GROUP_APPEND:-streams}" \
    --kafka-brokers "127.0.0.1:$KAFKA_PORT" --e2e-timeout 120s \
    --report "$WORK/report.json" --chart "$WORK/chart.svg" >"$WORK/loadgen.txt"
stop_usage_sampler
python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"offered {r['offered']:,}, acknowledged {r['acknowledged']:,}, failed {r['failed']:,}, "
      f"lost {r.get('lost')}, duplicates {r.get('duplicates')}; end to end p95 {r['end_to_end_ms']['p95']} ms")
if r["failed"] or r.get("lost") or r.get("lost") is None:
    sys.exit("soak: appends failed or events were lost (or never looked for in Kafka)")
PY
log "CPU per stage (user + system, from /proc):"
python3 "$ROOT/benches/proc_usage.py" stages "$WORK/usage.jsonl" "$WORK/report.json" | tee "$WORK/cpu.md"
log "per ${SOAK_WINDOW_MINUTES:-10} minutes: CPU per event (µs) by part, the machine, latency:"
python3 "$ROOT/benches/proc_usage.py" windows "$WORK/usage.jsonl" "$WORK/report.json" \
    --minutes "${SOAK_WINDOW_MINUTES:-10}" | tee "$WORK/windows.md"
python3 "$ROOT/benches/proc_usage.py" trend "$WORK/usage.jsonl" --max-mb-per-hour "$MAX_GROWTH" \
    --skip-minutes "$SKIP" --not-judged broker redis loadgen | tee "$WORK/memory.txt"
