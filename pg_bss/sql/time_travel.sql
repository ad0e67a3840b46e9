-- pg_bss: time travel, reducers, snapshots and projections (the read side).
-- Loaded by CREATE EXTENSION pg_bss after pg_bss.sql; what 0.2.0 added came
-- with pg_bss--0.1.0--0.2.0.sql.
--
-- What must hold:
--   * The state of a stream at a point is its reducer folded over versions
--     1..v in version order, v being the last version recorded by then
--     (recorded_at never decreases within a stream, so that is a prefix).
--   * A snapshot is used only by the reducer that made it, as it is now:
--     its fingerprint covers the function's identity and body, so changing
--     a category's reducer, or replacing its body, retires its snapshots.
--   * A projection row equals bss.aggregate at the stream's head, in every
--     committed state: appends update it in their own transaction, and
--     (re)building it locks out appends until it commits.

-- Folding ----------------------------------------------------------------------

CREATE FUNCTION bss.jsonb_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'bss_jsonb_merge_patch';
COMMENT ON FUNCTION bss.jsonb_merge_patch(jsonb, jsonb) IS 'RFC 7396 JSON merge patch of target by patch; a NULL target is no document yet.';

CREATE FUNCTION bss.fold_step(internal, regprocedure, jsonb, bss.events) RETURNS internal
LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'bss_fold_step';
CREATE FUNCTION bss.fold_final(internal) RETURNS jsonb
LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'bss_fold_final';

CREATE AGGREGATE bss.fold(reducer regprocedure, initial jsonb, event bss.events) (
    SFUNC = bss.fold_step, STYPE = internal, FINALFUNC = bss.fold_final
);
COMMENT ON AGGREGATE bss.fold(regprocedure, jsonb, bss.events) IS 'Folds events (in the ORDER BY given) with a reducer, starting from initial; NULL when no event.';

CREATE FUNCTION bss.check_reducer(reducer regprocedure, event_type regtype) RETURNS void
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'bss_check_reducer';

-- Appends do read-side work (projection updates, bss.snapshot_by_policy)
-- only for categories that have some, known from a per-backend cache (see
-- pg_bss/src/read_side.rs); changes to projections or snapshot policies
-- call this so that every backend drops that cache at commit.
CREATE FUNCTION bss.read_side_changed(rel regclass) RETURNS void
LANGUAGE c AS 'MODULE_PATHNAME', 'bss_read_side_changed';

-- Reducers: (state jsonb, event bss.events) RETURNS jsonb, not STRICT. ---------
-- Copy one of these to write your own: state is NULL for the first event.

CREATE FUNCTION bss.reduce_merge_patch(state jsonb, event bss.events) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT bss.jsonb_merge_patch(state, event.data)
$$;
COMMENT ON FUNCTION bss.reduce_merge_patch(jsonb, bss.events) IS 'The default reducer: data applied as a JSON merge patch (RFC 7396). bss.fold runs it natively.';

CREATE FUNCTION bss.reduce_balance(state jsonb, event bss.events) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'balance', coalesce((state->>'balance')::numeric, 0)
                   + CASE WHEN jsonb_typeof(event.data->'amount') = 'number'
                          THEN (event.data->>'amount')::numeric ELSE 0 END,
        'events', coalesce((state->>'events')::bigint, 0) + 1)
$$;
COMMENT ON FUNCTION bss.reduce_balance(jsonb, bss.events) IS 'A balance: sums data.amount (payments positive, charges negative) and counts events.';

CREATE FUNCTION bss.reduce_log(state jsonb, event bss.events) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(state, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
        'version', event.stream_version, 'type', event.type,
        'time', event."time", 'data', event.data))
$$;
COMMENT ON FUNCTION bss.reduce_log(jsonb, bss.events) IS 'A log: every event appended to an array as {version, type, time, data}.';

CREATE TABLE bss.reducers (
    category      text PRIMARY KEY,
    reducer       regprocedure NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE bss.reducers IS 'The reducer of each category that does not use bss.reduce_merge_patch. Write with bss.register_reducer.';
SELECT pg_catalog.pg_extension_config_dump('bss.reducers', '');

CREATE FUNCTION bss.reducer_for(category text) RETURNS regprocedure
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT r.reducer FROM bss.reducers r WHERE r.category = $1),
                    'bss.reduce_merge_patch(jsonb, bss.events)'::regprocedure)
$$;

