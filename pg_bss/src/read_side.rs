//! Owns deciding, cheaply, whether an append has read-side work: the
//! categories with a projection or a snapshot policy, cached per backend.
//! The SQL functions that change those tables send a relcache invalidation
//! of `bss.projections` (`bss.read_side_changed`), which every backend
//! applies before its next lock, so the cache is dropped and read again;
//! so is it on any other relcache invalidation, which only costs a reload.
//! Must never answer "no work" for a category that has some in the
//! appender's snapshot.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use pgrx::fcinfo::{pg_arg_is_null, pg_getarg_datum_raw};
use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::spi::SpiClient;

use crate::error::{BssError, BssResult, SqlState};

const CATEGORIES: &str = "SELECT category FROM bss.projections \
                          UNION SELECT category FROM bss.snapshot_policies";

thread_local! {
    static CACHE: RefCell<Option<HashSet<String>>> = const { RefCell::new(None) };
    /// Bumped by every invalidation: a set read while one arrived is not kept.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// Registers the invalidation callback, once, from _PG_init.
pub fn register() {
    // SAFETY: a static callback registered once per backend.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(invalidate), pg_sys::Datum::from(0usize)) }
}

unsafe extern "C-unwind" fn invalidate(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    // Cannot fail, allocates nothing: safe at any point PostgreSQL calls it.
    let _ = GENERATION.try_with(|g| g.set(g.get().wrapping_add(1)));
    let _ = CACHE.try_with(|c| c.try_borrow_mut().map(|mut c| *c = None));
}

/// Whether appends to `category` must run `bss.after_append`.
pub fn has_work(client: &mut SpiClient<'_>, category: &str) -> BssResult<bool> {
    if let Some(found) = CACHE.with(|c| c.borrow().as_ref().map(|set| set.contains(category))) {
        return Ok(found);
    }
    let generation = GENERATION.with(Cell::get);
    let mut set = HashSet::new();
    let table = client.select(CATEGORIES, None, &[]).map_err(|e| {
        BssError::new(
            SqlState::InvalidArgument,
            format!("pg_bss internal query failed: {e}"),
        )
    })?;
    for row in table {
        if let Ok(Some(c)) = row.get::<String>(1) {
            set.insert(c);
        }
    }
    let found = set.contains(category);
    if GENERATION.with(Cell::get) == generation {
        CACHE.with(|c| *c.borrow_mut() = Some(set));
    }
    Ok(found)
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
