-- Written at pg_bss 0.5.0: partitions made by ensure_partitions carry the append-only settings.
SELECT bss.ensure_partitions() IS NOT NULL AS covered;
SELECT bss.append_event('customer-2', 'customer.plan_changed', '{"plan": "pro"}');
