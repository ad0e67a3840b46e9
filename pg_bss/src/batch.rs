//! Checks an `append_events` batch in its binary jsonb form, in one pass with
//! PostgreSQL's own jsonb iterator: no text round trip, no SQL per element. It
//! finds the first broken rule (with the event's index) and collects the event
//! ids the caller gave, for the idempotency check. It never writes.

use std::collections::HashSet;

use pgrx::pg_sys::{self, jbvType, JsonbIteratorToken, JsonbValue};

use crate::cloudevents::is_rfc3339;
use crate::jsonb::{self, Root};

/// The attributes an element may carry.
pub const ALLOWED: &[&str] = &[
    "type", "data", "metadata", "event_id", "source", "subject", "time",
];

/// The first rule a batch breaks. `index` is 0-based, as in `events[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub index: Option<usize>,
    pub rule: &'static str,
    pub message: String,
}

/// What the insert needs to know of a valid batch.
pub struct Checked {
    pub len: usize,
    /// Event ids given by the caller, in batch order.
    pub event_ids: Vec<uuid::Uuid>,
}

/// A scalar or container value as the iterator hands it out (nested containers unexpanded).
#[derive(Debug, Clone)]
enum Value {
    Null,
    Str(String),
    Number,
    Bool,
    Object { bytes: usize },
    Array { bytes: usize },
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Str(_) => "a string",
            Value::Number => "a number",
            Value::Bool => "a boolean",
            Value::Object { .. } => "an object",
            Value::Array { .. } => "an array",
        }
    }

    /// Roughly the bytes this value takes inside a jsonb.
    fn bytes(&self) -> usize {
        match self {
            Value::Object { bytes } | Value::Array { bytes } => *bytes,
            Value::Str(s) => s.len(),
            _ => 8,
        }
    }
}

unsafe fn is_object(c: *const pg_sys::JsonbContainer) -> bool {
    jsonb::kind(c) == Root::Object
}

unsafe fn to_value(v: &JsonbValue) -> Value {
    match v.type_ {
        jbvType::jbvNull => Value::Null,
        jbvType::jbvString => {
            let s = v.val.string;
            let bytes = std::slice::from_raw_parts(s.val as *const u8, s.len as usize);
            Value::Str(String::from_utf8_lossy(bytes).into_owned())
        }
        jbvType::jbvNumeric => Value::Number,
        jbvType::jbvBool => Value::Bool,
        jbvType::jbvBinary => {
            let b = v.val.binary;
            if is_object(b.data) {
                Value::Object {
                    bytes: b.len as usize,
                }
            } else {
                Value::Array {
                    bytes: b.len as usize,
                }
            }
        }
        _ => Value::Null,
    }
}

/// Iterates one container level: yields (token, value) with nested containers unexpanded.
struct Level {
    it: *mut pg_sys::JsonbIterator,
}

impl Level {
    unsafe fn new(container: *mut pg_sys::JsonbContainer) -> Self {
        Level {
            it: pg_sys::JsonbIteratorInit(container),
        }
    }

    unsafe fn next(&mut self) -> Option<(JsonbIteratorToken::Type, JsonbValue)> {
        let mut v: JsonbValue = std::mem::zeroed();
        let tok = pg_sys::JsonbIteratorNext(&mut self.it, &mut v, true);
        if tok == JsonbIteratorToken::WJB_DONE {
            None
        } else {
            Some((tok, v))
        }
    }
}

fn problem(index: usize, rule: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        index: Some(index),
        rule,
        message: message.into(),
    }
}

/// Checks `events`, a non-null jsonb datum.
///
/// # Safety
/// `events` must be a valid jsonb datum.
pub unsafe fn check(
    events: pg_sys::Datum,
    max_data_bytes: usize,
    max_events: usize,
) -> Result<Checked, Problem> {
    let batch_problem = |message: String| Problem {
        index: None,
        rule: "batch",
        message,
    };
    // Detoasted once: the insert later reads the caller's datum as it is.
    let jb = jsonb::detoast(events);
    let len = match jsonb::kind(&(*jb).root) {
        Root::Array(n) => n as usize,
        other => {
            return Err(batch_problem(format!(
                "events must be a JSON array, got {}",
                jsonb::describe(other)
            )))
        }
    };
    if len == 0 {
        return Err(batch_problem("events is an empty array".into()));
    }
    if len > max_events {
        return Err(batch_problem(format!(
            "events has {len} elements, over bss.max_batch_events ({max_events})"
        )));
    }

    let mut top = Level::new(&mut (*jb).root);
    let mut event_ids = Vec::new();
    let mut seen_ids = HashSet::new();
    let mut index = 0usize;
    while let Some((tok, v)) = top.next() {
        if tok != JsonbIteratorToken::WJB_ELEM {
            continue;
        }
        let i = index;
        index += 1;
        if v.type_ != jbvType::jbvBinary || !is_object(v.val.binary.data) {
            return Err(problem(
                i,
                "shape",
                format!(
                    "an event must be a JSON object, got {}",
                    to_value(&v).kind()
                ),
            ));
        }
        let mut fields: Vec<(String, Value)> = Vec::with_capacity(8);
        let mut level = Level::new(v.val.binary.data);
        let mut key: Option<String> = None;
        while let Some((tok, v)) = level.next() {
            match tok {
                JsonbIteratorToken::WJB_KEY => {
                    if let Value::Str(k) = to_value(&v) {
                        key = Some(k);
                    }
                }
                JsonbIteratorToken::WJB_VALUE => {
                    if let Some(k) = key.take() {
                        fields.push((k, to_value(&v)));
                    }
                }
                _ => {}
            }
        }
        if let Some(id) = check_event(i, &fields, max_data_bytes)? {
            if !seen_ids.insert(id) {
                return Err(problem(
                    i,
                    "event_id",
                    format!("event_id {id} appears more than once in the batch"),
                ));
            }
            event_ids.push(id);
        }
    }
    Ok(Checked { len, event_ids })
}

