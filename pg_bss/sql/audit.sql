-- pg_bss: the audit trail. Every administrative action on the store is a
-- record of bss.audit_log: who (login role and acting role), what, when, and
-- the hash of the record before it. Loaded by CREATE EXTENSION pg_bss after
-- observability.sql, before privileges.sql; what 0.6.0 added came with
-- pg_bss--0.5.0--0.6.0.sql.
--
-- What is recorded:
--   * the store's administrative functions, each by itself (bss.audit):
--     register_schema, register_reducer, set_snapshot_policy, take_snapshot,
--     create_projection, rebuild_projection;
--   * every DDL command on an object of schemas bss and bss_projection that
--     those functions did not run: partitions made or detached, triggers,
--     ALTER TABLE, DROP (event triggers bss_audit_ddl, bss_audit_drop);
--   * every GRANT and REVOKE by a role that could touch the store;
--   * the members of the group roles, whenever they changed since the last
--     record (PostgreSQL has no event trigger for GRANT role TO role: the
--     change is recorded with the next record, and by bss.verify_audit).
--
-- What must hold:
--   * Records are only ever appended, one at a time (an advisory lock makes
--     the chain a line): seq is 1, 2, 3...; prev_hash is the hash of record
--     seq - 1 (32 zero bytes for the first); hash is bss.audit_hash of the
--     record. UPDATE, DELETE and TRUNCATE are refused for every role.
--   * bss.verify_audit() returns no row exactly when the chain holds, the
--     table's append-only triggers and the event triggers are all enabled,
--     and the head the caller kept (if given) is still in the chain: an edit
--     by a superuser who disabled the triggers is found, and so is a removal
--     anywhere but at the end. Removing the newest records leaves a shorter
--     chain that holds: keep the head outside the database (each record's
--     seq and hash also go to the server log) and pass it to verify.
--   * No record holds personal data: actions name types, categories,
--     projections, subjects' ids and SQL statements, never event data.

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
          WHERE r.rolname IN ('bss_writer', 'bss_reader', 'bss_admin', 'bss_sidecar', 'bss_store', 'bss_pii_reader')) g
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
