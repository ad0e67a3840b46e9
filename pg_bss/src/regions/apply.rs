//! Another region's events, appended here as logical replication delivers
//! them. The apply worker's insert into bss.events meets the trigger
//! `replicated_event` (sql/regions.sql), which calls this instead and drops
//! the raw row; this appends the event through the append path's steps
//! (stream lock, local global_position and horizon, bss.streams, snapshots
//! and projections), keeping event_id, region, time, data, metadata,
//! stream and version. Its own insert passes the trigger (`Applying`).
//!
//! Which version an event takes is never decided here by time or by region
//! order, only by ownership (`bss.stream_owner`), so that every region
//! decides alike:
//! - an event already here (by id, in a stream or among conflicts) is
//!   skipped: replication may deliver it again;
//! - an event of the stream's owner takes its version. Events of this
//!   region that hold that version or later were appended after this
//!   region lost the stream and collided with the owner's: they move to
//!   bss.conflicts (kept whole and announced), as the owner recorded them;
//! - an event of another region (appended before it learned it had lost the
//!   stream) takes its version when that is the next one and none of its
//!   region's events in this epoch conflicted; else it is a conflict;
//! - an event whose earlier versions have not arrived yet (two channels)
//!   fails, and the apply worker retries it.
//!
//! Must never insert a row of this region's own: those are never published
//! to it, and one arriving means two databases share a region name.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use pgrx::Uuid;

use super::route::{self, Owner, SHARED_CATEGORY};
use super::statements as region_statements;
use super::{Applying, Moving};
use crate::append::after_append;
use crate::call_args;
use crate::error::{BssError, BssResult, During, SqlState};
use crate::statements::{self, Plans};
use crate::{position, stream_id, stream_lock};

/// The argument types of `bss.apply_replicated_event`, in order: stream_id,
/// stream_version, event_id, source, type, subject, time, datacontenttype,
/// dataschema, data, metadata, region, tenant.
pub const EVENT_TYPES: [pg_sys::Oid; 13] = [
    pg_sys::TEXTOID,
    pg_sys::INT8OID,
    pg_sys::UUIDOID,
    pg_sys::TEXTOID,
    pg_sys::TEXTOID,
    pg_sys::TEXTOID,
    pg_sys::TIMESTAMPTZOID,
    pg_sys::TEXTOID,
    pg_sys::TEXTOID,
    pg_sys::JSONBOID,
    pg_sys::JSONBOID,
    pg_sys::TEXTOID,
    pg_sys::TEXTOID,
];

const RECORD_CONFLICT: &str = "\
SELECT bss.record_conflict(jsonb_build_object('stream_id', $1, 'stream_version', $2, 'event_id', $3, \
    'source', $4, 'type', $5, 'subject', $6, 'time', $7, 'datacontenttype', $8, 'dataschema', $9, \
    'data', $10, 'metadata', $11, 'region', $12, 'tenant', $13), $14, $15, $16, $17)";

struct Replicated<'a> {
    stream_id: &'a str,
    version: i64,
    event_id: Uuid,
    region: &'a str,
    /// Every argument's datum (None: NULL), in the order of EVENT_TYPES.
    datums: Vec<Option<pg_sys::Datum>>,
}

impl Replicated<'_> {
    /// The event's arguments, typed, for a statement.
    fn args(&self) -> Vec<DatumWithOid<'_>> {
        self.datums
            .iter()
            .zip(EVENT_TYPES)
            // SAFETY: each datum is the caller's argument of that type.
            .map(|(d, oid)| match d {
                Some(d) => unsafe { DatumWithOid::new(*d, oid) },
                None => DatumWithOid::null_oid(oid),
            })
            .collect()
    }
}

/// `bss.apply_replicated_event(...) RETURNS boolean`: true when the event
/// took its version here, false when it was here already or conflicted.
pub unsafe fn apply_replicated_event(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let stream_id: Option<&str> = call_args::value(fcinfo, 0);
    let version: Option<i64> = call_args::value(fcinfo, 1);
    let event_id: Option<Uuid> = call_args::value(fcinfo, 2);
    let region: Option<&str> = call_args::value(fcinfo, 11);
    let (Some(stream_id), Some(version), Some(event_id), Some(region)) =
        (stream_id, version, event_id, region)
    else {
        return Err(BssError::new(
            SqlState::InvalidEvent,
            "a replicated event lacks its stream, version, id or region",
        )
        .hint("Only the apply worker of a pg_bss region subscription calls this."));
    };
    if region == super::local_region() {
        return Err(BssError::new(
            SqlState::InvalidEvent,
            format!("event {event_id} of stream \"{stream_id}\" arrived by replication from region \"{region}\", this database's own region"),
        )
        .hint("Two databases have the same bss.region: give each region its own name."));
    }
    let ev = Replicated {
        stream_id,
        version,
        event_id,
        region,
        datums: (0..EVENT_TYPES.len())
            .map(|i| call_args::datum(fcinfo, i))
            .collect(),
    };
    let _applying = Applying::start(region);
    let applied = statements::with_plans(|client, plans| apply(client, plans, &ev))?;
    Ok(pg_sys::Datum::from(applied))
}

