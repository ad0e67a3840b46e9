//! Where an append runs, decided before it does anything else (before its
//! schema check, sealing and stream lock): here when this region owns the
//! stream; else, as the stream's category says, forwarded to the owner
//! (the caller waits for the owner's answer: its version, or its error) or
//! refused with XB018 naming the owner. Asked only in a database that is in
//! a region. Multi-stream calls (append_streams, a CloudEvents batch) run
//! here or are refused: forwarding them could not keep them atomic.
//!
//! An append that read ownership just before a move commits in the old
//! owner after the move's epoch; it is replicated after it and applied as
//! a late event (apply.rs): never lost, at worst a recorded conflict.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::{SpiClient, SpiTupleTable};

use super::statements;
use crate::error::{packed, BssError, BssResult, During, SqlState};
use crate::insert::{nullable, OneEvent};
use crate::{installed_sql, stream_id};

/// Streams of this category are written by every region alike (conflict
/// announcements, apply.rs): no region owns them.
pub const SHARED_CATEGORY: &str = "conflict";

/// Who owns a stream now (`bss.stream_owner`).
pub struct Owner {
    pub home: String,
    pub owner: String,
    pub epoch: i64,
    pub forward: bool,
    /// Why this region may not append to the streams it owns now (its
    /// lease from the region keeper is missing or ran out), if it may not.
    pub fenced: Option<String>,
}

pub fn owner(client: &mut SpiClient<'_>, stream_id: &str) -> BssResult<Owner> {
    let plans = statements::plans(client)?;
    let row = client
        .select(&plans.owner, Some(1), &[stream_id.into()])
        .during(OWNER_STEP)?
        .first();
    owner_from(&row)
}

pub(super) const OWNER_STEP: &str = "look up the stream's owner (bss.stream_owner)";

/// The owner in the first five columns of a row of the owner statement
/// (statements.rs's `owner`, or `apply_owner`, which adds columns after them).
pub(super) fn owner_from(row: &SpiTupleTable<'_>) -> BssResult<Owner> {
    Ok(Owner {
        home: row.get::<String>(1).during(OWNER_STEP)?.unwrap_or_default(),
        owner: row.get::<String>(2).during(OWNER_STEP)?.unwrap_or_default(),
        epoch: row.get::<i64>(3).during(OWNER_STEP)?.unwrap_or(0),
        forward: row.get::<String>(4).during(OWNER_STEP)?.as_deref() == Some("forward"),
        fenced: row.get::<String>(5).during(OWNER_STEP)?,
    })
}

/// Where an append to `stream_id` runs: None here, Some(region) forwarded
/// there; Err when refused.
pub fn forward_to(client: &mut SpiClient<'_>, stream_id: &str) -> BssResult<Option<String>> {
    let Some(o) = foreign_owner(client, stream_id)? else {
        return Ok(None);
    };
    if o.forward {
        Ok(Some(o.owner))
    } else {
        Err(refusal(stream_id, &o, None))
    }
}

/// Refuses the call unless this region owns every one of `stream_ids`.
pub fn check_all_here<'a>(
    client: &mut SpiClient<'_>,
    stream_ids: impl IntoIterator<Item = &'a str>,
    call: &str,
) -> BssResult<()> {
    for id in stream_ids {
        if let Some(o) = foreign_owner(client, id)? {
            return Err(refusal(id, &o, Some(call)));
        }
    }
    Ok(())
}

/// The owner of `stream_id` when it is not this region (always None in a
/// database without a region); Err when this region owns it but is fenced.
fn foreign_owner(client: &mut SpiClient<'_>, stream_id: &str) -> BssResult<Option<Owner>> {
    if !super::in_a_region()
        || stream_id::category(stream_id) == SHARED_CATEGORY
        || !has_regions_sql(client)?
    {
        return Ok(None);
    }
    let o = owner(client, stream_id)?;
    if o.owner != super::local_region() {
        return Ok(Some(o));
    }
    match &o.fenced {
        Some(why) => Err(fenced(stream_id, &o, why)),
        None => Ok(None),
    }
}

/// This region owns the stream but may not append now: it cannot tell
/// whether a quorum of regions has moved its streams elsewhere.
fn fenced(stream_id: &str, o: &Owner, why: &str) -> BssError {
    let here = super::local_region();
    BssError::new(
        SqlState::Fenced,
        format!("region \"{here}\" is fenced: it may not append to stream \"{stream_id}\" (owned here since epoch {}) until its region keeper confirms it knows every epoch", o.epoch),
    )
    .detail(why.to_owned())
    .hint("Retry in a moment, or in the region now owning the stream. Is bss-region-keeper running next to this database and reaching a majority of the regions? Only when no other region can have taken this region's streams over may an operator lift the fence: SELECT bss.renew_region_lease('infinity', 'why').".to_owned())
}

