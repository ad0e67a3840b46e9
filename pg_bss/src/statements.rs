//! The statements of an append, prepared once per session and kept
//! (SPI_keepplan): their text, their argument types and the SPI connection
//! they run on. Each was tuned with measurements (see the comments on them):
//! change one only with a measurement. This module runs none of them; the
//! steps of an append do (stream_lock.rs, idempotency.rs, insert.rs, append.rs).

use std::cell::OnceCell;

use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiError};

use crate::error::{BssResult, During};
use crate::{installed_sql, partitions, regions};

/// Statements prepared once per session and kept (SPI_keepplan).
pub struct Plans {
    pub advance_stream: OwnedPreparedStatement,
    pub lock_stream: OwnedPreparedStatement,
    pub release_versions: OwnedPreparedStatement,
    pub find_stored: OwnedPreparedStatement,
    pub insert_one: OwnedPreparedStatement,
    pub insert_batch: OwnedPreparedStatement,
    pub insert_valid: OwnedPreparedStatement,
    pub insert_rows: OwnedPreparedStatement,
    /// Prepared on first use: its function exists only since 0.2.0, and
    /// only categories with a snapshot policy (0.2.0 too) run it.
    snapshot_by_policy: OnceCell<OwnedPreparedStatement>,
    /// Prepared on first use, None under the SQL of versions before 0.7.0
    /// (which has no tenants).
    check_stream_tenant: OnceCell<Option<OwnedPreparedStatement>>,
    /// Prepared on the session's first append to many streams in one call.
    many: OnceCell<ManyPlans>,
}

/// The statements of an append to many streams in one call
/// (append_streams.rs): each does for every stream of the call what its
/// one-stream twin does for one.
pub struct ManyPlans {
    pub advance_streams: OwnedPreparedStatement,
    pub find_stored_many: OwnedPreparedStatement,
    pub insert_streams: OwnedPreparedStatement,
    pub insert_streams_valid: OwnedPreparedStatement,
}

impl Plans {
    pub fn snapshot_by_policy(
        &self,
        client: &SpiClient<'_>,
    ) -> Result<&OwnedPreparedStatement, SpiError> {
        if let Some(plan) = self.snapshot_by_policy.get() {
            return Ok(plan);
        }
        let plan = prepare(
            client,
            SNAPSHOT_BY_POLICY,
            &[pg_sys::TEXTOID, pg_sys::INT8OID, pg_sys::INT8OID],
        )?;
        Ok(self.snapshot_by_policy.get_or_init(|| plan))
    }

    pub fn many(&self, client: &SpiClient<'_>) -> Result<&ManyPlans, SpiError> {
        if let Some(plans) = self.many.get() {
            return Ok(plans);
        }
        use pg_sys::{
            INT8ARRAYOID, JSONBARRAYOID, TEXTARRAYOID, TEXTOID, TIMESTAMPTZARRAYOID, XID8OID,
        };
        // positions, streams, versions before, default source, region,
        // horizon, each element's events, recorded_at, sealed data, position
        // offsets, element offsets
        const ARGS: [pg_sys::Oid; 11] = [
            INT8ARRAYOID,
            TEXTARRAYOID,
            INT8ARRAYOID,
            TEXTOID,
            TEXTOID,
            XID8OID,
            JSONBARRAYOID,
            TIMESTAMPTZARRAYOID,
            JSONBARRAYOID,
            INT8ARRAYOID,
            INT8ARRAYOID,
        ];
        let plans = ManyPlans {
            advance_streams: prepare(client, ADVANCE_STREAMS, &[TEXTARRAYOID, INT8ARRAYOID])?,
            find_stored_many: prepare(
                client,
                FIND_STORED_MANY,
                &[pg_sys::UUIDARRAYOID, pg_sys::TIMESTAMPTZOID],
            )?,
            insert_streams: prepare(client, &insert_streams_sql(), &ARGS)?,
            insert_streams_valid: prepare(
                client,
                &insert_streams_valid_sql(),
                &[&ARGS[..], &[INT8ARRAYOID]].concat(),
            )?,
        };
        Ok(self.many.get_or_init(|| plans))
    }

