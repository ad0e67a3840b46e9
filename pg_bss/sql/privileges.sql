-- pg_bss: who may do what. Loaded last by CREATE EXTENSION pg_bss
-- (extension_sql_file! finalize); what 0.6.0 added came with
-- pg_bss--0.5.0--0.6.0.sql.
--
-- Group roles (cluster-wide, NOLOGIN, created when missing). Give each
-- person and application a LOGIN role that is a member of the ones it needs:
--   bss_writer   appends (bss.append_event, append_events, append_streams,
--                append_cloudevents)
--                and checks events (validate_event, stream_version).
--   bss_reader   reads: read_stream, read_all, read_period, read_category, time travel
--                (aggregate, stream_at, events_as_of), bss.fold, projections.
--   bss_admin    manages schemas, reducers, snapshot policies, projections,
--                partitions; reads dead letters, the store's configuration and
--                the audit trail (bss.audit_log, bss.verify_audit).
--   bss_sidecar  the sidecar: reads bss.events directly, every tenant's (its
--                gap fill and replay read under a slot's exported snapshot),
--                and appends to anomaly-* streams, and single events of a
--                *.classified type (its intelligence stage's) to any other
--                stream but erasure-* (roles.rs). Its LOGIN role needs
--                REPLICATION itself: role attributes are not inherited.
--   bss_pii_reader  sees personal data (x-pii fields) in plaintext where
--                its other roles let it read; everyone else sees it masked.
--   bss_store    owns the functions above that touch the store; they run as
--                it (SECURITY DEFINER, search_path pg_catalog, pg_temp). It
--                cannot log in and has no members.
-- pg_monitor reads bss.stats (observability.sql).
--
-- What must hold:
--   * Nothing of schema bss is granted to PUBLIC.
--   * Only the extension's owner and bss_store change a store table: direct
--     INSERT, UPDATE, DELETE or TRUNCATE by any other role is refused, so
--     every event went through the append path's checks.
--   * Each SECURITY DEFINER function sets search_path = pg_catalog, pg_temp.
--   * Partitions are created and detached only by functions owned by the
--     extension's owner (they must own bss.events).

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['bss_writer', 'bss_reader', 'bss_admin', 'bss_sidecar', 'bss_pii_reader', 'bss_store'] LOOP
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
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bss TO bss_store;
GRANT SELECT ON bss.events, bss.streams, bss.snapshots, bss.dead_letters, bss.schemas, bss.reducers,
                bss.snapshot_policies, bss.projections, bss.audit_log, bss.subject_keys, bss.events_revealed TO bss_store;
GRANT INSERT, UPDATE, DELETE ON bss.subject_keys TO bss_store;
GRANT INSERT ON bss.events, bss.snapshots, bss.dead_letters, bss.audit_log TO bss_store;
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
        'bss.append_streams(text[], jsonb[], bigint[], text)',
        'bss.append_cloudevents(jsonb)',
        'bss.validate_event(jsonb)',
        'bss.stream_version(text)',
        'bss.read_stream(text, bigint, int)',
        'bss.read_all(bigint, int)',
        'bss.read_period(timestamptz, timestamptz, bigint, int)',
        'bss.read_category(text, bigint, int, int, int)',
        'bss.aggregate(text, timestamptz, bigint)',
        'bss.stream_at(text, timestamptz)',
        'bss.events_as_of(timestamptz, bigint, int)',
        'bss.register_schema(text, jsonb)',
        'bss.register_reducer(text, regprocedure)',
        'bss.set_snapshot_policy(text, int)',
        'bss.take_snapshot(text)',
        'bss.verify_audit(bytea)',
        'bss.reveal(jsonb)',
        'bss.erase_subject(text)',
        'bss.rotate_master_key()']::regprocedure[] LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO bss_store', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;
-- These stay the extension owner's: they must own bss.events (or read a
-- partition), or see every tenant's rows (tenants.sql: projections hold
-- every tenant's streams), so they check what they are given.
ALTER FUNCTION bss.detach_partitions_older_than(interval) SECURITY DEFINER;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'bss.partition_row_count(regclass)',
        'bss.create_projection(text, text, regprocedure)',
        'bss.rebuild_projection(text)',
        'bss.check_stream_tenant(text)']::regprocedure[] LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA bss TO bss_writer, bss_reader, bss_admin, bss_sidecar;
