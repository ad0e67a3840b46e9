-- The README's "Reading" examples, on the events of appending.sql.
SELECT stream_version, type, data FROM bss.read_stream('customer-42');
SELECT stream_version, type, data FROM bss.read_stream('customer-42', from_version => 2, max_count => 100);
SELECT bss.stream_version('customer-42'), bss.stream_version('customer-0');
SELECT stream_id, stream_version, type FROM bss.read_all(after_position => 0, max_count => 1000) ORDER BY global_position;
SELECT stream_id, stream_version, data FROM bss.read_category('usage', after_position => 0) ORDER BY global_position;
-- A consumer group of 4: every event goes to exactly one member, a stream's to the same one.
SELECT count(*) AS events, count(DISTINCT m) AS members
FROM generate_series(0, 3) m, bss.read_category('usage', 0, 1000, consumer_member => m, consumer_size => 4);

-- Data is stored as sent, numbers with all their digits and their scale,
-- whichever function appends it.
SELECT bss.append_cloudevents('[{"specversion": "1.0", "id": "P-1", "source": "/billing", "type": "payment.received",
  "subject": "payment-1", "data": {"amount": 12345678901234567.890, "fee": 1.10, "tiny": 1e-30}},
  {"specversion": "1.0", "id": "P-2", "source": "/billing", "type": "payment.received", "subject": "payment-1", "data": 0.10}]');
SELECT bss.append_event('payment-1', 'payment.received', '{"amount": 12345678901234567.890, "fee": 1.10}');
SELECT bss.append_events('payment-1', '[{"type": "payment.received", "data": {"amount": 12345678901234567.890, "fee": 1.10}}]');
SELECT stream_version, data FROM bss.events WHERE stream_id = 'payment-1' ORDER BY stream_version;
