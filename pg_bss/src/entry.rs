//! The SQL entry points of the append functions, declared by hand in
//! `sql/pg_bss.sql` (LANGUAGE c). Each reads its arguments, runs the Rust body
//! under pgrx's guard (so PostgreSQL errors and panics are handled as usual),
//! and raises a returned `BssError` with its own SQLSTATE from this, the
//! outermost frame (see error.rs for why).

use std::borrow::Cow;
use std::collections::BTreeMap;

use pgrx::fcinfo::{pg_arg_is_null, pg_getarg, pg_getarg_datum_raw};
use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::{FromDatum, JsonB, Uuid};

use crate::append::{self, OneEvent, Rows};
use crate::error::{raise, BssError, BssResult, SqlState};
use crate::{batch, cloudevents, dead_letters, fold, guc, jsonb, read_side, schemas};

sql_function!(bss_append_event, pg_finfo_bss_append_event, append_event);
sql_function!(bss_append_events, pg_finfo_bss_append_events, append_events);
sql_function!(
    bss_append_cloudevents,
    pg_finfo_bss_append_cloudevents,
    append_cloudevents
);
sql_function!(bss_uuidv7, pg_finfo_bss_uuidv7, uuidv7);
sql_function!(bss_check_schema, pg_finfo_bss_check_schema, check_schema);
sql_function!(
    bss_event_problems,
    pg_finfo_bss_event_problems,
    event_problems
);
sql_function!(bss_fold_step, pg_finfo_bss_fold_step, fold::fold_step);
sql_function!(bss_fold_final, pg_finfo_bss_fold_final, fold::fold_final);
sql_function!(
    bss_jsonb_merge_patch,
    pg_finfo_bss_jsonb_merge_patch,
    fold::jsonb_merge_patch
);
sql_function!(bss_check_reducer, pg_finfo_bss_check_reducer, check_reducer);
sql_function!(
    bss_read_side_changed,
    pg_finfo_bss_read_side_changed,
    read_side::read_side_changed
);

/// A non-null argument's raw datum.
unsafe fn arg_datum(fcinfo: FunctionCallInfo, n: usize) -> Option<pg_sys::Datum> {
    if pg_arg_is_null(fcinfo, n) {
        None
    } else {
        Some(pg_getarg_datum_raw(fcinfo, n))
    }
}

fn check_data(name: &str, stream_id: &str, datum: pg_sys::Datum) -> BssResult<()> {
    // SAFETY: `datum` is a non-null jsonb argument.
    let size = unsafe { jsonb::stored_size(datum) };
    let limit = guc::MAX_DATA_BYTES.get() as usize;
    if size > limit {
        return Err(BssError::new(
            SqlState::EventTooLarge,
            format!("{name} of the event for stream \"{stream_id}\" is {size} bytes, over bss.max_data_bytes ({limit})"),
        )
        .hint("Keep large documents outside the event and reference them, or raise bss.max_data_bytes."));
    }
    Ok(())
}

unsafe fn append_event(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let stream_id: Option<&str> = pg_getarg(fcinfo, 0);
    let stream_id = append::check_stream_id(stream_id)?;
    let type_: Option<&str> = pg_getarg(fcinfo, 1);
    let type_ = match type_ {
        Some(t) if !t.trim().is_empty() => t,
        _ => {
            return Err(BssError::new(
                SqlState::InvalidEvent,
                format!("type of the event for stream \"{stream_id}\" must not be empty"),
            )
            .hint("Name what happened, e.g. 'usage.recorded' or 'payment.received'."))
        }
    };
    let Some(data) = arg_datum(fcinfo, 2) else {
        return Err(BssError::new(
            SqlState::InvalidEvent,
            format!("data of the event for stream \"{stream_id}\" is NULL"),
        )
        .hint("Pass a JSON value; use '{}' when the event carries nothing."));
    };
    check_data("data", stream_id, data)?;
    let expected: Option<i64> = pg_getarg(fcinfo, 3);
    let metadata = arg_datum(fcinfo, 4);
    if let Some(m) = metadata {
        match jsonb::root(m) {
            jsonb::Root::Object => check_data("metadata", stream_id, m)?,
            jsonb::Root::Scalar if JsonB::from_datum(m, false).is_some_and(|j| j.0.is_null()) => {}
            other => {
                return Err(BssError::new(
                    SqlState::InvalidEvent,
                    format!("metadata of the event for stream \"{stream_id}\" must be a JSON object, got {}", jsonb::describe(other)),
                )
                .hint("Pass metadata as an object, e.g. '{\"correlation_id\": \"...\"}'."))
            }
        }
    }
    let event_id: Option<Uuid> = pg_getarg(fcinfo, 5);
    let source: Option<&str> = pg_getarg(fcinfo, 6);
    if source.is_some_and(|s| s.is_empty()) {
        return Err(BssError::new(SqlState::InvalidEvent, format!("source of the event for stream \"{stream_id}\" is empty"))
            .hint("Pass a URI-reference naming the producer, e.g. '/billing', or leave it NULL for bss.default_source."));
    }
    let subject: Option<&str> = pg_getarg(fcinfo, 7);
    let time = arg_datum(fcinfo, 8);
    let version = append::append_one(
        OneEvent {
            stream_id,
            type_,
            data,
            metadata,
            event_id,
            source,
            subject,
            time,
        },
        expected,
    )?;
    Ok(pg_sys::Datum::from(version))
}