    pub fn check_stream_tenant(
        &self,
        client: &SpiClient<'_>,
    ) -> BssResult<Option<&OwnedPreparedStatement>> {
        if let Some(plan) = self.check_stream_tenant.get() {
            return Ok(plan.as_ref());
        }
        let plan = if installed_sql::has_function(client, "bss.check_stream_tenant(text)")? {
            Some(
                prepare(client, CHECK_STREAM_TENANT, &[pg_sys::TEXTOID])
                    .during("prepare the stream's tenant check")?,
            )
        } else {
            None
        };
        Ok(self.check_stream_tenant.get_or_init(|| plan).as_ref())
    }
}

/// Refuses a stream of another tenant (sql/tenants.sql): the lock's UPDATE
/// does not see it, and its INSERT would fail with a bare policy violation.
const CHECK_STREAM_TENANT: &str = "SELECT bss.check_stream_tenant($1)";

/// The category's snapshot policy (sql/time_travel.sql), run with the
/// stream still locked.
const SNAPSHOT_BY_POLICY: &str = "SELECT bss.snapshot_by_policy($1, $2, $3)";

/// The common case, a stream that exists: one UPDATE. An upsert would lock
/// the row first (a heap_lock_tuple and its WAL record) and then update it.
const ADVANCE_STREAM: &str = "\
UPDATE bss.streams AS s SET version = s.version + $2, updated_at = greatest(s.updated_at, now()) \
WHERE s.stream_id = $1 \
RETURNING s.version, s.created_at, s.updated_at";

/// ADVANCE_STREAM for every stream of $1 (distinct, in stream-id order),
/// each by its count in $2: one statement instead of one per stream. The
/// rows are locked in the order the join meets them; concurrent calls over
/// the same streams meet them in the same order (the index, or the table),
/// and PostgreSQL's deadlock detection ends any other case (40P01).
const ADVANCE_STREAMS: &str = "\
UPDATE bss.streams AS s SET version = s.version + u.n, updated_at = greatest(s.updated_at, now()) \
FROM unnest($1::text[], $2::bigint[]) AS u(id, n) \
WHERE s.stream_id = u.id \
RETURNING s.stream_id, s.version, s.created_at, s.updated_at";

/// A stream the UPDATE did not find: created, or, when another transaction
/// created it meanwhile, advanced once that one has committed.
const LOCK_STREAM: &str = "\
INSERT INTO bss.streams AS s (stream_id, category, version, created_at, updated_at) \
VALUES ($1, split_part($1, '-', 1), $2, now(), now()) \
ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version, \
    updated_at = greatest(s.updated_at, excluded.updated_at) \
RETURNING s.version, s.created_at, s.updated_at";

/// LOCK_STREAM in a database in a region (sql/regions.sql): a new stream
/// gets its home region (its category's, else where it is created: here,
/// or the region of the event replication applies).
const LOCK_STREAM_HOMED: &str = "\
INSERT INTO bss.streams AS s (stream_id, category, version, created_at, updated_at, home_region) \
SELECT $1, split_part($1, '-', 1), $2, now(), now(), o.home_region FROM bss.stream_owner($1) o \
ON CONFLICT (stream_id) DO UPDATE SET version = s.version + excluded.version, \
    updated_at = greatest(s.updated_at, excluded.updated_at) \
RETURNING s.version, s.created_at, s.updated_at";

const RELEASE_VERSIONS: &str = "UPDATE bss.streams SET version = version - $2 WHERE stream_id = $1";

