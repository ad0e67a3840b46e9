//! Global positions and their horizon.
//!
//! A position comes from `bss.global_position_seq` (CACHE 1, so values follow
//! the order they were taken in) and is taken only while the stream's row lock
//! is held, so a stream's positions follow its versions. With it we record the
//! horizon: the next transaction id at the moment after the position was taken.
//!
//! Why that makes `read_all` gap-safe: the appending transaction has its
//! transaction id before it takes a position (`GetTopFullTransactionId`). Any
//! transaction holding a smaller position took it earlier, so its id is below
//! this event's horizon. When a reader's snapshot xmin has passed the horizon,
//! all of those transactions have ended, and no event with a smaller position
//! can appear any more.
//!
//! This module must never take a position without the stream lock held.

use pgrx::pg_sys;

use crate::error::{BssError, BssResult, SqlState};

/// The transaction id every position of this transaction is ordered after.
pub fn assign_transaction_id() {
    // SAFETY: plain call into PostgreSQL inside a transaction.
    unsafe {
        pg_sys::GetTopFullTransactionId();
    }
}

fn sequence_oid() -> BssResult<pg_sys::Oid> {
    // Looked up each time (two syscache probes): a cached oid would go stale
    // when the extension is dropped and created again in the same session.
    // SAFETY: catalog lookups with valid C strings.
    let oid = unsafe {
        let ns = pg_sys::get_namespace_oid(c"bss".as_ptr(), true);
        if ns == pg_sys::InvalidOid {
            pg_sys::InvalidOid
        } else {
            pg_sys::get_relname_relid(c"global_position_seq".as_ptr(), ns)
        }
    };
    if oid == pg_sys::InvalidOid {
        return Err(BssError::new(
            SqlState::InvalidArgument,
            "sequence bss.global_position_seq does not exist",
        )
        .hint("Is the pg_bss extension installed in this database? CREATE EXTENSION pg_bss;"));
    }
    Ok(oid)
}

unsafe extern "C-unwind" {
    // The V1 SQL function nextval(regclass); pg_sys only has a Rust wrapper of it.
    #[link_name = "nextval_oid"]
    fn nextval_oid_v1(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum;
}

/// Takes `n` positions, in increasing order. The stream lock must be held.
pub fn take_positions(n: usize) -> BssResult<Vec<i64>> {
    let seq = sequence_oid()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: nextval_oid is a V1 function taking the sequence's oid.
        let d = unsafe {
            pg_sys::DirectFunctionCall1Coll(
                Some(nextval_oid_v1),
                pg_sys::InvalidOid,
                pg_sys::Datum::from(seq),
            )
        };
        out.push(d.value() as i64);
    }
    Ok(out)
}

/// The next transaction id, read after the positions were taken.
pub fn horizon() -> pg_sys::Datum {
    // SAFETY: reads the shared next-xid counter under its lock.
    let next = unsafe { pg_sys::ReadNextFullTransactionId() };
    pg_sys::Datum::from(next.value)
}

/// A fresh UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.
pub fn uuid_v7() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