unsafe fn append_events(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let stream_id: Option<&str> = pg_getarg(fcinfo, 0);
    let stream_id = append::check_stream_id(stream_id)?;
    let Some(events) = arg_datum(fcinfo, 1) else {
        return Err(BssError::new(
            SqlState::InvalidBatch,
            format!("events for stream \"{stream_id}\" is NULL"),
        )
        .hint("Pass a JSON array of events: [{\"type\": \"...\", \"data\": {...}}, ...]."));
    };
    let expected: Option<i64> = pg_getarg(fcinfo, 2);
    // The 0.2.0 declaration has no on_invalid: between installing this
    // library and ALTER EXTENSION UPDATE, calls come with three arguments.
    let on_invalid = if (*fcinfo).nargs > 3 {
        pg_getarg::<&str>(fcinfo, 3)
    } else {
        None
    };
    let mode = dead_letters::mode(on_invalid)?;
    let version = append::append_batch(stream_id, events, expected, mode)?;
    Ok(pg_sys::Datum::from(version))
}

unsafe fn append_cloudevents(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let Some(JsonB(value)) = pg_getarg::<JsonB>(fcinfo, 0) else {
        return Err(BssError::new(SqlState::InvalidBatch, "events is NULL")
            .hint("Pass one CloudEvents JSON object or an array of them."));
    };
    let events = cloudevents::parse(
        &value,
        guc::MAX_DATA_BYTES.get() as usize,
        guc::MAX_BATCH_EVENTS.get() as usize,
    )?;
    // One stream at a time, in stream-id order, so that two concurrent batches
    // touching the same streams lock them in the same order (no deadlock).
    let mut by_stream: BTreeMap<String, Vec<cloudevents::CloudEvent>> = BTreeMap::new();
    for ev in events {
        by_stream.entry(ev.stream_id.clone()).or_default().push(ev);
    }
    let stored = append::with_plans(|client, plans| {
        let schemas = schemas::validators(client)?;
        check_cloudevent_schemas(&schemas, &value)?;
        let mut stored = 0i64;
        for (stream_id, evs) in by_stream {
            let rows = rows_of(evs);
            stored += append::append_rows(client, plans, &stream_id, rows)?;
        }
        Ok(stored)
    })?;
    Ok(pg_sys::Datum::from(stored))
}

/// The data of each CloudEvent (one object or an array, already parsed)
/// against its type's schema.
fn check_cloudevent_schemas(
    schemas: &schemas::Validators,
    value: &serde_json::Value,
) -> BssResult<()> {
    let one = std::slice::from_ref(value);
    let (items, batch) = match value {
        serde_json::Value::Array(items) => (items.as_slice(), true),
        _ => (one, false),
    };
    for (i, item) in items.iter().enumerate() {
        let type_ = item
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        let data = || Cow::Borrowed(item.get("data").unwrap_or(&serde_json::Value::Null));
        if let Some(v) = schemas::violation(schemas, type_, data) {
            let at = if batch {
                format!(" events[{i}]")
            } else {
                String::new()
            };
            return Err(BssError::new(SqlState::SchemaViolation, format!("invalid CloudEvent{at}: {}", v.message))
                .detail("rule: schema")
                .hint("Fix the producer, or register the type's new schema with bss.register_schema. Nothing was stored."));
        }
    }
    Ok(())
}

