//! Several regions appending to one event store (sql/regions.sql); this
//! module owns the append path's part of it. `route` decides, before an
//! append does anything else, whether this region owns the stream, and
//! otherwise forwards the append to the owner or refuses it; `apply`
//! appends another region's events as logical replication delivers them.
//! In a database without a region (`bss.region` = 'local') neither runs,
//! and an append pays nothing for them. Must never decide who owns a
//! stream itself: `bss.stream_owner` (SQL) does, the same in every region.

pub mod apply;
pub mod route;
mod statements;

use std::cell::{Cell, RefCell};

use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::{IntoDatum, Uuid};

use crate::call_args;
use crate::error::{raise, BssResult};
use crate::guc;

sql_function!(
    bss_applying_region,
    pg_finfo_bss_applying_region,
    applying_region
);
sql_function!(
    bss_moving_conflicts,
    pg_finfo_bss_moving_conflicts,
    moving_conflicts
);
sql_function!(
    bss_conflict_event_id,
    pg_finfo_bss_conflict_event_id,
    conflict_event_id
);
sql_function!(
    bss_apply_replicated_event,
    pg_finfo_bss_apply_replicated_event,
    apply::apply_replicated_event
);

/// Whether this database is in a region (`bss.region` set to a name).
pub fn in_a_region() -> bool {
    local_region() != "local"
}

pub fn local_region() -> String {
    guc::string(&guc::REGION, "local")
}

thread_local! {
    /// The region of the replicated event being appended (apply.rs).
    static APPLYING: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Set while apply.rs moves a region's own events into bss.conflicts.
    static MOVING: Cell<bool> = const { Cell::new(false) };
}

/// Marks the session as applying `region`'s event until dropped (also
/// when an error unwinds through it).
struct Applying;

impl Applying {
    fn start(region: &str) -> Applying {
        APPLYING.with(|a| *a.borrow_mut() = Some(region.to_owned()));
        Applying
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        APPLYING.with(|a| *a.borrow_mut() = None);
    }
}

/// Lets `bss.reject_change` pass the DELETE of apply.rs until dropped.
struct Moving;

impl Moving {
    fn start() -> Moving {
        MOVING.with(|m| m.set(true));
        Moving
    }
}

impl Drop for Moving {
    fn drop(&mut self) {
        MOVING.with(|m| m.set(false));
    }
}

/// `bss.applying_region() RETURNS text`: the region of the replicated event
/// being applied, else NULL. The trigger on bss.events lets the append
/// path's own insert through with it; `bss.stream_owner` homes a stream
/// that replication creates in the event's region.
unsafe fn applying_region(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    match APPLYING.with(|a| a.borrow().clone()) {
        Some(region) => Ok(region.into_datum().unwrap_or(pg_sys::Datum::from(0usize))),
        None => {
            (*fcinfo).isnull = true;
            Ok(pg_sys::Datum::from(0usize))
        }
    }
}

/// `bss.moving_conflicts() RETURNS boolean`: true only while apply.rs moves
/// events out of a stream (the one DELETE on bss.events there is).
unsafe fn moving_conflicts(_fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    Ok(pg_sys::Datum::from(MOVING.with(|m| m.get())))
}

/// The namespace of conflict event ids (a UUIDv5 namespace of our own).
const CONFLICT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6a1c_2f0e_8b4d_4e57_9a3c_b55e_0d1f_c0f1);

/// `bss.conflict_event_id(event_id uuid) RETURNS uuid` (STRICT): the id of
/// the event announcing that `event_id` conflicted, the same in every
/// region, so that each region's announcement is one event everywhere.
unsafe fn conflict_event_id(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let id: Uuid = call_args::value(fcinfo, 0).unwrap_or(Uuid::from_bytes([0; 16]));
    let derived = uuid::Uuid::new_v5(&CONFLICT_NAMESPACE, id.as_bytes());
    Ok(Uuid::from_bytes(*derived.as_bytes())
        .into_datum()
        .unwrap_or(pg_sys::Datum::from(0usize)))
}
