//! Appending events to one stream: the stream lock, idempotent retries, the
//! expected-version check, positions, and the INSERT.
//!
//! The order of steps is what makes the guarantees hold:
//! 1. lock the stream by updating its `bss.streams` row, or inserting it when
//!    the stream is new (the only lock taken: appends to other streams never
//!    wait), which also advances its version;
//! 2. if the caller named event ids, look them up: a retry stores nothing and
//!    gives the stored version back (the version advance is undone);
//! 3. check the expected version against the version before this append;
//! 4. take positions (lock held, see position.rs) and insert.
//!
//! Any error aborts the caller's transaction, which also undoes step 1.

use std::cell::OnceCell;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiError};
use pgrx::Uuid;

use crate::batch::{self, Mode};
use crate::error::{BssError, BssResult, SqlState};
use crate::{dead_letters, guc, jsonb, partitions, position, read_side, schemas};

/// Statements prepared once per session and kept (SPI_keepplan).
pub struct Plans {
    advance_stream: OwnedPreparedStatement,
    lock_stream: OwnedPreparedStatement,
    release_versions: OwnedPreparedStatement,
    find_stored: OwnedPreparedStatement,
    insert_one: OwnedPreparedStatement,
    insert_batch: OwnedPreparedStatement,
    insert_valid: OwnedPreparedStatement,
    insert_rows: OwnedPreparedStatement,
    snapshot_by_policy: OwnedPreparedStatement,
}

/// The category's snapshot policy (sql/time_travel.sql), run with the
/// stream still locked.
const SNAPSHOT_BY_POLICY: &str = "SELECT bss.snapshot_by_policy($1, $2, $3)";

/// The common case, a stream that exists: one UPDATE. An upsert would lock
/// the row first (a heap_lock_tuple and its WAL record) and then update it.
const ADVANCE_STREAM: &str = "\
UPDATE bss.streams AS s SET version = s.version + $2, updated_at = greatest(s.updated_at, now()) \
WHERE s.stream_id = $1 \
RETURNING s.version, s.created_at, s.updated_at";

/// A stream the UPDATE did not find: created, or, when another transaction
/// created it meanwhile, advanced once that one has committed.
const LOCK_STREAM: &str = "\
INSERT INTO bss.streams AS s (stream_id, category, version, created_at, updated_at) \
VALUES ($1, split_part($1, '-', 1), $2, now(), now()) \
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

/// The INSERT of a batch's elements `t.e`, numbered 1.. by `t.n`, from `from`.
fn insert_elements_sql(from: &str) -> String {
    format!(
        "INSERT INTO bss.events ({EVENT_COLUMNS}) \
         SELECT $1[t.n], $2, $3 + t.n, coalesce((t.e->>'event_id')::uuid, bss.uuidv7()), \
                coalesce(t.e->>'source', $4), t.e->>'type', t.e->>'subject', \
                coalesce((t.e->>'time')::timestamptz, now()), t.e->'data', \
                coalesce(nullif(t.e->'metadata', 'null'::jsonb), '{{}}'::jsonb), $5, $6, $8 \
         FROM {from}"
    )
}

fn insert_batch_sql() -> String {
    insert_elements_sql("jsonb_array_elements($7) WITH ORDINALITY AS t(e, n)")
}

