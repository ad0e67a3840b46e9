-- pg_bss: several regions, each appending, each holding every event
-- (multi-region active-active over PostgreSQL's logical replication).
-- Loaded after partition_upkeep.sql; the C functions it declares are in
-- pg_bss/src/regions/.
--
-- A database is in a region when bss.region names one (postgresql.conf);
-- with the default 'local' nothing here changes an append.
--
-- What must hold:
--   * Each region publishes only what was decided in it: its own events
--     (region = bss.region), its epochs and its stream assignments. A region
--     applying another's events stores them under its own region's name
--     never, so nothing loops (PostgreSQL 15 has no origin = none).
--   * A stream is appended to by one region at a time, its owner: the
--     region serving the stream's home region under the newest epoch. Any
--     other region forwards the append to the owner or refuses it, as the
--     stream's category says (bss.category_homes).
--   * A replicated event keeps event_id, region, time, data, metadata,
--     stream and version; it gets a local global_position, recorded_at and
--     horizon (so read_all stays gap-safe), and bss.streams, snapshots and
--     projections follow it (regions/apply.rs).
--   * Nothing acknowledged is dropped. An event that cannot take its version
--     in a stream (appended in a region that had lost the stream, and
--     colliding with what the owner appended since) is kept whole in
--     bss.conflicts, in every region alike, and announced by an event of
--     type bss.event_conflicted in stream conflict-<event id>.

-- The regions this one replicates with (itself excluded): where their
-- events come from, and where appends to the streams they own are forwarded.
CREATE TABLE bss.regions (
    region   text PRIMARY KEY CHECK (region ~ '^[a-z][a-z0-9_]{0,30}$'),
    conninfo text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE bss.regions IS 'Peer regions: their libpq connection strings (replication and forwarded appends). Add with bss.add_region.';

CREATE TABLE bss.category_homes (
    category    text PRIMARY KEY,
    home_region text,
    on_foreign  text NOT NULL DEFAULT 'refuse' CHECK (on_foreign IN ('refuse', 'forward'))
);
COMMENT ON TABLE bss.category_homes IS 'Per category: the home region of its new streams (NULL: where each is created) and what an append in a region that does not own the stream does (refuse, or forward to the owner). Set with bss.set_category_home.';

-- Explicit assignments, newest first by assignment; made by the stream's
-- owner and replicated from there.
CREATE TABLE bss.stream_homes (
    stream_id   text NOT NULL,
    assignment  bigint NOT NULL,
    home_region text NOT NULL,
    decided_in  text NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, assignment)
);
COMMENT ON TABLE bss.stream_homes IS 'Streams moved to another home region by bss.assign_stream_home (the newest assignment holds).';

-- Which region serves each home region's streams: the row with the highest
-- (epoch, decided_in) of a region. Epochs only grow; two regions deciding at
-- once (a partition) are ordered by decided_in, the same in every region.
CREATE TABLE bss.region_epochs (
    region     text NOT NULL,
    epoch      bigint NOT NULL CHECK (epoch > 0),
    served_by  text NOT NULL,
    decided_in text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    reason     text NOT NULL,
    PRIMARY KEY (region, epoch, decided_in)
);
COMMENT ON TABLE bss.region_epochs IS 'Fenced ownership: from each epoch on, served_by owns the streams whose home is region. Written by bss.move_region.';

CREATE VIEW bss.region_owners AS
SELECT DISTINCT ON (e.region) e.region, e.served_by, e.epoch, e.decided_in, e.decided_at, e.reason
FROM bss.region_epochs e
ORDER BY e.region, e.epoch DESC, e.decided_in DESC;
COMMENT ON VIEW bss.region_owners IS 'Each home region''s current server and epoch (regions never moved are served by themselves, epoch 0).';

CREATE TABLE bss.conflicts (
    event_id       uuid PRIMARY KEY,
    stream_id      text NOT NULL,
    stream_version bigint NOT NULL,
    region         text NOT NULL,
    owner          text NOT NULL,
    epoch          bigint NOT NULL,
    head_version   bigint NOT NULL,
    detected_in    text NOT NULL,
    detected_at    timestamptz NOT NULL DEFAULT now(),
    reason         text NOT NULL,
    event          jsonb NOT NULL,
    tenant         text NOT NULL
);
CREATE INDEX conflicts_stream_idx ON bss.conflicts (stream_id, region, epoch);
COMMENT ON TABLE bss.conflicts IS 'Acknowledged events that could not keep their version: appended in a region that no longer owned the stream, colliding with the owner''s events. Kept whole (event), never dropped.';
COMMENT ON COLUMN bss.conflicts.stream_version IS 'The version the event had in the region that appended it.';
COMMENT ON COLUMN bss.conflicts.head_version IS 'The stream''s version in detected_in when the conflict was found.';

SELECT pg_catalog.pg_extension_config_dump('bss.regions', '');
SELECT pg_catalog.pg_extension_config_dump('bss.category_homes', '');
SELECT pg_catalog.pg_extension_config_dump('bss.stream_homes', '');
SELECT pg_catalog.pg_extension_config_dump('bss.region_epochs', '');
SELECT pg_catalog.pg_extension_config_dump('bss.conflicts', '');
SELECT bss.protect_append_only('bss.stream_homes');
SELECT bss.protect_append_only('bss.region_epochs');

CREATE FUNCTION bss.local_region() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(current_setting('bss.region', true), ''), 'local')
$$;
COMMENT ON FUNCTION bss.local_region() IS 'This database''s region (bss.region; ''local'' when unset: one region).';

