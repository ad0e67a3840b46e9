//! Appending events to one stream: the steps of an append, written once and
//! serving the three shapes rows come in (one event, a jsonb batch, parsed
//! CloudEvents).
//!
//! The order of steps is what makes the guarantees hold:
//! 1. lock the stream by updating its `bss.streams` row, or inserting it when
//!    the stream is new (the only lock taken: appends to other streams never
//!    wait), which also advances its version (stream_lock.rs);
//! 2. if the caller named event ids, look them up: a retry stores nothing and
//!    gives the stored version back, the version advance undone (idempotency.rs);
//! 3. check the expected version against the version before this append
//!    (expected_version.rs);
//! 4. assign the transaction id, then take positions with the lock held and
//!    read the horizon after them (position.rs);
//! 5. insert, recording the region (insert.rs);
//! 6. bring the category's read side up to the new version, the stream still
//!    locked (read_side.rs).
//!
//! Any error aborts the caller's transaction, which also undoes step 1. This
//! module checks no event rules: its callers pass only valid rows.

use std::borrow::Cow;

use pgrx::pg_sys;
use pgrx::spi::SpiClient;

use crate::batch;
use crate::error::{BssResult, During};
use crate::insert::{Batch, Insert, OneEvent, Rows, Slot};
use crate::pii::{self, Sealer};
use crate::rules::{self, Path, Problem, Rule};
use crate::statements::{self, Plans};
use crate::{
    dead_letters, expected_version, guc, idempotency, jsonb, position, read_side, regions, roles,
    schemas, stream_id, stream_lock, tenants,
};

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Every event was already stored (a retry): nothing changed; the stored version.
    Replayed(i64),
    /// The events are stored; the stream's version after them.
    Stored(i64),
}

/// The steps of an append of `rows` (at least one) to `stream_id`, for a
/// caller who may append there.
fn append_locked(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    expected: Option<i64>,
    rows: impl Insert,
) -> BssResult<Appended> {
    roles::check_may_append(stream_id, rows.single_type())?;
    append_checked(client, plans, stream_id, expected, rows)
}

/// The steps of an append, whoever the caller (the store's own events).
fn append_checked(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    expected: Option<i64>,
    rows: impl Insert,
) -> BssResult<Appended> {
    tenants::for_append()?;
    let n = rows.count();
    let locked = stream_lock::lock(client, plans, stream_id, n)?;
    let ids = rows.named_ids();
    // A new stream holds no events, so nothing can be a retry.
    if !ids.is_empty() && locked.before > 0 {
        let stored =
            idempotency::find_stored(client, plans, stream_id, ids.to_vec(), locked.created_at)?;
        if let Some(version) = idempotency::retry_outcome(stream_id, n, ids, &stored)? {
            stream_lock::release_versions(client, plans, stream_id, n)?;
            return Ok(Appended::Replayed(version));
        }
    }
    expected_version::check(stream_id, expected, locked.before)?;
    position::assign_transaction_id();
    let positions = position::take_positions(n as usize)?;
    let horizon = position::horizon();
    let slot = Slot {
        stream_id,
        before: locked.before,
        positions,
        horizon,
        region: guc::string(&guc::REGION, "local"),
        recorded_at: locked.recorded_at,
    };
    rows.insert(client, plans, slot)?;
    let after = locked.before + n;
    after_append(
        client,
        plans,
        stream_id,
        locked.created_at,
        locked.before,
        after,
    )?;
    Ok(Appended::Stored(after))
}

/// The read side's work for events `before+1..=after` just appended, with
/// the stream (created at `created_at`, a timestamptz datum) still locked:
/// its category's projections, then its policy.
pub(crate) fn after_append(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    created_at: pg_sys::Datum,
    before: i64,
    after: i64,
) -> BssResult<()> {
    let category = stream_id::category(stream_id);
    let Some(work) = read_side::work(client, category)? else {
        return Ok(());
    };
    for name in &work.projections {
        read_side::update_projection(client, name, stream_id, created_at, after)?;
    }
    if work.snapshots {
        let plan = plans
            .snapshot_by_policy(client)
            .during("prepare the category's snapshot policy")?;
        client
            .update(plan, None, &[stream_id.into(), before.into(), after.into()])
            .during("apply the category's snapshot policy")?;
    }
    Ok(())
}

/// Appends one event whose argument rules passed (rules/arguments.rs),
/// after its schema; the stream's version after it (or the stored one, for
/// a retry).
pub fn append_one(ev: OneEvent<'_>, expected: Option<i64>) -> BssResult<i64> {
    statements::with_plans(|client, plans| {
        if let Some(owner) = regions::route::forward_to(client, ev.stream_id)? {
            return regions::route::forward_event(client, &owner, &ev, expected);
        }
        let validators = schemas::validators(client)?;
        // SAFETY: data is the caller's non-null jsonb argument.
        let parse = || Cow::Owned(unsafe { jsonb::to_serde(&mut (*jsonb::detoast(ev.data)).root) });
        if let Some(message) = schemas::violation(&validators, ev.type_, parse) {
            let problem = Problem::new(None, Rule::Schema, message);
            return Err(rules::rejection(
                ev.stream_id,
                Path::Arguments,
                vec![problem],
            ));
        }
        let mut ev = ev;
        let (type_, subject, stream_id) = (ev.type_, ev.subject, ev.stream_id);
        if let Some(sealed) =
            Sealer::default().seal_event(client, &validators, type_, subject, stream_id, ev.data)?
        {
            ev.data = sealed;
        }
        let appended = append_locked(client, plans, ev.stream_id, expected, &ev)?;
        match appended {
            Appended::Replayed(version) | Appended::Stored(version) => Ok(version),
        }
    })
}

