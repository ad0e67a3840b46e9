//! The SQL entry points of the append functions, declared by hand in
//! `sql/pg_bss.sql` (LANGUAGE c). Each reads its arguments, runs the Rust body
//! under pgrx's guard (so PostgreSQL errors and panics are handled as usual),
//! and raises a returned `BssError` with its own SQLSTATE from this, the
//! outermost frame (see error.rs for why).

use std::collections::BTreeMap;

use pgrx::pg_sys::{self, FunctionCallInfo};
use pgrx::{JsonB, Uuid};

use crate::error::{raise, BssError, BssResult, SqlState};
use crate::insert::{OneEvent, Rows};
use crate::pii::Sealer;
use crate::rules::arguments::EventArguments;
use crate::rules::{self, Path, Problem, Rule};
use crate::{
    append, append_streams, call_args, cloudevents, dead_letters, fold, guc, jsonb, pii, read_side,
    roles, schemas, statements, stream_id, tenants,
};

sql_function!(bss_append_event, pg_finfo_bss_append_event, append_event);
sql_function!(bss_append_events, pg_finfo_bss_append_events, append_events);
sql_function!(
    bss_append_streams,
    pg_finfo_bss_append_streams,
    append_streams
);
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
sql_function!(bss_acting_role, pg_finfo_bss_acting_role, acting_role);
sql_function!(
    bss_current_tenant,
    pg_finfo_bss_current_tenant,
    current_tenant
);
sql_function!(bss_reveal, pg_finfo_bss_reveal, reveal);
sql_function!(bss_erase_subject, pg_finfo_bss_erase_subject, erase_subject);
sql_function!(
    bss_rotate_master_key,
    pg_finfo_bss_rotate_master_key,
    rotate_master_key
);
sql_function!(
    bss_read_side_changed,
    pg_finfo_bss_read_side_changed,
    read_side::read_side_changed
);

unsafe fn append_event(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let stream_id = stream_id::check(call_args::value(fcinfo, 0))?;
    let type_: Option<&str> = call_args::value(fcinfo, 1);
    let data = call_args::datum(fcinfo, 2);
    let expected: Option<i64> = call_args::value(fcinfo, 3);
    let metadata = call_args::datum(fcinfo, 4);
    let source: Option<&str> = call_args::value(fcinfo, 6);
    let problems = rules::arguments::problems(&EventArguments {
        stream_id,
        type_,
        data,
        metadata,
        source,
    });
    let (Some(type_), Some(data), true) = (type_, data, problems.is_empty()) else {
        return Err(rules::rejection(stream_id, Path::Arguments, problems));
    };
    let version = append::append_one(
        OneEvent {
            stream_id,
            type_,
            data,
            metadata,
            event_id: call_args::value(fcinfo, 5),
            source,
            subject: call_args::value(fcinfo, 7),
            time: call_args::datum(fcinfo, 8),
        },
        expected,
    )?;
    Ok(pg_sys::Datum::from(version))
}

unsafe fn append_events(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let stream_id = stream_id::check(call_args::value(fcinfo, 0))?;
    let Some(events) = call_args::datum(fcinfo, 1) else {
        return Err(BssError::new(
            SqlState::InvalidBatch,
            format!("events for stream \"{stream_id}\" is NULL"),
        )
        .hint("Pass a JSON array of events: [{\"type\": \"...\", \"data\": {...}}, ...]."));
    };
    let expected: Option<i64> = call_args::value(fcinfo, 2);
    // The 0.2.0 declaration has no on_invalid: it reads as NULL ('reject').
    let on_invalid: Option<&str> = call_args::value(fcinfo, 3);
    let version = append::append_batch(stream_id, events, expected, on_invalid)?;
    Ok(pg_sys::Datum::from(version))
}

