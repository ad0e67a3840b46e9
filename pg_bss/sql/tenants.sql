-- pg_bss: tenants. Every row of the store carries the tenant it was written
-- for (a column defaulting to bss.current_tenant(), declared in pg_bss.sql);
-- row-level security limits every query on the store's tables to the
-- tenant set for the transaction. Loaded by CREATE EXTENSION pg_bss after
-- audit.sql; what 0.7.0 added came with pg_bss--0.6.0--0.7.0.sql.
--
-- Set the tenant per transaction, as a pooled connection must:
--   BEGIN; SET LOCAL bss.tenant = 'acme'; SELECT bss.append_event(...); COMMIT;
-- or per session (SET bss.tenant, ALTER ROLE ... SET bss.tenant). Unset, it
-- is 'default'.
--
-- What must hold:
--   * A stream belongs to one tenant: its events, snapshots and projection
--     rows carry the stream's tenant. Stream ids are unique across tenants:
--     an append to another tenant's stream is refused (42501).
--   * Under a tenant, the read functions, time travel, projections, dead
--     letters and bss.stats show that tenant's rows only; under '*' (bss_admin,
--     pg_monitor), every tenant's.
--   * The policies apply to every role but the tables' owner (the extension's
--     owner) and superusers: bss_store, which the store's functions run as,
--     is not exempt. The sidecar's role reads every tenant's events
--     (privileges.sql), for the gap fill and the replay.

-- Row-level security on a table with a tenant column: its rows are those of
-- the tenant in effect, or all under '*', for every command (or, reads_only,
-- for reading). The sub-selects are evaluated once per query, not per row
-- (a function per row doubled the time of a read_all page). Also used by
-- bss.create_projection.
CREATE FUNCTION bss.isolate_tenants(rel regclass, reads_only boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', rel);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s FOR %s '
                   'USING (tenant = (SELECT bss.current_tenant()) OR (SELECT bss.current_tenant()) = ''*'')',
                   rel, CASE WHEN reads_only THEN 'SELECT' ELSE 'ALL' END);
END
$$;

SELECT bss.isolate_tenants(t)
FROM unnest(ARRAY['bss.streams', 'bss.snapshots', 'bss.dead_letters']::regclass[]) t;
-- bss.events: only bss_store inserts (the append path), and every event
-- gets its stream's tenant there (the column's default, the stream lock
-- refusing another tenant's stream): a check of each inserted row cost
-- about 4 µs per append (13% of a tight loop of appends with it, 6% without).
SELECT bss.isolate_tenants('bss.events', reads_only => true);
-- (Its policy for bss_store's inserts is in privileges.sql, which makes the role.)

-- Per-tenant counts for bss.stats.
CREATE INDEX streams_tenant_idx ON bss.streams (tenant);

-- Called by an append whose stream row the lock's UPDATE did not find (a new
-- stream, or another tenant's): refuses another tenant's stream with a clear
-- error. Runs as the extension's owner (privileges.sql), which sees every
-- tenant's streams.
CREATE FUNCTION bss.check_stream_tenant(stream_id text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    owner_tenant text;
BEGIN
    SELECT s.tenant INTO owner_tenant FROM bss.streams s WHERE s.stream_id = check_stream_tenant.stream_id;
    IF FOUND AND owner_tenant <> bss.current_tenant() THEN
        RAISE EXCEPTION 'stream "%" belongs to another tenant', stream_id
            USING ERRCODE = '42501',
                  HINT = 'Stream ids are unique across tenants: give each tenant''s streams ids of their own (e.g. customer-acme.42).';
    END IF;
END
$$;
