-- Tenants: two tenants write through one pooled connection (SET LOCAL per
-- transaction), and each sees only its own rows through every read path:
-- the read functions, time travel, snapshots, projections, dead letters and
-- bss.stats. '*' reads every tenant, for administrators and monitoring only.
\set SHOW_CONTEXT never
\pset null '·'

CREATE ROLE pool_app IN ROLE bss_writer, bss_reader;
CREATE ROLE pool_admin IN ROLE bss_admin;
CREATE ROLE pool_monitor IN ROLE pg_monitor;
CREATE ROLE pool_sidecar IN ROLE bss_sidecar;

-- The administrator sets up a projection, a snapshot policy and a schema
-- (each is the store's, for every tenant).
SET ROLE pool_admin;
SELECT bss.create_projection('line_overview', 'line');
SELECT bss.set_snapshot_policy('line', 2);
SELECT bss.register_schema('line.activated', '{"type": "object", "required": ["msisdn"]}');
RESET ROLE;

-- One connection, as a pool hands it out: a transaction per tenant.
SET ROLE pool_app;
BEGIN;
SET LOCAL bss.tenant = 'acme';
SELECT bss.append_event('line-acme.1', 'line.activated', '{"msisdn": "4670001"}');
SELECT bss.append_events('line-acme.1', '[{"type": "line.suspended", "data": {"reason": "fraud"}},
                                          {"type": "line.activated", "data": {}}]', on_invalid => 'dead_letter');
SELECT bss.append_event('usage-acme.1', 'usage.recorded', '{"mb": 10}');
COMMIT;
BEGIN;
SET LOCAL bss.tenant = 'globex';
SELECT bss.append_cloudevents('[{"specversion": "1.0", "id": "01932c07-0000-7000-8000-00000000c001", "source": "/crm",
                                 "type": "line.activated", "subject": "line-globex.1", "data": {"msisdn": "4990001"}},
                                {"specversion": "1.0", "id": "01932c07-0000-7000-8000-00000000c002", "source": "/crm",
                                 "type": "line.suspended", "subject": "line-globex.1", "data": {"reason": "unpaid"}},
                                {"specversion": "1.0", "id": "01932c07-0000-7000-8000-00000000c003", "source": "/crm",
                                 "type": "line.activated", "subject": "line-globex.2", "data": {"msisdn": "4990002"}}]');
SELECT bss.append_events('line-globex.1', '[{"type": "line.activated", "data": {"plan": 1}}]', on_invalid => 'dead_letter');
COMMIT;