/// The rules of one element; returns its event id if it gave one.
fn check_event(
    i: usize,
    fields: &[(String, Value)],
    max_data_bytes: usize,
) -> Result<Option<uuid::Uuid>, Problem> {
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let unknown: Vec<&str> = fields
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !ALLOWED.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(problem(
            i,
            "attribute",
            format!(
                "unknown attribute {}; allowed: {}",
                unknown.join(", "),
                ALLOWED.join(", ")
            ),
        ));
    }
    match get("type") {
        Some(Value::Str(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(problem(
                i,
                "type",
                "type is required and must be a non-empty string",
            ))
        }
    }
    let Some(data) = get("data") else {
        return Err(problem(
            i,
            "data",
            "data is required (use {} when an event carries nothing)",
        ));
    };
    match get("metadata") {
        None | Some(Value::Null) | Some(Value::Object { .. }) => {}
        Some(other) => {
            return Err(problem(
                i,
                "metadata",
                format!("metadata must be a JSON object, got {}", other.kind()),
            ))
        }
    }
    let event_id = match get("event_id") {
        None => None,
        Some(Value::Str(s)) => match uuid::Uuid::parse_str(s) {
            Ok(u) => Some(u),
            Err(_) => {
                return Err(problem(
                    i,
                    "event_id",
                    format!("event_id must be a UUID string, got {s:?}"),
                ))
            }
        },
        Some(other) => {
            return Err(problem(
                i,
                "event_id",
                format!("event_id must be a UUID string, got {}", other.kind()),
            ))
        }
    };
    match get("source") {
        None => {}
        Some(Value::Str(s)) if !s.is_empty() => {}
        Some(_) => return Err(problem(i, "source", "source must be a non-empty string")),
    }
    match get("subject") {
        None | Some(Value::Null) | Some(Value::Str(_)) => {}
        Some(other) => {
            return Err(problem(
                i,
                "subject",
                format!("subject must be a string, got {}", other.kind()),
            ))
        }
    }
    match get("time") {
        None => {}
        Some(Value::Str(s)) if is_rfc3339(s) => {}
        Some(Value::Str(s)) => {
            return Err(problem(
                i,
                "time",
                format!(
                "time must be an RFC 3339 timestamp such as \"2026-11-24T10:15:00Z\", got {s:?}"
            ),
            ))
        }
        Some(other) => {
            return Err(problem(
                i,
                "time",
                format!(
                    "time must be an RFC 3339 timestamp string, got {}",
                    other.kind()
                ),
            ))
        }
    }
    for (name, value) in [("data", Some(data)), ("metadata", get("metadata"))] {
        if let Some(v) = value {
            if v.bytes() > max_data_bytes {
                return Err(problem(
                    i,
                    "size",
                    format!(
                        "{name} is {} bytes, over bss.max_data_bytes ({max_data_bytes})",
                        v.bytes()
                    ),
                ));
            }
        }
    }
    Ok(event_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    #[test]
    fn a_minimal_event_passes() {
        let f = fields(&[
            ("type", s("usage.recorded")),
            ("data", Value::Object { bytes: 40 }),
        ]);
        assert_eq!(check_event(0, &f, 1024), Ok(None));
    }

    #[test]
    fn each_rule_names_itself() {
        let cases: Vec<(Vec<(String, Value)>, &str)> = vec![
            (fields(&[("data", Value::Null)]), "type"),
            (fields(&[("type", s("t"))]), "data"),
            (
                fields(&[("type", s("t")), ("data", Value::Null), ("tipe", s("x"))]),
                "attribute",
            ),
            (
                fields(&[
                    ("type", s("t")),
                    ("data", Value::Null),
                    ("metadata", Value::Array { bytes: 4 }),
                ]),
                "metadata",
            ),
            (
                fields(&[
                    ("type", s("t")),
                    ("data", Value::Null),
                    ("event_id", s("nope")),
                ]),
                "event_id",
            ),
            (
                fields(&[("type", s("t")), ("data", Value::Null), ("time", s("noon"))]),
                "time",
            ),
            (
                fields(&[("type", s("t")), ("data", Value::Null), ("source", s(""))]),
                "source",
            ),
            (
                fields(&[("type", s("t")), ("data", Value::Object { bytes: 5000 })]),
                "size",
            ),
        ];
        for (f, rule) in cases {
            assert_eq!(check_event(3, &f, 1024).unwrap_err().rule, rule);
        }
    }
}