/// The batch without the elements whose 1-based ordinals are in $9 (the
/// invalid ones, kept as dead letters): versions and positions stay dense.
fn insert_valid_sql() -> String {
    insert_elements_sql(
        "(SELECT a.e, row_number() OVER (ORDER BY a.i) AS n \
          FROM jsonb_array_elements($7) WITH ORDINALITY AS a(e, i) WHERE a.i <> ALL($9)) t",
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

thread_local! {
    static PLANS: OnceCell<Plans> = const { OnceCell::new() };
}

fn prepare(
    client: &SpiClient<'_>,
    sql: &str,
    args: &[pg_sys::Oid],
) -> Result<OwnedPreparedStatement, SpiError> {
    let oids: Vec<PgOid> = args.iter().map(|o| PgOid::from(*o)).collect();
    Ok(client.prepare_mut(sql, &oids)?.keep())
}

fn prepare_all(client: &SpiClient<'_>) -> Result<Plans, SpiError> {
    use pg_sys::{
        INT8ARRAYOID, INT8OID, JSONBOID, TEXTARRAYOID, TEXTOID, TIMESTAMPTZOID, UUIDARRAYOID,
        UUIDOID, XID8OID,
    };
    // positions, stream, version before, default source, region, horizon, events, recorded_at
    const BATCH_ARGS: [pg_sys::Oid; 8] = [
        INT8ARRAYOID,
        TEXTOID,
        INT8OID,
        TEXTOID,
        TEXTOID,
        XID8OID,
        JSONBOID,
        TIMESTAMPTZOID,
    ];
    Ok(Plans {
        advance_stream: prepare(client, ADVANCE_STREAM, &[TEXTOID, INT8OID])?,
        lock_stream: prepare(client, LOCK_STREAM, &[TEXTOID, INT8OID])?,
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
        snapshot_by_policy: prepare(client, SNAPSHOT_BY_POLICY, &[TEXTOID, INT8OID, INT8OID])?,
    })
}

/// Runs `f` with an SPI connection and the session's prepared statements.
pub fn with_plans<R>(f: impl FnOnce(&mut SpiClient<'_>, &Plans) -> BssResult<R>) -> BssResult<R> {
    pgrx::spi::Spi::connect_mut(|client| {
        // Partitions first: a wait for another session creating them must not
        // happen while this one already holds a lock on bss.events (preparing
        // the statements below takes one).
        partitions::ensure_covered(client).map_err(spi_error)?;
        PLANS.with(|cell| {
            let plans = match cell.get() {
                Some(p) => p,
                None => {
                    let p = prepare_all(client).map_err(spi_error)?;
                    let _ = cell.set(p);
                    cell.get().expect("just set")
                }
            };
            f(client, plans)
        })
    })
}

pub(crate) fn spi_error(e: SpiError) -> BssError {
    BssError::new(
        SqlState::InvalidArgument,
        format!("pg_bss internal query failed: {e}"),
    )
}

/// A stream id must be usable as a key everywhere it goes (Kafka key, Redis key).
pub fn check_stream_id(stream_id: Option<&str>) -> BssResult<&str> {
    let id = stream_id.unwrap_or("");
    if id.trim().is_empty() {
        return Err(
            BssError::new(SqlState::InvalidStreamId, "stream_id must not be empty").hint(
                "Name the aggregate the event belongs to, as category-id, e.g. 'customer-42'.",
            ),
        );
    }
    if id.len() > guc::MAX_STREAM_ID_BYTES {
        return Err(BssError::new(
            SqlState::InvalidStreamId,
            format!(
                "stream_id is {} bytes, over the limit of {}",
                id.len(),
                guc::MAX_STREAM_ID_BYTES
            ),
        )
        .detail(format!(
            "stream_id starts with \"{}\"",
            id.chars().take(40).collect::<String>()
        ))
        .hint("Use a short, stable key such as 'customer-42'."));
    }
    if id.chars().any(|c| c.is_control()) {
        return Err(BssError::new(
            SqlState::InvalidStreamId,
            format!("stream_id {id:?} contains control characters"),
        )
        .hint("Use printable characters only."));
    }
    Ok(id)
}

pub fn check_expected(stream_id: &str, expected: Option<i64>, actual: i64) -> BssResult<()> {
    match expected {
        None => Ok(()),
        Some(e) if e < 0 => Err(BssError::new(
            SqlState::WrongExpectedVersion,
            format!("expected_version {e} for stream \"{stream_id}\" is negative"),
        )
        .hint(
            "Pass NULL (any version), 0 (the stream must not exist) or the version you last read.",
        )),
        Some(e) if e == actual => Ok(()),
        Some(e) => {
            let what = if e == 0 {
                "expected stream to not exist".to_string()
            } else {
                format!("expected version {e}")
            };
            Err(BssError::new(
                SqlState::WrongExpectedVersion,
                format!("wrong expected version for stream \"{stream_id}\": {what}, but it is at version {actual}"),
            )
            .detail(format!("stream \"{stream_id}\": expected {e}, actual {actual}"))
            .hint("Another writer appended first. Read the stream again, decide again, and retry with the new version."))
        }
    }
}

/// The stream row, locked, with its version advanced by `n`.
pub struct Locked {
    pub before: i64,
    pub created_at: pg_sys::Datum,
    /// The recorded_at of the events appended under this lock.
    pub recorded_at: pg_sys::Datum,
}

impl Locked {
    fn recorded_at(&self) -> DatumWithOid<'static> {
        // SAFETY: a timestamptz datum (pass-by-value) returned by the lock query.
        unsafe { DatumWithOid::new(self.recorded_at, pg_sys::TIMESTAMPTZOID) }
    }
}

fn lock_stream(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    n: i64,
) -> BssResult<Locked> {
    let args = [stream_id.into(), n.into()];
    let mut rows = client
        .update(&plans.advance_stream, Some(1), &args)
        .map_err(spi_error)?;
    if rows.is_empty() {
        rows = client
            .update(&plans.lock_stream, Some(1), &args)
            .map_err(spi_error)?;
    }
    let row = rows.first();
    let after: i64 = row.get(1).map_err(spi_error)?.unwrap_or(n);
    let created_at = row
        .get_datum_by_ordinal(2)
        .map_err(spi_error)?
        .unwrap_or(pg_sys::Datum::from(0usize));
    let recorded_at = row
        .get_datum_by_ordinal(3)
        .map_err(spi_error)?
        .unwrap_or(pg_sys::Datum::from(0usize));
    Ok(Locked {
        before: after - n,
        created_at,
        recorded_at,
    })
}

/// The read side's work for events `before+1..=after` just appended, with
/// the stream still locked: its category's projections, then its policy.
fn after_append(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    before: i64,
    after: i64,
) -> BssResult<()> {
    let category = stream_id.split('-').next().unwrap_or(stream_id);
    let Some(work) = read_side::work(client, category)? else {
        return Ok(());
    };
    for name in &work.projections {
        read_side::update_projection(client, name, stream_id, after)?;
    }
    if work.snapshots {
        client
            .update(
                &plans.snapshot_by_policy,
                None,
                &[stream_id.into(), before.into(), after.into()],
            )
            .map_err(spi_error)?;
    }
    Ok(())
}

/// Stored versions of those of `ids` the stream already holds.
fn find_stored(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    ids: Vec<Uuid>,
    created_at: pg_sys::Datum,
) -> BssResult<Vec<(Uuid, i64)>> {
    // SAFETY: created_at is a timestamptz datum returned by the lock query.
    let created = unsafe { DatumWithOid::new(created_at, pg_sys::TIMESTAMPTZOID) };
    let table = by_event_id(|| {
        client.select(
            &plans.find_stored,
            None,
            &[stream_id.into(), ids.into(), created],
        )
    })
    .map_err(spi_error)?;
    let mut out = Vec::new();
    for row in table {
        let id: Option<Uuid> = row.get(1).map_err(spi_error)?;
        let v: Option<i64> = row.get(2).map_err(spi_error)?;
        if let (Some(id), Some(v)) = (id, v) {
            out.push((id, v));
        }
    }
    Ok(out)
}

/// Runs `f` (the lookup of stored ids) with a generic plan and with
/// sequential and bitmap scans off, then puts the settings back (also when
/// `f` unwinds from an error). A replan after an invalidation happens inside
/// `f`, so it is made under the same settings.
///
/// Why: on the partitioned `bss.events` a custom plan (pruned at planning)
/// looks cheaper than the generic one, so the plan cache would plan it again
/// on every call (about 0.45 ms for a 0.1 ms lookup); and a generic plan
/// would otherwise AND in the BRIN index on recorded_at (a bitmap of nearly
/// the whole partition), or scan a partition that was empty when planned.
fn by_event_id<R>(f: impl FnOnce() -> R) -> R {
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
        pg_sys::enable_seqscan = false;
        pg_sys::enable_bitmapscan = false;
        saved
    };
    f()
}

/// Decides what a (possibly) retried append of `n` events is, given the ids
/// the caller named and those of them the stream already holds:
/// `Ok(Some(version))` when all `n` events are stored (a retry, nothing to
/// do), `Ok(None)` when none is, and a conflict for anything in between.
fn retry_outcome(
    stream_id: &str,
    n: i64,
    ids: &[Uuid],
    stored: &[(Uuid, i64)],
) -> BssResult<Option<i64>> {
    if stored.is_empty() {
        return Ok(None);
    }
    let distinct: std::collections::HashSet<[u8; 16]> = ids.iter().map(|u| *u.as_bytes()).collect();
    if stored.len() == distinct.len() && stored.len() as i64 == n {
        return Ok(stored.iter().map(|(_, v)| *v).max());
    }
    let first = &stored[0];
    Err(BssError::new(
        SqlState::IdempotencyConflict,
        format!(
            "{} of the {n} events are already in stream \"{stream_id}\", the others are not",
            stored.len()
        ),
    )
    .detail(format!(
        "event {} is stored at version {}",
        uuid::Uuid::from_bytes(*first.0.as_bytes()),
        first.1
    ))
    .hint(
        "A retry must send exactly the batch that was sent before; send new events in a new batch.",
    ))
}

fn release_versions(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    n: i64,
) -> BssResult<()> {
    client
        .update(&plans.release_versions, None, &[stream_id.into(), n.into()])
        .map_err(spi_error)?;
    Ok(())
}

/// What locking a stream for new events decided.
pub enum Lock {
    /// Every event is already stored (a retry): nothing changed; the stored version.
    Replayed(i64),
    /// Go ahead and append.
    Append(Locked),
}

/// Locks `stream_id` and advances its version by `n`. When the caller named
/// event ids (`ids`) that the stream already holds, this is a retry: the
/// advance is undone and the stored version returned (see `retry_outcome`).
pub fn lock_for_append(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    n: i64,
    ids: &[Uuid],
) -> BssResult<Lock> {
    let locked = lock_stream(client, plans, stream_id, n)?;
    // A new stream holds no events, so nothing can be a retry.
    if ids.is_empty() || locked.before == 0 {
        return Ok(Lock::Append(locked));
    }
    let stored = find_stored(client, plans, stream_id, ids.to_vec(), locked.created_at)?;
    match retry_outcome(stream_id, n, ids, &stored)? {
        Some(version) => {
            release_versions(client, plans, stream_id, n)?;
            Ok(Lock::Replayed(version))
        }
        None => Ok(Lock::Append(locked)),
    }
}

/// One event, its payloads as the caller's jsonb datums.
pub struct OneEvent<'a> {
    pub stream_id: &'a str,
    pub type_: &'a str,
    pub data: pg_sys::Datum,
    pub metadata: Option<pg_sys::Datum>,
    pub event_id: Option<Uuid>,
    pub source: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub time: Option<pg_sys::Datum>,
}