fn apply(client: &mut SpiClient<'_>, plans: &Plans, ev: &Replicated<'_>) -> BssResult<bool> {
    let o = route::owner(client, ev.stream_id)?;
    let locked = stream_lock::lock(client, plans, ev.stream_id, 1)?;
    let head = locked.before;
    let owners_event = ev.region == o.owner || stream_id::category(ev.stream_id) == SHARED_CATEGORY;
    // The owner's next event cannot be here yet (its events are never
    // moved out of a stream): only another case may be a delivery again.
    let next_of_owner = owners_event && head == ev.version - 1;
    if !next_of_owner && already_here(client, ev.event_id)? {
        stream_lock::release_versions(client, plans, ev.stream_id, 1)?;
        return Ok(false);
    }
    if owners_event {
        if head >= ev.version {
            move_to_conflicts(client, ev, &o, head)?;
        } else if head < ev.version - 1 {
            return Err(BssError::new(
                SqlState::ReplicationGap,
                format!(
                    "event {} (version {}) of stream \"{}\" from region \"{}\" arrived before versions {}..{}",
                    ev.event_id, ev.version, ev.stream_id, ev.region, head + 1, ev.version - 1
                ),
            )
            .hint("Those versions come from another region's subscription; the apply worker retries this transaction until they are here."));
        }
    } else if head != ev.version - 1 || conflicted_in_epoch(client, ev, &o)? {
        stream_lock::release_versions(client, plans, ev.stream_id, 1)?;
        record_conflict(client, ev, &o, head)?;
        return Ok(false);
    }
    position::assign_transaction_id();
    let global_position = position::take_positions(1)?[0];
    // SAFETY: an xid8 and a timestamptz datum (pass-by-value).
    let (horizon, recorded_at) = unsafe {
        (
            DatumWithOid::new(position::horizon(), pg_sys::XID8OID),
            DatumWithOid::new(locked.recorded_at, pg_sys::TIMESTAMPTZOID),
        )
    };
    let mut args = vec![global_position.into(), horizon, recorded_at];
    args.extend(ev.args());
    client
        .update(&region_statements::plans(client)?.insert, None, &args)
        .during("insert the replicated event")?;
    after_append(
        client,
        plans,
        ev.stream_id,
        locked.created_at,
        ev.version - 1,
        ev.version,
    )?;
    Ok(true)
}

fn already_here(client: &mut SpiClient<'_>, event_id: Uuid) -> BssResult<bool> {
    holds(
        client,
        &region_statements::plans(client)?.already_here,
        &[event_id.into()],
        "look up a replicated event's id",
    )
}

/// Whether an earlier event of the same region and stream conflicted in
/// the owner's epoch: then every later one of them does too (each was
/// appended after it).
fn conflicted_in_epoch(
    client: &mut SpiClient<'_>,
    ev: &Replicated<'_>,
    o: &Owner,
) -> BssResult<bool> {
    holds(
        client,
        &region_statements::plans(client)?.conflicted,
        &[ev.stream_id.into(), ev.region.into(), o.epoch.into()],
        "look up the stream's conflicts",
    )
}

/// The boolean a one-row query gives (false for NULL).
fn holds(
    client: &mut SpiClient<'_>,
    statement: &OwnedPreparedStatement,
    args: &[DatumWithOid<'_>],
    step: &str,
) -> BssResult<bool> {
    Ok(client
        .select(statement, Some(1), args)
        .during(step)?
        .first()
        .get::<bool>(1)
        .during(step)?
        .unwrap_or(false))
}

fn record_conflict(
    client: &mut SpiClient<'_>,
    ev: &Replicated<'_>,
    o: &Owner,
    head: i64,
) -> BssResult<()> {
    let reason = format!(
        "appended in region {} at version {} after region {} took the stream over (epoch {}); version {} here is the owner's",
        ev.region, ev.version, o.owner, o.epoch, head
    );
    let mut args = ev.args();
    args.extend([
        o.owner.as_str().into(),
        o.epoch.into(),
        head.into(),
        reason.as_str().into(),
    ]);
    client
        .update(RECORD_CONFLICT, None, &args)
        .during("record the conflict (bss.record_conflict)")?;
    Ok(())
}

/// This region's events of the stream from the owner's event's version on,
/// moved to bss.conflicts; the stream's version set to that event's.
fn move_to_conflicts(
    client: &mut SpiClient<'_>,
    ev: &Replicated<'_>,
    o: &Owner,
    head: i64,
) -> BssResult<()> {
    {
        let _moving = Moving::start();
        client
            .update(
                "SELECT bss.move_to_conflicts($1, $2, $3, $4, $5)",
                None,
                &[
                    ev.stream_id.into(),
                    ev.version.into(),
                    o.owner.as_str().into(),
                    o.epoch.into(),
                    head.into(),
                ],
            )
            .during("move the stream's later events to bss.conflicts")?;
    }
    client
        .update(
            "UPDATE bss.streams SET version = $2 WHERE stream_id = $1",
            None,
            &[ev.stream_id.into(), ev.version.into()],
        )
        .during("set the stream's version to the owner's event's")?;
    Ok(())
}