-- Changes whenever the function does (CREATE OR REPLACE, ALTER ... SET).
CREATE FUNCTION bss.reducer_fingerprint(reducer regprocedure) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT md5(concat_ws('|', p.oid, p.prolang, p.prosrc, p.probin, p.provolatile, p.proconfig::text))
    FROM pg_catalog.pg_proc p WHERE p.oid = $1
$$;

CREATE FUNCTION bss.check_category(category text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF category IS NULL OR category = '' OR position('-' IN category) > 0 THEN
        RAISE EXCEPTION 'invalid category "%"', coalesce(category, 'NULL')
            USING ERRCODE = 'XB009', HINT = 'A category is the part of a stream id before its first "-": ''customer'' for ''customer-42''.';
    END IF;
END
$$;

-- Time travel ------------------------------------------------------------------

CREATE FUNCTION bss.stream_row(stream_id text) RETURNS bss.streams
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s bss.streams;
BEGIN
    SELECT * INTO s FROM bss.streams st WHERE st.stream_id = stream_row.stream_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'stream "%" does not exist', stream_id
            USING ERRCODE = 'XB010', HINT = 'A stream exists once an event was appended to it; bss.stream_version() is 0 for one that does not.';
    END IF;
    RETURN s;
END
$$;

-- The last version of s recorded at or before as_of and at most at_version (0:
-- none). recorded_at never decreases within a stream: a binary search.
CREATE FUNCTION bss.version_at(s bss.streams, as_of timestamptz, at_version bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lo bigint := 0;
    hi bigint := s.version;
    mid bigint;
BEGIN
    IF at_version IS NOT NULL THEN
        IF at_version < 0 THEN
            RAISE EXCEPTION 'at_version must be zero or more, got %', at_version
                USING ERRCODE = 'XB009', HINT = 'Versions count from 1; 0 is the stream before its first event.';
        END IF;
        hi := least(hi, at_version);
    END IF;
    IF as_of IS NULL OR hi = 0 THEN
        RETURN hi;
    END IF;
    IF as_of < s.created_at THEN
        RETURN 0;
    END IF;
    IF (SELECT e.recorded_at FROM bss.events e
        WHERE e.stream_id = s.stream_id AND e.stream_version = hi AND e.recorded_at >= s.created_at) <= as_of THEN
        RETURN hi;
    END IF;
    WHILE hi - lo > 1 LOOP  -- version lo is recorded by as_of (0 trivially), hi is not
        mid := (lo + hi) / 2;
        IF (SELECT e.recorded_at FROM bss.events e
            WHERE e.stream_id = s.stream_id AND e.stream_version = mid AND e.recorded_at >= s.created_at) <= as_of THEN
            lo := mid;
        ELSE
            hi := mid;
        END IF;
    END LOOP;
    RETURN lo;
END
$$;

-- reducer folded over versions after_version+1..upto_version of a stream,
-- starting from state (the state at after_version).
CREATE FUNCTION bss.fold_range(stream_id text, reducer regprocedure, after_version bigint,
                               state jsonb, upto_version bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    folded jsonb;
    n bigint;
BEGIN
    IF upto_version <= after_version THEN
        RETURN state;
    END IF;
    SELECT bss.fold(reducer, state, e ORDER BY e.stream_version), count(*) INTO folded, n
    FROM bss.events e
    WHERE e.stream_id = fold_range.stream_id
      AND e.stream_version > after_version AND e.stream_version <= upto_version;
    RETURN CASE WHEN n = 0 THEN state ELSE folded END;
END
$$;

-- The state with personal values still sealed: what snapshots and
-- projections store (folded over sealed values, they never hold plaintext).
CREATE FUNCTION bss.sealed_state(stream_id text, as_of timestamptz, at_version bigint)
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

-- Personal values opened, masked or marked erased on the way out.
CREATE FUNCTION bss.aggregate(stream_id text, as_of timestamptz DEFAULT NULL, at_version bigint DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT bss.reveal_in_store(bss.sealed_state(stream_id, as_of, at_version))
$$;
COMMENT ON FUNCTION bss.aggregate(text, timestamptz, bigint) IS 'The state of a stream: its category''s reducer over its events recorded up to as_of and up to at_version (the head when both are NULL), from the newest usable snapshot; NULL before its first event.';

CREATE FUNCTION bss.stream_at(stream_id text, as_of timestamptz)
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

CREATE FUNCTION bss.events_as_of(as_of timestamptz, after_position bigint DEFAULT 0, max_count int DEFAULT 1000)
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

-- Snapshots --------------------------------------------------------------------

CREATE TABLE bss.snapshots (
    stream_id   text NOT NULL,
    fingerprint text NOT NULL,
    version     bigint NOT NULL,
    reducer     regprocedure NOT NULL,
    state       jsonb,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    tenant      text NOT NULL DEFAULT bss.current_tenant(),
    PRIMARY KEY (stream_id, fingerprint, version)
);
COMMENT ON TABLE bss.snapshots IS 'Folded states of streams at versions, each usable only by the reducer (fingerprint) that made it.';
SELECT pg_catalog.pg_extension_config_dump('bss.snapshots', '');

CREATE TABLE bss.snapshot_policies (
    category       text PRIMARY KEY,
    every_n_events int NOT NULL CHECK (every_n_events > 0)
);
COMMENT ON TABLE bss.snapshot_policies IS 'Categories whose streams get a snapshot at every multiple of every_n_events versions, as events are appended.';
SELECT pg_catalog.pg_extension_config_dump('bss.snapshot_policies', '');

CREATE FUNCTION bss.snapshot_at(stream_id text, version bigint) RETURNS void
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

CREATE FUNCTION bss.take_snapshot(stream_id text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bss.streams := bss.stream_row(stream_id);
BEGIN
    PERFORM bss.snapshot_at(s.stream_id, s.version);
    PERFORM bss.audit('take_snapshot', s.stream_id, jsonb_build_object('version', s.version));
    RETURN s.version;
END
$$;
COMMENT ON FUNCTION bss.take_snapshot(text) IS 'Stores the state of a stream at its current version; returns that version.';

CREATE FUNCTION bss.set_snapshot_policy(category text, every_n_events int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bss.check_category(category);
    PERFORM bss.audit('set_snapshot_policy', category, jsonb_build_object('every_n_events', every_n_events));
    IF every_n_events IS NULL THEN
        DELETE FROM bss.snapshot_policies p WHERE p.category = set_snapshot_policy.category;
        PERFORM bss.read_side_changed('bss.projections');
        RETURN;
    END IF;
    IF every_n_events < 1 THEN
        RAISE EXCEPTION 'every_n_events must be 1 or more, got %', every_n_events
            USING ERRCODE = 'XB009', HINT = 'Pass NULL to stop taking snapshots for the category.';
    END IF;
    INSERT INTO bss.snapshot_policies AS p VALUES (category, every_n_events)
    ON CONFLICT ON CONSTRAINT snapshot_policies_pkey DO UPDATE SET every_n_events = excluded.every_n_events;
    PERFORM bss.read_side_changed('bss.projections');
END
$$;
COMMENT ON FUNCTION bss.set_snapshot_policy(text, int) IS 'Takes a snapshot of each stream of a category at every multiple of every_n_events versions, as events are appended (NULL: stop).';

-- Projections ------------------------------------------------------------------

CREATE SCHEMA bss_projection;
COMMENT ON SCHEMA bss_projection IS 'One table per projection: (stream_id, state, version, updated_at), kept current by the appends.';

CREATE TABLE bss.projections (
    name       text PRIMARY KEY,
    category   text NOT NULL,
    reducer    regprocedure,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projections_category_idx ON bss.projections (category);
COMMENT ON TABLE bss.projections IS 'Projections and what they fold; reducer NULL follows the category''s reducer.';
SELECT pg_catalog.pg_extension_config_dump('bss.projections', '');

CREATE FUNCTION bss.projection_row(name text) RETURNS bss.projections
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p bss.projections;
BEGIN
    SELECT * INTO p FROM bss.projections pr WHERE pr.name = projection_row.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'projection "%" does not exist', name
            USING ERRCODE = 'XB012', HINT = 'Create it with bss.create_projection(name, category); SELECT name FROM bss.projections lists them.';
    END IF;
    RETURN p;
END
$$;

CREATE FUNCTION bss.rebuild_projection(name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    p bss.projections := bss.projection_row(name);
    n bigint;
BEGIN
    -- No append may commit between the replay and this transaction's commit.
    -- Runs as the extension's owner (privileges.sql), which row-level
    -- security does not limit: every tenant's streams, each with its tenant.
    LOCK TABLE bss.streams IN SHARE MODE;
    EXECUTE format('TRUNCATE bss_projection.%I', p.name);
    EXECUTE format(
        'INSERT INTO bss_projection.%I (stream_id, state, version, updated_at, tenant) '
        'SELECT e.stream_id, bss.fold($1, NULL, e ORDER BY e.stream_version), max(e.stream_version), now(), e.tenant '
        'FROM bss.events e WHERE e.category = $2 GROUP BY e.stream_id, e.tenant', p.name)
    USING coalesce(p.reducer, bss.reducer_for(p.category)), p.category;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM bss.audit('rebuild_projection', p.name, jsonb_build_object('streams', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION bss.rebuild_projection(text) IS 'Replays the whole history of the projection''s category into it; returns the number of streams.';

CREATE FUNCTION bss.create_projection(name text, category text, reducer regprocedure DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql AS $$
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid projection name "%"', coalesce(name, 'NULL')
            USING ERRCODE = 'XB009', HINT = 'Use a lower-case SQL identifier: letters, digits and _, e.g. ''customer_overview''.';
    END IF;
    PERFORM bss.check_category(category);
    IF reducer IS NOT NULL THEN
        PERFORM bss.check_reducer(reducer, 'bss.events'::regtype);
    END IF;
    IF EXISTS (SELECT 1 FROM bss.projections p WHERE p.name = create_projection.name) THEN
        RAISE EXCEPTION 'projection "%" already exists', name
            USING ERRCODE = 'XB009', HINT = 'Rebuild it with bss.rebuild_projection, or pick another name.';
    END IF;
    -- Owned by the extension's owner (this function runs as it); appends
    -- update it as bss_store, readers read their tenant's rows.
    EXECUTE format('CREATE TABLE bss_projection.%I (stream_id text PRIMARY KEY, state jsonb, '
                   'version bigint NOT NULL, updated_at timestamptz NOT NULL, '
                   'tenant text NOT NULL DEFAULT bss.current_tenant())', name);
    PERFORM bss.isolate_tenants(format('bss_projection.%I', name)::regclass);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON bss_projection.%I TO bss_store', name);
    EXECUTE format('GRANT SELECT ON bss_projection.%I TO bss_reader', name);
    INSERT INTO bss.projections (name, category, reducer) VALUES (name, category, reducer);
    PERFORM bss.audit('create_projection', name, jsonb_build_object('category', category, 'reducer', reducer::text));
    PERFORM bss.read_side_changed('bss.projections');
    PERFORM bss.rebuild_projection(name);
    RETURN format('bss_projection.%I', name)::regclass;
END
$$;
COMMENT ON FUNCTION bss.create_projection(text, text, regprocedure) IS 'Creates bss_projection.<name>(stream_id, state, version, updated_at) for a category, fills it from history, and keeps it current with every append (reducer NULL: the category''s).';

CREATE FUNCTION bss.register_reducer(category text, reducer regprocedure) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    PERFORM bss.check_category(category);
    PERFORM bss.audit('register_reducer', category, jsonb_build_object('reducer', reducer::text));
    IF reducer IS NULL THEN
        DELETE FROM bss.reducers r WHERE r.category = register_reducer.category;
    ELSE
        PERFORM bss.check_reducer(reducer, 'bss.events'::regtype);
        INSERT INTO bss.reducers AS r (category, reducer) VALUES (category, reducer)
        ON CONFLICT ON CONSTRAINT reducers_pkey DO UPDATE SET reducer = excluded.reducer, registered_at = now();
    END IF;
    -- Projections that follow the category's reducer fold again with the new one.
    FOR p IN SELECT pr.name FROM bss.projections pr
             WHERE pr.category = register_reducer.category AND pr.reducer IS NULL LOOP
        PERFORM bss.rebuild_projection(p.name);
    END LOOP;
END
$$;
COMMENT ON FUNCTION bss.register_reducer(text, regprocedure) IS 'Sets the reducer of a category (NULL: back to bss.reduce_merge_patch); snapshots of the old one are no longer used.';

-- Called by appends to a category with a snapshot policy, with the stream
-- still locked (projections are updated by the append itself: append.rs).
CREATE FUNCTION bss.snapshot_by_policy(stream_id text, before bigint, after bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    every int;
BEGIN
    SELECT sp.every_n_events INTO every FROM bss.snapshot_policies sp
    WHERE sp.category = split_part(stream_id, '-', 1);
    IF every IS NOT NULL AND after / every > before / every THEN
        PERFORM bss.snapshot_at(stream_id, after / every * every);
    END IF;
END
$$;
