-- Least privilege, role by role and function by function: what each group
-- role may execute and read (the grants as PostgreSQL checks them), then
-- each role doing what it may, and refused what it may not.
\set SHOW_CONTEXT never
\pset null '·'

-- A LOGIN-less member of each group role to SET ROLE to, and one of none.
CREATE ROLE app_writer IN ROLE bss_writer;
CREATE ROLE app_reader IN ROLE bss_reader;
CREATE ROLE app_admin IN ROLE bss_admin;
CREATE ROLE app_sidecar IN ROLE bss_sidecar;
CREATE ROLE app_nobody;

-- Every function of schema bss: who may execute it (w writer, r reader,
-- a admin, s sidecar; PUBLIC never), whose rights it runs with, and its
-- search_path when that is not the caller's.
SELECT p.oid::regprocedure AS function,
       concat_ws(' ',
           CASE WHEN has_function_privilege('app_writer', p.oid, 'EXECUTE') THEN 'w' END,
           CASE WHEN has_function_privilege('app_reader', p.oid, 'EXECUTE') THEN 'r' END,
           CASE WHEN has_function_privilege('app_admin', p.oid, 'EXECUTE') THEN 'a' END,
           CASE WHEN has_function_privilege('app_sidecar', p.oid, 'EXECUTE') THEN 's' END,
           CASE WHEN has_function_privilege('app_nobody', p.oid, 'EXECUTE') THEN 'PUBLIC' END) AS executed_by,
       CASE WHEN p.prosecdef THEN 'definer: ' || CASE WHEN pg_get_userbyid(p.proowner) = 'bss_store' THEN 'bss_store' ELSE 'owner' END
            ELSE 'invoker' END AS runs_as,
       array_to_string(p.proconfig, ', ') AS settings
FROM pg_proc p
WHERE p.pronamespace = 'bss'::regnamespace
ORDER BY p.oid::regprocedure::text;

-- Every table, view and sequence of schema bss: what each role may do to it
-- directly (S select, I insert, U update, D delete, T truncate).
SELECT c.oid::regclass AS relation, r.rolname AS role,
       concat(CASE WHEN has_table_privilege(r.rolname, c.oid, 'SELECT') THEN 'S' END,
              CASE WHEN c.relkind <> 'S' AND has_table_privilege(r.rolname, c.oid, 'INSERT') THEN 'I' END,
              CASE WHEN c.relkind <> 'S' AND has_table_privilege(r.rolname, c.oid, 'UPDATE') THEN 'U' END,
              CASE WHEN c.relkind <> 'S' AND has_table_privilege(r.rolname, c.oid, 'DELETE') THEN 'D' END,
              CASE WHEN c.relkind <> 'S' AND has_table_privilege(r.rolname, c.oid, 'TRUNCATE') THEN 'T' END,
              CASE WHEN c.relkind = 'S' AND has_sequence_privilege(r.rolname, c.oid, 'USAGE') THEN 'usage' END) AS may
FROM pg_class c
CROSS JOIN (VALUES ('app_writer'), ('app_reader'), ('app_admin'), ('app_sidecar'), ('app_nobody'), ('pg_monitor'), ('bss_store')) r(rolname)
WHERE c.relnamespace = 'bss'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
  AND NOT c.relispartition
ORDER BY 1, 2;

-- No store table is writable by any role but its owner and bss_store.
SELECT c.oid::regclass, a.grantee::regrole, a.privilege_type
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
WHERE c.relnamespace IN ('bss'::regnamespace, 'bss_projection'::regnamespace)
  AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
  AND a.grantee NOT IN (c.relowner, 'bss_store'::regrole);