// Run through `by_event_id`: one generic plan whose only way in is the
// event_id index of each partition not older than the stream ($3 is its
// created_at, pruned at executor start). `stream_id || ''` keeps the planner
// off the stream index, which would read every event of a long stream.
const FIND_STORED: &str = "\
SELECT event_id, stream_version FROM bss.events \
WHERE event_id = ANY($2) AND recorded_at >= $3 AND stream_id || '' = $1";

/// FIND_STORED for the named ids of every element of a call at once, run the
/// same way (idempotency.rs); `$2` is the oldest created_at of their
/// streams, and each row says which stream holds the event.
const FIND_STORED_MANY: &str = "\
SELECT event_id, stream_id, stream_version FROM bss.events \
WHERE event_id = ANY($1) AND recorded_at >= $2";

// recorded_at is the stream's updated_at after the lock: now(), or the
// previous append's recorded_at when that is later (a transaction that
// started earlier can lock the stream later), so that within a stream
// recorded_at never decreases with the version and "the stream as of a
// moment" is always a prefix of its versions.
const EVENT_COLUMNS: &str =
    "global_position, stream_id, stream_version, event_id, source, type, subject, \"time\", data, metadata, region, position_horizon, recorded_at";

fn insert_one_sql() -> String {
    format!(
        "INSERT INTO bss.events ({EVENT_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), $9, coalesce(nullif($10, 'null'::jsonb), '{{}}'::jsonb), $11, $12, $13)"
    )
}

/// The columns of a batch element `t.e` from `event_id` to
/// `position_horizon`: `$4` the default source, `$5` the region, `$6` the
/// horizon, and `$9[{sealed}]` (`jsonb[]`, or NULL) the data that replaces
/// the element's: its personal fields sealed.
fn element_columns(sealed: &str) -> String {
    format!(
        "coalesce((t.e->>'event_id')::uuid, bss.uuidv7()), \
         coalesce(t.e->>'source', $4), t.e->>'type', t.e->>'subject', \
         coalesce((t.e->>'time')::timestamptz, now()), coalesce($9[{sealed}], t.e->'data'), \
         coalesce(nullif(t.e->'metadata', 'null'::jsonb), '{{}}'::jsonb), $5, $6"
    )
}

/// The INSERT of a batch's elements `t.e`, numbered 1.. by `n`, from
/// `from`; `t.o` is an element's ordinal in the batch as sent, which `$9`
/// is indexed by.
fn insert_elements_sql(from: &str, n: &str) -> String {
    let columns = element_columns("t.o");
    format!(
        "INSERT INTO bss.events ({EVENT_COLUMNS}) \
         SELECT $1[{n}], $2, $3 + {n}, {columns}, $8 FROM {from}"
    )
}

/// The INSERT of many streams' batches: `b` is the element of the call
/// (`$2` stream, `$3` version before, `$7` events, `$8` recorded_at, `$10`
/// its first position's offset in `$1`, `$11` its first element's offset
/// in `$9`); its elements `t.e` are numbered 1.. by `n` from `from`.
fn insert_streams_elements_sql(from: &str, n: &str) -> String {
    let columns = element_columns("b.eo + t.o");
    format!(
        "INSERT INTO bss.events ({EVENT_COLUMNS}) \
         SELECT $1[b.po + {n}], b.s, b.before + {n}, {columns}, b.rec \
         FROM unnest($2::text[], $3::bigint[], $7::jsonb[], $8::timestamptz[], $10::bigint[], $11::bigint[]) \
              AS b(s, before, events, rec, po, eo) \
         CROSS JOIN LATERAL {from}"
    )
}

fn insert_streams_sql() -> String {
    insert_streams_elements_sql(
        "jsonb_array_elements(b.events) WITH ORDINALITY AS t(e, o)",
        "t.o",
    )
}

