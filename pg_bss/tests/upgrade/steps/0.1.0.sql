-- Written at pg_bss 0.1.0: appends of the three shapes, with and without ids.
SELECT bss.append_event('customer-1', 'customer.registered', '{"name": "Ada", "plan": "basic"}',
    event_id => '0190f0a0-0000-7000-8000-000000000001');
SELECT bss.append_event('customer-1', 'customer.plan_changed', '{"plan": "pro"}', expected_version => 1);
SELECT bss.append_event('account-1', 'payment.received', '{"amount": 40.5}',
    metadata => '{"correlation_id": "c-1"}');
SELECT bss.append_events('account-1', '[{"type": "payment.received", "data": {"amount": 2}},
                                        {"type": "invoice.issued", "data": {"amount": -10}}]', 1);
SELECT bss.append_cloudevents('{"specversion": "1.0", "id": "0190f0a0-0000-7000-8000-000000000002",
    "source": "/billing", "type": "usage.recorded", "subject": "usage-1", "data": {"units": 3}}');
SELECT stream_id, stream_version, type, data FROM bss.read_stream('customer-1');
