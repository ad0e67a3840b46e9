-- The README's "Reading" examples, on the events of appending.sql.
SELECT stream_version, type, data FROM bss.read_stream('customer-42');
SELECT stream_version, type, data FROM bss.read_stream('customer-42', from_version => 2, max_count => 100);
SELECT bss.stream_version('customer-42'), bss.stream_version('customer-0');
SELECT stream_id, stream_version, type FROM bss.read_all(after_position => 0, max_count => 1000) ORDER BY global_position;
SELECT stream_id, stream_version, data FROM bss.read_category('usage', after_position => 0) ORDER BY global_position;
-- A period of business time: the events whose "time" is in it, in position
-- order, whenever they were appended; pages after a position; both ends needed.
SELECT bss.append_event('reading-7', 'meter.read', '{"kwh": 3}', "time" => '2026-11-20T10:00:00Z');
SELECT bss.append_event('reading-7', 'meter.read', '{"kwh": 1}', "time" => '2026-11-18T23:59:59.999999Z');
SELECT bss.append_event('reading-7', 'meter.read', '{"kwh": 2}', "time" => '2026-11-19T00:00:00Z');
SELECT bss.append_event('reading-7', 'meter.read', '{"kwh": 4}', "time" => '2026-11-20T00:00:00Z');
SELECT stream_version, data, "time" AT TIME ZONE 'UTC' AS utc
FROM bss.read_period('2026-11-19T00:00:00Z', '2026-11-20T00:00:00Z', 0, 100) WHERE stream_id = 'reading-7';
SELECT stream_version FROM bss.read_period('2026-11-18', '2026-11-21') WHERE stream_id = 'reading-7';
SELECT stream_version FROM bss.read_period('2026-11-18', '2026-11-21', max_count => 2) WHERE stream_id = 'reading-7';
SELECT stream_version FROM bss.read_period('2026-11-18', '2026-11-21',
    after_position => (SELECT global_position FROM bss.events WHERE stream_id = 'reading-7' AND stream_version = 2))
WHERE stream_id = 'reading-7';
SELECT count(*) FROM bss.read_period('2026-11-19', NULL);
SELECT count(*) FROM bss.read_period('2026-11-19', '2026-11-20', max_count => -1);

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
