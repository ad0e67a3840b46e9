//! Owns `bss.dead_letters`: the invalid events of an `append_events(...,
//! on_invalid => 'dead_letter')` call, kept as sent with every rule each
//! broke, in the caller's transaction (so they commit or roll back with the
//! valid ones). Must never drop an invalid event without a row here or an
//! error.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};

use crate::batch::{Checked, Mode};
use crate::error::{BssError, BssResult, During, SqlState};
use crate::rules;

// A retry of the same batch keeps its dead letters once: events with an
// event_id conflict on (stream_id, event_id); those without one cannot be
// told apart from new ones and are kept again.
// $4 (jsonb[] by 1-based element, or NULL) holds the data of elements whose
// personal fields were sealed: the letter keeps that, never the plaintext.
const STORE: &str = "\
INSERT INTO bss.dead_letters (stream_id, batch_index, event_id, type, event, reasons) \
SELECT $1, x.i, (d->>'event_id')::uuid, $2 -> x.i ->> 'type', \
       CASE WHEN $4[x.i + 1] IS NULL THEN $2 -> x.i ELSE jsonb_set($2 -> x.i, '{data}', $4[x.i + 1]) END, \
       d->'reasons' \
FROM jsonb_array_elements($3) AS d, LATERAL (SELECT (d->>'index')::int AS i) x \
ON CONFLICT (stream_id, event_id) DO NOTHING";

/// What `on_invalid` asks for.
pub fn mode(on_invalid: Option<&str>) -> BssResult<Mode> {
    match on_invalid {
        None | Some("reject") => Ok(Mode::FirstProblem),
        Some("dead_letter") => Ok(Mode::CollectInvalid),
        Some(other) => Err(BssError::new(
            SqlState::InvalidArgument,
            format!("on_invalid must be 'reject' or 'dead_letter', got {other:?}"),
        )
        .hint("'reject' (the default) fails the whole batch at the first invalid event; 'dead_letter' stores the valid ones and keeps the invalid ones in bss.dead_letters.")),
    }
}

/// Stores the invalid events of `checked` (elements of the caller's
/// `events` array, each with its data from `sealed_data` (a `jsonb[]` by
/// element) where that has one) and tells the caller how many with a NOTICE.
pub fn store(
    client: &mut SpiClient<'_>,
    stream_id: &str,
    events: pg_sys::Datum,
    sealed_data: Option<pg_sys::Datum>,
    checked: &Checked,
) -> BssResult<()> {
    if checked.invalid.is_empty() {
        return Ok(());
    }
    let letters: Vec<Value> = checked
        .invalid
        .iter()
        .map(|e| {
            json!({
                "index": e.index,
                "event_id": e.event_id.map(|u| u.to_string()),
                "reasons": rules::reasons(&e.problems),
            })
        })
        .collect();
    // SAFETY: `events` is the caller's non-null jsonb argument.
    let events = unsafe { DatumWithOid::new(events, pg_sys::JSONBOID) };
    // SAFETY: a jsonb[] built for this call.
    let sealed_data = unsafe { crate::insert::nullable(sealed_data, pg_sys::JSONBARRAYOID) };
    client
        .update(
            STORE,
            None,
            &[
                stream_id.into(),
                events,
                pgrx::JsonB(Value::Array(letters)).into(),
                sealed_data,
            ],
        )
        .during("store the dead letters")?;
    let first = &checked.invalid[0];
    pgrx::notice!(
        "{} of the {} events for stream \"{stream_id}\" are invalid and kept in bss.dead_letters (first: events[{}]: {})",
        checked.invalid.len(),
        checked.len,
        first.index,
        first.problems.first().map(|p| p.message.as_str()).unwrap_or("")
    );
    Ok(())
}