pub fn append_one(ev: OneEvent<'_>, expected: Option<i64>) -> BssResult<i64> {
    with_plans(|client, plans| {
        // SAFETY: data is the caller's non-null jsonb argument.
        let data = || {
            std::borrow::Cow::Owned(unsafe {
                jsonb::to_serde(&mut (*jsonb::detoast(ev.data)).root)
            })
        };
        let validators = schemas::validators(client)?;
        if let Some(v) = schemas::violation(&validators, ev.type_, data) {
            return Err(batch_error(ev.stream_id, None, v.rule, &v.message));
        }
        let ids: Vec<Uuid> = ev.event_id.into_iter().collect();
        let locked = match lock_for_append(client, plans, ev.stream_id, 1, &ids)? {
            Lock::Replayed(version) => return Ok(version),
            Lock::Append(locked) => locked,
        };
        check_expected(ev.stream_id, expected, locked.before)?;
        position::assign_transaction_id();
        let pos = position::take_positions(1)?[0];
        let horizon = position::horizon();
        let version = locked.before + 1;
        let event_id = ev
            .event_id
            .unwrap_or_else(|| Uuid::from_bytes(*position::uuid_v7().as_bytes()));
        let source = ev
            .source
            .map(str::to_owned)
            .unwrap_or_else(|| guc::string(&guc::DEFAULT_SOURCE, "/pg_bss"));
        let region = guc::string(&guc::REGION, "local");
        // SAFETY: the raw datums are the caller's arguments of the declared types.
        let args = unsafe {
            [
                pos.into(),
                ev.stream_id.into(),
                version.into(),
                event_id.into(),
                source.as_str().into(),
                ev.type_.into(),
                DatumWithOid::new(ev.subject, pg_sys::TEXTOID),
                nullable(ev.time, pg_sys::TIMESTAMPTZOID),
                DatumWithOid::new(ev.data, pg_sys::JSONBOID),
                nullable(ev.metadata, pg_sys::JSONBOID),
                region.as_str().into(),
                DatumWithOid::new(horizon, pg_sys::XID8OID),
                locked.recorded_at(),
            ]
        };
        client
            .update(&plans.insert_one, None, &args)
            .map_err(spi_error)?;
        after_append(client, plans, ev.stream_id, locked.before, version)?;
        Ok(version)
    })
}

