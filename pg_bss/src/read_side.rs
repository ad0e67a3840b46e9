//! Owns the read side's work in an append: which projections of the
//! category to bring up to the new version (one statement each, prepared
//! once per session) and whether its snapshot policy applies. What each
//! category has is cached per backend: the SQL functions that change
//! projections or policies send a relcache invalidation of
//! `bss.projections` (`bss.read_side_changed`), which every backend applies
//! before its next lock, dropping the cache; so does any other relcache
//! invalidation, which only costs a reload. Must never skip work that a
//! category has in the appender's snapshot.

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::datum::DatumWithOid;
use pgrx::fcinfo::pg_getarg_datum_raw;
use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use pgrx::PgOid;

use crate::call_args;
use crate::error::{BssResult, During};
use crate::installed_sql;
use crate::session_cache::SessionCache;
use crate::statements::{generic_plan, Scans};

/// What appends to one category do besides storing the events.
#[derive(Debug, Default, Clone)]
pub struct Work {
    /// Names of its projections (tables in schema bss_projection).
    pub projections: Vec<String>,
    /// Whether it has a snapshot policy.
    pub snapshots: bool,
}

const WORK: &str = "SELECT category, name FROM bss.projections \
                    UNION ALL SELECT category, NULL FROM bss.snapshot_policies";

thread_local! {
    static CACHE: SessionCache<HashMap<String, Work>> = const { SessionCache::new() };
    /// The update statement of each projection, by name.
    static UPDATES: RefCell<HashMap<String, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// Registers the invalidation callback, once, from _PG_init.
pub fn register() {
    SessionCache::register(&CACHE);
}

/// The work of appends to `category`; None when there is none.
pub fn work(client: &mut SpiClient<'_>, category: &str) -> BssResult<Option<Work>> {
    let all = CACHE.with(|cache| cache.get_or_load(|| load(client)))?;
    Ok(all.get(category).cloned())
}

fn load(client: &SpiClient<'_>) -> BssResult<HashMap<String, Work>> {
    let mut all: HashMap<String, Work> = HashMap::new();
    // Installed SQL older than 0.2.0: no category has read-side work.
    if !installed_sql::has_table(client, "bss.projections")? {
        return Ok(all);
    }
    let rows = client
        .select(WORK, None, &[])
        .during("read the categories' projections and snapshot policies")?;
    for row in rows {
        let (Ok(Some(cat)), Ok(name)) = (row.get::<String>(1), row.get::<String>(2)) else {
            continue;
        };
        let w = all.entry(cat).or_default();
        match name {
            Some(name) => w.projections.push(name),
            None => w.snapshots = true,
        }
    }
    Ok(all)
}

/// The statement that brings projection `name`'s row of stream $1 to
/// version $2: its reducer (its own, else its category's, else merge
/// patch) folded from the row's state over the events after the row's
/// version. One statement, and bss.reducer_for spelled out in it: the
/// planner does not inline that function, and calling it made appends to
/// a projected category about a third slower. This runs in every append
/// to the category. `$3` is the stream's created_at: no event of the
/// stream is recorded before it, and it lets a generic plan skip the
/// partitions of `bss.events` older than the stream at executor start
/// (as idempotency.rs's lookup does). Whatever stores events with a
/// recorded_at of its own (a replica of another region's events) must keep
/// the stream's created_at no later than its first event's. `name` is a checked identifier
/// (create_projection allows `[a-z_][a-z0-9_]*` only).
fn update_sql(name: &str) -> String {
    format!(
        "INSERT INTO bss_projection.\"{name}\" AS t (stream_id, state, version, updated_at) \
         SELECT $1, CASE WHEN f.n = 0 THEN cur.state ELSE f.state END, $2, now() \
         FROM bss.projections p \
         LEFT JOIN bss_projection.\"{name}\" cur ON cur.stream_id = $1 \
         CROSS JOIN LATERAL ( \
             SELECT bss.fold(coalesce(p.reducer, \
                                      (SELECT r.reducer FROM bss.reducers r WHERE r.category = p.category), \
                                      'bss.reduce_merge_patch(jsonb, bss.events)'::regprocedure), \
                             cur.state, e ORDER BY e.stream_version) AS state, count(*) AS n \
             FROM bss.events e \
             WHERE e.stream_id = $1 AND e.stream_version > coalesce(cur.version, 0) \
               AND e.stream_version <= $2 AND e.recorded_at >= $3) f \
         WHERE p.name = '{name}' \
         ON CONFLICT (stream_id) DO UPDATE SET state = excluded.state, \
            version = excluded.version, updated_at = excluded.updated_at"
    )
}

/// Brings projection `name` up to version `after` of `stream_id`, created
/// at `created_at` (a timestamptz datum from the stream's lock).
///
/// Runs with the generic plan and index scans only (statements.rs,
/// `generic_plan`): left to the plan cache, the statement was planned again
/// on every call (a custom plan, pruned while planning, looks cheaper), and
/// planning took 35% of the backends' time in appends to a projected
/// category (perf, 2026-12-07).
pub fn update_projection(
    client: &mut SpiClient<'_>,
    name: &str,
    stream_id: &str,
    created_at: pg_sys::Datum,
    after: i64,
) -> BssResult<()> {
    let prepared = UPDATES.with(|u| u.borrow().contains_key(name));
    if !prepared {
        let oids = [
            PgOid::from(pg_sys::TEXTOID),
            PgOid::from(pg_sys::INT8OID),
            PgOid::from(pg_sys::TIMESTAMPTZOID),
        ];
        let stmt = client
            .prepare_mut(&update_sql(name), &oids)
            .during("prepare the update of a projection")?
            .keep();
        UPDATES.with(|u| u.borrow_mut().insert(name.to_owned(), stmt));
    }
    UPDATES.with(|u| {
        let updates = u.borrow();
        let stmt = updates.get(name).expect("prepared above");
        // SAFETY: created_at is a timestamptz datum returned by the lock query.
        let created = unsafe { DatumWithOid::new(created_at, pg_sys::TIMESTAMPTZOID) };
        generic_plan(Scans::Index, || {
            client.update(stmt, None, &[stream_id.into(), after.into(), created])
        })
        .during("update a projection")?;
        Ok(())
    })
}

/// `bss.read_side_changed(rel regclass)`: the projections or snapshot
/// policies changed; every backend drops its cache at this commit.
pub unsafe fn read_side_changed(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    if call_args::datum(fcinfo, 0).is_some() {
        let relid = pg_sys::Oid::from(pg_getarg_datum_raw(fcinfo, 0).value() as u32);
        pg_sys::CacheInvalidateRelcacheByRelid(relid);
    }
    (*fcinfo).isnull = true;
    Ok(pg_sys::Datum::from(0usize))
}
