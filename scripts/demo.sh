#!/usr/bin/env bash
# make demo: bring up the one-machine layout (deploy/local/local.sh: PostgreSQL
# with pg_bss, a tansu broker, redis-server, bss-sidecar, Prometheus and its
# exporters), append a realistic sample of BSS events, show them back with
# psql, then as they arrived in Kafka and Redis, the anomaly the sidecar
# found, and the key numbers from Prometheus. The layout keeps running
# afterwards (make demo-stop stops it).
source "$(dirname "$0")/lib.sh"
LOCAL="$ROOT/deploy/local/local.sh"
"$LOCAL" up
URL="$("$LOCAL" url)"
SLOT=bss_local
source "$ROOT/scripts/pipeline.sh"   # its ports and helpers (http_get, wait_until)
psql_demo() { as_pg "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 "$URL" "$@"; }

RUN="$(date +%s)"
# Everything this run appends comes after the current head of the store.
START="$(psql_demo -tAc "SELECT coalesce(max(global_position), 0) FROM bss.events")"
log "appending a sample of BSS traffic (run $RUN)"
psql_demo -q -v run="$RUN" <<'SQL'
-- 50 customers: created, subscribed, using voice/SMS/data, billed, paying, some calling support.
SELECT bss.append_event('customer-' || :run || '-' || c, 'customer.created',
         jsonb_build_object('name', 'Customer ' || c, 'segment', (ARRAY['consumer','business','enterprise'])[1 + c % 3],
                            'msisdn', '3161' || lpad((1000000 + c)::text, 7, '0')),
         expected_version => 0, source => '/crm')
FROM generate_series(1, 50) c;

SELECT bss.append_event('customer-' || :run || '-' || c, 'subscription.activated',
         jsonb_build_object('plan', (ARRAY['prepaid-s','postpaid-m','unlimited-xl'])[1 + c % 3],
                            'monthly_fee', (ARRAY[10, 25, 60])[1 + c % 3]),
         expected_version => 1, source => '/provisioning')
FROM generate_series(1, 50) c;

-- Usage records (CDRs) arrive from mediation in batches of 20 per customer.
SELECT bss.append_events('usage-' || :run || '-' || c,
         (SELECT jsonb_agg(jsonb_build_object(
             'type', 'usage.recorded',
             'source', '/mediation',
             'subject', 'customer-' || :run || '-' || c,
             'data', jsonb_build_object(
                 'kind', k.kind, 'msisdn', '3161' || lpad((1000000 + c)::text, 7, '0'),
                 'cell', 'NL-AMS-' || (100 + (c * 7 + i) % 40),
                 'bytes', CASE k.kind WHEN 'data' THEN (i * 7919 % 50000000) ELSE 0 END,
                 'seconds', CASE k.kind WHEN 'voice' THEN (i * 37 % 900) ELSE 0 END,
                 'charge', round(((i * 13 % 100) / 100.0)::numeric, 2))))
          FROM generate_series(1, 20) i
          CROSS JOIN LATERAL (SELECT (ARRAY['data','data','data','voice','sms'])[1 + i % 5] AS kind) k))
FROM generate_series(1, 50) c;

-- One data session of 60 GB on an ordinary plan: the sidecar's anomaly stage
-- (bss-detect/detectors.toml) flags it and appends an anomaly.detected event.
SELECT bss.append_event('usage-' || :run || '-7', 'usage.recorded',
         jsonb_build_object('kind', 'data', 'msisdn', '31611000007', 'cell', 'NL-AMS-117',
                            'bytes', 60000000000, 'seconds', 0, 'charge', 0.0),
         source => '/mediation', subject => 'customer-' || :run || '-7');

SELECT bss.append_event('customer-' || :run || '-' || c, 'invoice.issued',
         jsonb_build_object('invoice', 'INV-' || :run || '-' || c, 'amount', (ARRAY[10, 25, 60])[1 + c % 3] + c % 7,
                            'currency', 'EUR', 'period', to_char(now(), 'YYYY-MM')),
         source => '/billing')
FROM generate_series(1, 50) c;

SELECT bss.append_event('customer-' || :run || '-' || c, 'payment.received',
         jsonb_build_object('invoice', 'INV-' || :run || '-' || c, 'amount', (ARRAY[10, 25, 60])[1 + c % 3] + c % 7,
                            'method', (ARRAY['sepa','card','ideal'])[1 + c % 3]),
         source => '/payments')
FROM generate_series(1, 50) c WHERE c % 10 <> 0;   -- every tenth customer has not paid yet

-- Support tickets arrive as CloudEvents from the CRM.
SELECT bss.append_cloudevents(jsonb_agg(jsonb_build_object(
         'specversion', '1.0', 'id', 'T-' || :run || '-' || c, 'source', '/crm/tickets', 'type', 'ticket.opened',
         'subject', 'ticket-' || :run || '-' || c, 'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
         'customer', 'customer-' || :run || '-' || c,
         'data', jsonb_build_object('text', (ARRAY['No signal at home since Monday', 'Invoice amount looks wrong',
                                                   'Roaming data not working'])[1 + c % 3]))))
FROM generate_series(1, 50, 5) c;
SQL

log "reading it back"
psql_demo -v run="$RUN" -v start="$START" <<'SQL'
\echo '--- one customer, as its stream (bss.read_stream):'
SELECT stream_version AS v, type, source, data FROM bss.read_stream('customer-' || :run || '-7');

\echo '--- events of this run by type:'
SELECT type, count(*) FROM bss.read_all(:start, 10000) GROUP BY type ORDER BY count(*) DESC;

\echo '--- the usage category for member 0 of a consumer group of 4 (bss.read_category), first 5:'
SELECT global_position, stream_id, data->>'kind' AS kind, data->>'charge' AS charge
FROM bss.read_category('usage', :start, 5, consumer_member => 0, consumer_size => 4);

\echo '--- unpaid invoices, from the events alone:'
SELECT i.stream_id, i.data->>'invoice' AS invoice, i.data->>'amount' AS amount
FROM bss.events i
WHERE i.type = 'invoice.issued' AND i.stream_id LIKE 'customer-' || :run || '-%'
  AND NOT EXISTS (SELECT 1 FROM bss.events p WHERE p.stream_id = i.stream_id AND p.type = 'payment.received')
ORDER BY 1;

\echo '--- a CloudEvent as stored (original id kept in metadata.ce_id):'
SELECT stream_id, type, source, metadata, data FROM bss.read_stream('ticket-' || :run || '-1');

\echo '--- the whole store, its last three events (bss.read_all), and partitions (bss.partitions):'
SELECT count(*) AS events_total, max(global_position) AS head FROM bss.events;
SELECT global_position, stream_id, type FROM bss.read_all((SELECT max(global_position) - 3 FROM bss.events));
SELECT partition, from_time, to_time, row_count FROM bss.partitions ORDER BY from_time;

\echo '--- a stale writer is refused (expected_version 1, the stream is further):'
\set ON_ERROR_STOP 0
SELECT bss.append_event('customer-' || :run || '-7', 'customer.updated', '{"segment": "business"}', expected_version => 1);
SQL

log "the same events, forwarded by bss-sidecar"
# Redis and Kafka speak TLS only: local.sh gives the client settings.
R() { "$LOCAL" redis-cli "$@"; }
ticket_in_redis() { [ "$(R HGET "bss:agg:ticket-$RUN-46" version)" = 1 ]; }
wait_until 60 "ticket events in Redis" ticket_in_redis
echo "--- Redis: the latest state of customer-$RUN-7 (bss:agg:*, merge-patch of its events):"
R HGETALL "bss:agg:customer-$RUN-7"
echo "--- Redis: the newest usage record in the category's stream (bss:events:usage):"
R XREVRANGE bss:events:usage + - COUNT 1
echo "--- Redis: events per type per minute (bss:count:*):"
for k in $(R --scan --pattern 'bss:count:*' | sort); do echo "$k: $(R HGETALL "$k" | paste -sd' ')"; done
echo "--- Kafka: the first two messages of topic bss.customer (read with confluent-kafka):"
mapfile -t kafka_tls < <("$LOCAL" kafka-config | grep -v '^bootstrap' | sed 's/^/--config=/')
"$PY_VENV/bin/python" "$ROOT/bss-sidecar/tests/kafka_dump.py" --bootstrap "localhost:$KAFKA_PORT" "${kafka_tls[@]}" \
    --topic bss.customer --expect 2 --timeout 30
echo "--- anomalies the sidecar's detectors found in this run, appended back as events:"
if [[ -n "${SIDECAR_CONFIG-x}" ]]; then
    flagged() { [ -n "$(psql_demo -qtA -c "SELECT 1 FROM bss.events WHERE type = 'anomaly.detected' AND global_position > $START AND data->>'key' = '31611000007' LIMIT 1")" ]; }
    wait_until 60 "the 60 GB session flagged" flagged
    psql_demo -c "SELECT stream_id, data->>'key' AS key, data->>'value' AS value, round((data->>'score')::numeric, 2) AS score, data->>'source_event_type' AS source_type FROM bss.events WHERE type = 'anomaly.detected' AND global_position > $START ORDER BY global_position"
fi
echo "--- the key numbers, from Prometheus (deploy/local/prom.py numbers):"
# The recording rules are evaluated every 15 s, over rates of 5 s scrapes.
"$ROOT/deploy/local/prom.py" wait 'sum(bss:sink_delivered:rate1m{sink="kafka"})' 60
"$ROOT/deploy/local/prom.py" numbers
log "done. The local layout keeps running: psql $URL; status page http://127.0.0.1:$METRICS_PORT/;"
log "Prometheus http://127.0.0.1:29090/. Stop it with: make demo-stop"