/// The parsed events of one stream as the column arrays the insert takes,
/// moving each payload rather than copying it.
fn rows_of(evs: Vec<cloudevents::CloudEvent>) -> Rows {
    let n = evs.len();
    let mut rows = Rows {
        event_ids: Vec::with_capacity(n),
        sources: Vec::with_capacity(n),
        types: Vec::with_capacity(n),
        subjects: Vec::with_capacity(n),
        times: Vec::with_capacity(n),
        data: Vec::with_capacity(n),
        metadata: Vec::with_capacity(n),
        datacontenttypes: Vec::with_capacity(n),
        dataschemas: Vec::with_capacity(n),
    };
    for e in evs {
        rows.event_ids
            .push(Uuid::from_bytes(*e.event_id.as_bytes()));
        rows.sources.push(e.source);
        rows.types.push(e.type_);
        rows.subjects.push(e.subject);
        rows.times.push(e.time);
        rows.data.push(e.data);
        rows.metadata.push(e.metadata);
        rows.datacontenttypes.push(e.datacontenttype);
        rows.dataschemas.push(e.dataschema);
    }
    rows
}

/// `bss.check_reducer(reducer regprocedure, event_type regtype)`: raises
/// XB011 naming the function when it cannot fold events.
unsafe fn check_reducer(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let oid = |n| arg_datum(fcinfo, n).map(|d| pg_sys::Oid::from(d.value() as u32));
    match (oid(0), oid(1)) {
        (Some(reducer), Some(event_type)) => {
            fold::check_reducer(reducer, event_type)?;
        }
        _ => {
            return Err(BssError::new(
                SqlState::InvalidReducer,
                "reducer must not be NULL",
            ))
        }
    }
    (*fcinfo).isnull = true;
    Ok(pg_sys::Datum::from(0usize))
}

unsafe fn uuidv7(_fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let id = Uuid::from_bytes(*crate::position::uuid_v7().as_bytes());
    Ok(pgrx::IntoDatum::into_datum(id).unwrap_or(pg_sys::Datum::from(0usize)))
}

/// `bss.check_schema(type text, schema jsonb)`: raises XB014 unless the
/// schema compiles.
unsafe fn check_schema(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let type_: Option<&str> = pg_getarg(fcinfo, 0);
    let type_ = match type_ {
        Some(t) if !t.trim().is_empty() => t,
        _ => {
            return Err(BssError::new(
                SqlState::InvalidSchema,
                "the event type of a schema must not be empty",
            )
            .hint("Name the event type whose data the schema describes, e.g. 'usage.recorded'."))
        }
    };
    let Some(JsonB(schema)) = pg_getarg::<JsonB>(fcinfo, 1) else {
        return Err(schemas::invalid_schema(type_, "it is NULL"));
    };
    schemas::compile(&schema).map_err(|e| schemas::invalid_schema(type_, &e))?;
    (*fcinfo).isnull = true;
    Ok(pg_sys::Datum::from(0usize))
}

/// `bss.event_problems(event jsonb) RETURNS jsonb` (STRICT): every rule the
/// event breaks as `[{"rule", "message"}]`; what bss.validate_event lists.
unsafe fn event_problems(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let Some(JsonB(event)) = pg_getarg::<JsonB>(fcinfo, 0) else {
        (*fcinfo).isnull = true;
        return Ok(pg_sys::Datum::from(0usize));
    };
    let schemas = pgrx::spi::Spi::connect(|client| schemas::validators(client))?;
    let max_data_bytes = guc::MAX_DATA_BYTES.get() as usize;
    let problems = match &event {
        serde_json::Value::Object(obj) if obj.contains_key("specversion") => {
            match cloudevents::parse(&event, max_data_bytes, 1) {
                Err(e) => vec![batch::Problem {
                    index: None,
                    rule: "cloudevents",
                    message: e.message,
                }],
                Ok(_) => {
                    let mut checked = Vec::new();
                    if let Err(e) = check_cloudevent_schemas(&schemas, &event) {
                        checked.push(batch::Problem {
                            index: None,
                            rule: "schema",
                            message: e.message,
                        });
                    }
                    checked
                }
            }
        }
        serde_json::Value::Object(obj) => batch::problems_of_object(obj, max_data_bytes, &schemas),
        other => vec![batch::Problem {
            index: None,
            rule: "shape",
            message: format!(
                "an event must be a JSON object, got {}",
                cloudevents::kind(other)
            ),
        }],
    };
    let out = dead_letters::reasons(&problems);
    Ok(pgrx::IntoDatum::into_datum(JsonB(out)).unwrap_or(pg_sys::Datum::from(0usize)))
}
