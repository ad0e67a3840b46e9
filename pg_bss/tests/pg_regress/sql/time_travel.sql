-- The README's time travel, reducers, snapshots and projections.
SELECT bss.aggregate('customer-42');
SELECT bss.aggregate('customer-42', at_version => 1);
SELECT bss.aggregate('customer-42', as_of => '2000-01-01 00:00+00');
SELECT bss.append_events('account-7', '[{"type": "payment.received", "data": {"amount": 40.50}},
                                       {"type": "payment.received", "data": {"amount": 2}}]');
SELECT bss.register_reducer('account', 'bss.reduce_balance(jsonb, bss.events)');
SELECT bss.aggregate('account-7');
SELECT bss.register_reducer('account', NULL);
SELECT bss.aggregate('account-7');
SELECT bss.set_snapshot_policy('usage', 1000);
SELECT bss.take_snapshot('usage-42');
SELECT stream_id, version, state FROM bss.snapshots WHERE stream_id = 'usage-42';
SELECT bss.create_projection('customer_overview', 'customer');
SELECT stream_id, state->>'name' AS name, version FROM bss_projection.customer_overview;
SELECT bss.append_event('customer-42', 'customer.renamed', '{"name": "Ada L."}');
SELECT stream_id, state->>'name' AS name, version FROM bss_projection.customer_overview;
SELECT bss.rebuild_projection('customer_overview');
