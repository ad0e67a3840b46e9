-- pg_bss 0.12.0 -> 0.13.0: fencing a region and the region keepers' quorum
-- (sql/region_fencing.sql: bss.regions.replicated, the lease, the keepers'
-- contacts and heartbeat, bss.add_voter), bss.stats' region_fenced, and the
-- privileges of the new objects.


-- Regions that only vote in the keepers' quorum (witnesses) are known here
-- without replicating with this one.
ALTER TABLE bss.regions ADD COLUMN replicated boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN bss.regions.replicated IS 'False for a region added by bss.add_voter: it counts in the keepers'' quorum; its events (if any) are not replicated here.';

CREATE TABLE bss.region_lease (
    only_row         boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    lease_until      timestamptz NOT NULL,
    postmaster_start timestamptz NOT NULL,
    renewed_at       timestamptz NOT NULL,
    reason           text NOT NULL
);
COMMENT ON TABLE bss.region_lease IS 'Until when this region may append to the streams it owns (bss.region_fencing on): renewed by its bss-region-keeper, valid for the server start it was given in only.';

CREATE TABLE bss.region_contacts (
    region       text PRIMARY KEY,
    witness      boolean NOT NULL,
    last_contact timestamptz NOT NULL
);
COMMENT ON TABLE bss.region_contacts IS 'When each region''s keeper last called bss.region_heartbeat here (this region''s own keeper included).';

-- Why this region may not append to the streams it owns now, else no
-- reason (NULL). One SELECT, inlined into the append path's owner lookup.
CREATE FUNCTION bss.region_fence() RETURNS TABLE (reason text)
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN NOT coalesce(current_setting('bss.region_fencing', true)::boolean, false) THEN NULL
        WHEN l.lease_until IS NULL THEN 'no region keeper has given this region a lease yet'
        WHEN l.postmaster_start IS DISTINCT FROM pg_catalog.pg_postmaster_start_time()
            THEN 'the server restarted since its last lease: its keeper has not confirmed the epochs since'
        WHEN l.lease_until <= statement_timestamp()
            THEN format('its lease ran out at %s (last renewed: %s)', l.lease_until, l.reason)
    END
    FROM (SELECT) one LEFT JOIN bss.region_lease l ON true
$$;
COMMENT ON FUNCTION bss.region_fence() IS 'Why this region may not append to the streams it owns now (bss.region_fencing on and no valid lease), else NULL.';

CREATE FUNCTION bss.renew_region_lease(until timestamptz, reason text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bss.check_in_a_region();
    IF until IS NULL OR reason IS NULL OR reason = '' THEN
        RAISE EXCEPTION 'a region lease needs an end and a reason'
            USING ERRCODE = 'XB009', HINT = 'SELECT bss.renew_region_lease(now() + interval ''5 seconds'', ''confirmed by eu, us''); ''infinity'' lifts the fence until the server restarts, ''-infinity'' fences now.';
    END IF;
    INSERT INTO bss.region_lease AS l (lease_until, postmaster_start, renewed_at, reason)
    VALUES (until, pg_catalog.pg_postmaster_start_time(), clock_timestamp(), reason)
    ON CONFLICT (only_row) DO UPDATE
        SET lease_until = excluded.lease_until, postmaster_start = excluded.postmaster_start,
            renewed_at = excluded.renewed_at, reason = excluded.reason;
END
$$;
COMMENT ON FUNCTION bss.renew_region_lease(timestamptz, text) IS 'Lets this region append to the streams it owns until the given time, for this server start (bss-region-keeper calls it; an operator may, once sure no other region took its streams over).';

-- Called by every region's keeper in every region, its own included: records
-- the call and answers with what the caller's decisions need from here.
CREATE FUNCTION bss.region_heartbeat(from_region text, witness boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    here text := bss.local_region();
BEGIN
    PERFORM bss.check_in_a_region();
    PERFORM bss.check_region_name(from_region, 'region');
    INSERT INTO bss.region_contacts AS c (region, witness, last_contact)
    VALUES (from_region, coalesce(witness, false), clock_timestamp())
    ON CONFLICT (region) DO UPDATE SET witness = excluded.witness, last_contact = excluded.last_contact;
    RETURN jsonb_build_object(
        'region', here,
        'now', clock_timestamp(),
        'fenced', (SELECT f.reason FROM bss.region_fence() f),
        'epochs', coalesce((SELECT jsonb_agg(jsonb_build_array(e.region, e.epoch, e.decided_in))
                            FROM bss.region_epochs e), '[]'),
        'owners', (SELECT jsonb_object_agg(r.region, coalesce(o.served_by, r.region))
                   FROM (SELECT here AS region UNION SELECT g.region FROM bss.regions g WHERE g.replicated) r
                   LEFT JOIN bss.region_owners o ON o.region = r.region),
        'contacts', coalesce((SELECT jsonb_object_agg(c.region, jsonb_build_object(
                                  'silent_ms', (extract(epoch FROM clock_timestamp() - c.last_contact) * 1000)::bigint,
                                  'witness', c.witness))
                              FROM bss.region_contacts c), '{}'));
END
$$;
COMMENT ON FUNCTION bss.region_heartbeat(text, boolean) IS 'A region keeper''s call: records it, and returns this region''s epochs, who serves each home region, how long each keeper has been silent here, and why this region is fenced (if it is).';

CREATE FUNCTION bss.add_voter(region text, conninfo text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bss.check_in_a_region();
    PERFORM bss.check_region_name(region, 'region');
    IF region = bss.local_region() THEN
        RAISE EXCEPTION 'region % is this database''s own region', region
            USING ERRCODE = 'XB009', HINT = 'Add the other regions, each by the name its bss.region has.';
    END IF;
    IF EXISTS (SELECT FROM bss.regions r WHERE r.region = add_voter.region AND r.replicated) THEN
        RAISE EXCEPTION 'region % replicates with this one already', region
            USING ERRCODE = 'XB009', HINT = 'A region joined with bss.add_region votes in the quorum already.';
    END IF;
    INSERT INTO bss.regions AS r (region, conninfo, replicated) VALUES (region, conninfo, false)
    ON CONFLICT ON CONSTRAINT regions_pkey DO UPDATE SET conninfo = excluded.conninfo;
END
$$;
COMMENT ON FUNCTION bss.add_voter(text, text) IS 'Records a region that counts in the region keepers'' quorum without replicating with this one (a witness: three regions, two of them appending).';

-- bss.stats says whether this region is fenced (observability.sql).
CREATE OR REPLACE VIEW bss.stats (stat, key, value) AS
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

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bss FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA bss FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bss TO bss_store;

-- Fencing (region_fencing.sql): the append path reads the lease; the
-- keeper runs as a superuser (it moves regions).
GRANT SELECT ON bss.region_lease TO bss_store;
GRANT SELECT ON bss.region_lease, bss.region_contacts TO bss_admin;
GRANT EXECUTE ON FUNCTION bss.region_fence() TO bss_admin;
-- bss.stats' region_fenced row, read by pg_monitor.
GRANT EXECUTE ON FUNCTION bss.region_fence(), bss.local_region() TO pg_monitor;
GRANT SELECT ON bss.region_lease TO pg_monitor;