thread_local! {
    static HAS_REGIONS_SQL: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether the installed SQL has regions (0.12.0 on), asked once a session.
pub(crate) fn has_regions_sql(client: &SpiClient<'_>) -> BssResult<bool> {
    if let Some(known) = HAS_REGIONS_SQL.with(|c| c.get()) {
        return Ok(known);
    }
    let has = installed_sql::has_function(client, "bss.stream_owner(text)")?;
    HAS_REGIONS_SQL.with(|c| c.set(Some(has)));
    Ok(has)
}

fn refusal(stream_id: &str, o: &Owner, call: Option<&str>) -> BssError {
    let here = super::local_region();
    let moved = if o.home == o.owner {
        String::new()
    } else {
        format!(
            " (its home region \"{}\" is served by \"{}\" since epoch {})",
            o.home, o.owner, o.epoch
        )
    };
    let err = BssError::new(
        SqlState::NotOwner,
        format!("stream \"{stream_id}\" is owned by region \"{}\"{moved}, not by this region \"{here}\"", o.owner),
    );
    match call {
        Some(call) => err.hint(format!(
            "{call} appends in the region owning every stream it names; send it to region \"{}\", or append to this stream alone (bss.append_event or bss.append_events, which a category with on_foreign = 'forward' forwards).",
            o.owner
        )),
        None => err.hint(format!(
            "Append in region \"{}\", or have this category forward appends to the owner: SELECT bss.set_category_home('{}', NULL, 'forward') in every region.",
            o.owner,
            stream_id::category(stream_id)
        )),
    }
}

/// bss.append_event run in `region` with the caller's arguments; the
/// stream's version there. The event gets an id here when it has none, so
/// that the owner stores it once even if the answer is lost and the
/// caller retries with the id bss.read_stream shows.
pub fn forward_event(
    client: &mut SpiClient<'_>,
    region: &str,
    ev: &OneEvent<'_>,
    expected: Option<i64>,
) -> BssResult<i64> {
    let event_id = ev
        .event_id
        .unwrap_or_else(|| pgrx::Uuid::from_bytes(*crate::position::uuid_v7().as_bytes()));
    // SAFETY: the raw datums are the caller's arguments of the declared types.
    let args: [DatumWithOid<'_>; 10] = unsafe {
        [
            region.into(),
            ev.stream_id.into(),
            ev.type_.into(),
            DatumWithOid::new(ev.data, pg_sys::JSONBOID),
            expected.into(),
            nullable(ev.metadata, pg_sys::JSONBOID),
            event_id.into(),
            ev.source.into(),
            ev.subject.into(),
            nullable(ev.time, pg_sys::TIMESTAMPTZOID),
        ]
    };
    forwarded(
        client,
        "SELECT bss.forward_append_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &args,
    )
}

/// bss.append_events run in `region` with the caller's arguments.
pub fn forward_batch(
    client: &mut SpiClient<'_>,
    region: &str,
    stream_id: &str,
    events: pg_sys::Datum,
    expected: Option<i64>,
    on_invalid: Option<&str>,
) -> BssResult<i64> {
    // SAFETY: events is the caller's non-null jsonb argument.
    let args: [DatumWithOid<'_>; 5] = unsafe {
        [
            region.into(),
            stream_id.into(),
            DatumWithOid::new(events, pg_sys::JSONBOID),
            expected.into(),
            on_invalid.into(),
        ]
    };
    forwarded(
        client,
        "SELECT bss.forward_append_events($1, $2, $3, $4, $5)",
        &args,
    )
}

/// The owner's answer: the version, or its error (or the link's) raised
/// again here with its SQLSTATE, message, detail and hint.
fn forwarded(client: &mut SpiClient<'_>, sql: &str, args: &[DatumWithOid<'_>]) -> BssResult<i64> {
    const STEP: &str = "forward the append to the stream's owner";
    let answer = client
        .update(sql, Some(1), args)
        .during(STEP)?
        .first()
        .get::<pgrx::JsonB>(1)
        .during(STEP)?
        .map(|j| j.0)
        .unwrap_or_default();
    if let Some(v) = answer.get("value").and_then(|v| v.as_i64()) {
        return Ok(v);
    }
    let e = &answer["error"];
    let text = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let code = text("sqlstate")
        .filter(|c| c.len() == 5)
        .unwrap_or_else(|| "XX000".to_owned());
    let mut err = BssError::with_code(
        packed(&code),
        text("message").unwrap_or_else(|| format!("the stream's owner gave no answer: {answer}")),
    );
    if let Some(detail) = text("detail") {
        err = err.detail(detail);
    }
    if let Some(hint) = text("hint") {
        err = err.hint(hint);
    }
    Err(err)
}
