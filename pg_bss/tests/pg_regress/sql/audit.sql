-- The audit trail: every administrative action recorded with who, what and
-- the previous record's hash; bss.verify_audit() finds what a superuser
-- changed behind its back.
\set SHOW_CONTEXT never
\pset null '·'
CREATE ROLE ops_admin IN ROLE bss_admin;
CREATE ROLE ops_reader IN ROLE bss_reader;
CREATE ROLE ops_other;
CREATE SCHEMA ops_own AUTHORIZATION ops_other;

-- Partitions an append makes are recorded without the append's statement:
-- the trail never holds event data.
CREATE ROLE ops_writer IN ROLE bss_writer;
SELECT coalesce(max(seq), 0) AS before_partitions FROM bss.audit_log \gset
SET bss.partition_premake = 9;
SET ROLE ops_writer;
SELECT bss.append_event('ticket-7', 'ticket.opened', '{"caller": "Jane Example, +44 20 7946 0000"}');
RESET ROLE;
RESET bss.partition_premake;
SELECT count(*) > 0 AS partitions_recorded,
       count(*) FILTER (WHERE details ? 'statement') AS with_statement,
       bool_and(acting_role = 'ops_writer') AS by_the_writer
FROM bss.audit_log WHERE seq > :before_partitions AND action = 'ddl' AND object LIKE 'bss.events%';
SELECT count(*) AS holding_event_data FROM bss.audit_log WHERE details::text LIKE '%Jane Example%';
DROP ROLE ops_writer;

-- What the records of this test start after.
SELECT coalesce(max(seq), 0) AS start FROM bss.audit_log \gset

-- An administrator's actions, each a record naming who did it.
SET ROLE ops_admin;
SELECT bss.register_schema('ticket.opened', '{"type": "object"}');
SELECT bss.create_projection('ticket_overview', 'ticket');
SELECT bss.set_snapshot_policy('ticket', 10);
RESET ROLE;
-- A superuser's DDL and grants on the store are recorded too; DDL elsewhere,
-- and grants by a role that owns nothing of the store, are not.
GRANT SELECT ON bss.events TO ops_reader;
REVOKE SELECT ON bss.events FROM ops_reader;
CREATE INDEX events_source_idx ON bss.events (source);
DROP INDEX bss.events_source_idx;
SET ROLE ops_other;
CREATE TABLE ops_own.notes (id int);
GRANT SELECT ON ops_own.notes TO PUBLIC;
RESET ROLE;

SELECT seq - :start AS n, login_role = session_user AS by_session_user, acting_role, action, object,
       CASE WHEN action = 'role_members' THEN NULL ELSE details END AS details
FROM bss.audit_log WHERE seq > :start ORDER BY seq;

-- Each record follows the one before it; the chain holds.
SELECT count(*) AS broken_links FROM bss.audit_log a JOIN bss.audit_log b ON b.seq = a.seq + 1
WHERE b.prev_hash <> a.hash;
SELECT * FROM bss.verify_audit();
SELECT seq AS head_seq, hash AS head FROM bss.audit_log ORDER BY seq DESC LIMIT 1 \gset

-- Nobody changes a record, a superuser included, while the triggers stand.
UPDATE bss.audit_log SET object = 'nothing' WHERE seq = :start + 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM bss.audit_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
TRUNCATE bss.audit_log;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET ROLE ops_admin;
SELECT count(*) FROM bss.audit_log;
INSERT INTO bss.audit_log SELECT * FROM bss.audit_log LIMIT 1;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A superuser who switches the triggers off and edits a record: found, and
-- the switching off is itself a record.
ALTER TABLE bss.audit_log DISABLE TRIGGER append_only;
UPDATE bss.audit_log SET object = 'nothing' WHERE seq = :start + 2;
SELECT action, details->>'command' AS command FROM bss.audit_log ORDER BY seq DESC LIMIT 1;
SELECT seq - :start AS n, problem FROM bss.verify_audit();
-- ... who puts it back: the altered record still does not hash to its hash.
UPDATE bss.audit_log SET object = 'ticket.opened' WHERE seq = :start + 2;
SELECT seq - :start AS n, problem FROM bss.verify_audit();
-- ... who removes a record in the middle.
DELETE FROM bss.audit_log WHERE seq = :start + 3;
SELECT seq - :start AS n, problem FROM bss.verify_audit();
-- ... who removes the newest records: the chain still holds, but not the head
-- kept outside the database.
DELETE FROM bss.audit_log WHERE seq >= :head_seq;
SELECT seq - :start AS n, regexp_replace(problem, '[0-9a-f]{64}', '<head>') AS problem FROM bss.verify_audit(:'head');
ALTER TABLE bss.audit_log ENABLE ALWAYS TRIGGER append_only;
-- ... who switches recording off.
ALTER EVENT TRIGGER bss_audit_ddl DISABLE;
SELECT problem FROM bss.verify_audit() WHERE problem LIKE 'event trigger%';
ALTER EVENT TRIGGER bss_audit_ddl ENABLE ALWAYS;

DROP SCHEMA ops_own CASCADE;
DROP ROLE ops_admin, ops_reader, ops_other;
