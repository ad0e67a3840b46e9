-- pg_bss: the schema of the event store. Loaded first by CREATE EXTENSION pg_bss
-- (extension_sql_file! bootstrap); the append functions, written in Rust, follow
-- it in the same script and are declared at the end of this file.
--
-- What must hold:
--   * bss.events is append-only: no UPDATE, DELETE or TRUNCATE, for any role.
--   * A stream's versions are 1..N without gaps; bss.streams.version is N.
--   * global_position is unique, and increases in the order positions were taken;
--     a position is taken only while holding the stream's row lock, so within
--     a stream positions follow versions.
--   * position_horizon is the next transaction id at the moment the position was
--     taken: once every transaction below it has ended, no position below this
--     event's can still appear (read_all relies on it).
--   * A stream belongs to one tenant, and its events carry it (tenants.sql).

-- The tenant in effect (bss.tenant, checked; pg_bss/src/tenants.rs): every
-- row of the store is written with it, and row-level security compares with it.
CREATE FUNCTION bss.current_tenant() RETURNS text LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'bss_current_tenant';
COMMENT ON FUNCTION bss.current_tenant() IS 'The tenant this transaction acts for: bss.tenant, ''default'' when unset; ''*'' (every tenant) for bss_admin and pg_monitor.';

-- CACHE 1: positions must be taken in time order across sessions.
CREATE SEQUENCE bss.global_position_seq AS bigint CACHE 1;

CREATE TABLE bss.streams (
    stream_id  text PRIMARY KEY,
    category   text NOT NULL,
    version    bigint NOT NULL CHECK (version > 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    tenant     text NOT NULL DEFAULT bss.current_tenant(),
    home_region text  -- regions.sql: NULL in a database without a region
) WITH (fillfactor = 70);  -- room on the page for HOT updates of version
COMMENT ON TABLE bss.streams IS 'One row per stream: its current version. Its row lock serializes appends to that stream only.';

CREATE TABLE bss.events (
    global_position  bigint NOT NULL,
    stream_id        text NOT NULL,
    stream_version   bigint NOT NULL,
    category         text NOT NULL GENERATED ALWAYS AS (split_part(stream_id, '-', 1)) STORED,
    event_id         uuid NOT NULL,
    source           text NOT NULL,
    type             text NOT NULL,
    subject          text,
    "time"           timestamptz NOT NULL,
    datacontenttype  text NOT NULL DEFAULT 'application/json',
    dataschema       text,
    data             jsonb NOT NULL,
    metadata         jsonb NOT NULL DEFAULT '{}',
    region           text NOT NULL DEFAULT 'local',
    position_horizon xid8 NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    tenant           text NOT NULL DEFAULT bss.current_tenant()
) PARTITION BY RANGE (recorded_at);
COMMENT ON TABLE bss.events IS 'The event store: append-only, range-partitioned by recorded_at. Write with bss.append_event*, read with bss.read_*.';
COMMENT ON COLUMN bss.events.position_horizon IS 'Next transaction id when the position was taken; read_all returns the event only once every older transaction has ended.';

CREATE INDEX events_global_position_idx ON bss.events (global_position);
CREATE INDEX events_stream_idx ON bss.events (stream_id, stream_version);
CREATE INDEX events_category_idx ON bss.events (category, global_position);
CREATE INDEX events_event_id_idx ON bss.events (event_id);
-- Business time ("time", as given at append) mostly follows the order of
-- appends, but not always (imports, late usage records): a BRIN index costs an
-- append next to nothing and lets bss.read_period skip the block ranges whose
-- times all lie outside the period (added in 0.11.0).
CREATE INDEX events_time_brin ON bss.events USING brin ("time") WITH (autosummarize = on);

SELECT pg_catalog.pg_extension_config_dump('bss.streams', '');
SELECT pg_catalog.pg_extension_config_dump('bss.global_position_seq', '');

-- Append-only, enforced for every role: statement triggers on the parent and on
-- each partition (a partition can be named directly), ENABLE ALWAYS so that
-- session_replication_role = replica does not switch them off. Arguments,
-- for another append-only table: its name and the hint.
CREATE FUNCTION bss.reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The one exception: a region moving its own events that its stream's
    -- owner wrote over into bss.conflicts (regions.sql, regions/apply.rs).
    IF TG_OP = 'DELETE' AND TG_TABLE_SCHEMA = 'bss' AND TG_TABLE_NAME = 'events'
       AND to_regprocedure('bss.moving_conflicts()') IS NOT NULL
       AND bss.moving_conflicts() THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% on %.% is not allowed: % is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME,
                    coalesce(TG_ARGV[0], 'bss.events')
        USING ERRCODE = 'XB007',
              SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
              HINT = coalesce(TG_ARGV[1], 'Append a compensating event instead. To archive old events, use bss.detach_partitions_older_than().');
END
$$;

CREATE FUNCTION bss.protect_append_only(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s FOR EACH STATEMENT EXECUTE FUNCTION bss.reject_change()', rel);
    EXECUTE format('CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION bss.reject_change()', rel);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER append_only, ENABLE ALWAYS TRIGGER append_only_truncate', rel);
END
$$;
SELECT bss.protect_append_only('bss.events');

-- Partitions -----------------------------------------------------------------

CREATE FUNCTION bss.partition_interval() RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('bss.partition_interval', true), ''), '1 day')::interval
$$;

