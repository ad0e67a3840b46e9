//! Owns the read side's work in an append: which projections of the
//! category to bring up to the new version (one statement each, prepared
//! once per session) and whether its snapshot policy applies. What each
//! category has is cached per backend: the SQL functions that change
//! projections or policies send a relcache invalidation of
//! `bss.projections` (`bss.read_side_changed`), which every backend applies
//! before its next lock, dropping the cache; so does any other relcache
//! invalidation, which only costs a reload. Must never skip work that a
//! category has in the appender's snapshot.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use pgrx::fcinfo::{pg_arg_is_null, pg_getarg_datum_raw};
use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use pgrx::PgOid;

use crate::append::spi_error;
use crate::error::BssResult;

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
    static CACHE: RefCell<Option<HashMap<String, Work>>> = const { RefCell::new(None) };
    /// Bumped by every invalidation: what was read while one arrived is not kept.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// The update statement of each projection, by name.
    static UPDATES: RefCell<HashMap<String, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// Registers the invalidation callback, once, from _PG_init.
pub fn register() {
    // SAFETY: a static callback registered once per backend.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(invalidate), pg_sys::Datum::from(0usize)) }
}

unsafe extern "C-unwind" fn invalidate(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    // Cannot fail: safe at any point PostgreSQL calls it.
    let _ = GENERATION.try_with(|g| g.set(g.get().wrapping_add(1)));
    let _ = CACHE.try_with(|c| c.try_borrow_mut().map(|mut c| *c = None));
}

/// The work of appends to `category`; None when there is none.
pub fn work(client: &mut SpiClient<'_>, category: &str) -> BssResult<Option<Work>> {
    if let Some(found) = CACHE.with(|c| c.borrow().as_ref().map(|m| m.get(category).cloned())) {
        return Ok(found);
    }
    let generation = GENERATION.with(Cell::get);
    let mut all: HashMap<String, Work> = HashMap::new();
    for row in client.select(WORK, None, &[]).map_err(spi_error)? {
        let (Ok(Some(cat)), Ok(name)) = (row.get::<String>(1), row.get::<String>(2)) else {
            continue;
        };
        let w = all.entry(cat).or_default();
        match name {
            Some(name) => w.projections.push(name),
            None => w.snapshots = true,
        }
    }
    let found = all.get(category).cloned();
    if GENERATION.with(Cell::get) == generation {
        CACHE.with(|c| *c.borrow_mut() = Some(all));
    }
    Ok(found)
}

/// The statement that brings projection `name`'s row of stream $1 to
/// version $2: its reducer (its own, else its category's, else merge
/// patch) folded from the row's state over the events after the row's
/// version. One statement, and bss.reducer_for spelled out in it: the
/// planner does not inline that function, and calling it made appends to
/// a projected category about a third slower. This runs in every append
/// to the category. `name` is a checked identifier
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
               AND e.stream_version <= $2) f \
         WHERE p.name = '{name}' \
         ON CONFLICT (stream_id) DO UPDATE SET state = excluded.state, \
            version = excluded.version, updated_at = excluded.updated_at"
    )
}

/// Brings projection `name` up to version `after` of `stream_id`.
pub fn update_projection(
    client: &mut SpiClient<'_>,
    name: &str,
    stream_id: &str,
    after: i64,
) -> BssResult<()> {
    let prepared = UPDATES.with(|u| u.borrow().contains_key(name));
    if !prepared {
        let oids = [PgOid::from(pg_sys::TEXTOID), PgOid::from(pg_sys::INT8OID)];
        let stmt = client
            .prepare_mut(&update_sql(name), &oids)
            .map_err(spi_error)?
            .keep();
        UPDATES.with(|u| u.borrow_mut().insert(name.to_owned(), stmt));
    }
    UPDATES.with(|u| {
        let updates = u.borrow();
        let stmt = updates.get(name).expect("prepared above");
        client
            .update(stmt, None, &[stream_id.into(), after.into()])
            .map(|_| ())
            .map_err(spi_error)
    })
}

/// `bss.read_side_changed(rel regclass)`: the projections or snapshot
/// policies changed; every backend drops its cache at this commit.
pub unsafe fn read_side_changed(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    if !pg_arg_is_null(fcinfo, 0) {
        let relid = pg_sys::Oid::from(pg_getarg_datum_raw(fcinfo, 0).value() as u32);
        pg_sys::CacheInvalidateRelcacheByRelid(relid);
    }
    (*fcinfo).isnull = true;
    Ok(pg_sys::Datum::from(0usize))
}
