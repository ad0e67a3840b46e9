//! The one lock an append takes: its stream's `bss.streams` row, updated
//! (or inserted, for a new stream) with the version advanced by the number
//! of events, so appends to other streams never wait. Also gives versions
//! back when an append turns out to be a retry. Must never lock more than
//! the one row: concurrent appends to different streams stay independent.

use pgrx::pg_sys;
use pgrx::spi::SpiClient;

use crate::error::{BssResult, During};
use crate::statements::Plans;

/// The stream row, locked, with its version advanced by `n`.
pub struct Locked {
    pub before: i64,
    pub created_at: pg_sys::Datum,
    /// The recorded_at of the events appended under this lock.
    pub recorded_at: pg_sys::Datum,
}

/// Locks `stream_id`'s row and advances its version by `n`, creating the
/// stream when it is new.
pub fn lock(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    n: i64,
) -> BssResult<Locked> {
    let args = [stream_id.into(), n.into()];
    const STEP: &str = "lock the stream";
    let mut rows = client
        .update(&plans.advance_stream, Some(1), &args)
        .during(STEP)?;
    if rows.is_empty() {
        // New, or another tenant's (the UPDATE sees this tenant's rows only).
        if let Some(check) = plans.check_stream_tenant(client)? {
            client
                .select(check, Some(1), &[stream_id.into()])
                .during("check the stream's tenant")?;
        }
        rows = client
            .update(&plans.lock_stream, Some(1), &args)
            .during(STEP)?;
    }
    let row = rows.first();
    let after: i64 = row.get(1).during(STEP)?.unwrap_or(n);
    let created_at = row
        .get_datum_by_ordinal(2)
        .during(STEP)?
        .unwrap_or(pg_sys::Datum::from(0usize));
    let recorded_at = row
        .get_datum_by_ordinal(3)
        .during(STEP)?
        .unwrap_or(pg_sys::Datum::from(0usize));
    Ok(Locked {
        before: after - n,
        created_at,
        recorded_at,
    })
}

/// Gives back the `n` versions a lock took (the append was a retry).
pub fn release_versions(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    n: i64,
) -> BssResult<()> {
    client
        .update(&plans.release_versions, None, &[stream_id.into(), n.into()])
        .during("give back the versions of a retry")?;
    Ok(())
}