-- The start of the partition that holds `ts` for a given length: aligned to
-- UTC midnight of 2000-01-01, whole months when the length is in months.
CREATE FUNCTION bss.partition_start(ts timestamptz, len interval) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    months int := extract(year FROM len)::int * 12 + extract(month FROM len)::int;
    ts_months int;
BEGIN
    IF len <= interval '0' THEN
        RAISE EXCEPTION 'bss.partition_interval must be positive, got %', len
            USING ERRCODE = '22023', HINT = 'Set bss.partition_interval to an interval such as ''1 day''.';
    END IF;
    IF months > 0 THEN
        IF extract(day FROM len) <> 0 OR extract(epoch FROM len) - extract(epoch FROM make_interval(months => months)) <> 0 THEN
            RAISE EXCEPTION 'bss.partition_interval % mixes months with days or hours', len
                USING ERRCODE = '22023', HINT = 'Use whole months (''1 month'') or a fixed length (''1 day'', ''6 hours'').';
        END IF;
        ts_months := (extract(year FROM ts AT TIME ZONE 'UTC')::int - 2000) * 12 + extract(month FROM ts AT TIME ZONE 'UTC')::int - 1;
        RETURN (timestamp '2000-01-01' + make_interval(months => ts_months - (ts_months % months + months) % months)) AT TIME ZONE 'UTC';
    END IF;
    RETURN date_bin(len, ts, timestamptz '2000-01-01 00:00:00+00');
END
$$;

