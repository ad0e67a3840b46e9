-- pg_bss 0.5.0 to 0.6.0: least privilege (privileges.sql says what must hold).

-- Runs as the extension's owner from now on, so it counts partitions of
-- bss.events only.
CREATE OR REPLACE FUNCTION bss.partition_row_count(part regclass) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE n bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i
                   WHERE i.inhrelid = part AND i.inhparent = 'bss.events'::regclass) THEN
        RAISE EXCEPTION '% is not a partition of bss.events', part
            USING ERRCODE = 'XB009', HINT = 'SELECT partition FROM bss.partitions lists them.';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', part) INTO n;
    RETURN n;
END
$$;

-- Projections are readable by bss_reader.
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
    EXECUTE format('CREATE TABLE bss_projection.%I (stream_id text PRIMARY KEY, state jsonb, '
                   'version bigint NOT NULL, updated_at timestamptz NOT NULL)', name);
    EXECUTE format('GRANT SELECT ON bss_projection.%I TO bss_reader', name);
    INSERT INTO bss.projections (name, category, reducer) VALUES (name, category, reducer);
    PERFORM bss.read_side_changed('bss.projections');
    PERFORM bss.rebuild_projection(name);
    RETURN format('bss_projection.%I', name)::regclass;
END
$$;

-- What an earlier layout granted on the store's tables (the three-VM
-- bootstrap gave bss_writer INSERT on bss.events and UPDATE on bss.streams)
-- is taken back: from here on only the owner and bss_store write them, and
-- the grants below are all there is.
DO $$
DECLARE
    t regclass;
    g text;
BEGIN
    FOR t, g IN
        SELECT DISTINCT c.oid::regclass, CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                              ELSE pg_catalog.quote_ident(a.grantee::regrole::text) END
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
        WHERE n.nspname IN ('bss', 'bss_projection') AND a.grantee <> c.relowner
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', t, g);
    END LOOP;
END
$$;

-- bss.stats for monitoring roles, as observability.sql grants it.
GRANT SELECT ON bss.stats TO pg_monitor;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['bss_writer', 'bss_reader', 'bss_admin', 'bss_sidecar', 'bss_store'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
    -- Whoever could act as bss_store could write events past every check.
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'bss_store' AND (rolcanlogin OR rolbypassrls OR rolsuper))
       OR EXISTS (SELECT FROM pg_catalog.pg_auth_members WHERE roleid = 'bss_store'::regrole) THEN
        RAISE EXCEPTION 'role bss_store exists and can log in, is a superuser, bypasses row-level security or has members'
            USING ERRCODE = '42501',
                  HINT = 'bss_store owns the store''s functions and must be NOLOGIN NOSUPERUSER NOBYPASSRLS without members: ALTER ROLE bss_store NOLOGIN NOSUPERUSER NOBYPASSRLS, REVOKE bss_store FROM ...';
    END IF;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bss FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA bss FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA bss FROM PUBLIC;

-- bss_store: what the functions that run as it need, and nothing more.
GRANT USAGE ON SCHEMA bss TO bss_store;
GRANT USAGE, CREATE ON SCHEMA bss_projection TO bss_store;
-- Projections made before 0.6.0 (by their creator) become bss_store's, as
-- bss.create_projection makes them now.
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'bss_projection'::regnamespace AND c.relkind = 'r' LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO bss_store', t);
        EXECUTE pg_catalog.format('GRANT SELECT ON %s TO bss_reader', t);
    END LOOP;
END
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bss TO bss_store;
GRANT SELECT ON bss.events, bss.streams, bss.snapshots, bss.dead_letters, bss.schemas, bss.reducers,
                bss.snapshot_policies, bss.projections TO bss_store;
GRANT INSERT ON bss.events, bss.snapshots, bss.dead_letters TO bss_store;
GRANT INSERT, UPDATE ON bss.streams TO bss_store;
GRANT INSERT, UPDATE, DELETE ON bss.schemas, bss.reducers, bss.snapshot_policies, bss.projections TO bss_store;
GRANT USAGE ON SEQUENCE bss.global_position_seq TO bss_store;

-- The functions that run as bss_store.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'bss.append_event(text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz)',
        'bss.append_events(text, jsonb, bigint, text)',
        'bss.append_cloudevents(jsonb)',
        'bss.validate_event(jsonb)',
        'bss.stream_version(text)',
        'bss.read_stream(text, bigint, int)',
        'bss.read_all(bigint, int)',
        'bss.read_category(text, bigint, int, int, int)',
        'bss.aggregate(text, timestamptz, bigint)',
        'bss.stream_at(text, timestamptz)',
        'bss.events_as_of(timestamptz, bigint, int)',
        'bss.register_schema(text, jsonb)',
        'bss.register_reducer(text, regprocedure)',
        'bss.set_snapshot_policy(text, int)',
        'bss.take_snapshot(text)',
        'bss.create_projection(text, text, regprocedure)',
        'bss.rebuild_projection(text)']::regprocedure[] LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO bss_store', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;
-- These stay the extension owner's: they must own bss.events (or read a
-- partition), so they check what they are given.
ALTER FUNCTION bss.detach_partitions_older_than(interval) SECURITY DEFINER;
ALTER FUNCTION bss.partition_row_count(regclass) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

GRANT USAGE ON SCHEMA bss TO bss_writer, bss_reader, bss_admin, bss_sidecar;
GRANT USAGE ON SCHEMA bss_projection TO bss_reader;

GRANT EXECUTE ON FUNCTION
    bss.append_event(text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz),
    bss.append_events(text, jsonb, bigint, text),
    bss.append_cloudevents(jsonb),
    bss.uuidv7()
TO bss_writer;
GRANT EXECUTE ON FUNCTION bss.validate_event(jsonb), bss.stream_version(text) TO bss_writer, bss_reader;

GRANT EXECUTE ON FUNCTION
    bss.read_stream(text, bigint, int),
    bss.read_all(bigint, int),
    bss.read_category(text, bigint, int, int, int),
    bss.consumer_member_of(text, int),
    bss.aggregate(text, timestamptz, bigint),
    bss.stream_at(text, timestamptz),
    bss.events_as_of(timestamptz, bigint, int),
    bss.fold(regprocedure, jsonb, bss.events),
    bss.jsonb_merge_patch(jsonb, jsonb),
    bss.reduce_merge_patch(jsonb, bss.events),
    bss.reduce_balance(jsonb, bss.events),
    bss.reduce_log(jsonb, bss.events)
TO bss_reader;
-- Projection tables: bss.create_projection grants SELECT on each to bss_reader.

GRANT EXECUTE ON FUNCTION
    bss.register_schema(text, jsonb),
    bss.register_reducer(text, regprocedure),
    bss.set_snapshot_policy(text, int),
    bss.take_snapshot(text),
    bss.create_projection(text, text, regprocedure),
    bss.rebuild_projection(text),
    bss.ensure_partitions(),
    bss.detach_partitions_older_than(interval),
    bss.partition_row_count(regclass)
TO bss_admin;
-- bss.partitions calls this as its reader.
GRANT EXECUTE ON FUNCTION bss.partition_bounds(regclass) TO bss_admin;
GRANT SELECT ON bss.partitions, bss.stats, bss.schemas, bss.reducers, bss.snapshot_policies,
                bss.projections, bss.dead_letters
TO bss_admin;

GRANT EXECUTE ON FUNCTION
    bss.append_event(text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz)
TO bss_sidecar;
GRANT SELECT ON bss.events TO bss_sidecar;
