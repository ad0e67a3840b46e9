-- pg_bss 0.5.0 to 0.6.0: least privilege (privileges.sql) and the audit
-- trail (audit.sql); each says what must hold.

-- Append-only triggers name the table they protect (bss.audit_log has them too).
CREATE OR REPLACE FUNCTION bss.reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on %.% is not allowed: % is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME,
                    coalesce(TG_ARGV[0], 'bss.events')
        USING ERRCODE = 'XB007',
              SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
              HINT = coalesce(TG_ARGV[1], 'Append a compensating event instead. To archive old events, use bss.detach_partitions_older_than().');
END
$$;

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

-- The administrative functions record what they do (bss.audit, below), and
-- projections are readable by bss_reader.
CREATE OR REPLACE FUNCTION bss.register_schema(type text, schema jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF schema IS NULL THEN
        DELETE FROM bss.schemas s WHERE s.type = register_schema.type;
    ELSE
        PERFORM bss.check_schema(type, schema);
        INSERT INTO bss.schemas AS s (type, schema) VALUES (register_schema.type, register_schema.schema)
        ON CONFLICT ON CONSTRAINT schemas_pkey DO UPDATE
            SET schema = excluded.schema, registered_at = excluded.registered_at, registered_by = excluded.registered_by;
    END IF;
    PERFORM bss.read_side_changed('bss.schemas');
    PERFORM bss.audit('register_schema', type, jsonb_build_object('schema', schema));
END $$;

CREATE OR REPLACE FUNCTION bss.take_snapshot(stream_id text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bss.streams := bss.stream_row(stream_id);
BEGIN
    PERFORM bss.snapshot_at(s.stream_id, s.version);
    PERFORM bss.audit('take_snapshot', s.stream_id, jsonb_build_object('version', s.version));
    RETURN s.version;
END
$$;

CREATE OR REPLACE FUNCTION bss.set_snapshot_policy(category text, every_n_events int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bss.check_category(category);
    PERFORM bss.audit('set_snapshot_policy', category, jsonb_build_object('every_n_events', every_n_events));
    IF every_n_events IS NULL THEN
        DELETE FROM bss.snapshot_policies p WHERE p.category = set_snapshot_policy.category;
        PERFORM bss.read_side_changed('bss.projections');
        RETURN;
    END IF;
    IF every_n_events < 1 THEN
        RAISE EXCEPTION 'every_n_events must be 1 or more, got %', every_n_events
            USING ERRCODE = 'XB009', HINT = 'Pass NULL to stop taking snapshots for the category.';
    END IF;
    INSERT INTO bss.snapshot_policies AS p VALUES (category, every_n_events)
    ON CONFLICT ON CONSTRAINT snapshot_policies_pkey DO UPDATE SET every_n_events = excluded.every_n_events;
    PERFORM bss.read_side_changed('bss.projections');
END
$$;

CREATE OR REPLACE FUNCTION bss.rebuild_projection(name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    p bss.projections := bss.projection_row(name);
    n bigint;
BEGIN
    -- No append may commit between the replay and this transaction's commit.
    LOCK TABLE bss.streams IN SHARE MODE;
    EXECUTE format('TRUNCATE bss_projection.%I', p.name);
    EXECUTE format(
        'INSERT INTO bss_projection.%I (stream_id, state, version, updated_at) '
        'SELECT e.stream_id, bss.fold($1, NULL, e ORDER BY e.stream_version), max(e.stream_version), now() '
        'FROM bss.events e WHERE e.category = $2 GROUP BY e.stream_id', p.name)
    USING coalesce(p.reducer, bss.reducer_for(p.category)), p.category;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM bss.audit('rebuild_projection', p.name, jsonb_build_object('streams', n));
    RETURN n;
END
$$;

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
    PERFORM bss.audit('create_projection', name, jsonb_build_object('category', category, 'reducer', reducer::text));
    PERFORM bss.read_side_changed('bss.projections');
    PERFORM bss.rebuild_projection(name);
    RETURN format('bss_projection.%I', name)::regclass;
END
$$;

CREATE OR REPLACE FUNCTION bss.register_reducer(category text, reducer regprocedure) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    PERFORM bss.check_category(category);
    PERFORM bss.audit('register_reducer', category, jsonb_build_object('reducer', reducer::text));
    IF reducer IS NULL THEN
        DELETE FROM bss.reducers r WHERE r.category = register_reducer.category;
    ELSE
        PERFORM bss.check_reducer(reducer, 'bss.events'::regtype);
        INSERT INTO bss.reducers AS r (category, reducer) VALUES (category, reducer)
        ON CONFLICT ON CONSTRAINT reducers_pkey DO UPDATE SET reducer = excluded.reducer, registered_at = now();
    END IF;
    -- Projections that follow the category's reducer fold again with the new one.
    FOR p IN SELECT pr.name FROM bss.projections pr
             WHERE pr.category = register_reducer.category AND pr.reducer IS NULL LOOP
        PERFORM bss.rebuild_projection(p.name);
    END LOOP;
END
$$;

-- The audit trail: as audit.sql.

CREATE TABLE bss.audit_log (
    seq         bigint PRIMARY KEY,
    at          timestamptz NOT NULL,
    login_role  name NOT NULL,
    acting_role name NOT NULL,
    action      text NOT NULL,
    object      text,
    details     jsonb NOT NULL,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL
);
COMMENT ON TABLE bss.audit_log IS 'Administrative actions on the store, append-only and hash-chained: check with bss.verify_audit().';
COMMENT ON COLUMN bss.audit_log.login_role IS 'session_user: the role that logged in.';
COMMENT ON COLUMN bss.audit_log.acting_role IS 'The role in effect (after SET ROLE), outside the store''s own functions.';
COMMENT ON COLUMN bss.audit_log.hash IS 'sha256 of prev_hash and the record''s fields: bss.audit_hash.';
SELECT pg_catalog.pg_extension_config_dump('bss.audit_log', '');
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON bss.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION bss.reject_change('bss.audit_log', 'The audit log only grows: an action is undone by another action, which is recorded too.');
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON bss.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION bss.reject_change('bss.audit_log', 'The audit log only grows: an action is undone by another action, which is recorded too.');
ALTER TABLE bss.audit_log ENABLE ALWAYS TRIGGER append_only, ENABLE ALWAYS TRIGGER append_only_truncate;

CREATE FUNCTION bss.acting_role() RETURNS text
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bss_acting_role';
COMMENT ON FUNCTION bss.acting_role() IS 'The role in effect outside any SECURITY DEFINER function: current_user as the caller of the store''s functions sees it.';

-- The one definition of a record's hash: verify_audit recomputes it.
CREATE FUNCTION bss.audit_hash(r bss.audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT pg_catalog.sha256(r.prev_hash || pg_catalog.convert_to(pg_catalog.jsonb_build_array(
        r.seq, (extract(epoch FROM r.at) * 1000000)::bigint, r.login_role, r.acting_role,
        r.action, r.object, r.details)::text, 'UTF8'))
$$;

-- The members of the store's group roles, as a record's details hold them.
CREATE FUNCTION bss.group_role_members() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(g.rolname, g.members), '{}')
    FROM (SELECT r.rolname, (SELECT coalesce(jsonb_agg(m.rolname ORDER BY m.rolname), '[]')
                             FROM pg_catalog.pg_auth_members am
                             JOIN pg_catalog.pg_roles m ON m.oid = am.member
                             WHERE am.roleid = r.oid) AS members
          FROM pg_catalog.pg_roles r
          WHERE r.rolname IN ('bss_writer', 'bss_reader', 'bss_admin', 'bss_sidecar', 'bss_store')) g
$$;

-- Appends one record, after a record of the group roles' members if they
-- changed since the last one. Runs as the store's functions (bss_store) or
-- the event triggers (a superuser); granted to no one.
CREATE FUNCTION bss.audit(action text, object text, details jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    last bss.audit_log;
    r bss.audit_log;
    members jsonb := bss.group_role_members();
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock('bss.audit_log'::regclass::oid::int, 0);
    SELECT * INTO last FROM bss.audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF action <> 'role_members' AND members IS DISTINCT FROM
       (SELECT a.details FROM bss.audit_log a WHERE a.action = 'role_members' ORDER BY a.seq DESC LIMIT 1) THEN
        PERFORM bss.audit('role_members', NULL, members);
        SELECT * INTO last FROM bss.audit_log a ORDER BY a.seq DESC LIMIT 1;
    END IF;
    r.seq := coalesce(last.seq, 0) + 1;
    r.at := pg_catalog.clock_timestamp();
    r.login_role := session_user;
    r.acting_role := bss.acting_role();
    r.action := action;
    r.object := object;
    r.details := coalesce(details, '{}');
    r.prev_hash := coalesce(last.hash, pg_catalog.decode(repeat('00', 32), 'hex'));
    r.hash := bss.audit_hash(r);
    INSERT INTO bss.audit_log VALUES (r.*);
    RAISE LOG 'bss audit record % %: %', r.seq, pg_catalog.encode(r.hash, 'hex'), action;
    RETURN r.seq;
END
$$;

-- The statement a DDL command came in, when the client sent it as such; not
-- when it ran inside a query (partitions made by an append: that query
-- carries event data, which the trail must never hold).
CREATE FUNCTION bss.audit_statement(command_tag text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT q FROM (SELECT pg_catalog.current_query() AS q) s
    WHERE q ~* ('^\s*' || split_part(command_tag, ' ', 1) || '\M')
$$;

-- DDL on the store that its own functions (running as bss_store) did not
-- run; GRANT and REVOKE by any role allowed to record (a role that cannot
-- could not have granted anything on the store: it owns nothing there).
CREATE FUNCTION bss.audit_ddl() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
BEGIN
    IF current_user = 'bss_store' THEN
        RETURN;
    END IF;
    FOR c IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        CONTINUE WHEN c.in_extension;
        IF c.schema_name IN ('bss', 'bss_projection')
           OR (c.command_tag IN ('GRANT', 'REVOKE')
               AND has_function_privilege('bss.audit(text, text, jsonb)', 'EXECUTE')) THEN
            PERFORM bss.audit('ddl', coalesce(c.object_identity, c.object_type),
                              jsonb_strip_nulls(jsonb_build_object('command', c.command_tag,
                                                                   'statement', bss.audit_statement(c.command_tag))));
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION bss.audit_drop() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o record;
BEGIN
    IF current_user = 'bss_store' THEN
        RETURN;
    END IF;
    FOR o IN SELECT * FROM pg_event_trigger_dropped_objects()
             WHERE schema_name IN ('bss', 'bss_projection') AND original LOOP
        PERFORM bss.audit('ddl', o.object_identity,
                          jsonb_strip_nulls(jsonb_build_object('command', 'DROP ' || upper(o.object_type),
                                                               'statement', bss.audit_statement('DROP'))));
    END LOOP;
END
$$;

CREATE EVENT TRIGGER bss_audit_ddl ON ddl_command_end EXECUTE FUNCTION bss.audit_ddl();
CREATE EVENT TRIGGER bss_audit_drop ON sql_drop EXECUTE FUNCTION bss.audit_drop();
ALTER EVENT TRIGGER bss_audit_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER bss_audit_drop ENABLE ALWAYS;

-- Every way the trail can have been tampered with, one row each; no row when
-- it holds. expected_head: a record's hash kept outside the database (the
-- server log has each), which must still be in the chain.
CREATE FUNCTION bss.verify_audit(expected_head bytea DEFAULT NULL)
RETURNS TABLE (seq bigint, problem text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r bss.audit_log;
    prev bss.audit_log;
    head_found boolean := expected_head IS NULL;
BEGIN
    FOR r IN SELECT * FROM bss.audit_log a ORDER BY a.seq LOOP
        IF r.seq <> coalesce(prev.seq, 0) + 1 THEN
            seq := r.seq;
            problem := CASE WHEN r.seq - coalesce(prev.seq, 0) = 2
                            THEN format('record %s is missing', r.seq - 1)
                            ELSE format('records %s to %s are missing', coalesce(prev.seq, 0) + 1, r.seq - 1) END;
            RETURN NEXT;
        ELSIF r.prev_hash <> coalesce(prev.hash, decode(repeat('00', 32), 'hex')) THEN
            seq := r.seq;
            problem := format('record %s does not follow record %s: its prev_hash is not that record''s hash', r.seq, coalesce(prev.seq, 0));
            RETURN NEXT;
        END IF;
        IF r.hash <> bss.audit_hash(r) THEN
            seq := r.seq;
            problem := format('record %s was altered: its fields do not hash to its hash', r.seq);
            RETURN NEXT;
        END IF;
        head_found := head_found OR r.hash = expected_head;
        prev := r;
    END LOOP;
    IF NOT head_found THEN
        seq := NULL;
        problem := format('the expected head %s is not in the log: records were removed or replaced', encode(expected_head, 'hex'));
        RETURN NEXT;
    END IF;
    FOR problem IN
        SELECT format('trigger %s on bss.audit_log is %s', t.tgname,
                      CASE t.tgenabled WHEN 'D' THEN 'disabled' ELSE 'not ENABLE ALWAYS' END)
        FROM pg_trigger t
        WHERE t.tgrelid = 'bss.audit_log'::regclass AND t.tgname IN ('append_only', 'append_only_truncate')
          AND t.tgenabled <> 'A'
        UNION ALL
        SELECT format('trigger %s on bss.audit_log is missing', n)
        FROM unnest(ARRAY['append_only', 'append_only_truncate']) n
        WHERE NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = 'bss.audit_log'::regclass AND t.tgname = n)
        UNION ALL
        SELECT format('event trigger %s is %s', n,
                      CASE WHEN e.oid IS NULL THEN 'missing' WHEN e.evtenabled = 'D' THEN 'disabled' ELSE 'not ENABLE ALWAYS' END)
        FROM unnest(ARRAY['bss_audit_ddl', 'bss_audit_drop']) n
        LEFT JOIN pg_event_trigger e ON e.evtname = n
        WHERE e.oid IS NULL OR e.evtenabled <> 'A'
        UNION ALL
        SELECT 'the members of the group roles changed since the last record: ' || bss.group_role_members()::text
        WHERE bss.group_role_members() IS DISTINCT FROM
              (SELECT a.details FROM bss.audit_log a WHERE a.action = 'role_members' ORDER BY a.seq DESC LIMIT 1)
          AND EXISTS (SELECT FROM bss.audit_log)
    LOOP
        seq := NULL;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION bss.verify_audit(bytea) IS 'Every sign that the audit trail was altered: a changed or missing record, a disabled trigger, an expected head no longer in the chain, unrecorded changes of the group roles'' members. No row: it holds.';

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
                bss.snapshot_policies, bss.projections, bss.audit_log TO bss_store;
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
        'bss.rebuild_projection(text)',
        'bss.verify_audit(bytea)']::regprocedure[] LOOP
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
    bss.partition_row_count(regclass),
    bss.verify_audit(bytea)
TO bss_admin;
-- bss.partitions calls this as its reader.
GRANT EXECUTE ON FUNCTION bss.partition_bounds(regclass) TO bss_admin;
GRANT SELECT ON bss.partitions, bss.stats, bss.schemas, bss.reducers, bss.snapshot_policies,
                bss.projections, bss.dead_letters, bss.audit_log
TO bss_admin;

GRANT EXECUTE ON FUNCTION
    bss.append_event(text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz)
TO bss_sidecar;
GRANT SELECT ON bss.events TO bss_sidecar;
