//! Appending to many streams in one call (`bss.append_streams`): the steps
//! of append.rs, each taken once for the whole call instead of once per
//! stream. One statement advances every stream that exists, one looks up
//! the ids a retry may have stored, one takes every position, one INSERT
//! writes every event; what a call of one stream pays for its statements
//! (their executor starts and lookups, about 40% of a 6-event append:
//! docs/profiles/append-groups.md) is paid once.
//!
//! The call is one append of each element in order, as if each were an
//! `append_events` call of the same transaction: a stream named twice
//! gets the second batch after the first, and an element's expected
//! version is checked against the stream as the elements before it left
//! it. Any error fails the whole call (the caller's transaction aborts);
//! invalid events go to dead letters instead only with `dead_letter`.
//!
//! Streams are locked in stream-id order: the existing ones by one UPDATE,
//! then the new ones one by one (as stream_lock.rs creates them). Must
//! never take a position before every stream of the call is locked, and
//! never insert an element that turned out to be a retry.

use std::collections::{BTreeMap, HashMap, HashSet};

use pgrx::datum::DatumWithOid;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use pgrx::{IntoDatum, Uuid};

use crate::append::{after_append, current_version};
use crate::batch::{self, Mode};
use crate::error::{BssError, BssResult, During, SqlState};
use crate::pii::Sealer;
use crate::rules::{self, Path};
use crate::statements::{self, generic_plan, Plans, Scans};
use crate::{
    dead_letters, expected_version, guc, idempotency, insert, position, regions, roles, schemas,
    stream_lock, tenants,
};

/// One element of a call: a batch of `append_events` elements for a stream.
pub struct Element<'a> {
    pub stream_id: &'a str,
    /// A jsonb array.
    pub events: pg_sys::Datum,
    pub expected: Option<i64>,
}

/// What is known of an element once checked.
struct Checked {
    batch: batch::Checked,
    /// Its data sealed, by element of its batch (empty: nothing sealed).
    sealed: Vec<Option<pg_sys::Datum>>,
    /// Events it stores (its valid ones, or none when it is a retry).
    stores: i64,
    /// Its stream's version before it, once the streams are locked.
    before: i64,
    /// The version a retry found stored.
    replayed: Option<i64>,
}

/// A stream of the call, locked.
struct Locked {
    before: i64,
    created_at: pg_sys::Datum,
    recorded_at: pg_sys::Datum,
}