unsafe fn append_streams(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let streams: Option<Vec<Option<String>>> = call_args::value(fcinfo, 0);
    let events = call_args::datums(fcinfo, 1, pg_sys::JSONBOID);
    let expected: Option<Vec<Option<i64>>> = call_args::value(fcinfo, 2);
    let on_invalid: Option<&str> = call_args::value(fcinfo, 3);
    let mode = dead_letters::mode(on_invalid)?;
    let (Some(streams), Some(events)) = (streams, events) else {
        return Err(BssError::new(SqlState::InvalidBatch, "stream_ids or events is NULL")
            .hint("Pass one stream id and one JSON array of events per element: append_streams(ARRAY['customer-1'], ARRAY['[{\"type\": \"...\", \"data\": {}}]'::jsonb])."));
    };
    if streams.len() != events.len() || expected.as_ref().is_some_and(|e| e.len() != streams.len())
    {
        return Err(BssError::new(
            SqlState::InvalidBatch,
            format!(
                "append_streams got {} stream ids, {} event arrays and {} expected versions",
                streams.len(),
                events.len(),
                expected.as_ref().map_or("no".to_owned(), |e| e.len().to_string())
            ),
        )
        .hint("Element i of each array belongs to the same append: pass arrays of one length (expected_versions may be NULL)."));
    }
    let mut elements = Vec::with_capacity(streams.len());
    for (i, (stream, events)) in streams.iter().zip(&events).enumerate() {
        let stream_id = stream_id::check(stream.as_deref())?;
        let Some(events) = *events else {
            return Err(BssError::new(
                SqlState::InvalidBatch,
                format!("events[{}] for stream \"{stream_id}\" is NULL", i + 1),
            )
            .hint("Pass a JSON array of events for every stream: [{\"type\": \"...\", \"data\": {...}}, ...]."));
        };
        elements.push(append_streams::Element {
            stream_id,
            events,
            expected: expected.as_ref().and_then(|e| e[i]),
        });
    }
    let versions = append_streams::append_streams(&elements, mode)?;
    Ok(append_streams::versions_datum(versions))
}