/// A caller's argument datum of type `oid`, or SQL NULL.
///
/// # Safety
/// `d` must be a valid datum of type `oid` for as long as the query runs.
unsafe fn nullable<'a>(d: Option<pg_sys::Datum>, oid: pg_sys::Oid) -> DatumWithOid<'a> {
    match d {
        Some(d) => DatumWithOid::new(d, oid),
        None => DatumWithOid::null_oid(oid),
    }
}

/// A JSON array of `{type, data, metadata?, event_id?, source?, subject?, time?}`.
/// In `Mode::CollectInvalid` the invalid elements go to `bss.dead_letters`
/// and the valid ones are appended, in batch order, as if sent alone.
pub fn append_batch(
    stream_id: &str,
    events: pg_sys::Datum,
    expected: Option<i64>,
    mode: Mode,
) -> BssResult<i64> {
    with_plans(|client, plans| {
        let schemas = schemas::validators(client)?;
        // SAFETY: `events` is the caller's non-null jsonb argument.
        let checked = unsafe {
            batch::check(
                events,
                guc::MAX_DATA_BYTES.get() as usize,
                guc::MAX_BATCH_EVENTS.get() as usize,
                &schemas,
                mode,
            )
        }
        .map_err(|p| batch_error(stream_id, p.index, p.rule, &p.message))?;
        let version = append_valid(client, plans, stream_id, events, expected, &checked)?;
        dead_letters::store(client, stream_id, events, &checked)?;
        Ok(version)
    })
}

