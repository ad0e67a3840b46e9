-- pg_bss 0.9.0 -> 0.10.0: bss.append_streams, appends to many streams in
-- one call (append_streams.rs): the same as one append_events per element,
-- in order, all or nothing, with one statement for each step of the append
-- instead of one per stream.

CREATE FUNCTION bss.append_streams(stream_ids text[], events jsonb[], expected_versions bigint[] DEFAULT NULL,
                                   on_invalid text DEFAULT 'reject')
RETURNS bigint[] LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_append_streams';
COMMENT ON FUNCTION bss.append_streams(text[], jsonb[], bigint[], text) IS 'Appends events[i] (a JSON array of events, as append_events takes) to stream_ids[i], expecting expected_versions[i] (NULL: any), for every i in order, all or nothing; returns each element''s stream version after it. on_invalid as append_events''s.';

REVOKE ALL ON FUNCTION bss.append_streams(text[], jsonb[], bigint[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bss.append_streams(text[], jsonb[], bigint[], text) TO bss_store;
ALTER FUNCTION bss.append_streams(text[], jsonb[], bigint[], text) OWNER TO bss_store;
ALTER FUNCTION bss.append_streams(text[], jsonb[], bigint[], text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION bss.append_streams(text[], jsonb[], bigint[], text) TO bss_writer;
