-- pg_bss 0.7.0 to 0.8.0: personal data (personal_data.sql says what must
-- hold). Fields marked x-pii in a type's JSON Schema are sealed from now on;
-- what was stored before stays as it was (plaintext).

CREATE TABLE bss.subject_keys (
    tenant       text NOT NULL DEFAULT bss.current_tenant(),
    subject      text NOT NULL,
    key_id       uuid NOT NULL UNIQUE,
    wrapped      bytea NOT NULL,
    master_check text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, tenant)  -- found by subject; row-level security picks the tenant
);
COMMENT ON TABLE bss.subject_keys IS 'One AES-256 key per data subject with personal data, wrapped (AES-256-GCM) under the master key of bss.master_key_file (master_check identifies it). bss.erase_subject deletes a subject''s row.';
SELECT pg_catalog.pg_extension_config_dump('bss.subject_keys', '');
SELECT bss.isolate_tenants('bss.subject_keys');

-- Opens, masks or marks erased every sealed value of a document: plaintext
-- for members of bss_pii_reader (and superusers), '[personal data]' for
-- other roles, '[erased]' once the key is gone. For projection states and
-- dead letters; the read functions apply it themselves.
CREATE FUNCTION bss.reveal(doc jsonb) RETURNS jsonb LANGUAGE c STABLE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_reveal';
COMMENT ON FUNCTION bss.reveal(jsonb) IS 'A document with its sealed personal values opened (bss_pii_reader), masked as [personal data] (other roles) or [erased].';

-- The same, for the store's functions, which already run as bss_store:
-- no switch of role for every row read.
CREATE FUNCTION bss.reveal_in_store(doc jsonb) RETURNS jsonb LANGUAGE c STABLE STRICT PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_reveal';

-- bss.events as the read functions return it.
CREATE VIEW bss.events_revealed WITH (security_invoker = true) AS
SELECT e.global_position, e.stream_id, e.stream_version, e.category, e.event_id, e.source, e.type,
       e.subject, e."time", e.datacontenttype, e.dataschema, bss.reveal_in_store(e.data) AS data,
       e.metadata, e.region, e.position_horizon, e.recorded_at, e.tenant
FROM bss.events e;

CREATE FUNCTION bss.erase_subject(subject text) RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_erase_subject';
COMMENT ON FUNCTION bss.erase_subject(text) IS 'GDPR erasure: destroys the data subject''s key (of the tenant in effect), so that every value sealed under it reads as [erased], and records the erasure as an event of stream erasure-<subject>; returns the number of keys destroyed.';

-- The read functions return events through bss.events_revealed; the state
-- of a stream is folded sealed and opened on the way out.
CREATE OR REPLACE FUNCTION bss.read_stream(stream_id text, from_version bigint DEFAULT 1, max_count int DEFAULT 1000)
RETURNS SETOF bss.events
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM bss.check_read_args(max_count, from_version);
    RETURN QUERY
        SELECT * FROM bss.events_revealed e
        WHERE e.stream_id = read_stream.stream_id AND e.stream_version >= from_version
        ORDER BY e.stream_version
        LIMIT max_count;
END
$$;
COMMENT ON FUNCTION bss.read_stream(text, bigint, int) IS 'The events of one stream from a version on, in version order.';

CREATE OR REPLACE FUNCTION bss.read_all(after_position bigint DEFAULT 0, max_count int DEFAULT 1000)
RETURNS SETOF bss.events
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM bss.check_read_args(max_count, after_position);
    RETURN QUERY
        SELECT (p.e).* FROM (
            SELECT e, bool_and(e.position_horizon <= pg_snapshot_xmin(pg_current_snapshot()))
                          OVER (ORDER BY e.global_position) AS final
            FROM (SELECT * FROM bss.events_revealed
                  WHERE global_position > after_position
                  ORDER BY global_position LIMIT max_count) e
        ) p
        WHERE p.final
        ORDER BY (p.e).global_position;
END
$$;
COMMENT ON FUNCTION bss.read_all(bigint, int) IS 'All events after a global position, in position order, never skipping one that commits later.';

CREATE OR REPLACE FUNCTION bss.read_category(category text, after_position bigint DEFAULT 0, max_count int DEFAULT 1000,
                                  consumer_member int DEFAULT NULL, consumer_size int DEFAULT NULL)
RETURNS SETOF bss.events
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM bss.check_read_args(max_count, after_position);
    IF (consumer_member IS NULL) <> (consumer_size IS NULL) THEN
        RAISE EXCEPTION 'consumer_member and consumer_size go together'
            USING ERRCODE = 'XB009', HINT = 'Pass both (member 0..size-1 of a group of size) or neither.';
    END IF;
    IF consumer_size IS NOT NULL AND (consumer_size < 1 OR consumer_member < 0 OR consumer_member >= consumer_size) THEN
        RAISE EXCEPTION 'consumer_member % is not a member of a group of size %', consumer_member, consumer_size
            USING ERRCODE = 'XB009', HINT = 'Members are numbered 0 to consumer_size - 1.';
    END IF;
    RETURN QUERY
        SELECT (p.e).* FROM (
            SELECT e, bool_and(e.position_horizon <= pg_snapshot_xmin(pg_current_snapshot()))
                          OVER (ORDER BY e.global_position) AS final
            FROM (SELECT * FROM bss.events_revealed ev
                  WHERE ev.category = read_category.category
                    AND ev.global_position > after_position
                    AND (consumer_size IS NULL
                         OR bss.consumer_member_of(ev.stream_id, consumer_size) = consumer_member)
                  ORDER BY ev.global_position LIMIT max_count) e
        ) p
        WHERE p.final
        ORDER BY (p.e).global_position;
