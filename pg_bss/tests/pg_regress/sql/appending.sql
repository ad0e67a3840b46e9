-- The README's "Appending" examples, as a psql user runs them.
SELECT bss.append_event('customer-42', 'customer.created', '{"name": "Ada", "segment": "business"}');
SELECT bss.append_event(
    stream_id        => 'customer-42',
    type             => 'subscription.activated',
    data             => '{"plan": "postpaid-m", "monthly_fee": 25}',
    expected_version => 1,
    metadata         => '{"correlation_id": "order-981", "tenant": "acme"}',
    event_id         => '01932c07-0000-7000-8000-000000000001',
    source           => '/provisioning',
    subject          => 'msisdn-31612345678',
    "time"           => '2026-11-24T10:15:00Z');
SELECT bss.append_events('usage-42', '[
  {"type": "usage.recorded", "data": {"kind": "data", "bytes": 48213771, "charge": 0.42}},
  {"type": "usage.recorded", "data": {"kind": "voice", "seconds": 95, "charge": 0.10},
   "event_id": "01932c07-0000-7000-8000-000000000002", "source": "/mediation", "time": "2026-11-24T10:16:00Z"}
]', expected_version => NULL);
SELECT bss.append_cloudevents('{
  "specversion": "1.0", "id": "T-1001", "source": "/crm/tickets", "type": "ticket.opened",
  "subject": "ticket-1001", "time": "2026-11-24T10:00:00Z", "tenant": "acme",
  "data": {"customer": "customer-42", "text": "No signal at home since Monday"}}');
-- A retry stores nothing and returns the version the event was stored at.
SELECT bss.append_event('customer-42', 'subscription.activated', '{"plan": "postpaid-m", "monthly_fee": 25}',
    event_id => '01932c07-0000-7000-8000-000000000001');
SELECT bss.append_cloudevents('{
  "specversion": "1.0", "id": "T-1001", "source": "/crm/tickets", "type": "ticket.opened",
  "subject": "ticket-1001", "time": "2026-11-24T10:00:00Z", "tenant": "acme",
  "data": {"customer": "customer-42", "text": "No signal at home since Monday"}}');
-- What was stored: CloudEvents attributes in columns, extensions in metadata.
SELECT stream_id, stream_version, event_id, source, type, subject, "time", data, metadata
FROM bss.events WHERE stream_id = 'customer-42' AND stream_version = 2;
SELECT stream_id, source, type, subject, "time", metadata FROM bss.events WHERE stream_id = 'ticket-1001';