/// The batches without the elements whose numbers in `$9`'s numbering
/// (`b.eo + ordinal`) are in $12: versions and positions stay dense.
fn insert_streams_valid_sql() -> String {
    insert_streams_elements_sql(
        "(SELECT a.e, a.o, row_number() OVER (ORDER BY a.o) AS n \
          FROM jsonb_array_elements(b.events) WITH ORDINALITY AS a(e, o) WHERE b.eo + a.o <> ALL($12)) t",
        "t.n",
    )
}

fn insert_batch_sql() -> String {
    insert_elements_sql("jsonb_array_elements($7) WITH ORDINALITY AS t(e, o)", "t.o")
}

/// The batch without the elements whose 1-based ordinals are in $10 (the
/// invalid ones, kept as dead letters): versions and positions stay dense.
fn insert_valid_sql() -> String {
    insert_elements_sql(
        "(SELECT a.e, a.o, row_number() OVER (ORDER BY a.o) AS n \
          FROM jsonb_array_elements($7) WITH ORDINALITY AS a(e, o) WHERE a.o <> ALL($10)) t",
        "t.n",
    )
}

/// Rows given as parallel arrays (the CloudEvents path, which has parsed them).
fn insert_rows_sql() -> String {
    format!(
        "INSERT INTO bss.events ({EVENT_COLUMNS}, datacontenttype, dataschema) \
         SELECT u.p, $2, $3 + u.i, u.id, u.src, u.typ, u.subj, coalesce(u.tm::timestamptz, now()), u.d::jsonb, u.m::jsonb, $4, $5, $15, \
                coalesce(u.dct, 'application/json'), u.dsch \
         FROM unnest($1::bigint[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) \
              WITH ORDINALITY AS u(p, id, src, typ, subj, tm, d, m, dct, dsch, i)"
    )
}

/// Which scans a generic plan may use (`generic_plan`).
#[derive(Clone, Copy)]
pub enum Scans {
    /// Whatever the planner finds cheapest.
    Any,
    /// Index scans only: no sequential or bitmap scans.
    Index,
}

/// Runs `f` (the execution of kept statements) with the plan cache's
/// generic plan, and with only index scans under `Scans::Index`, then puts
/// the settings back (also when `f` unwinds from an error). A replan after
/// an invalidation happens inside `f`, so it is made under the same settings.
///
/// Why: for a statement over parameter arrays (`unnest($1)`) a custom plan
/// sees how long the arrays are and so looks cheaper than the generic one
/// (which assumes 10 elements) for any call of a few, so the plan cache
/// would plan it again on every call, for the same plan: perf of the load
/// generator's backends at 1x found 7% of their time in the planner, under
/// `append_streams`. On the partitioned `bss.events` a custom plan pruned
/// at planning likewise looks cheaper than the generic one, pruned at
/// executor start.
pub fn generic_plan<R>(scans: Scans, f: impl FnOnce() -> R) -> R {
    struct Restore {
        plan_cache_mode: std::ffi::c_int,
        seqscan: bool,
        bitmapscan: bool,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: backend-local GUC variables, written from their only thread.
            unsafe {
                pg_sys::plan_cache_mode = self.plan_cache_mode;
                pg_sys::enable_seqscan = self.seqscan;
                pg_sys::enable_bitmapscan = self.bitmapscan;
            }
        }
    }
    // SAFETY: as above.
    let _restore = unsafe {
        let saved = Restore {
            plan_cache_mode: pg_sys::plan_cache_mode,
            seqscan: pg_sys::enable_seqscan,
            bitmapscan: pg_sys::enable_bitmapscan,
        };
        pg_sys::plan_cache_mode =
            pg_sys::PlanCacheMode::PLAN_CACHE_MODE_FORCE_GENERIC_PLAN as std::ffi::c_int;
        if let Scans::Index = scans {
            pg_sys::enable_seqscan = false;
            pg_sys::enable_bitmapscan = false;
        }
        saved
    };
    f()
}

thread_local! {
    static PLANS: OnceCell<Plans> = const { OnceCell::new() };
}