-- The region whose event is being applied (regions/apply.rs), else NULL.
CREATE FUNCTION bss.applying_region() RETURNS text LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'bss_applying_region';

-- Who may append to a stream now. One SELECT, inlined where it is called
-- (a set-returning SQL function), so that the append path's prepared
-- statements plan it once: the stream's home (its newest assignment, else
-- the home it was created with, else its category's, else the region of
-- the event being applied when replication creates it, else this region),
-- the region serving that home under the newest epoch, and what its
-- category does with appends elsewhere.
CREATE FUNCTION bss.stream_owner(stream_id text)
RETURNS TABLE (home_region text, owner text, epoch bigint, on_foreign text)
LANGUAGE sql STABLE AS $$
    SELECT h.home, coalesce(o.served_by, h.home), coalesce(o.epoch, 0), coalesce(c.on_foreign, 'refuse')
    FROM (SELECT coalesce(
              (SELECT a.home_region FROM bss.stream_homes a WHERE a.stream_id = $1 ORDER BY a.assignment DESC LIMIT 1),
              (SELECT s.home_region FROM bss.streams s WHERE s.stream_id = $1),
              (SELECT k.home_region FROM bss.category_homes k WHERE k.category = split_part($1, '-', 1)),
              bss.applying_region(),
              bss.local_region()) AS home) h
    LEFT JOIN bss.region_owners o ON o.region = h.home
    LEFT JOIN bss.category_homes c ON c.category = split_part($1, '-', 1)
$$;
COMMENT ON FUNCTION bss.stream_owner(text) IS 'Who may append to a stream now: its home region, the region serving that home (owner) under which epoch, and what an append elsewhere does (refuse or forward).';