unsafe fn append_cloudevents(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let Some(JsonB(value)) = call_args::value::<JsonB>(fcinfo, 0) else {
        return Err(BssError::new(SqlState::InvalidBatch, "events is NULL")
            .hint("Pass one CloudEvents JSON object or an array of them."));
    };
    let mut events = cloudevents::parse(
        &value,
        guc::MAX_DATA_BYTES.get() as usize,
        guc::MAX_BATCH_EVENTS.get() as usize,
    )?;
    // Stored as sent: each event's data as the jsonb argument holds it, not
    // as serde_json wrote it back (which loses the digits and the scale of
    // numbers a double cannot hold, such as 12345678901234567.890).
    if let Some(datum) = call_args::datum(fcinfo, 0) {
        for (ev, text) in events.iter_mut().zip(jsonb::member_texts(datum, "data")) {
            if let Some(text) = text {
                ev.data = text;
            }
        }
    }
    // One stream at a time, in stream-id order, so that two concurrent batches
    // touching the same streams lock them in the same order (no deadlock).
    let mut by_stream: BTreeMap<String, Vec<cloudevents::CloudEvent>> = BTreeMap::new();
    for ev in events {
        by_stream.entry(ev.stream_id.clone()).or_default().push(ev);
    }
    let stored = statements::with_plans(|client, plans| {
        let schemas = schemas::validators(client)?;
        cloudevents::check_schemas(&schemas, &value)?;
        let mut sealer = Sealer::default();
        let mut stored = 0i64;
        for (stream_id, mut evs) in by_stream {
            for ev in evs.iter_mut() {
                if schemas::personal(&schemas, &ev.type_).is_empty() {
                    continue; // data stays the text it was parsed to
                }
                let (type_, subject) = (&ev.type_, ev.subject.as_deref());
                let data = jsonb::from_text(&ev.data)?;
                if let Some(sealed) =
                    sealer.seal_event(client, &schemas, type_, subject, &stream_id, data)?
                {
                    ev.data = jsonb::to_text(sealed);
                }
            }
            let rows = rows_of(evs);
            stored += append::append_rows(client, plans, &stream_id, rows)?;
        }
        Ok(stored)
    })?;
    Ok(pg_sys::Datum::from(stored))
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
    let oid = |n| call_args::datum(fcinfo, n).map(|d| pg_sys::Oid::from(d.value() as u32));
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

/// `bss.acting_role() RETURNS text`: the role in effect outside any
/// SECURITY DEFINER function (the login role, or the one SET ROLE chose);
/// current_user inside the store's functions is bss_store.
unsafe fn acting_role(_fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let name = roles::acting_role_name();
    Ok(pgrx::IntoDatum::into_datum(name).unwrap_or(pg_sys::Datum::from(0usize)))
}

/// `bss.current_tenant() RETURNS text`: the tenant in effect, checked
/// (tenants.rs); the row-level security policies compare rows with it.
unsafe fn current_tenant(_fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let tenant = tenants::current()?;
    Ok(pgrx::IntoDatum::into_datum(tenant).unwrap_or(pg_sys::Datum::from(0usize)))
}

/// `bss.reveal(doc jsonb) RETURNS jsonb` (STRICT): `doc` with every sealed
/// personal value opened, masked or marked erased (pii/mod.rs). A document
/// without any comes back as it is, after a scan of its bytes.
unsafe fn reveal(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let Some(datum) = call_args::datum(fcinfo, 0) else {
        return Ok(pg_sys::Datum::from(0usize));
    };
    let may_see = pii::may_see_personal_data();
    pgrx::spi::Spi::connect(|client| pii::reveal(client, datum, may_see))
}

/// `bss.erase_subject(subject text) RETURNS bigint`: destroys the data
/// subject's key and records the erasure (append.rs).
unsafe fn erase_subject(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let subject: Option<&str> = call_args::value(fcinfo, 0);
    let Some(subject) = subject.filter(|s| !s.trim().is_empty()) else {
        return Err(BssError::new(SqlState::InvalidArgument, "subject must not be empty")
            .hint("Pass the data subject: the CloudEvents subject of their events, else their stream id ('customer-42')."));
    };
    Ok(pg_sys::Datum::from(append::erase_subject(subject)?))
}

/// `bss.rotate_master_key() RETURNS bigint` (pii/mod.rs).
unsafe fn rotate_master_key(_fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    Ok(pg_sys::Datum::from(pii::rotate_master_key()?))
}

unsafe fn uuidv7(_fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let id = Uuid::from_bytes(*crate::position::uuid_v7().as_bytes());
    Ok(pgrx::IntoDatum::into_datum(id).unwrap_or(pg_sys::Datum::from(0usize)))
}

/// `bss.check_schema(type text, schema jsonb)`: raises XB014 unless the
/// schema compiles.
unsafe fn check_schema(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let type_: Option<&str> = call_args::value(fcinfo, 0);
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
    let Some(JsonB(schema)) = call_args::value::<JsonB>(fcinfo, 1) else {
        return Err(schemas::invalid_schema(type_, "it is NULL"));
    };
    schemas::compile(&schema).map_err(|e| schemas::invalid_schema(type_, &e))?;
    (*fcinfo).isnull = true;
    Ok(pg_sys::Datum::from(0usize))
}

/// `bss.event_problems(event jsonb) RETURNS jsonb` (STRICT): every rule the
/// event breaks as `[{"rule", "message"}]`; what bss.validate_event lists.
unsafe fn event_problems(fcinfo: FunctionCallInfo) -> BssResult<pg_sys::Datum> {
    let Some(JsonB(event)) = call_args::value::<JsonB>(fcinfo, 0) else {
        (*fcinfo).isnull = true;
        return Ok(pg_sys::Datum::from(0usize));
    };
    let schemas = pgrx::spi::Spi::connect(schemas::validators)?;
    let max_data_bytes = guc::MAX_DATA_BYTES.get() as usize;
    let problems = match &event {
        serde_json::Value::Object(obj) if obj.contains_key("specversion") => {
            cloudevents::problems_of_object(obj, max_data_bytes, &schemas)
        }
        serde_json::Value::Object(obj) => {
            rules::event::problems_of_object(obj, max_data_bytes, &schemas)
        }
        other => vec![Problem::new(
            None,
            Rule::Shape,
            format!(
                "an event must be a JSON object, got {}",
                cloudevents::kind(other)
            ),
        )],
    };
    let out = rules::reasons(&problems);
    Ok(pgrx::IntoDatum::into_datum(JsonB(out)).unwrap_or(pg_sys::Datum::from(0usize)))
}
