-- pg_bss 0.6.0 to 0.7.0: tenants (tenants.sql says what must hold). Every
-- row of the store gets a tenant column; the rows stored before are the
-- tenant 'default''s, which sessions that never set bss.tenant act for.

CREATE FUNCTION bss.current_tenant() RETURNS text LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'bss_current_tenant';
COMMENT ON FUNCTION bss.current_tenant() IS 'The tenant this transaction acts for: bss.tenant, ''default'' when unset; ''*'' (every tenant) for bss_admin and pg_monitor.';

-- A constant default fills the existing rows without rewriting them; new
-- rows get the tenant in effect.
DO $$
DECLARE
    t regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['bss.streams', 'bss.events', 'bss.snapshots', 'bss.dead_letters']::regclass[] LOOP
        EXECUTE format('ALTER TABLE %s ADD COLUMN tenant text NOT NULL DEFAULT ''default''', t);
        EXECUTE format('ALTER TABLE %s ALTER COLUMN tenant SET DEFAULT bss.current_tenant()', t);
    END LOOP;
END
$$;

-- Row-level security on a table with a tenant column: its rows are those of
-- the tenant in effect, or all under '*', for every command (or, reads_only,
-- for reading). The sub-selects are evaluated once per query, not per row
-- (a function per row doubled the time of a read_all page). Also used by
-- bss.create_projection.
CREATE FUNCTION bss.isolate_tenants(rel regclass, reads_only boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', rel);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s FOR %s '
                   'USING (tenant = (SELECT bss.current_tenant()) OR (SELECT bss.current_tenant()) = ''*'')',
                   rel, CASE WHEN reads_only THEN 'SELECT' ELSE 'ALL' END);
END
$$;

SELECT bss.isolate_tenants(t)
FROM unnest(ARRAY['bss.streams', 'bss.snapshots', 'bss.dead_letters']::regclass[]) t;
-- bss.events: only bss_store inserts (the append path), and every event
-- gets its stream's tenant there (the column's default, the stream lock
-- refusing another tenant's stream): a check of each inserted row cost
-- about 4 µs per append (13% of a tight loop of appends with it, 6% without).
SELECT bss.isolate_tenants('bss.events', reads_only => true);
CREATE POLICY store_appends ON bss.events FOR INSERT TO bss_store WITH CHECK (true);

-- Per-tenant counts for bss.stats.
CREATE INDEX streams_tenant_idx ON bss.streams (tenant);