-- Row-level security policies call it as the role that queries.
GRANT EXECUTE ON FUNCTION bss.current_tenant() TO bss_writer, bss_reader, bss_admin, bss_sidecar, pg_monitor;
GRANT USAGE ON SCHEMA bss_projection TO bss_reader;

GRANT EXECUTE ON FUNCTION
    bss.append_event(text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz),
    bss.append_events(text, jsonb, bigint, text),
    bss.append_streams(text[], jsonb[], bigint[], text),
    bss.append_cloudevents(jsonb),
    bss.uuidv7()
TO bss_writer;
GRANT EXECUTE ON FUNCTION bss.validate_event(jsonb), bss.stream_version(text) TO bss_writer, bss_reader;

GRANT EXECUTE ON FUNCTION
    bss.read_stream(text, bigint, int),
    bss.read_all(bigint, int),
    bss.read_period(timestamptz, timestamptz, bigint, int),
    bss.read_category(text, bigint, int, int, int),
    bss.consumer_member_of(text, int),
    bss.aggregate(text, timestamptz, bigint),
    bss.stream_at(text, timestamptz),
    bss.events_as_of(timestamptz, bigint, int),
    bss.fold(regprocedure, jsonb, bss.events),
    bss.jsonb_merge_patch(jsonb, jsonb),
    bss.reduce_merge_patch(jsonb, bss.events),
    bss.reduce_balance(jsonb, bss.events),
    bss.reduce_log(jsonb, bss.events),
    bss.reveal(jsonb)
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
    bss.partition_row_count(regclass),
    bss.verify_audit(bytea),
    bss.reveal(jsonb),
    bss.erase_subject(text),
    bss.rotate_master_key()
TO bss_admin;
-- bss.partitions calls this as its reader.
GRANT EXECUTE ON FUNCTION bss.partition_bounds(regclass) TO bss_admin;
GRANT SELECT ON bss.partitions, bss.stats, bss.schemas, bss.reducers, bss.snapshot_policies,
                bss.projections, bss.dead_letters, bss.audit_log
TO bss_admin;

GRANT EXECUTE ON FUNCTION
    bss.append_event(text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz)
TO bss_sidecar;
-- Regions (regions.sql). The append path (bss_store) reads who owns a
-- stream; forwarding to the owner runs as the extension's owner (dblink
-- without a password takes a superuser), building its statement from the
-- caller's arguments only. Joining regions, moving them and setting homes
-- are a superuser's (subscriptions need one).
GRANT SELECT ON bss.regions, bss.category_homes, bss.stream_homes, bss.region_epochs, bss.region_owners TO bss_store;
GRANT SELECT ON bss.regions, bss.category_homes, bss.stream_homes, bss.region_epochs, bss.region_owners, bss.conflicts
TO bss_admin;
GRANT EXECUTE ON FUNCTION bss.region_status(), bss.stream_owner(text), bss.stream_home(text), bss.local_region()
TO bss_admin;
-- Fencing (region_fencing.sql): the append path reads the lease; the
-- keeper runs as a superuser (it moves regions).
GRANT SELECT ON bss.region_lease TO bss_store;
GRANT SELECT ON bss.region_lease, bss.region_contacts TO bss_admin;
GRANT EXECUTE ON FUNCTION bss.region_fence() TO bss_admin;
-- bss.stats' region_fenced row, read by pg_monitor.
GRANT EXECUTE ON FUNCTION bss.region_fence(), bss.local_region() TO pg_monitor;
GRANT SELECT ON bss.region_lease TO pg_monitor;
ALTER FUNCTION bss.forward_append_event(text, text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION bss.forward_append_events(text, text, jsonb, bigint, text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

GRANT SELECT ON bss.events TO bss_sidecar;
-- The sidecar forwards every tenant's events.
CREATE POLICY sidecar_reads_all ON bss.events FOR SELECT TO bss_sidecar USING (true);
-- The append path inserts events (tenants.sql says why without a check).
CREATE POLICY store_appends ON bss.events FOR INSERT TO bss_store WITH CHECK (true);