CREATE FUNCTION bss.stream_home(stream_id text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT o.home_region FROM bss.stream_owner($1) o
$$;
COMMENT ON FUNCTION bss.stream_home(text) IS 'A stream''s home region: its explicit assignment, else the one it got when created, else its category''s, else this region.';

-- Administration ---------------------------------------------------------------

CREATE FUNCTION bss.check_region_name(region text, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF region IS NULL OR region !~ '^[a-z][a-z0-9_]{0,30}$' THEN
        RAISE EXCEPTION 'invalid % %', what, coalesce(quote_literal(region), 'NULL')
            USING ERRCODE = 'XB009',
                  HINT = 'A region name is a lower-case letter followed by up to 30 lower-case letters, digits or ''_'': ''eu_west''.';
    END IF;
END
$$;

CREATE FUNCTION bss.check_in_a_region() RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF bss.local_region() = 'local' THEN
        RAISE EXCEPTION 'this database is in no region (bss.region is ''local'')'
            USING ERRCODE = 'XB009',
                  HINT = 'Set bss.region in postgresql.conf (ALTER SYSTEM SET bss.region = ''eu''; SELECT pg_reload_conf();), the same name the other regions know this one by.';
    END IF;
END
$$;

CREATE FUNCTION bss.set_category_home(category text, home_region text, on_foreign text DEFAULT 'refuse')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF home_region IS NOT NULL THEN
        PERFORM bss.check_region_name(home_region, 'home region');
    END IF;
    IF on_foreign IS NULL OR on_foreign NOT IN ('refuse', 'forward') THEN
        RAISE EXCEPTION 'invalid on_foreign % for category %', coalesce(quote_literal(on_foreign), 'NULL'), quote_literal(category)
            USING ERRCODE = 'XB009', HINT = 'on_foreign is ''refuse'' (the append fails, naming the owner) or ''forward'' (it runs in the owner and waits for its answer).';
    END IF;
    INSERT INTO bss.category_homes AS c VALUES (category, home_region, on_foreign)
    ON CONFLICT ON CONSTRAINT category_homes_pkey DO UPDATE SET home_region = excluded.home_region, on_foreign = excluded.on_foreign;
END
$$;
COMMENT ON FUNCTION bss.set_category_home(text, text, text) IS 'Sets a category''s home region for new streams (NULL: where created) and whether appends elsewhere are refused or forwarded. Set it alike in every region.';

CREATE FUNCTION bss.assign_stream_home(stream_id text, home_region text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    n bigint;
BEGIN
    PERFORM bss.check_in_a_region();
    PERFORM bss.check_region_name(home_region, 'home region');
    -- The stream's row lock: no append to it runs across the assignment.
    PERFORM 1 FROM bss.streams s WHERE s.stream_id = assign_stream_home.stream_id FOR UPDATE;
    SELECT * INTO o FROM bss.stream_owner(assign_stream_home.stream_id);
    IF o.owner <> bss.local_region() THEN
        RAISE EXCEPTION 'stream % is owned by region %, not by this region (%)', quote_literal(stream_id), o.owner, bss.local_region()
            USING ERRCODE = 'XB018', HINT = format('Assign its home in region %s.', o.owner);
    END IF;
    SELECT coalesce(max(h.assignment), 0) + 1 INTO n FROM bss.stream_homes h WHERE h.stream_id = assign_stream_home.stream_id;
    INSERT INTO bss.stream_homes (stream_id, assignment, home_region, decided_in)
    VALUES (stream_id, n, home_region, bss.local_region());
    RETURN n;
END
$$;
COMMENT ON FUNCTION bss.assign_stream_home(text, text) IS 'Moves one stream''s home to a region, run in its owner; replicated to the others after the stream''s events so far.';

CREATE FUNCTION bss.move_region(region text, to_region text DEFAULT NULL, reason text DEFAULT 'by command')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    here text := bss.local_region();
    target text := coalesce(to_region, bss.local_region());
    serving text;
    e bigint;
BEGIN
    PERFORM bss.check_in_a_region();
    PERFORM bss.check_region_name(region, 'region');
    PERFORM bss.check_region_name(target, 'region to move to');
    -- One decision at a time in this database.
    LOCK TABLE bss.region_epochs IN EXCLUSIVE MODE;
    SELECT coalesce((SELECT o.served_by FROM bss.region_owners o WHERE o.region = move_region.region), move_region.region)
    INTO serving;
    IF serving = target THEN
        RAISE EXCEPTION 'region % is served by % already', region, target
            USING ERRCODE = 'XB009';
    END IF;
    -- A clean handover is decided by the region serving it now (it stops
    -- at once; the new one starts after its last event has arrived); a
    -- takeover by the region taking it (the one serving it is lost: what
    -- it acknowledged and did not send comes back as conflicts, never lost).
    IF here NOT IN (serving, target) THEN
        RAISE EXCEPTION 'region % is served by %: only % (handing it over) or % (taking it over) can move it', region, serving, serving, target
            USING ERRCODE = 'XB018', HINT = format('Run bss.move_region(%L, %L) in region %s or %s.', region, target, serving, target);
    END IF;
    SELECT coalesce(max(x.epoch), 0) + 1 INTO e FROM bss.region_epochs x;
    INSERT INTO bss.region_epochs (region, epoch, served_by, decided_in, reason)
    VALUES (region, e, target, here, coalesce(reason, 'by command'));
    RETURN e;
END
$$;
COMMENT ON FUNCTION bss.move_region(text, text, text) IS 'Moves the streams whose home is region to to_region (default: this one) under a new epoch: a handover when run in the region serving them, a takeover when run in to_region. Returns the epoch.';

-- Replication ---------------------------------------------------------------

CREATE FUNCTION bss.dblink_schema() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    ns text;
BEGIN
    SELECT n.nspname INTO ns FROM pg_catalog.pg_extension x JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
    WHERE x.extname = 'dblink';
    IF ns IS NULL THEN
        RAISE EXCEPTION 'extension dblink is not installed in database %', current_database()
            USING ERRCODE = 'XB009', HINT = 'Forwarding appends between regions uses PostgreSQL''s contrib dblink: CREATE EXTENSION dblink (bss.add_region does).';
    END IF;
    RETURN ns;
END
$$;

-- The statement, run in region's database on a connection kept for the
-- session; its one value as text. Errors come back with the remote
-- SQLSTATE, message, detail and hint. A broken connection is dropped, so
-- the next call connects again.
CREATE FUNCTION bss.run_in_region(region text, statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ns text := bss.dblink_schema();
    link text := 'bss_region_' || region;
    conn text;
    result text;
    state text;
BEGIN
    SELECT r.conninfo INTO conn FROM bss.regions r WHERE r.region = run_in_region.region;
    IF conn IS NULL THEN
        RAISE EXCEPTION 'region % is not known in region %', quote_literal(region), bss.local_region()
            USING ERRCODE = 'XB009', HINT = format('SELECT bss.add_region(%L, ''host=... dbname=...'');', region);
    END IF;
    EXECUTE format('SELECT %L = ANY (coalesce(%I.dblink_get_connections(), ''{}''))', link, ns) INTO result;
    IF NOT result::boolean THEN
        EXECUTE format('SELECT %I.dblink_connect_u(%L, %L)', ns, link, conn);
    END IF;
    BEGIN
        EXECUTE format('SELECT v FROM %I.dblink(%L, %L) AS t(v text)', ns, link, statement) INTO result;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        IF left(state, 2) = '08' OR state = '57P01' THEN
            EXECUTE format('SELECT %I.dblink_disconnect(%L)', ns, link);
        END IF;
        RAISE;
    END;
    RETURN result;
END
$$;
COMMENT ON FUNCTION bss.run_in_region(text, text) IS 'Runs one statement in another region (dblink), returning its single value as text.';

-- The statement (returning one bigint) run in region: {"value": n}, or
-- {"error": {sqlstate, message, detail, hint}} as the region (or the link
-- to it) raised it, for the append path to raise again with that SQLSTATE.
CREATE FUNCTION bss.forward(region text, statement text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s text;
    m text;
    d text;
    h text;
BEGIN
    RETURN jsonb_build_object('value', bss.run_in_region(region, statement)::bigint);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN jsonb_build_object('error', jsonb_build_object('sqlstate', s, 'message', m,
                                                          'detail', nullif(d, ''), 'hint', nullif(h, '')));
END
$$;

CREATE FUNCTION bss.forward_append_event(region text, stream_id text, type text, data jsonb,
    expected_version bigint, metadata jsonb, event_id uuid, source text, subject text, "time" timestamptz)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT bss.forward($1, format(
        'SELECT bss.append_event(%L, %L, %L::jsonb, %L::bigint, %L::jsonb, %L::uuid, %L, %L, %L::timestamptz)',
        $2, $3, $4, $5, $6, $7, $8, $9, $10))
$$;

CREATE FUNCTION bss.forward_append_events(region text, stream_id text, events jsonb,
    expected_version bigint, on_invalid text)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT bss.forward($1, format(
        'SELECT bss.append_events(%L, %L::jsonb, %L::bigint, %L)', $2, $3, $4, coalesce($5, 'reject')))
$$;

-- What this region publishes: what was decided in it, insert only.
CREATE FUNCTION bss.publish_region() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    here text := bss.local_region();
    pub text := 'bss_region_' || here;
    tables text;
BEGIN
    PERFORM bss.check_in_a_region();
    tables := format('TABLE bss.events WHERE (region = %1$L), bss.region_epochs WHERE (decided_in = %1$L), '
                     'bss.stream_homes WHERE (decided_in = %1$L)', here);
    IF EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = pub) THEN
        EXECUTE format('ALTER PUBLICATION %I SET %s', pub, tables);
    ELSE
        EXECUTE format('CREATE PUBLICATION %I FOR %s WITH (publish = ''insert'', publish_via_partition_root = true)', pub, tables);
    END IF;
END
$$;

-- Joins region to this one: known for forwarding, and subscribed to (its
-- publication, through a slot made in it for this region). Run in each
-- region for each other region, as a superuser. Events that region held
-- before are not copied: join regions before they append.
CREATE FUNCTION bss.add_region(region text, conninfo text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    here text := bss.local_region();
    sub text := 'bss_from_' || region;
    slot text := 'bss_to_' || bss.local_region();
    ns text;
BEGIN
    PERFORM bss.check_in_a_region();
    PERFORM bss.check_region_name(region, 'region');
    IF region = here THEN
        RAISE EXCEPTION 'region % is this database''s own region', region
            USING ERRCODE = 'XB009', HINT = 'Add the other regions, each by the name its bss.region has.';
    END IF;
    CREATE EXTENSION IF NOT EXISTS dblink;
    ns := bss.dblink_schema();
    INSERT INTO bss.regions AS r (region, conninfo) VALUES (region, conninfo)
    ON CONFLICT ON CONSTRAINT regions_pkey DO UPDATE SET conninfo = excluded.conninfo;
    PERFORM bss.publish_region();
    IF bss.run_in_region(region, 'SELECT bss.local_region()') IS DISTINCT FROM region THEN
        RAISE EXCEPTION 'the database at % is not region %', quote_literal(conninfo), region
            USING ERRCODE = 'XB009', HINT = 'Its bss.region names another region; give each region''s own name.';
    END IF;
    -- The other side publishes (its bss.publish_region) before a slot there
    -- can decode its publication.
    PERFORM bss.run_in_region(region, 'SELECT bss.publish_region()::text');
    IF bss.run_in_region(region, format('SELECT count(*) FROM pg_replication_slots WHERE slot_name = %L', slot))::int = 0 THEN
        PERFORM bss.run_in_region(region, format('SELECT lsn::text FROM pg_create_logical_replication_slot(%L, ''pgoutput'')', slot));
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_subscription WHERE subname = sub) THEN
        EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I '
                       'WITH (create_slot = false, slot_name = %L, copy_data = false, binary = true)',
                       sub, conninfo, 'bss_region_' || region, slot);
    END IF;
END
$$;
COMMENT ON FUNCTION bss.add_region(text, text) IS 'Joins another region: records its connection string, publishes this region''s events, and subscribes to that region''s (run in every region for every other, as a superuser).';

CREATE FUNCTION bss.region_status() RETURNS TABLE (
    region text, served_by text, epoch bigint, subscribed boolean, receiving boolean,
    last_received timestamptz, conflicts bigint)
LANGUAGE sql STABLE AS $$
    SELECT r.region, coalesce(o.served_by, r.region), coalesce(o.epoch, 0),
           s.subname IS NOT NULL, st.pid IS NOT NULL, st.last_msg_receipt_time,
           (SELECT count(*) FROM bss.conflicts c WHERE c.region = r.region)
    FROM (SELECT bss.local_region() AS region UNION SELECT region FROM bss.regions) r
    LEFT JOIN bss.region_owners o ON o.region = r.region
    LEFT JOIN pg_catalog.pg_subscription s ON s.subname = 'bss_from_' || r.region
    LEFT JOIN pg_catalog.pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL
    ORDER BY r.region
$$;
COMMENT ON FUNCTION bss.region_status() IS 'Each region: who serves its streams under which epoch, whether its events are arriving here, and how many of its events conflicted.';

-- Applying replicated rows ----------------------------------------------------

-- The apply worker (session_replication_role = replica) inserts another
-- region's events into bss.events: each goes through the append path
-- instead (bss.apply_event), which inserts it itself; the inner insert
-- passes through here unchanged.
CREATE FUNCTION bss.apply_replicated_event(stream_id text, stream_version bigint, event_id uuid, source text,
    type text, subject text, "time" timestamptz, datacontenttype text, dataschema text, data jsonb,
    metadata jsonb, region text, tenant text) RETURNS boolean
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'bss_apply_replicated_event';

CREATE FUNCTION bss.replicated_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF bss.applying_region() IS NOT NULL THEN
        RETURN NEW;
    END IF;
    PERFORM set_config('bss.tenant', NEW.tenant, true);
    PERFORM bss.apply_replicated_event(NEW.stream_id, NEW.stream_version, NEW.event_id, NEW.source, NEW.type,
        NEW.subject, NEW."time", NEW.datacontenttype, NEW.dataschema, NEW.data, NEW.metadata, NEW.region, NEW.tenant);
    RETURN NULL;
END
$$;
CREATE TRIGGER replicated_event BEFORE INSERT ON bss.events FOR EACH ROW EXECUTE FUNCTION bss.replicated_event();
ALTER TABLE bss.events ENABLE REPLICA TRIGGER replicated_event;

-- Moving a region's own events out of a stream its owner wrote over: run
-- by the apply path only (it alone lets bss.reject_change pass the DELETE).
CREATE FUNCTION bss.moving_conflicts() RETURNS boolean LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'bss_moving_conflicts';

CREATE FUNCTION bss.conflict_event_id(event_id uuid) RETURNS uuid LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'bss_conflict_event_id';
COMMENT ON FUNCTION bss.conflict_event_id(uuid) IS 'The id of the bss.event_conflicted event announcing a conflicted event: the same in every region.';

-- Keeps the event (a bss.events row as jsonb) in bss.conflicts and
-- announces it in stream conflict-<event id>, once: false when it was
-- recorded already. The announcement's data is what every region records
-- alike (not where or when it was found), so that the regions' copies of it
-- are one event.
CREATE FUNCTION bss.record_conflict(e jsonb, owner text, epoch bigint, head_version bigint, reason text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bss.conflicts (event_id, stream_id, stream_version, region, owner, epoch, head_version,
                               detected_in, reason, event, tenant)
    VALUES ((e->>'event_id')::uuid, e->>'stream_id', (e->>'stream_version')::bigint, e->>'region', owner, epoch,
            head_version, bss.local_region(), reason, e - 'global_position' - 'position_horizon' - 'recorded_at' - 'category',
            e->>'tenant')
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM bss.append_event('conflict-' || (e->>'event_id'), 'bss.event_conflicted',
        jsonb_build_object('event', e - 'global_position' - 'position_horizon' - 'recorded_at' - 'category',
                           'owner', owner, 'epoch', epoch),
        event_id => bss.conflict_event_id((e->>'event_id')::uuid),
        subject => e->>'subject');
    RETURN true;
END
$$;

-- This region's events of stream_id from from_version on, out of the
-- stream and into bss.conflicts (regions/apply.rs, when the owner's event
-- for from_version arrives); the stream's snapshots from there and its
-- projections' rows go, to be made again from what stays. How many moved.
CREATE FUNCTION bss.move_to_conflicts(stream_id text, from_version bigint, owner text, epoch bigint, head_version bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    ev  record;
    n   bigint := 0;
    prj text;
BEGIN
    FOR ev IN DELETE FROM bss.events x WHERE x.stream_id = move_to_conflicts.stream_id AND x.stream_version >= from_version
              RETURNING x.* LOOP
        PERFORM bss.record_conflict(to_jsonb(ev), owner, epoch, head_version,
            format('appended in region %s at version %s after it had lost the stream to %s (epoch %s), which wrote that version',
                   ev.region, ev.stream_version, owner, epoch));
        n := n + 1;
    END LOOP;
    DELETE FROM bss.snapshots s WHERE s.stream_id = move_to_conflicts.stream_id AND s.version >= from_version;
    FOR prj IN SELECT p.name FROM bss.projections p WHERE p.category = split_part(move_to_conflicts.stream_id, '-', 1) LOOP
        EXECUTE format('DELETE FROM bss_projection.%I WHERE stream_id = $1', prj) USING stream_id;
    END LOOP;
    RETURN n;
END
$$;