/// A JSON array of `{type, data, metadata?, event_id?, source?, subject?, time?}`.
/// In `Mode::CollectInvalid` the invalid elements go to `bss.dead_letters`
/// and the valid ones are appended, in batch order, as if sent alone.
pub fn append_batch(
    stream_id: &str,
    events: pg_sys::Datum,
    expected: Option<i64>,
    on_invalid: Option<&str>,
) -> BssResult<i64> {
    let mode = dead_letters::mode(on_invalid)?;
    statements::with_plans(|client, plans| {
        if let Some(owner) = regions::route::forward_to(client, stream_id)? {
            return regions::route::forward_batch(
                client, &owner, stream_id, events, expected, on_invalid,
            );
        }
        let schemas = schemas::validators(client)?;
        // SAFETY: `events` is the caller's non-null jsonb argument.
        let checked = unsafe {
            batch::check(
                events,
                guc::MAX_DATA_BYTES.get() as usize,
                guc::MAX_BATCH_EVENTS.get() as usize,
                &schemas,
                mode,
            )
        }
        .map_err(|problems| rules::rejection(stream_id, Path::Element, problems))?;
        let sealed_data = if schemas::any_personal(&schemas) {
            Sealer::default().seal_batch(client, &schemas, stream_id, events)?
        } else {
            None
        };
        let version = append_valid(
            client,
            plans,
            stream_id,
            (events, sealed_data),
            expected,
            &checked,
        )?;
        dead_letters::store(client, stream_id, events, sealed_data, &checked)?;
        Ok(version)
    })
}

/// Appends the valid events of a checked batch (the caller's array and
/// the data sealed in it, as [`Batch`] takes them); the stream's version after.
fn append_valid(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    (events, sealed_data): (pg_sys::Datum, Option<pg_sys::Datum>),
    expected: Option<i64>,
    checked: &batch::Checked,
) -> BssResult<i64> {
    let n = (checked.len - checked.invalid.len()) as i64;
    if n == 0 {
        let version = current_version(client, stream_id)?;
        expected_version::check(stream_id, expected, version)?;
        return Ok(version);
    }
    let batch = Batch {
        events,
        sealed_data,
        valid: n,
        named_ids: checked.named_ids(),
        skipped: checked.invalid.iter().map(|e| e.index).collect(),
    };
    let appended = append_locked(client, plans, stream_id, expected, batch)?;
    match appended {
        Appended::Replayed(version) | Appended::Stored(version) => Ok(version),
    }
}

/// The stream's version, 0 when it does not exist (nothing locked).
pub(crate) fn current_version(client: &mut SpiClient<'_>, stream_id: &str) -> BssResult<i64> {
    Ok(client
        .select(
            "SELECT bss.stream_version($1)",
            Some(1),
            &[stream_id.into()],
        )
        .during("read the stream's version")?
        .first()
        .get::<i64>(1)
        .during("read the stream's version")?
        .unwrap_or(0))
}

/// Appends parsed rows (at least one) to one stream; returns how many were
/// stored (0 for a retry).
pub fn append_rows(
    client: &mut SpiClient<'_>,
    plans: &Plans,
    stream_id: &str,
    rows: Rows,
) -> BssResult<i64> {
    regions::route::check_all_here(client, [stream_id], "bss.append_cloudevents")?;
    let n = rows.count();
    let appended = append_locked(client, plans, stream_id, None, rows)?;
    Ok(match appended {
        Appended::Replayed(_) => 0,
        Appended::Stored(_) => n,
    })
}

/// Destroys the key of a data subject of the tenant in effect and records
/// the erasure as an event of stream `erasure-<subject>` (which only this
/// writes); how many keys were destroyed (0: none was ever made).
pub fn erase_subject(subject: &str) -> BssResult<i64> {
    let stream_id = format!("{}-{subject}", pii::ERASURE_CATEGORY);
    let stream_id = stream_id::check(Some(&stream_id))?;
    statements::with_plans(|client, plans| {
        tenants::for_append()?;
        let destroyed = pii::keys::destroy(client, subject)?;
        let data =
            jsonb::from_serde(serde_json::json!({"subject": subject, "keys_destroyed": destroyed}));
        let erasure = OneEvent {
            stream_id,
            type_: "bss.subject_erased",
            data,
            metadata: None,
            event_id: None,
            source: None,
            subject: Some(subject),
            time: None,
        };
        append_checked(client, plans, stream_id, None, &erasure)?;
        client
            .update(
                "SELECT bss.audit('erase_subject', $1, jsonb_build_object('keys_destroyed', $2))",
                None,
                &[subject.into(), destroyed.into()],
            )
            .during("record the erasure in the audit trail")?;
        Ok(destroyed)
    })
}