/// Appends the valid events of a checked batch; the stream's version after.
fn append_valid(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    events: pg_sys::Datum,
    expected: Option<i64>,
    checked: &batch::Checked,
) -> BssResult<i64> {
    let n = (checked.len - checked.invalid.len()) as i64;
    if n == 0 {
        let version = current_version(client, stream_id)?;
        check_expected(stream_id, expected, version)?;
        return Ok(version);
    }
    let ids: Vec<Uuid> = checked
        .event_ids
        .iter()
        .map(|u| Uuid::from_bytes(*u.as_bytes()))
        .collect();

    let locked = match lock_for_append(client, plans, stream_id, n, &ids)? {
        Lock::Replayed(version) => return Ok(version),
        Lock::Append(locked) => locked,
    };
    check_expected(stream_id, expected, locked.before)?;
    position::assign_transaction_id();
    let positions = position::take_positions(n as usize)?;
    let horizon = position::horizon();
    let source = guc::string(&guc::DEFAULT_SOURCE, "/pg_bss");
    let region = guc::string(&guc::REGION, "local");
    // SAFETY: horizon is an xid8 datum; events the caller's jsonb.
    let mut args = unsafe {
        vec![
            positions.into(),
            stream_id.into(),
            locked.before.into(),
            source.as_str().into(),
            region.as_str().into(),
            DatumWithOid::new(horizon, pg_sys::XID8OID),
            DatumWithOid::new(events, pg_sys::JSONBOID),
            locked.recorded_at(),
        ]
    };
    let statement = if checked.invalid.is_empty() {
        &plans.insert_batch
    } else {
        let skipped: Vec<i64> = checked.invalid.iter().map(|e| e.index as i64 + 1).collect();
        args.push(skipped.into());
        &plans.insert_valid
    };
    client.update(statement, None, &args).map_err(spi_error)?;
    after_append(client, plans, stream_id, locked.before, locked.before + n)?;
    Ok(locked.before + n)
}

/// The stream's version, 0 when it does not exist (nothing locked).
fn current_version(client: &mut SpiClient<'_>, stream_id: &str) -> BssResult<i64> {
    Ok(client
        .select(
            "SELECT bss.stream_version($1)",
            Some(1),
            &[stream_id.into()],
        )
        .map_err(spi_error)?
        .first()
        .get::<i64>(1)
        .map_err(spi_error)?
        .unwrap_or(0))
}

pub fn batch_error(stream_id: &str, idx: Option<usize>, rule: &str, message: &str) -> BssError {
    let state = match rule {
        "size" => SqlState::EventTooLarge,
        "batch" => SqlState::InvalidBatch,
        "schema" => SqlState::SchemaViolation,
        _ => SqlState::InvalidEvent,
    };
    let at = match (idx, rule) {
        (Some(i), _) => format!("invalid event events[{i}] for stream \"{stream_id}\""),
        (None, "batch") => format!("invalid batch for stream \"{stream_id}\""),
        (None, _) => format!("invalid event for stream \"{stream_id}\""),
    };
    let hint = match rule {
        "size" => "Keep large documents outside the event and reference them, or raise bss.max_data_bytes.",
        "batch" => "Pass a JSON array of 1 to bss.max_batch_events objects: [{\"type\": \"...\", \"data\": {...}}, ...].",
        "schema" => "Fix the producer, or register the type's new schema with bss.register_schema. With append_events(..., on_invalid => 'dead_letter') valid events are stored and invalid ones kept in bss.dead_letters. Nothing was stored.",
        _ => "Each event is an object {type, data, metadata?, event_id?, source?, subject?, time?}. Nothing was stored.",
    };
    BssError::new(state, format!("{at}: {message}"))
        .detail(format!("rule: {rule}"))
        .hint(hint)
}