END
$$;
COMMENT ON FUNCTION bss.read_category(text, bigint, int, int, int) IS 'The events of one category after a global position; with a consumer group, only the streams that hash to this member.';

CREATE OR REPLACE FUNCTION bss.sealed_state(stream_id text, as_of timestamptz, at_version bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s bss.streams := bss.stream_row(stream_id);
    target bigint := bss.version_at(s, as_of, at_version);
    r regprocedure;
    snap record;
BEGIN
    IF target = 0 THEN
        RETURN NULL;
    END IF;
    r := bss.reducer_for(s.category);
    SELECT sn.version, sn.state INTO snap FROM bss.snapshots sn
    WHERE sn.stream_id = s.stream_id AND sn.fingerprint = bss.reducer_fingerprint(r)
      AND sn.version <= target
    ORDER BY sn.version DESC LIMIT 1;
    IF FOUND THEN
        RETURN bss.fold_range(s.stream_id, r, snap.version, snap.state, target);
    END IF;
    RETURN bss.fold_range(s.stream_id, r, 0, NULL, target);
END
$$;

CREATE OR REPLACE FUNCTION bss.aggregate(stream_id text, as_of timestamptz DEFAULT NULL, at_version bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT bss.reveal_in_store(bss.sealed_state(stream_id, as_of, at_version))
$$;
COMMENT ON FUNCTION bss.aggregate(text, timestamptz, bigint) IS 'The state of a stream: its category''s reducer over its events recorded up to as_of and up to at_version (the head when both are NULL), from the newest usable snapshot; NULL before its first event.';

CREATE OR REPLACE FUNCTION bss.stream_at(stream_id text, as_of timestamptz)
RETURNS SETOF bss.events
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s bss.streams := bss.stream_row(stream_id);
BEGIN
    RETURN QUERY
        SELECT * FROM bss.events_revealed e
        WHERE e.stream_id = s.stream_id AND e.stream_version <= bss.version_at(s, as_of, NULL)
        ORDER BY e.stream_version;
END
$$;
COMMENT ON FUNCTION bss.stream_at(text, timestamptz) IS 'The events of a stream as recorded at a moment, in version order.';

CREATE OR REPLACE FUNCTION bss.events_as_of(as_of timestamptz, after_position bigint DEFAULT 0, max_count int DEFAULT 1000)
RETURNS SETOF bss.events
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM bss.check_read_args(max_count, after_position);
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL'
            USING ERRCODE = 'XB009', HINT = 'Pass the moment to read the store at, e.g. ''2026-11-01 00:00+00''.';
    END IF;
    RETURN QUERY
        SELECT * FROM bss.events_revealed e
        WHERE e.recorded_at <= as_of AND e.global_position > after_position
        ORDER BY e.global_position
        LIMIT max_count;
END
$$;
COMMENT ON FUNCTION bss.events_as_of(timestamptz, bigint, int) IS 'A page of the whole store as recorded at a moment, in global position order (audits): pass the last position back as after_position.';

CREATE OR REPLACE FUNCTION bss.snapshot_at(stream_id text, version bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r regprocedure := bss.reducer_for(split_part(stream_id, '-', 1));
BEGIN
    -- The stream's tenant: an administrator reading every tenant ('*') takes it too.
    INSERT INTO bss.snapshots (stream_id, fingerprint, version, reducer, state, tenant)
    SELECT s.stream_id, bss.reducer_fingerprint(r), snapshot_at.version, r,
           bss.sealed_state(s.stream_id, NULL, snapshot_at.version), s.tenant
    FROM bss.streams s WHERE s.stream_id = snapshot_at.stream_id
    ON CONFLICT DO NOTHING;
END
$$;

-- Privileges (privileges.sql).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'bss_pii_reader') THEN
        CREATE ROLE bss_pii_reader NOLOGIN;
    END IF;
END
$$;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA bss FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA bss FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bss TO bss_store;
GRANT SELECT ON bss.subject_keys, bss.events_revealed TO bss_store;
GRANT INSERT, DELETE ON bss.subject_keys TO bss_store;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'bss.read_stream(text, bigint, int)',
        'bss.read_all(bigint, int)',
        'bss.read_category(text, bigint, int, int, int)',
        'bss.aggregate(text, timestamptz, bigint)',
        'bss.stream_at(text, timestamptz)',
        'bss.events_as_of(timestamptz, bigint, int)',
        'bss.reveal(jsonb)',
        'bss.erase_subject(text)']::regprocedure[] LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO bss_store', f);
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION bss.reveal(jsonb) TO bss_reader, bss_admin;
GRANT EXECUTE ON FUNCTION bss.erase_subject(text) TO bss_admin;
