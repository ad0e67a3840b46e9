//! Keeps partitions of `bss.events` ahead of time, from the append path.
//!
//! Each session remembers until when partitions exist. When an append's
//! transaction time passes the halfway point of that cover, it calls
//! `bss.ensure_partitions()` (SQL), which creates what is missing. So
//! partitions exist before they are needed with no scheduler, and the check on
//! the hot path is one comparison. This module never creates partitions itself.

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::spi::SpiClient;

thread_local! {
    /// (refresh when transaction time reaches this, covered until), in PostgreSQL microseconds.
    static COVER: Cell<Option<(i64, i64)>> = const { Cell::new(None) };
}

pub fn transaction_time() -> i64 {
    // SAFETY: plain read of the transaction's start time.
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

/// A transaction (or savepoint) that rolls back also undoes partitions it
/// created, so the cover it cached is forgotten.
pub fn register_abort_callbacks() {
    // SAFETY: registering static callbacks once, from _PG_init.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::XactEvent::XACT_EVENT_ABORT
        || event == pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
    {
        COVER.set(None);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        COVER.set(None);
    }
}

/// Makes sure the partition for this transaction's time exists, and that the
/// next ones will in time.
pub fn ensure_covered(client: &mut SpiClient<'_>) -> Result<(), pgrx::spi::SpiError> {
    let now = transaction_time();
    if let Some((refresh_at, covered)) = COVER.get() {
        if now < refresh_at && now < covered {
            return Ok(());
        }
    }
    let covered: Option<pgrx::datum::TimestampWithTimeZone> = client
        .update("SELECT bss.ensure_partitions()", Some(1), &[])?
        .first()
        .get_one()?;
    match covered {
        Some(covered) => {
            let covered = timestamp_micros(covered);
            COVER.set(Some((now + (covered - now) / 2, covered)));
        }
        None => COVER.set(None),
    }
    Ok(())
}

fn timestamp_micros(ts: pgrx::datum::TimestampWithTimeZone) -> i64 {
    let raw: pg_sys::TimestampTz = ts.into_inner();
    raw
}