/// Parsed rows for one stream (the CloudEvents path).
pub struct Rows {
    pub event_ids: Vec<Uuid>,
    pub sources: Vec<String>,
    pub types: Vec<String>,
    pub subjects: Vec<Option<String>>,
    pub times: Vec<Option<String>>,
    pub data: Vec<String>,
    pub metadata: Vec<String>,
    pub datacontenttypes: Vec<Option<String>>,
    pub dataschemas: Vec<Option<String>>,
}

/// Appends parsed rows to one stream; returns how many were stored (0 for a retry).
pub fn append_rows(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    rows: Rows,
) -> BssResult<i64> {
    let n = rows.event_ids.len() as i64;
    let locked = match lock_for_append(client, plans, stream_id, n, &rows.event_ids)? {
        Lock::Replayed(_) => return Ok(0),
        Lock::Append(locked) => locked,
    };
    position::assign_transaction_id();
    let positions = position::take_positions(n as usize)?;
    let horizon = position::horizon();
    let region = guc::string(&guc::REGION, "local");
    // SAFETY: horizon is an xid8 datum.
    let args = unsafe {
        [
            positions.into(),
            stream_id.into(),
            locked.before.into(),
            region.as_str().into(),
            DatumWithOid::new(horizon, pg_sys::XID8OID),
            rows.event_ids.into(),
            rows.sources.into(),
            rows.types.into(),
            rows.subjects.into(),
            rows.times.into(),
            rows.data.into(),
            rows.metadata.into(),
            rows.datacontenttypes.into(),
            rows.dataschemas.into(),
            locked.recorded_at(),
        ]
    };
    client
        .update(&plans.insert_rows, None, &args)
        .map_err(spi_error)?;
    after_append(client, plans, stream_id, locked.before, locked.before + n)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_version_mismatch_names_stream_expected_and_actual() {
        let err = check_expected("customer-42", Some(3), 5).unwrap_err();
        assert_eq!(err.state, SqlState::WrongExpectedVersion);
        assert!(err.message.contains("customer-42"), "{}", err.message);
        assert!(
            err.message.contains("expected version 3"),
            "{}",
            err.message
        );
        assert!(err.message.contains("version 5"), "{}", err.message);
    }

    #[test]
    fn expected_version_zero_means_stream_must_not_exist() {
        assert!(check_expected("s-1", Some(0), 0).is_ok());
        let err = check_expected("s-1", Some(0), 1).unwrap_err();
        assert!(err.message.contains("to not exist"), "{}", err.message);
        assert!(check_expected("s-1", None, 7).is_ok());
    }

    #[test]
    fn a_retry_is_all_events_stored_and_anything_in_between_is_a_conflict() {
        let (a, b) = (Uuid::from_bytes([1; 16]), Uuid::from_bytes([2; 16]));
        assert_eq!(retry_outcome("s-1", 2, &[a, b], &[]), Ok(None));
        assert_eq!(
            retry_outcome("s-1", 2, &[a, b], &[(a, 4), (b, 5)]),
            Ok(Some(5))
        );
        let partly = retry_outcome("s-1", 2, &[a, b], &[(a, 4)]).unwrap_err();
        assert_eq!(partly.state, SqlState::IdempotencyConflict);
        // Every named id stored, but the batch also has an event without one.
        let unnamed = retry_outcome("s-1", 3, &[a, b], &[(a, 4), (b, 5)]).unwrap_err();
        assert_eq!(unnamed.state, SqlState::IdempotencyConflict);
    }

    #[test]
    fn empty_and_oversized_stream_ids_are_rejected() {
        assert_eq!(
            check_stream_id(Some("")).unwrap_err().state,
            SqlState::InvalidStreamId
        );
        assert_eq!(
            check_stream_id(None).unwrap_err().state,
            SqlState::InvalidStreamId
        );
        let long = "x".repeat(guc::MAX_STREAM_ID_BYTES + 1);
        assert_eq!(
            check_stream_id(Some(&long)).unwrap_err().state,
            SqlState::InvalidStreamId
        );
        assert_eq!(check_stream_id(Some("customer-1")).unwrap(), "customer-1");
    }
}