/// Appends every element, in order; each element's stream version after it
/// (for a retry, the version stored before).
pub fn append_streams(elements: &[Element<'_>], mode: Mode) -> BssResult<Vec<i64>> {
    if elements.is_empty() {
        return Ok(Vec::new());
    }
    statements::with_plans(|client, plans| {
        regions::route::check_all_here(
            client,
            elements.iter().map(|el| el.stream_id),
            "bss.append_streams",
        )?;
        let schemas = schemas::validators(client)?;
        let max_events = guc::MAX_BATCH_EVENTS.get() as usize;
        let mut checked = Vec::with_capacity(elements.len());
        let mut total = 0usize;
        let mut sealer = Sealer::default();
        for el in elements {
            roles::check_may_append(el.stream_id, None)?;
            // SAFETY: each events datum is a non-null jsonb value of the caller's array.
            let batch = unsafe {
                batch::check(
                    el.events,
                    guc::MAX_DATA_BYTES.get() as usize,
                    max_events,
                    &schemas,
                    mode,
                )
            }
            .map_err(|problems| rules::rejection(el.stream_id, Path::Element, problems))?;
            total += batch.len;
            let sealed = if schemas::any_personal(&schemas) {
                sealer.seal_elements(client, &schemas, el.stream_id, el.events)?
            } else {
                Vec::new()
            };
            let stores = (batch.len - batch.invalid.len()) as i64;
            checked.push(Checked {
                batch,
                sealed,
                stores,
                before: 0,
                replayed: None,
            });
        }
        if total > max_events {
            return Err(BssError::new(
                SqlState::InvalidBatch,
                format!("{total} events in one append_streams call: at most {max_events} (bss.max_batch_events)"),
            )
            .hint("Split the call; each call is one statement of the caller's transaction."));
        }
        refuse_ids_named_twice(elements, &checked)?;
        tenants::for_append()?;

        // Every stream the call stores in, locked in stream-id order.
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for (el, c) in elements.iter().zip(&checked) {
            if c.stores > 0 {
                *counts.entry(el.stream_id).or_default() += c.stores;
            }
        }
        let mut locked = lock_streams(client, plans, &counts)?;

        let stored = stored_before(client, plans, elements, &checked, &locked)?;

        // Retries, then each element's version before it and its expected
        // version, in call order.
        let mut next: HashMap<&str, i64> = HashMap::new();
        let mut released: BTreeMap<&str, i64> = BTreeMap::new();
        for (el, c) in elements.iter().zip(checked.iter_mut()) {
            let before = match next.get(el.stream_id) {
                Some(v) => *v,
                None => match locked.get(el.stream_id) {
                    Some(l) => l.before,
                    None => current_version(client, el.stream_id)?,
                },
            };
            let ids = c.batch.named_ids();
            if c.stores > 0 && !ids.is_empty() && before > 0 {
                let named: HashSet<[u8; 16]> = ids.iter().map(|u| *u.as_bytes()).collect();
                let stored: Vec<(Uuid, i64)> = stored
                    .iter()
                    .filter(|(id, stream, _)| {
                        stream == el.stream_id && named.contains(id.as_bytes())
                    })
                    .map(|(id, _, v)| (*id, *v))
                    .collect();
                if let Some(version) =
                    idempotency::retry_outcome(el.stream_id, c.stores, &ids, &stored)?
                {
                    *released.entry(el.stream_id).or_default() += c.stores;
                    c.replayed = Some(version);
                    c.stores = 0;
                    continue;
                }
            }
            expected_version::check(el.stream_id, el.expected, before)?;
            c.before = before;
            next.insert(el.stream_id, before + c.stores);
        }
        for (stream_id, n) in &released {
            stream_lock::release_versions(client, plans, stream_id, *n)?;
        }

        insert_all(client, plans, elements, &checked, &locked)?;

        for (stream_id, l) in locked.iter_mut() {
            let after = next.get(stream_id).copied().unwrap_or(l.before);
            if after > l.before {
                after_append(client, plans, stream_id, l.created_at, l.before, after)?;
            }
        }
        let mut versions = Vec::with_capacity(elements.len());
        for (el, c) in elements.iter().zip(&checked) {
            if !c.batch.invalid.is_empty() {
                // SAFETY: jsonb values built for this call.
                let sealed = (!c.sealed.is_empty())
                    .then(|| unsafe { insert::array(&c.sealed, pg_sys::JSONBOID) });
                dead_letters::store(client, el.stream_id, el.events, sealed, &c.batch)?;
            }
            versions.push(c.replayed.unwrap_or(c.before + c.stores));
        }
        Ok(versions)
    })
}

/// Those of the ids named by elements whose streams existed before the call
/// that are stored: `(id, stream, version)`, from one lookup for the call.
fn stored_before(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    elements: &[Element<'_>],
    checked: &[Checked],
    locked: &BTreeMap<&str, Locked>,
) -> BssResult<Vec<(Uuid, String, i64)>> {
    let mut ids = Vec::new();
    let mut since: Option<(i64, pg_sys::Datum)> = None;
    for (el, c) in elements.iter().zip(checked) {
        let Some(l) = locked.get(el.stream_id) else {
            continue;
        };
        if c.stores == 0 || c.batch.event_ids.is_empty() || l.before == 0 {
            continue;
        }
        ids.extend(c.batch.named_ids());
        // A timestamptz datum is its microseconds since 2000.
        let created = l.created_at.value() as i64;
        if since.is_none_or(|(s, _)| created < s) {
            since = Some((created, l.created_at));
        }
    }
    let Some((_, since)) = since else {
        return Ok(Vec::new());
    };
    let many = plans
        .many(client)
        .during("prepare the many-stream statements")?;
    idempotency::find_stored_many(client, &many.find_stored_many, ids, since)
}

/// An event id named by two elements of one call: the second could not see
/// the first's events to tell a retry, so the call is refused.
fn refuse_ids_named_twice(elements: &[Element<'_>], checked: &[Checked]) -> BssResult<()> {
    let mut first: HashMap<[u8; 16], &str> = HashMap::new();
    for (el, c) in elements.iter().zip(checked) {
        for id in &c.batch.event_ids {
            if let Some(other) = first.insert(*id.as_bytes(), el.stream_id) {
                return Err(BssError::new(
                    SqlState::IdempotencyConflict,
                    format!("event id {id} is named twice in one append_streams call"),
                )
                .detail(format!("streams \"{other}\" and \"{}\"", el.stream_id))
                .hint("Give each event its own id; a retry sends the call that was sent before."));
            }
        }
    }
    Ok(())
}

/// Locks and advances every stream of `counts` (distinct, in stream-id
/// order) by its count: those that exist with one statement, the others
/// as stream_lock.rs creates a stream.
fn lock_streams<'a>(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    counts: &BTreeMap<&'a str, i64>,
) -> BssResult<BTreeMap<&'a str, Locked>> {
    let mut locked = BTreeMap::new();
    if counts.is_empty() {
        return Ok(locked);
    }
    const STEP: &str = "lock the streams";
    let ids: Vec<&str> = counts.keys().copied().collect();
    let ns: Vec<i64> = counts.values().copied().collect();
    let many = plans
        .many(client)
        .during("prepare the many-stream statements")?;
    // Index scans only: a generic plan made while bss.streams was nearly
    // empty would otherwise scan it whole until the next ANALYZE.
    let rows = generic_plan(Scans::Index, || {
        client.update(&many.advance_streams, None, &[ids.into(), ns.into()])
    })
    .during(STEP)?;
    for row in rows {
        let id: Option<String> = row.get(1).during(STEP)?;
        let after: Option<i64> = row.get(2).during(STEP)?;
        let (Some(id), Some(after)) = (id, after) else {
            continue;
        };
        let Some((stream_id, n)) = counts.get_key_value(id.as_str()) else {
            continue;
        };
        locked.insert(
            *stream_id,
            Locked {
                before: after - n,
                created_at: timestamptz(row.get(3).during(STEP)?),
                recorded_at: timestamptz(row.get(4).during(STEP)?),
            },
        );
    }
    for (stream_id, n) in counts {
        if !locked.contains_key(stream_id) {
            let l = stream_lock::lock(client, plans, stream_id, *n)?;
            locked.insert(
                *stream_id,
                Locked {
                    before: l.before,
                    created_at: l.created_at,
                    recorded_at: l.recorded_at,
                },
            );
        }
    }
    Ok(locked)
}

/// A timestamptz the lock returned, as the datum the statements take.
fn timestamptz(t: Option<TimestampWithTimeZone>) -> pg_sys::Datum {
    t.and_then(IntoDatum::into_datum)
        .unwrap_or(pg_sys::Datum::from(0usize))
}

/// Takes the positions of every event stored and inserts them all with
/// one statement.
fn insert_all(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    elements: &[Element<'_>],
    checked: &[Checked],
    locked: &BTreeMap<&str, Locked>,
) -> BssResult<()> {
    let total: i64 = checked.iter().map(|c| c.stores).sum();
    if total == 0 {
        return Ok(());
    }
    position::assign_transaction_id();
    let positions = position::take_positions(total as usize)?;
    let horizon = position::horizon();
    let mut streams = Vec::new();
    let mut befores = Vec::new();
    let mut events = Vec::new();
    let mut recorded_at = Vec::new();
    let mut position_offsets = Vec::new();
    let mut element_offsets = Vec::new();
    let mut sealed: Vec<Option<pg_sys::Datum>> = Vec::new();
    let mut skipped: Vec<i64> = Vec::new();
    let (mut po, mut eo) = (0i64, 0i64);
    for (el, c) in elements.iter().zip(checked) {
        if c.stores == 0 {
            continue;
        }
        streams.push(el.stream_id);
        befores.push(c.before);
        events.push(Some(el.events));
        recorded_at.push(Some(locked[el.stream_id].recorded_at));
        position_offsets.push(po);
        element_offsets.push(eo);
        if c.sealed.is_empty() {
            sealed.extend(std::iter::repeat_n(None, c.batch.len));
        } else {
            sealed.extend_from_slice(&c.sealed);
        }
        skipped.extend(c.batch.invalid.iter().map(|e| eo + e.index as i64 + 1));
        po += c.stores;
        eo += c.batch.len as i64;
    }
    // SAFETY: jsonb values of the caller's array and sealed for this call,
    // timestamptz values returned by the locks, an xid8 from position::horizon.
    let (events, recorded_at, sealed, horizon) = unsafe {
        (
            DatumWithOid::new(
                insert::array(&events, pg_sys::JSONBOID),
                pg_sys::JSONBARRAYOID,
            ),
            DatumWithOid::new(
                insert::array(&recorded_at, pg_sys::TIMESTAMPTZOID),
                pg_sys::TIMESTAMPTZARRAYOID,
            ),
            if sealed.iter().any(Option::is_some) {
                DatumWithOid::new(
                    insert::array(&sealed, pg_sys::JSONBOID),
                    pg_sys::JSONBARRAYOID,
                )
            } else {
                DatumWithOid::null_oid(pg_sys::JSONBARRAYOID)
            },
            DatumWithOid::new(horizon, pg_sys::XID8OID),
        )
    };
    let source = guc::string(&guc::DEFAULT_SOURCE, "/pg_bss");
    let region = guc::string(&guc::REGION, "local");
    let mut args = vec![
        positions.into(),
        streams.into(),
        befores.into(),
        source.as_str().into(),
        region.as_str().into(),
        horizon,
        events,
        recorded_at,
        sealed,
        position_offsets.into(),
        element_offsets.into(),
    ];
    let many = plans
        .many(client)
        .during("prepare the many-stream statements")?;
    let statement = if skipped.is_empty() {
        &many.insert_streams
    } else {
        args.push(skipped.into());
        &many.insert_streams_valid
    };
    generic_plan(Scans::Any, || client.update(statement, None, &args))
        .during("insert the streams' events")?;
    Ok(())
}

/// The versions as the call's `bigint[]` result.
pub fn versions_datum(versions: Vec<i64>) -> pg_sys::Datum {
    versions.into_datum().unwrap_or(pg_sys::Datum::from(0usize))
}
