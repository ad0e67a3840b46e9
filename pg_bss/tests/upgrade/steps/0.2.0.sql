-- Written at pg_bss 0.2.0: a reducer, a snapshot policy, a snapshot, a projection.
SELECT bss.register_reducer('account', 'bss.reduce_balance(jsonb, bss.events)');
SELECT bss.set_snapshot_policy('usage', 2);
SELECT bss.append_event('usage-1', 'usage.recorded', '{"units": 4}');
SELECT bss.take_snapshot('customer-1');
SELECT bss.create_projection('customer_overview', 'customer');
SELECT bss.append_event('customer-2', 'customer.registered', '{"name": "Grace"}');
SELECT bss.aggregate('account-1'), bss.aggregate('customer-1', at_version => 1);