-- The administrator sets the store up.
SET ROLE app_admin;
SELECT bss.register_schema('account.opened', '{"type": "object", "required": ["plan"]}');
SELECT bss.create_projection('account_overview', 'account');
SELECT bss.set_snapshot_policy('account', 2);
SELECT count(*) > 0 AS has_partitions FROM bss.partitions;
SELECT type FROM bss.schemas WHERE type = 'account.opened';
SELECT name, category FROM bss.projections;
SELECT bss.partition_row_count('bss.streams');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- ... and may not write events, or read them past the read functions.
SELECT bss.append_event('account-1', 'account.opened', '{"plan": "basic"}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM bss.events;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
INSERT INTO bss.reducers VALUES ('account', 'bss.reduce_log(jsonb, bss.events)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The writer appends through the functions, and only through them.
SET ROLE app_writer;
SELECT bss.append_event('account-1', 'account.opened', '{"plan": "basic"}');
SELECT bss.append_events('account-1', '[{"type": "account.changed", "data": {"plan": "pro"}},
                                        {"type": "account.changed", "data": {"credit": 10}}]');
SELECT bss.append_cloudevents('{"specversion": "1.0", "id": "01932c07-0000-7000-8000-00000000b001",
                                "source": "/crm", "type": "account.changed", "subject": "account-2", "data": {"plan": "basic"}}');
SELECT bss.append_streams(ARRAY['account-3', 'account-4'],
                          ARRAY['[{"type": "account.changed", "data": {"plan": "basic"}}]',
                                '[{"type": "account.changed", "data": {"plan": "pro"}}]']::jsonb[]);
SELECT bss.stream_version('account-1');
SELECT * FROM bss.validate_event('{"type": "account.opened", "data": {}}');
SELECT bss.uuidv7() IS NOT NULL AS uuid;
INSERT INTO bss.events (global_position, stream_id, stream_version, event_id, source, type, "time", data, position_horizon)
VALUES (1000, 'account-1', 4, bss.uuidv7(), '/x', 'account.changed', now(), '{}', '1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE bss.streams SET version = 1 WHERE stream_id = 'account-1';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM bss.snapshots;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE bss_projection.account_overview SET state = '{}';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.read_stream('account-1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.register_schema('account.opened', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The reader reads through every read path, and writes nothing.
SET ROLE app_reader;
SELECT stream_version, type, data FROM bss.read_stream('account-1');
SELECT count(*) FROM bss.read_all(0, 100) WHERE stream_id LIKE 'account-%';
SELECT count(*) FROM bss.read_period('-infinity', 'infinity', 0, 100) WHERE stream_id LIKE 'account-%';
SELECT count(*) FROM bss.read_category('account');
SELECT bss.aggregate('account-1'), bss.aggregate('account-1', at_version => 2);
SELECT stream_version FROM bss.stream_at('account-1', now());
SELECT count(*) FROM bss.events_as_of(now()) WHERE stream_id LIKE 'account-%';
SELECT bss.fold('bss.reduce_balance(jsonb, bss.events)', NULL, e ORDER BY e.stream_version)
FROM bss.read_stream('account-1') e;
SELECT stream_id, state, version FROM bss_projection.account_overview ORDER BY stream_id;
SELECT bss.append_event('account-1', 'account.changed', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM bss.events;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM bss.snapshots;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.take_snapshot('account-1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_streams(ARRAY['account-1'], ARRAY['[{"type": "account.changed", "data": {}}]']::jsonb[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The sidecar reads bss.events (its gap fill and replay) and appends its
-- anomaly events, to no other stream, and what its intelligence stage
-- derives from an event (a *.classified type) to that event's stream.
SET ROLE app_sidecar;
SELECT count(*) FROM bss.events WHERE stream_id LIKE 'account-%';
SELECT bss.append_event('anomaly-rate', 'anomaly.detected', '{"score": 9.5}');
SELECT bss.append_event('account-1', 'account.changed', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_event('case-9', 'case.classified', '{"class": "billing"}');
SELECT bss.append_event('case-9', 'case.classifiedx', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_event('erasure-1', 'case.classified', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_events('anomaly-rate', '[{"type": "anomaly.detected", "data": {}}]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_streams(ARRAY['anomaly-rate'], ARRAY['[{"type": "anomaly.detected", "data": {}}]']::jsonb[]);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM bss.events;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A role in none of the groups can do nothing.
SET ROLE app_nobody;
SELECT bss.stream_version('account-1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_event('account-1', 'account.changed', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT * FROM bss.stats;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A reducer an administrator wrote runs as the administrator inside the
-- store's functions (appends, projections, bss.aggregate), never as
-- bss_store; folded directly, it runs as the caller, who must be allowed to
-- execute it.
CREATE SCHEMA admin_code;
GRANT USAGE, CREATE ON SCHEMA admin_code TO app_admin;
GRANT USAGE ON SCHEMA admin_code TO app_reader;
SET ROLE app_admin;
CREATE FUNCTION admin_code.who(state jsonb, event bss.events) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('as', current_user, 'events', coalesce((state->>'events')::int, 0) + 1) $$;
REVOKE EXECUTE ON FUNCTION admin_code.who(jsonb, bss.events) FROM PUBLIC;
SELECT bss.register_reducer('account', 'admin_code.who(jsonb, bss.events)');
RESET ROLE;
SET ROLE app_writer;
SELECT bss.append_event('account-1', 'account.changed', '{"credit": 5}');
RESET ROLE;
SET ROLE app_reader;
SELECT bss.aggregate('account-1');
SELECT state FROM bss_projection.account_overview WHERE stream_id = 'account-1';
SELECT bss.fold('admin_code.who(jsonb, bss.events)', NULL, e ORDER BY e.stream_version)
FROM bss.read_stream('account-1') e;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A reducer that tries to act as the store is refused: it runs as its owner.
SET ROLE app_admin;
CREATE OR REPLACE FUNCTION admin_code.who(state jsonb, event bss.events) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bss.streams VALUES ('forged-1', 'forged', 1, now(), now());
    RETURN state;
END
$$;
RESET ROLE;
SET ROLE app_writer;
SELECT bss.append_event('account-1', 'account.changed', '{"credit": 1}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS forged FROM bss.streams WHERE stream_id = 'forged-1';
SET ROLE app_admin;
SELECT bss.register_reducer('account', NULL);
DROP FUNCTION admin_code.who(jsonb, bss.events);
RESET ROLE;
DROP SCHEMA admin_code;

-- bss_store must stay a role nobody can act as: the extension refuses to be
-- created where it can log in.
ALTER ROLE bss_store LOGIN;
CREATE DATABASE bss_privileges_check;
\c bss_privileges_check
\set SHOW_CONTEXT never
CREATE EXTENSION pg_bss;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c bss_regress
ALTER ROLE bss_store NOLOGIN;
DROP DATABASE bss_privileges_check;

DROP OWNED BY app_writer, app_reader, app_admin, app_sidecar, app_nobody;
DROP ROLE app_writer, app_reader, app_admin, app_sidecar, app_nobody;