-- Called by an append whose stream row the lock's UPDATE did not find (a new
-- stream, or another tenant's): refuses another tenant's stream with a clear
-- error. Runs as the extension's owner (privileges.sql), which sees every
-- tenant's streams.
CREATE FUNCTION bss.check_stream_tenant(stream_id text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    owner_tenant text;
BEGIN
    SELECT s.tenant INTO owner_tenant FROM bss.streams s WHERE s.stream_id = check_stream_tenant.stream_id;
    IF FOUND AND owner_tenant <> bss.current_tenant() THEN
        RAISE EXCEPTION 'stream "%" belongs to another tenant', stream_id
            USING ERRCODE = '42501',
                  HINT = 'Stream ids are unique across tenants: give each tenant''s streams ids of their own (e.g. customer-acme.42).';
    END IF;
END
$$;

-- Snapshots take their stream's tenant; projections hold every tenant's
-- streams, each with its tenant, and are the extension owner's from now on.
CREATE OR REPLACE FUNCTION bss.snapshot_at(stream_id text, version bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r regprocedure := bss.reducer_for(split_part(stream_id, '-', 1));
BEGIN
    -- The stream's tenant: an administrator reading every tenant ('*') takes it too.
    INSERT INTO bss.snapshots (stream_id, fingerprint, version, reducer, state, tenant)
    SELECT s.stream_id, bss.reducer_fingerprint(r), snapshot_at.version, r,
           bss.aggregate(s.stream_id, at_version => snapshot_at.version), s.tenant
    FROM bss.streams s WHERE s.stream_id = snapshot_at.stream_id
    ON CONFLICT DO NOTHING;
END
$$;

CREATE OR REPLACE FUNCTION bss.rebuild_projection(name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    p bss.projections := bss.projection_row(name);
    n bigint;
BEGIN
    -- No append may commit between the replay and this transaction's commit.
    -- Runs as the extension's owner (privileges.sql), which row-level
    -- security does not limit: every tenant's streams, each with its tenant.
    LOCK TABLE bss.streams IN SHARE MODE;
    EXECUTE format('TRUNCATE bss_projection.%I', p.name);
    EXECUTE format(
        'INSERT INTO bss_projection.%I (stream_id, state, version, updated_at, tenant) '
        'SELECT e.stream_id, bss.fold($1, NULL, e ORDER BY e.stream_version), max(e.stream_version), now(), e.tenant '
        'FROM bss.events e WHERE e.category = $2 GROUP BY e.stream_id, e.tenant', p.name)
    USING coalesce(p.reducer, bss.reducer_for(p.category)), p.category;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM bss.audit('rebuild_projection', p.name, jsonb_build_object('streams', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION bss.rebuild_projection(text) IS 'Replays the whole history of the projection''s category into it; returns the number of streams.';

CREATE OR REPLACE FUNCTION bss.create_projection(name text, category text, reducer regprocedure DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql AS $$
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid projection name "%"', coalesce(name, 'NULL')
            USING ERRCODE = 'XB009', HINT = 'Use a lower-case SQL identifier: letters, digits and _, e.g. ''customer_overview''.';
    END IF;
    PERFORM bss.check_category(category);
    IF reducer IS NOT NULL THEN
        PERFORM bss.check_reducer(reducer, 'bss.events'::regtype);
    END IF;
    IF EXISTS (SELECT 1 FROM bss.projections p WHERE p.name = create_projection.name) THEN
        RAISE EXCEPTION 'projection "%" already exists', name
            USING ERRCODE = 'XB009', HINT = 'Rebuild it with bss.rebuild_projection, or pick another name.';
    END IF;
    -- Owned by the extension's owner (this function runs as it); appends
    -- update it as bss_store, readers read their tenant's rows.
    EXECUTE format('CREATE TABLE bss_projection.%I (stream_id text PRIMARY KEY, state jsonb, '
                   'version bigint NOT NULL, updated_at timestamptz NOT NULL, '
                   'tenant text NOT NULL DEFAULT bss.current_tenant())', name);
    PERFORM bss.isolate_tenants(format('bss_projection.%I', name)::regclass);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON bss_projection.%I TO bss_store', name);
    EXECUTE format('GRANT SELECT ON bss_projection.%I TO bss_reader', name);
    INSERT INTO bss.projections (name, category, reducer) VALUES (name, category, reducer);
    PERFORM bss.audit('create_projection', name, jsonb_build_object('category', category, 'reducer', reducer::text));
    PERFORM bss.read_side_changed('bss.projections');
    PERFORM bss.rebuild_projection(name);
    RETURN format('bss_projection.%I', name)::regclass;
END
$$;
COMMENT ON FUNCTION bss.create_projection(text, text, regprocedure) IS 'Creates bss_projection.<name>(stream_id, state, version, updated_at) for a category, fills it from history, and keeps it current with every append (reducer NULL: the category''s).';

DO $$
DECLARE
    p record;
    ext_owner name := (SELECT r.rolname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles r ON r.oid = e.extowner
                       WHERE e.extname = 'pg_bss');
BEGIN
    FOR p IN SELECT pr.name FROM bss.projections pr LOOP
        EXECUTE format('ALTER TABLE bss_projection.%I ADD COLUMN tenant text NOT NULL DEFAULT ''default''', p.name);
        EXECUTE format('ALTER TABLE bss_projection.%I ALTER COLUMN tenant SET DEFAULT bss.current_tenant()', p.name);
        EXECUTE format('ALTER TABLE bss_projection.%I OWNER TO %I', p.name, ext_owner);
        PERFORM bss.isolate_tenants(format('bss_projection.%I', p.name)::regclass);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON bss_projection.%I TO bss_store', p.name);
    END LOOP;
    EXECUTE format('ALTER FUNCTION bss.create_projection(text, text, regprocedure) OWNER TO %I', ext_owner);
    EXECUTE format('ALTER FUNCTION bss.rebuild_projection(text) OWNER TO %I', ext_owner);
END
$$;
-- The grants in a fresh install's order: bss_store's, then the others'.
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT pr.name FROM bss.projections pr LOOP
        EXECUTE format('REVOKE SELECT ON bss_projection.%I FROM bss_reader', p.name);
        EXECUTE format('GRANT SELECT ON bss_projection.%I TO bss_reader', p.name);
    END LOOP;
END
$$;
-- The partitions stored before get the statistics target of their other
-- columns on the new one (partition_upkeep.sql).
SELECT bss.tune_partition(i.inhrelid::regclass) FROM pg_catalog.pg_inherits i WHERE i.inhparent = 'bss.events'::regclass;

-- bss.stats counts the rows of the tenant in effect.
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
-- The global position of the newest event (0 for an empty store): its rate
-- is the append rate, whatever recorded_at says. One tenant's: found by
-- walking back from the newest event to that tenant's.
SELECT 'head_position', '', coalesce((SELECT e.global_position FROM bss.events e
                                      WHERE (SELECT bss.current_tenant()) = '*' OR e.tenant = (SELECT bss.current_tenant())
                                      ORDER BY e.global_position DESC LIMIT 1), 0)::double precision;
COMMENT ON VIEW bss.stats IS 'Statistics for monitoring, one row per (stat, key): events_last_minute per type, streams, partition_bytes per partition, slot_lag_bytes and slot_active per pgoutput slot of this database, dead_letters, head_position; rows counted for the tenant in effect (''*'': all). Readable by pg_monitor.';

-- Privileges (privileges.sql): nothing new to PUBLIC; the functions that see
-- every tenant run as the extension's owner; the sidecar reads every tenant.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bss FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bss TO bss_store;
REVOKE ALL ON FUNCTION bss.create_projection(text, text, regprocedure), bss.rebuild_projection(text) FROM bss_admin;
GRANT EXECUTE ON FUNCTION bss.create_projection(text, text, regprocedure), bss.rebuild_projection(text) TO bss_admin;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'bss.create_projection(text, text, regprocedure)',
        'bss.rebuild_projection(text)',
        'bss.check_stream_tenant(text)']::regprocedure[] LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION bss.current_tenant() TO bss_writer, bss_reader, bss_admin, bss_sidecar, pg_monitor;
CREATE POLICY sidecar_reads_all ON bss.events FOR SELECT TO bss_sidecar USING (true);
