//! The rules of one event given as `append_event`'s arguments (type, data,
//! metadata, source; the stream id is checked before, by stream_id.rs):
//! every rule they break, each message naming the argument and the stream.
//! Looks at the jsonb datums without turning them into text; the schema is
//! checked by the append, once these pass.

use pgrx::pg_sys;
use pgrx::{FromDatum, JsonB};

use super::{Problem, Rule};
use crate::guc;
use crate::jsonb::{self, Root};

/// The arguments of `append_event` the rules look at.
pub struct EventArguments<'a> {
    pub stream_id: &'a str,
    pub type_: Option<&'a str>,
    pub data: Option<pg_sys::Datum>,
    pub metadata: Option<pg_sys::Datum>,
    pub source: Option<&'a str>,
}

/// Every rule the arguments break, in the order of the README's list (none:
/// an empty Vec, which does not allocate).
///
/// # Safety
/// `data` and `metadata` must be valid jsonb datums.
pub unsafe fn problems(args: &EventArguments<'_>) -> Vec<Problem> {
    let stream_id = args.stream_id;
    let mut out = Vec::new();
    if args.type_.is_none_or(|t| t.trim().is_empty()) {
        out.push(Problem::new(
            None,
            Rule::Type,
            format!("type of the event for stream \"{stream_id}\" must not be empty"),
        ));
    }
    match args.data {
        None => out.push(Problem::new(
            None,
            Rule::Data,
            format!("data of the event for stream \"{stream_id}\" is NULL"),
        )),
        Some(data) => size("data", stream_id, data, &mut out),
    }
    if let Some(m) = args.metadata {
        match jsonb::root(m) {
            Root::Object => size("metadata", stream_id, m, &mut out),
            Root::Scalar if JsonB::from_datum(m, false).is_some_and(|j| j.0.is_null()) => {}
            other => out.push(Problem::new(
                None,
                Rule::Metadata,
                format!(
                    "metadata of the event for stream \"{stream_id}\" must be a JSON object, got {}",
                    jsonb::describe(other)
                ),
            )),
        }
    }
    if args.source.is_some_and(str::is_empty) {
        out.push(Problem::new(
            None,
            Rule::Source,
            format!("source of the event for stream \"{stream_id}\" is empty"),
        ));
    }
    out
}

/// The size rule of argument `name`, a non-null jsonb datum.
unsafe fn size(name: &str, stream_id: &str, datum: pg_sys::Datum, out: &mut Vec<Problem>) {
    let size = jsonb::stored_size(datum);
    let limit = guc::MAX_DATA_BYTES.get() as usize;
    if size > limit {
        out.push(Problem::new(
            None,
            Rule::Size,
            format!("{name} of the event for stream \"{stream_id}\" is {size} bytes, over bss.max_data_bytes ({limit})"),
        ));
    }
}