/// `sql` prepared with argument types `args` and kept for the session.
pub fn prepare(
    client: &SpiClient<'_>,
    sql: &str,
    args: &[pg_sys::Oid],
) -> Result<OwnedPreparedStatement, SpiError> {
    let oids: Vec<PgOid> = args.iter().map(|o| PgOid::from(*o)).collect();
    Ok(client.prepare_mut(sql, &oids)?.keep())
}

fn prepare_all(client: &SpiClient<'_>) -> Result<Plans, SpiError> {
    use pg_sys::{
        INT8ARRAYOID, INT8OID, JSONBARRAYOID, JSONBOID, TEXTARRAYOID, TEXTOID, TIMESTAMPTZOID,
        UUIDARRAYOID, UUIDOID, XID8OID,
    };
    // positions, stream, version before, default source, region, horizon,
    // events, recorded_at, sealed data
    const BATCH_ARGS: [pg_sys::Oid; 9] = [
        INT8ARRAYOID,
        TEXTOID,
        INT8OID,
        TEXTOID,
        TEXTOID,
        XID8OID,
        JSONBOID,
        TIMESTAMPTZOID,
        JSONBARRAYOID,
    ];
    Ok(Plans {
        advance_stream: prepare(client, ADVANCE_STREAM, &[TEXTOID, INT8OID])?,
        lock_stream: prepare(
            client,
            // A stream created without a home (NULL) has its category's or
            // this region's: right for a session started before bss.region
            // was set, wrong only for one applying another region's events.
            if regions::in_a_region() && regions::route::has_regions_sql(client).unwrap_or(false) {
                LOCK_STREAM_HOMED
            } else {
                LOCK_STREAM
            },
            &[TEXTOID, INT8OID],
        )?,
        release_versions: prepare(client, RELEASE_VERSIONS, &[TEXTOID, INT8OID])?,
        find_stored: prepare(
            client,
            FIND_STORED,
            &[TEXTOID, UUIDARRAYOID, TIMESTAMPTZOID],
        )?,
        insert_one: prepare(
            client,
            &insert_one_sql(),
            &[
                INT8OID,
                TEXTOID,
                INT8OID,
                UUIDOID,
                TEXTOID,
                TEXTOID,
                TEXTOID,
                TIMESTAMPTZOID,
                JSONBOID,
                JSONBOID,
                TEXTOID,
                XID8OID,
                TIMESTAMPTZOID,
            ],
        )?,
        insert_batch: prepare(client, &insert_batch_sql(), &BATCH_ARGS)?,
        insert_valid: prepare(
            client,
            &insert_valid_sql(),
            &[&BATCH_ARGS[..], &[INT8ARRAYOID]].concat(),
        )?,
        insert_rows: prepare(
            client,
            &insert_rows_sql(),
            &[
                INT8ARRAYOID,
                TEXTOID,
                INT8OID,
                TEXTOID,
                XID8OID,
                UUIDARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TIMESTAMPTZOID,
            ],
        )?,
        snapshot_by_policy: OnceCell::new(),
        check_stream_tenant: OnceCell::new(),
        many: OnceCell::new(),
    })
}

/// Runs `f` with an SPI connection and the session's prepared statements.
pub fn with_plans<R>(f: impl FnOnce(&mut SpiClient<'_>, &Plans) -> BssResult<R>) -> BssResult<R> {
    pgrx::spi::Spi::connect_mut(|client| {
        // Partitions first: a wait for another session creating them must not
        // happen while this one already holds a lock on bss.events (preparing
        // the statements below takes one).
        partitions::ensure_covered(client)
            .during("create the partitions ahead (bss.ensure_partitions)")?;
        PLANS.with(|cell| {
            let plans = match cell.get() {
                Some(p) => p,
                None => {
                    let p = prepare_all(client).during("prepare the append statements")?;
                    let _ = cell.set(p);
                    cell.get().expect("just set")
                }
            };
            f(client, plans)
        })
    })
}
