-- pg_bss: data quality. JSON Schemas for event types' data, checked on every
-- append; dead letters for batches that ask to keep going; validate_event to
-- check without storing. Loaded by CREATE EXTENSION pg_bss
-- after time_travel.sql; what 0.3.0 added came with pg_bss--0.2.0--0.3.0.sql.
--
-- What must hold:
--   * Every event stored by an append function passed the rules of the
--     README's Errors table and its type's registered schema, as registered
--     in the appender's snapshot.
--   * An invalid event is either refused with the whole call (on_invalid =>
--     'reject', the default) or kept in bss.dead_letters with every rule it
--     broke ('dead_letter'), in the same transaction as the valid ones:
--     nothing is dropped without a trace.

-- Schemas ------------------------------------------------------------------------

CREATE TABLE bss.schemas (
    type          text PRIMARY KEY CHECK (btrim(type) <> ''),
    schema        jsonb NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE bss.schemas IS 'The JSON Schema of the data of each event type that has one; appends of that type are checked against it.';
SELECT pg_catalog.pg_extension_config_dump('bss.schemas', '');

-- Compiles a schema; raises XB014 naming the type and what is wrong with it.
CREATE FUNCTION bss.check_schema(type text, schema jsonb) RETURNS void
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bss_check_schema';

-- Appends find schemas in a per-backend cache of compiled validators (see
-- pg_bss/src/schemas.rs); bss.read_side_changed makes every backend drop
-- that cache at commit.
CREATE FUNCTION bss.register_schema(type text, schema jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF schema IS NULL THEN
        DELETE FROM bss.schemas s WHERE s.type = register_schema.type;
    ELSE
        PERFORM bss.check_schema(type, schema);
        INSERT INTO bss.schemas AS s (type, schema) VALUES (register_schema.type, register_schema.schema)
        ON CONFLICT ON CONSTRAINT schemas_pkey DO UPDATE
            SET schema = excluded.schema, registered_at = excluded.registered_at, registered_by = excluded.registered_by;
    END IF;
    PERFORM bss.read_side_changed('bss.schemas');
    PERFORM bss.audit('register_schema', type, jsonb_build_object('schema', schema));
END $$;
COMMENT ON FUNCTION bss.register_schema(text, jsonb) IS 'Registers (or replaces) the JSON Schema that the data of events of a type must match; NULL removes it.';

-- Dead letters -------------------------------------------------------------------

CREATE TABLE bss.dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id   text NOT NULL,
    batch_index int NOT NULL,
    event_id    uuid,
    type        text,
    event       jsonb NOT NULL,
    reasons     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    tenant      text NOT NULL DEFAULT bss.current_tenant()
);
COMMENT ON TABLE bss.dead_letters IS 'Invalid events of append_events(..., on_invalid => ''dead_letter'') calls, as sent, with every rule each broke.';
COMMENT ON COLUMN bss.dead_letters.reasons IS 'A JSON array of {"rule": ..., "message": ...}, as bss.validate_event returns them.';
COMMENT ON COLUMN bss.dead_letters.batch_index IS 'The event''s 0-based index in its batch: events[batch_index].';
-- A retried batch does not keep its invalid events twice (those that carry
-- an event_id; NULLs never conflict).
CREATE UNIQUE INDEX dead_letters_event_idx ON bss.dead_letters (stream_id, event_id);
CREATE INDEX dead_letters_received_idx ON bss.dead_letters (received_at);
SELECT pg_catalog.pg_extension_config_dump('bss.dead_letters', '');

-- Appends with a choice of what invalid events do. 0.2.0 had the form without
-- on_invalid; an update replaces it (a fresh install never had it).
DROP FUNCTION IF EXISTS bss.append_events(text, jsonb, bigint);
CREATE FUNCTION bss.append_events(stream_id text, events jsonb, expected_version bigint DEFAULT NULL,
                                  on_invalid text DEFAULT 'reject')
RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_append_events';
COMMENT ON FUNCTION bss.append_events(text, jsonb, bigint, text) IS 'Appends a JSON array of events to one stream; returns the stream''s version after it. on_invalid: ''reject'' (all or none) or ''dead_letter'' (valid events stored, invalid ones kept in bss.dead_letters).';

-- Appends to many streams in one call (0.10.0): the same as one append_events
-- per element, in order, with one statement for each step instead of one per
-- stream (append_streams.rs).
CREATE FUNCTION bss.append_streams(stream_ids text[], events jsonb[], expected_versions bigint[] DEFAULT NULL,
                                   on_invalid text DEFAULT 'reject')
RETURNS bigint[] LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_append_streams';
COMMENT ON FUNCTION bss.append_streams(text[], jsonb[], bigint[], text) IS 'Appends events[i] (a JSON array of events, as append_events takes) to stream_ids[i], expecting expected_versions[i] (NULL: any), for every i in order, all or nothing; returns each element''s stream version after it. on_invalid as append_events''s.';

-- Checking without storing -------------------------------------------------------

CREATE FUNCTION bss.event_problems(event jsonb) RETURNS jsonb
LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'bss_event_problems';

CREATE FUNCTION bss.validate_event(event jsonb) RETURNS TABLE (rule text, message text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p->>'rule', p->>'message' FROM jsonb_array_elements(bss.event_problems(event)) AS p
$$;
COMMENT ON FUNCTION bss.validate_event(jsonb) IS 'Every rule an event breaks (an append_events element, or a CloudEvent when it has specversion), with its type''s schema; no rows when it is valid. Stores nothing.';
