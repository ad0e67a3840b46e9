-- Written at pg_bss 0.7.0: events stored before it are the default tenant's;
-- a tenant's transaction appends under its own tenant and sees only its rows.
BEGIN;
SET LOCAL bss.tenant = 'acme';
SELECT bss.append_event('customer-acme.1', 'customer.registered', '{"plan": "basic"}');
SELECT count(*) FILTER (WHERE tenant <> 'acme') AS other_tenants_rows FROM bss.read_all(0, 100000);
COMMIT;
SELECT tenant, count(*) FROM bss.events GROUP BY tenant ORDER BY tenant;
SELECT count(*) FILTER (WHERE tenant <> 'default') AS projection_rows_not_default FROM bss_projection.customer_overview;
