-- pg_bss: observability. The view bss.stats, one row per (stat, key), for a
-- Prometheus postgres_exporter to scrape (deploy/monitoring/postgres_exporter/
-- queries.yaml turns it into bss_stats_value{stat, key}). Loaded last by
-- CREATE EXTENSION pg_bss (extension_sql_file! finalize); what 0.4.0 added
-- came with pg_bss--0.3.0--0.4.0.sql.
--
-- What must hold:
--   * Reading the view is cheap at any store size: no statement in it scans
--     bss.events beyond the last minute's pages, or a table of the store in
--     full, except bss.dead_letters (which should stay small) and bss.streams
--     while it is small.
--   * Its shape (stat text, key text, value double precision) never changes:
--     dashboards and alerts select on stat and key.
--   * The counts of rows (events_last_minute, streams, dead_letters,
--     head_position) are the tenant's in effect (tenants.sql), or every
--     tenant's under '*'; the view runs as its owner, so it filters itself.
--     Partition sizes and replication slots are the server's, not a tenant's.

-- Events of the last minute are found by recorded_at. A BRIN index is a few
-- pages per partition and costs an append next to nothing; the newest heap
-- pages are not summarized yet and are always read, which is where the last
-- minute is. autosummarize lets autovacuum summarize each range once it fills.
-- (On an update from 0.3.0 this builds the index on every partition; it holds
-- a SHARE lock, so appends wait for about one read of the store.)
CREATE INDEX events_recorded_at_brin ON bss.events USING brin (recorded_at) WITH (autosummarize = on);

CREATE VIEW bss.stats (stat, key, value) AS
-- Events recorded in the last complete minute, per type. recorded_at is the
-- appending transaction's start time, so an event is counted in the minute
-- its transaction began.
SELECT 'events_last_minute'::text, e.type, count(*)::double precision
FROM bss.events e
WHERE e.recorded_at >= date_trunc('minute', now()) - interval '1 minute'
  AND e.recorded_at < date_trunc('minute', now())
  AND ((SELECT bss.current_tenant()) = '*' OR e.tenant = (SELECT bss.current_tenant()))
GROUP BY e.type
UNION ALL
-- Streams in the store: exact while there are fewer than 100,000, then the
-- planner's estimate (autovacuum keeps it within a few percent), so that a
-- scrape never counts millions of rows. One tenant's: exact, by its index.
SELECT 'streams', '', CASE WHEN (SELECT bss.current_tenant()) <> '*'
                                THEN (SELECT count(*) FROM bss.streams s WHERE s.tenant = (SELECT bss.current_tenant()))::double precision
                           WHEN c.reltuples >= 100000 THEN c.reltuples::double precision
                           ELSE (SELECT count(*) FROM bss.streams)::double precision END
FROM pg_class c WHERE c.oid = 'bss.streams'::regclass
UNION ALL
SELECT 'partition_bytes', c.oid::regclass::text, pg_total_relation_size(c.oid)::double precision
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'bss.events'::regclass
UNION ALL
-- The logical slots of this database that decode with pgoutput, as the
-- sidecar's do: how much WAL each holds back, and whether a consumer is on it.
SELECT 'slot_lag_bytes', s.slot_name::text,
       coalesce(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
                                s.confirmed_flush_lsn), 0)::double precision
FROM pg_replication_slots s
WHERE s.slot_type = 'logical' AND s.plugin = 'pgoutput' AND s.database = current_database()
UNION ALL
SELECT 'slot_active', s.slot_name::text, CASE WHEN s.active THEN 1 ELSE 0 END::double precision
FROM pg_replication_slots s
WHERE s.slot_type = 'logical' AND s.plugin = 'pgoutput' AND s.database = current_database()
UNION ALL
SELECT 'dead_letters', '', count(*)::double precision FROM bss.dead_letters d
WHERE (SELECT bss.current_tenant()) = '*' OR d.tenant = (SELECT bss.current_tenant())
UNION ALL
-- Events of each region that conflicted (regions.sql: kept in bss.conflicts,
-- never in a stream); an alert fires on any increase.
SELECT 'region_conflicts', c.region, count(*)::double precision FROM bss.conflicts c
WHERE (SELECT bss.current_tenant()) = '*' OR c.tenant = (SELECT bss.current_tenant())
GROUP BY c.region
UNION ALL
-- 1 while this region may not append to its own streams (region_fencing.sql:
-- bss.region_fencing on and no valid lease from its keeper), else 0; no row
-- in a database without a region. An alert fires when it stays 1.
SELECT 'region_fenced', bss.local_region(), CASE WHEN f.reason IS NULL THEN 0 ELSE 1 END::double precision
FROM bss.region_fence() f
WHERE bss.local_region() <> 'local'
UNION ALL
-- The global position of the newest event (0 for an empty store): its rate
-- is the append rate, whatever recorded_at says. One tenant's: found by
-- walking back from the newest event to that tenant's.
SELECT 'head_position', '', coalesce((SELECT e.global_position FROM bss.events e
                                      WHERE (SELECT bss.current_tenant()) = '*' OR e.tenant = (SELECT bss.current_tenant())
                                      ORDER BY e.global_position DESC LIMIT 1), 0)::double precision;
COMMENT ON VIEW bss.stats IS 'Statistics for monitoring, one row per (stat, key): events_last_minute per type, streams, partition_bytes per partition, slot_lag_bytes and slot_active per pgoutput slot of this database, dead_letters, region_conflicts per region, region_fenced, head_position; rows counted for the tenant in effect (''*'': all). Readable by pg_monitor.';

-- Monitoring roles read it without any other right on the store.
GRANT USAGE ON SCHEMA bss TO pg_monitor;
GRANT SELECT ON bss.stats TO pg_monitor;
