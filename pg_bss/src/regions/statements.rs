//! The statements of the regions' part of an append, prepared once a
//! session (as statements.rs does the append's): the owner lookup runs in
//! every append of a database in a region and in every replicated event,
//! so its plan (with `bss.stream_owner` inlined) must not be made again
//! each time. Must never hold a statement of a database without regions.

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};

use crate::error::{BssResult, During};
use crate::statements::prepare;

pub struct RegionPlans {
    /// home_region, owner, epoch, on_foreign of stream $1, and why this
    /// region is fenced (NULL: it is not; `bss.region_fence`, 0.13.0 on).
    pub owner: OwnedPreparedStatement,
    /// The owner of stream $1 as `owner` gives it, then whether region $2
    /// created the stream (its version 1) and lost it to an earlier
    /// creation, and has not yet said it knows (apply.rs).
    pub apply_owner: OwnedPreparedStatement,
    /// The id of stream $1's first event here.
    pub first_event: OwnedPreparedStatement,
    /// Records that this region's creation of stream $1 lost to one made in
    /// region $2: a new assignment of its home (its category's, else $2),
    /// decided here and replicated.
    pub yield_creation: OwnedPreparedStatement,
    /// Whether event $1 is here, in a stream or among the conflicts.
    pub already_here: OwnedPreparedStatement,
    /// Whether an event of stream $1 from region $2 conflicted in epoch $3.
    pub conflicted: OwnedPreparedStatement,
    /// A replicated event: position, horizon, recorded_at, then the event's
    /// columns in the order of apply.rs's EVENT_TYPES.
    pub insert: OwnedPreparedStatement,
}

const OWNER: &str = "SELECT o.home_region, o.owner, o.epoch, o.on_foreign, f.reason \
                     FROM bss.stream_owner($1) o LEFT JOIN bss.region_fence() f ON true";

/// The owner before 0.13.0's SQL is installed (no fencing yet).
const OWNER_UNFENCED: &str =
    "SELECT home_region, owner, epoch, on_foreign, NULL::text FROM bss.stream_owner($1)";

/// The owner statement's columns (no fence: applying is never fenced),
/// then: region $2's creation of stream $1 conflicted (its version 1 is in
/// bss.conflicts) and no assignment of the stream decided in $2 has
/// arrived since (the one it makes when it learns, apply.rs).
const APPLY_OWNER: &str = "\
SELECT o.home_region, o.owner, o.epoch, o.on_foreign, NULL::text, \
    EXISTS (SELECT FROM bss.conflicts c WHERE c.stream_id = $1 AND c.region = $2 AND c.stream_version = 1) \
    AND NOT EXISTS (SELECT FROM bss.stream_homes h WHERE h.stream_id = $1 AND h.decided_in = $2) \
FROM bss.stream_owner($1) o";

const FIRST_EVENT: &str =
    "SELECT event_id FROM bss.events WHERE stream_id = $1 AND stream_version = 1";

const YIELD_CREATION: &str = "\
INSERT INTO bss.stream_homes (stream_id, assignment, home_region, decided_in) \
SELECT $1, coalesce(max(h.assignment), 0) + 1, \
       coalesce((SELECT k.home_region FROM bss.category_homes k WHERE k.category = split_part($1, '-', 1)), $2), \
       bss.local_region() \
FROM bss.stream_homes h WHERE h.stream_id = $1";

const ALREADY_HERE: &str = "SELECT EXISTS (SELECT FROM bss.events WHERE event_id = $1) \
                            OR EXISTS (SELECT FROM bss.conflicts WHERE event_id = $1)";

const CONFLICTED: &str = "SELECT EXISTS (SELECT FROM bss.conflicts \
                          WHERE stream_id = $1 AND region = $2 AND epoch = $3)";

const INSERT: &str = "\
INSERT INTO bss.events (global_position, position_horizon, recorded_at, stream_id, stream_version, \
    event_id, source, type, subject, \"time\", datacontenttype, dataschema, data, metadata, region, tenant) \
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

thread_local! {
    /// Made once a session and kept for its life (one allocation).
    static PLANS: Cell<Option<&'static RegionPlans>> = const { Cell::new(None) };
}

/// The session's region statements, prepared on first use.
pub fn plans(client: &SpiClient<'_>) -> BssResult<&'static RegionPlans> {
    if let Some(p) = PLANS.with(Cell::get) {
        return Ok(p);
    }
    let fencing_sql = crate::installed_sql::has_function(client, "bss.region_fence()")?;
    let p: &'static RegionPlans = Box::leak(Box::new(
        prepare_all(client, fencing_sql).during("prepare the regions' statements")?,
    ));
    PLANS.with(|c| c.set(Some(p)));
    Ok(p)
}

fn prepare_all(
    client: &SpiClient<'_>,
    fencing_sql: bool,
) -> Result<RegionPlans, pgrx::spi::SpiError> {
    use pg_sys::{INT8OID, TEXTOID, TIMESTAMPTZOID, UUIDOID, XID8OID};
    Ok(RegionPlans {
        owner: prepare(
            client,
            if fencing_sql { OWNER } else { OWNER_UNFENCED },
            &[TEXTOID],
        )?,
        apply_owner: prepare(client, APPLY_OWNER, &[TEXTOID, TEXTOID])?,
        first_event: prepare(client, FIRST_EVENT, &[TEXTOID])?,
        yield_creation: prepare(client, YIELD_CREATION, &[TEXTOID, TEXTOID])?,
        already_here: prepare(client, ALREADY_HERE, &[UUIDOID])?,
        conflicted: prepare(client, CONFLICTED, &[TEXTOID, TEXTOID, INT8OID])?,
        insert: prepare(
            client,
            INSERT,
            &[
                &[INT8OID, XID8OID, TIMESTAMPTZOID][..],
                &super::apply::EVENT_TYPES[..],
            ]
            .concat(),
        )?,
    })
}
