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
//! Before ownership counts, two creations of one stream (each region
//! created it while the other's creation had not arrived: a partition, a
//! region lost before it sent it) are settled alike everywhere: the
//! creation whose first event has the smaller id (for UUIDv7 ids, the
//! older) holds the stream. The region whose creation lost moves its
//! events to bss.conflicts and assigns the stream the winner's home (a
//! bss.stream_homes row, replicated after them); until that row arrives,
//! the other regions count its events on the stream as conflicts too.
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
    let (o, creation_lost) = apply_owner(client, ev)?;
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
    let rival = if ev.version == 1 && head >= 1 {
        first_event(client, ev.stream_id)?
    } else {
        None
    };
    if let Some(first) = rival {
        // Two creations of the stream, each made where the other was not
        // known yet: the older first event (UUIDv7s order by time) wins in
        // every region, whoever owns the stream now.
        if ev.event_id.as_bytes() < first.as_bytes() {
            yield_creation(client, ev, head)?;
        } else {
            stream_lock::release_versions(client, plans, ev.stream_id, 1)?;
            let reason = format!(
                "created the stream in region {} (event {}) after it had been created elsewhere (event {first}, the older creation, which holds the stream in every region)",
                ev.region, ev.event_id
            );
            record_conflict(client, ev, &o, head, &reason)?;
            return Ok(false);
        }
    } else if creation_lost {
        // A later event of a creation that lost, appended before its region
        // learned: conflicts too, until that region's yield arrives.
        stream_lock::release_versions(client, plans, ev.stream_id, 1)?;
        let reason = format!(
            "appended in region {} at version {} to its creation of the stream, which lost to an older creation",
            ev.region, ev.version
        );
        record_conflict(client, ev, &o, head, &reason)?;
        return Ok(false);
    } else if owners_event {
        if head >= ev.version {
            move_to_conflicts(client, ev.stream_id, ev.version, &o.owner, o.epoch, head)?;
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
        let reason = format!(
            "appended in region {} at version {} after region {} took the stream over (epoch {}); version {} here is the owner's",
            ev.region, ev.version, o.owner, o.epoch, head
        );
        record_conflict(client, ev, &o, head, &reason)?;
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

/// The stream's owner, and whether the event's region created the stream
/// and lost that creation to an older one, not having yielded yet.
fn apply_owner(client: &mut SpiClient<'_>, ev: &Replicated<'_>) -> BssResult<(Owner, bool)> {
    let row = client
        .select(
            &region_statements::plans(client)?.apply_owner,
            Some(1),
            &[ev.stream_id.into(), ev.region.into()],
        )
        .during(route::OWNER_STEP)?
        .first();
    let lost = row
        .get::<bool>(6)
        .during(route::OWNER_STEP)?
        .unwrap_or(false);
    Ok((route::owner_from(&row)?, lost))
}

fn first_event(client: &mut SpiClient<'_>, stream_id: &str) -> BssResult<Option<Uuid>> {
    const STEP: &str = "look up the stream's first event";
    client
        .select(
            &region_statements::plans(client)?.first_event,
            Some(1),
            &[stream_id.into()],
        )
        .during(STEP)?
        .first()
        .get::<Uuid>(1)
        .during(STEP)
}

/// This region's creation of the stream lost to `ev`'s, older: every event
/// of the stream here moves to bss.conflicts, and the stream's home becomes
/// the winning creation's (an assignment decided here, replicated after
/// those events, so that the other regions stop counting this region's
/// later events on the stream as part of its lost creation).
fn yield_creation(client: &mut SpiClient<'_>, ev: &Replicated<'_>, head: i64) -> BssResult<()> {
    client
        .update(
            &region_statements::plans(client)?.yield_creation,
            None,
            &[ev.stream_id.into(), ev.region.into()],
        )
        .during("assign the stream the home of its older creation")?;
    // Recorded under the winner's owner and epoch, as the regions holding
    // the winning creation record this region's events.
    let winner = route::owner(client, ev.stream_id)?;
    move_to_conflicts(client, ev.stream_id, 1, &winner.owner, winner.epoch, head)
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
    reason: &str,
) -> BssResult<()> {
    let mut args = ev.args();
    args.extend([
        o.owner.as_str().into(),
        o.epoch.into(),
        head.into(),
        reason.into(),
    ]);
    client
        .update(RECORD_CONFLICT, None, &args)
        .during("record the conflict (bss.record_conflict)")?;
    Ok(())
}

/// The stream's events here from version `from` on (this region's, which
/// `owner`'s event for that version wrote over), moved to bss.conflicts;
/// the stream's version set to `from`, that event's.
fn move_to_conflicts(
    client: &mut SpiClient<'_>,
    stream_id: &str,
    from: i64,
    owner: &str,
    epoch: i64,
    head: i64,
) -> BssResult<()> {
    {
        let _moving = Moving::start();
        client
            .update(
                "SELECT bss.move_to_conflicts($1, $2, $3, $4, $5)",
                None,
                &[
                    stream_id.into(),
                    from.into(),
                    owner.into(),
                    epoch.into(),
                    head.into(),
                ],
            )
            .during("move the stream's later events to bss.conflicts")?;
    }
    client
        .update(
            "UPDATE bss.streams SET version = $2 WHERE stream_id = $1",
            None,
            &[stream_id.into(), from.into()],
        )
        .during("set the stream's version to the owner's event's")?;
    Ok(())
}
