-- pg_bss: partition upkeep. Creates the partitions of bss.events ahead of
-- time and sets how autovacuum maintains them. Loaded by CREATE EXTENSION
-- pg_bss after data_quality.sql; what 0.5.0 changed came with
-- pg_bss--0.4.0--0.5.0.sql.
--
-- What must hold:
--   * Partitions exist bss.partition_premake intervals ahead, made by the
--     append path itself; making one never blocks appends.
--   * Every partition of bss.events is maintained as the append-only table
--     it is: autovacuum comes every autovacuum_vacuum_insert_threshold
--     inserted rows, not after 20% of the partition's rows (PostgreSQL's
--     default for any table), and freezes what it visits; ANALYZE samples
--     3,000 rows, not 30,000.
--
-- Why: with PostgreSQL's defaults a partition that grows all day is vacuumed
-- after each 20% of growth. At 400,000 events a minute that is gigabytes of
-- pages that have left shared_buffers; the vacuum reads them back, dirties
-- each one (hint bits, all-visible) and writes it out again through a
-- 256 kB ring, flushing WAL as it goes. On a two-core VM that held commits in
-- WAL fsync for seconds at a time. Vacuumed every 50,000 rows, the pages it
-- visits are still in shared_buffers and already dirty from their inserts:
-- the vacuum adds little I/O. Freezing them then (freeze_min_age 0) makes the
-- anti-wraparound vacuum, due every autovacuum_freeze_max_age transactions
-- (hours at one transaction per append), skip them: without it, it would
-- read every partition of the store in full.
--   Autoanalyze still comes after each 10% of growth, and reads a random
-- page for each row it samples: 30,000 pages of a partition that no longer
-- fits in memory. On the same VM those reads ran at 7 MB/s for 30 s and held
-- up commits for as long. The planner needs little from an event partition's
-- statistics (every read of the API goes through an index on its leading
-- column), so a statistics target of 10 on every column, 3,000 sampled rows,
-- does: a tenth of the reads.

CREATE OR REPLACE FUNCTION bss.tune_partition(part regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s SET (autovacuum_vacuum_insert_threshold = 50000, '
                   'autovacuum_vacuum_insert_scale_factor = 0, autovacuum_freeze_min_age = 0), %s',
                   part,
                   (SELECT string_agg(format('ALTER COLUMN %I SET STATISTICS 10', a.attname), ', ' ORDER BY a.attnum)
                    FROM pg_attribute a
                    WHERE a.attrelid = part AND a.attnum > 0 AND NOT a.attisdropped));
END
$$;
COMMENT ON FUNCTION bss.tune_partition(regclass) IS 'Sets how autovacuum maintains an append-only partition of bss.events: vacuumed every 50,000 inserted rows, freezing what it visits; analyzed with a statistics target of 10 on every column. bss.ensure_partitions() applies it to every partition it creates; ALTER TABLE afterwards overrides it.';

-- Makes sure partitions exist from the current one to `premake` intervals
-- ahead, and returns the end of the covered range. Called by the append path
-- when its cached end comes near, so nobody has to remember it. A new
-- partition is created standalone and then attached: ATTACH takes only a SHARE
-- UPDATE EXCLUSIVE lock on bss.events, so appends never wait for it.
CREATE OR REPLACE FUNCTION bss.ensure_partitions() RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET lock_timeout = '5s' AS $$
DECLARE
    len     interval := bss.partition_interval();
    premake int := coalesce(nullif(current_setting('bss.partition_premake', true), '')::int, 4);
    target  timestamptz := now() + len * premake;
    covered timestamptz;
    lo      timestamptz;
    hi      timestamptz;
    name    text;
BEGIN
    SELECT max(b.to_time) INTO covered
    FROM pg_inherits i CROSS JOIN LATERAL bss.partition_bounds(i.inhrelid) b
    WHERE i.inhparent = 'bss.events'::regclass;
    IF covered >= target THEN
        RETURN covered;
    END IF;
    -- One creator at a time. When the current time is already covered, a busy
    -- lock means someone else is at it: leave it to them. When it is not,
    -- wait, then look again (the other creator may have committed it).
    IF covered > now() THEN
        IF NOT pg_try_advisory_xact_lock(hashtext('bss.ensure_partitions')) THEN
            RETURN covered;
        END IF;
    ELSE
        PERFORM pg_advisory_xact_lock(hashtext('bss.ensure_partitions'));
    END IF;
    BEGIN
        SELECT max(b.to_time) INTO covered
        FROM pg_inherits i CROSS JOIN LATERAL bss.partition_bounds(i.inhrelid) b
        WHERE i.inhparent = 'bss.events'::regclass;
        lo := greatest(covered, bss.partition_start(now(), len));
        WHILE lo < target LOOP
            hi := bss.partition_start(lo, len) + len;
            name := 'events_' || to_char(lo AT TIME ZONE 'UTC',
                CASE WHEN len >= interval '1 day' AND (lo AT TIME ZONE 'UTC')::time = '00:00' THEN 'YYYYMMDD' ELSE 'YYYYMMDD"_"HH24MISS' END);
            -- to_regclass sees partitions committed after this transaction's
            -- snapshot too (REPEATABLE READ callers).
            IF to_regclass(format('bss.%I', name)) IS NULL THEN
                EXECUTE format('CREATE TABLE bss.%I (LIKE bss.events INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE)', name);
                EXECUTE format('ALTER TABLE bss.events ATTACH PARTITION bss.%I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
                PERFORM bss.protect_append_only(format('bss.%I', name)::regclass);
                PERFORM bss.tune_partition(format('bss.%I', name)::regclass);
            END IF;
            covered := hi;
            lo := hi;
        END LOOP;
    EXCEPTION WHEN lock_not_available THEN
        -- Something (a long ANALYZE, a DETACH) holds bss.events: try again on a later append.
        RAISE WARNING 'pg_bss: could not create partitions of bss.events now: %', SQLERRM
            USING HINT = 'Appends go on while the current partition exists; run SELECT bss.ensure_partitions() to retry.';
    END;
    RETURN covered;
END
$$;
COMMENT ON FUNCTION bss.ensure_partitions() IS 'Creates the partitions of bss.events from now to bss.partition_premake intervals ahead; returns the end of the covered range. The append functions call it on their own.';

-- Partitions made before 0.5.0 (on an update; none on CREATE EXTENSION).
SELECT bss.tune_partition(i.inhrelid::regclass)
FROM pg_inherits i
WHERE i.inhparent = 'bss.events'::regclass;
