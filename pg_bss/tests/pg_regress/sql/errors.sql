-- Every error a user can meet: its SQLSTATE, message, DETAIL and HINT.
-- Nothing is stored by a call that fails.
\set SHOW_CONTEXT never
SELECT bss.append_event('customer-42', 'customer.updated', '{}', expected_version => 1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_event('', 'customer.updated', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_event('customer-42', '', '{}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_event('customer-42', 'customer.updated', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_event('customer-42', 'customer.updated', '{}', metadata => '[1]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_events('customer-42', '[{"type": "x", "data": {}}, {"type": "x", "data": {}, "time": "noon"}]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_cloudevents('{"specversion": "0.1", "source": "/x"}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SET bss.max_data_bytes = 1024;
SELECT bss.append_event('customer-42', 'customer.updated', jsonb_build_object('note', repeat('x', 2000)));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
RESET bss.max_data_bytes;
SELECT bss.append_events('customer-42', '[]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
UPDATE bss.events SET data = '{}' WHERE stream_id = 'customer-42';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
DELETE FROM bss.events WHERE stream_id = 'customer-42';
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.append_events('customer-43', '[{"type": "x", "data": {}, "event_id": "01932c07-0000-7000-8000-0000000000a1"}]');
SELECT bss.append_events('customer-43', '[{"type": "x", "data": {}, "event_id": "01932c07-0000-7000-8000-0000000000a1"},
                                          {"type": "x", "data": {}, "event_id": "01932c07-0000-7000-8000-0000000000a2"}]');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM bss.read_stream('customer-42', max_count => -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT count(*) FROM bss.read_category('customer', 0, 1000, consumer_member => 4, consumer_size => 4);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.aggregate('customer-42', at_version => -1);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.aggregate('customer-404');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.register_reducer('customer', 'pg_catalog.lower(text)');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.rebuild_projection('no_such_projection');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.register_schema('usage.recorded', '{"type": "object"}');
SELECT bss.append_event('usage-44', 'usage.recorded', '"not an object"');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.register_schema('usage.recorded', NULL);
SELECT bss.register_schema('usage.recorded', '{"type": 42}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- The bss prefix is reserved: a misspelt setting is an error, not a silent placeholder.
SET bss.max_data_byte = 2048;
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT bss.stream_version('customer-42'), bss.stream_version('customer-43'), bss.stream_version('usage-44');
