-- Written at pg_bss 0.6.0: a member of bss_writer appends through the functions
-- and may not write bss.events itself; projections are readable by bss_reader.
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'upgrade_writer') THEN
        CREATE ROLE upgrade_writer IN ROLE bss_writer;
    END IF;
END $$;
SET ROLE upgrade_writer;
SELECT bss.append_event('customer-3', 'customer.plan_changed', '{"plan": "basic"}');
SELECT has_table_privilege('bss.events', 'INSERT') AS may_insert_directly;
RESET ROLE;
SELECT count(*) = count(*) FILTER (WHERE has_table_privilege('bss_reader', c.oid, 'SELECT')) AS projections_readable
FROM pg_class c WHERE c.relnamespace = 'bss_projection'::regnamespace AND c.relkind = 'r';