-- Every read path, for each tenant in turn on the same connection.
BEGIN;
SET LOCAL bss.tenant = 'acme';
SELECT bss.current_tenant();
SELECT stream_id, stream_version, tenant FROM bss.read_all(0, 1000) WHERE stream_id LIKE '%-acme.%' OR stream_id LIKE '%-globex.%' ORDER BY global_position;
SELECT stream_id, stream_version FROM bss.read_category('line') WHERE stream_id LIKE '%-acme.%' OR stream_id LIKE '%-globex.%';
SELECT count(*) AS globex_events FROM bss.read_stream('line-globex.1');
SELECT bss.stream_version('line-acme.1') AS acme_version, bss.stream_version('line-globex.1') AS globex_version;
SELECT bss.aggregate('line-acme.1');
SELECT bss.aggregate('line-globex.1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
BEGIN;
SET LOCAL bss.tenant = 'acme';
SELECT stream_version FROM bss.stream_at('line-acme.1', now());
SELECT stream_version FROM bss.stream_at('line-globex.1', now());
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;
BEGIN;
SET LOCAL bss.tenant = 'acme';
SELECT stream_id, stream_version FROM bss.events_as_of(now()) WHERE stream_id LIKE '%-acme.%' OR stream_id LIKE '%-globex.%';
SELECT stream_id, state, version, tenant FROM bss_projection.line_overview ORDER BY stream_id;
COMMIT;
BEGIN;
SET LOCAL bss.tenant = 'globex';
SELECT bss.current_tenant();
SELECT stream_id, stream_version, tenant FROM bss.read_all(0, 1000) WHERE stream_id LIKE '%-acme.%' OR stream_id LIKE '%-globex.%' ORDER BY global_position;
SELECT stream_id, stream_version FROM bss.read_category('line') WHERE stream_id LIKE '%-acme.%' OR stream_id LIKE '%-globex.%';
SELECT count(*) AS acme_events FROM bss.read_stream('line-acme.1');
SELECT bss.stream_version('line-acme.1') AS acme_version, bss.stream_version('line-globex.1') AS globex_version;
SELECT bss.aggregate('line-globex.1');
SELECT stream_id, state, version, tenant FROM bss_projection.line_overview ORDER BY stream_id;
COMMIT;
-- Out of the transactions, the connection is the default tenant's again.
SELECT bss.current_tenant();
SELECT count(*) FROM bss.read_all(0, 1000) WHERE stream_id LIKE '%-acme.%' OR stream_id LIKE '%-globex.%';

-- A stream id belongs to the tenant that made it: another tenant's append
-- to it is refused, and stores nothing.
BEGIN;
SET LOCAL bss.tenant = 'globex';
SELECT bss.append_event('line-acme.1', 'line.suspended', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Not a tenant name; '*' is not for writers.
SET bss.tenant = 'acme corp';
SELECT bss.append_event('line-acme.9', 'line.suspended', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM bss.read_all();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET bss.tenant = '*';
SELECT count(*) FROM bss.read_all();
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET bss.tenant;
RESET ROLE;
-- Nor does anyone append for every tenant at once.
SET bss.tenant = '*';
SELECT bss.append_event('line-acme.9', 'line.suspended', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET bss.tenant;

-- The administrator: dead letters and snapshots are a tenant's too; '*'
-- shows every tenant's, and rebuilding a projection keeps every tenant's rows.
SET ROLE pool_admin;
SET bss.tenant = 'acme';
SELECT stream_id, batch_index, tenant FROM bss.dead_letters WHERE stream_id LIKE 'line-%' ORDER BY id;
SELECT bss.take_snapshot('line-acme.1');
SELECT bss.take_snapshot('line-globex.1');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET bss.tenant = '*';
SELECT stream_id, batch_index, tenant FROM bss.dead_letters WHERE stream_id LIKE 'line-%' ORDER BY id;
SELECT bss.take_snapshot('line-globex.1');
SELECT bss.rebuild_projection('line_overview');
RESET bss.tenant;
RESET ROLE;
SELECT stream_id, version, tenant FROM bss_projection.line_overview ORDER BY stream_id;
SELECT stream_id, version, tenant FROM bss.snapshots WHERE stream_id LIKE 'line-%' ORDER BY stream_id, version;
-- Each stream's events carry the stream's tenant.
SELECT s.stream_id, s.tenant, array_agg(DISTINCT e.tenant) AS event_tenants
FROM bss.streams s JOIN bss.events e USING (stream_id)
WHERE s.stream_id LIKE '%-acme.%' OR s.stream_id LIKE '%-globex.%'
GROUP BY 1, 2 ORDER BY 1;

-- Monitoring: bss.stats counts one tenant's rows, or every tenant's under '*'.
SET ROLE pool_monitor;
SET bss.tenant = 'acme';
SELECT stat, value FROM bss.stats WHERE stat IN ('streams', 'dead_letters') ORDER BY stat;
SELECT value AS acme_head FROM bss.stats WHERE stat = 'head_position' \gset
SET bss.tenant = 'globex';
SELECT stat, value FROM bss.stats WHERE stat IN ('streams', 'dead_letters') ORDER BY stat;
SET bss.tenant = '*';
SELECT value AS all_streams FROM bss.stats WHERE stat = 'streams' \gset
SELECT value AS all_head FROM bss.stats WHERE stat = 'head_position' \gset
RESET bss.tenant;
RESET ROLE;
SELECT :acme_head = (SELECT max(global_position) FROM bss.events WHERE tenant = 'acme') AS head_is_acmes,
       :all_head = (SELECT max(global_position) FROM bss.events) AS head_is_the_stores,
       :all_streams = (SELECT count(*) FROM bss.streams) AS every_stream_counted;

-- The sidecar reads every tenant's events, whatever tenant is set.
SET ROLE pool_sidecar;
SET bss.tenant = 'acme';
SELECT tenant, count(*) FROM bss.events WHERE stream_id LIKE '%-acme.%' OR stream_id LIKE '%-globex.%' GROUP BY 1 ORDER BY 1;
RESET bss.tenant;
RESET ROLE;