CREATE FUNCTION bss.partition_bounds(part regclass, OUT from_time timestamptz, OUT to_time timestamptz)
LANGUAGE sql STABLE STRICT AS $$
    SELECT (regexp_match(b, 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(b, 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM (SELECT pg_get_expr(c.relpartbound, c.oid) AS b FROM pg_class c WHERE c.oid = part) s
$$;

-- Runs as the extension's owner (privileges.sql), so it counts partitions
-- of bss.events only.
CREATE FUNCTION bss.partition_row_count(part regclass) RETURNS bigint
LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE n bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i
                   WHERE i.inhrelid = part AND i.inhparent = 'bss.events'::regclass) THEN
        RAISE EXCEPTION '% is not a partition of bss.events', part
            USING ERRCODE = 'XB009', HINT = 'SELECT partition FROM bss.partitions lists them.';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', part) INTO n;
    RETURN n;
END
$$;

CREATE VIEW bss.partitions AS
SELECT c.oid::regclass                 AS partition,
       b.from_time,
       b.to_time,
       bss.partition_row_count(c.oid)  AS row_count,
       pg_total_relation_size(c.oid)   AS total_bytes
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL bss.partition_bounds(c.oid) b
WHERE i.inhparent = 'bss.events'::regclass;
COMMENT ON VIEW bss.partitions IS 'The partitions of bss.events with their bounds, exact row counts (a count(*) each) and sizes.';

-- bss.ensure_partitions(), which creates them, is in partition_upkeep.sql.

-- Detaches partitions that end before now() - older_than, for archiving. The
-- detached tables stay in schema bss (still append-only) until dropped.
CREATE FUNCTION bss.detach_partitions_older_than(older_than interval) RETURNS SETOF regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p record;
BEGIN
    IF older_than IS NULL OR older_than < interval '0' THEN
        RAISE EXCEPTION 'older_than must be a non-negative interval, got %', older_than
            USING ERRCODE = 'XB009', HINT = 'For example: SELECT bss.detach_partitions_older_than(''90 days'');';
    END IF;
    FOR p IN SELECT partition, to_time FROM bss.partitions
             WHERE to_time <= now() - older_than ORDER BY from_time LOOP
        EXECUTE format('ALTER TABLE bss.events DETACH PARTITION %s', p.partition);
        RETURN NEXT p.partition;
    END LOOP;
END
$$;

-- The partitions the extension starts with are created by the append path or
-- by SELECT bss.ensure_partitions(); creating them here would make them members
-- of the extension, and pg_dump would then skip their rows.

-- Logical decoding ------------------------------------------------------------

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'bss_events') THEN
        ALTER PUBLICATION bss_events SET TABLE bss.events;
        ALTER PUBLICATION bss_events SET (publish = 'insert', publish_via_partition_root = true);
    ELSE
        CREATE PUBLICATION bss_events FOR TABLE bss.events
            WITH (publish = 'insert', publish_via_partition_root = true);
    END IF;
END
$$;

-- Reads -----------------------------------------------------------------------

CREATE FUNCTION bss.check_read_args(max_count int, from_position bigint) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF max_count IS NULL OR max_count < 0 THEN
        RAISE EXCEPTION 'max_count must be zero or more, got %', coalesce(max_count::text, 'NULL')
            USING ERRCODE = 'XB009', HINT = 'Pass the largest number of events to return, e.g. max_count => 1000.';
    END IF;
    IF from_position IS NULL OR from_position < 0 THEN
        RAISE EXCEPTION 'position or version must be zero or more, got %', coalesce(from_position::text, 'NULL')
            USING ERRCODE = 'XB009', HINT = 'Start from 0 (positions) or 1 (versions).';
    END IF;
END
$$;

CREATE FUNCTION bss.stream_version(stream_id text) RETURNS bigint
LANGUAGE sql STABLE STRICT AS $$
    SELECT coalesce((SELECT s.version FROM bss.streams s WHERE s.stream_id = $1), 0)
$$;
COMMENT ON FUNCTION bss.stream_version(text) IS 'The current version of a stream: the number of events in it, 0 when it does not exist.';

CREATE FUNCTION bss.read_stream(stream_id text, from_version bigint DEFAULT 1, max_count int DEFAULT 1000)
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

-- A page of events after a position, cut before the first event that an
-- in-progress transaction could still precede (see position_horizon): each call
-- returns a prefix that later calls only extend.
CREATE FUNCTION bss.read_all(after_position bigint DEFAULT 0, max_count int DEFAULT 1000)
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

-- read_all's page of the events whose business time lies in [from_time,
-- to_time) (added in 0.11.0): found through events_time_brin, not by reading
-- the whole store.
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

CREATE FUNCTION bss.read_category(category text, after_position bigint DEFAULT 0, max_count int DEFAULT 1000,
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

CREATE FUNCTION bss.consumer_member_of(stream_id text, consumer_size int) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ((hashtextextended(stream_id, 0) & 9223372036854775807) % consumer_size)::int
$$;
COMMENT ON FUNCTION bss.consumer_member_of(text, int) IS 'Which member of a consumer group of the given size reads a stream.';

-- Appends (implemented in Rust; see pg_bss/src/entry.rs) ------------------------

CREATE FUNCTION bss.append_event(
    stream_id text, type text, data jsonb,
    expected_version bigint DEFAULT NULL, metadata jsonb DEFAULT NULL,
    event_id uuid DEFAULT NULL, source text DEFAULT NULL, subject text DEFAULT NULL,
    "time" timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_append_event';
COMMENT ON FUNCTION bss.append_event(text, text, jsonb, bigint, jsonb, uuid, text, text, timestamptz) IS 'Appends one event to a stream; returns its stream version.';

-- bss.append_events is declared in data_quality.sql (it takes on_invalid).

CREATE FUNCTION bss.append_cloudevents(events jsonb)
RETURNS bigint LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'bss_append_cloudevents';
COMMENT ON FUNCTION bss.append_cloudevents(jsonb) IS 'Appends one CloudEvents 1.0.2 structured-mode event or an array of them; returns how many were stored.';

CREATE FUNCTION bss.uuidv7() RETURNS uuid LANGUAGE c VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'bss_uuidv7';
COMMENT ON FUNCTION bss.uuidv7() IS 'A fresh time-ordered UUID (version 7), the default event id.';
