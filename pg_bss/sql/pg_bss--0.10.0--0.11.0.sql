-- pg_bss 0.10.0 -> 0.11.0: bss.read_period, the events of a period of
-- business time, found through a BRIN index on "time" instead of a read of
-- the whole store (bss-intel ask's questions about a period use it).

CREATE INDEX events_time_brin ON bss.events USING brin ("time") WITH (autosummarize = on);

CREATE FUNCTION bss.read_period(from_time timestamptz, to_time timestamptz,
                                after_position bigint DEFAULT 0, max_count int DEFAULT 1000)
RETURNS SETOF bss.events
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM bss.check_read_args(max_count, after_position);
    IF from_time IS NULL OR to_time IS NULL THEN
        RAISE EXCEPTION 'read_period needs both ends of the period, got from_time % and to_time %',
                coalesce(from_time::text, 'NULL'), coalesce(to_time::text, 'NULL')
            USING ERRCODE = 'XB009', HINT = 'For an open end pass ''-infinity'' or ''infinity''.';
    END IF;
    RETURN QUERY
        SELECT (p.e).* FROM (
            SELECT e, bool_and(e.position_horizon <= pg_snapshot_xmin(pg_current_snapshot()))
                          OVER (ORDER BY e.global_position) AS final
            FROM (SELECT * FROM bss.events_revealed
                  WHERE "time" >= from_time AND "time" < to_time AND global_position > after_position
                  ORDER BY global_position LIMIT max_count) e
        ) p
        WHERE p.final
        ORDER BY (p.e).global_position;
END
$$;
COMMENT ON FUNCTION bss.read_period(timestamptz, timestamptz, bigint, int) IS 'The events whose business time is in [from_time, to_time), after a global position, in position order, never skipping one that commits later.';

REVOKE ALL ON FUNCTION bss.read_period(timestamptz, timestamptz, bigint, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bss.read_period(timestamptz, timestamptz, bigint, int) TO bss_store;
ALTER FUNCTION bss.read_period(timestamptz, timestamptz, bigint, int) OWNER TO bss_store;
ALTER FUNCTION bss.read_period(timestamptz, timestamptz, bigint, int) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION bss.read_period(timestamptz, timestamptz, bigint, int) TO bss_reader;
