//! Checks an `append_events` batch in its binary jsonb form, in one pass with
//! PostgreSQL's own jsonb iterator: no text round trip, no SQL per element.
//! It finds the broken rules of each element (with its index), the schema of
//! its type included (`data` is turned into a serde value only for types that
//! have one), and collects the event ids the caller gave, for the idempotency
//! check. It never writes.

use std::borrow::Cow;
use std::collections::HashSet;

use pgrx::pg_sys::{self, jbvType, JsonbIteratorToken, JsonbValue};
use serde_json::Map;

use crate::cloudevents::is_rfc3339;
use crate::jsonb::{self, Root};
use crate::schemas::{self, Validators};

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

/// What the insert needs to know of a batch.
pub struct Checked {
    pub len: usize,
    /// Event ids given by the caller for its valid events, in batch order.
    pub event_ids: Vec<uuid::Uuid>,
    /// The invalid events, in batch order (only when asked to collect them).
    pub invalid: Vec<Invalid>,
}

/// An element that breaks at least one rule, with every rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub index: usize,
    /// Its event_id, when it gave one that parses.
    pub event_id: Option<uuid::Uuid>,
    pub problems: Vec<Problem>,
}

/// What to do with invalid elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The first broken rule fails the batch.
    FirstProblem,
    /// Every invalid element is collected, with all its problems.
    CollectInvalid,
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

    /// A parsed JSON value as the rules see it (sizes as serialized).
    fn of_serde(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(_) => Value::Bool,
            J::Number(_) => Value::Number,
            J::String(s) => Value::Str(s.clone()),
            J::Array(_) => Value::Array {
                bytes: v.to_string().len(),
            },
            J::Object(_) => Value::Object {
                bytes: v.to_string().len(),
            },
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
    schemas: &Validators,
    mode: Mode,
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
    let mut invalid = Vec::new();
    let mut seen_ids = HashSet::new();
    let mut index = 0usize;
    while let Some((tok, v)) = top.next() {
        if tok != JsonbIteratorToken::WJB_ELEM {
            continue;
        }
        let i = index;
        index += 1;
        let (event_id, mut problems) =
            if v.type_ != jbvType::jbvBinary || !is_object(v.val.binary.data) {
                let p = problem(
                    i,
                    "shape",
                    format!(
                        "an event must be a JSON object, got {}",
                        to_value(&v).kind()
                    ),
                );
                (None, vec![p])
            } else {
                let mut fields: Vec<(String, Value)> = Vec::with_capacity(8);
                let mut data: Option<JsonbValue> = None;
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
                                if k == "data" {
                                    data = Some(v);
                                }
                                fields.push((k, to_value(&v)));
                            }
                        }
                        _ => {}
                    }
                }
                let (event_id, mut problems) = check_event(i, &fields, max_data_bytes);
                if let Some(data) = data {
                    schema_problem(i, &fields, schemas, &mut problems, || {
                        Cow::Owned(jsonb::value_to_serde(&data))
                    });
                }
                (event_id, problems)
            };
        if let Some(id) = event_id {
            if !seen_ids.insert(id) {
                problems.push(problem(
                    i,
                    "event_id",
                    format!("event_id {id} appears more than once in the batch"),
                ));
            }
        }
        if problems.is_empty() {
            if let Some(id) = event_id {
                event_ids.push(id);
            }
            continue;
        }
        match mode {
            Mode::FirstProblem => return Err(problems.swap_remove(0)),
            Mode::CollectInvalid => invalid.push(Invalid {
                index: i,
                event_id,
                problems,
            }),
        }
    }
    Ok(Checked {
        len,
        event_ids,
        invalid,
    })
}

/// The schema rule, checked once an element passes the others.
fn schema_problem<'d>(
    i: usize,
    fields: &[(String, Value)],
    schemas: &Validators,
    problems: &mut Vec<Problem>,
    data: impl FnOnce() -> Cow<'d, serde_json::Value>,
) {
    if !problems.is_empty() {
        return;
    }
    let type_ = fields.iter().find_map(|(k, v)| match (k.as_str(), v) {
        ("type", Value::Str(s)) => Some(s.as_str()),
        _ => None,
    });
    if let Some(v) = type_.and_then(|t| schemas::violation(schemas, t, data)) {
        problems.push(problem(i, v.rule, v.message));
    }
}

/// Every rule one element (a parsed JSON object) breaks, its schema
/// included: what `bss.validate_event` reports.
pub fn problems_of_object(
    obj: &Map<String, serde_json::Value>,
    max_data_bytes: usize,
    schemas: &Validators,
) -> Vec<Problem> {
    let fields: Vec<(String, Value)> = obj
        .iter()
        .map(|(k, v)| (k.clone(), Value::of_serde(v)))
        .collect();
    let (_, mut problems) = check_event(0, &fields, max_data_bytes);
    if let Some(data) = obj.get("data") {
        schema_problem(0, &fields, schemas, &mut problems, || Cow::Borrowed(data));
    }
    problems
}

/// The rules of one element: its event id if it gave one that parses, and
/// every rule it breaks, in the order of the README's list.
fn check_event(
    i: usize,
    fields: &[(String, Value)],
    max_data_bytes: usize,
) -> (Option<uuid::Uuid>, Vec<Problem>) {
    let mut problems = Vec::new();
    let event_id = rules(i, fields, max_data_bytes, &mut problems);
    (event_id, problems)
}

fn rules(
    i: usize,
    fields: &[(String, Value)],
    max_data_bytes: usize,
    out: &mut Vec<Problem>,
) -> Option<uuid::Uuid> {
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let mut broken = |rule: &'static str, message: String| out.push(problem(i, rule, message));
    let unknown: Vec<&str> = fields
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !ALLOWED.contains(k))
        .collect();
    if !unknown.is_empty() {
        broken(
            "attribute",
            format!(
                "unknown attribute {}; allowed: {}",
                unknown.join(", "),
                ALLOWED.join(", ")
            ),
        );
    }
    match get("type") {
        Some(Value::Str(s)) if !s.trim().is_empty() => {}
        _ => broken(
            "type",
            "type is required and must be a non-empty string".into(),
        ),
    }
    let data = get("data");
    if data.is_none() {
        broken(
            "data",
            "data is required (use {} when an event carries nothing)".into(),
        );
    }
    match get("metadata") {
        None | Some(Value::Null) | Some(Value::Object { .. }) => {}
        Some(other) => broken(
            "metadata",
            format!("metadata must be a JSON object, got {}", other.kind()),
        ),
    }
    let event_id = match get("event_id") {
        None => None,
        Some(Value::Str(s)) => match uuid::Uuid::parse_str(s) {
            Ok(u) => Some(u),
            Err(_) => {
                broken(
                    "event_id",
                    format!("event_id must be a UUID string, got {s:?}"),
                );
                None
            }
        },
        Some(other) => {
            broken(
                "event_id",
                format!("event_id must be a UUID string, got {}", other.kind()),
            );
            None
        }
    };
    match get("source") {
        None => {}
        Some(Value::Str(s)) if !s.is_empty() => {}
        Some(_) => broken("source", "source must be a non-empty string".into()),
    }
    match get("subject") {
        None | Some(Value::Null) | Some(Value::Str(_)) => {}
        Some(other) => broken(
            "subject",
            format!("subject must be a string, got {}", other.kind()),
        ),
    }
    match get("time") {
        None => {}
        Some(Value::Str(s)) if is_rfc3339(s) => {}
        Some(Value::Str(s)) => broken(
            "time",
            format!(
                "time must be an RFC 3339 timestamp such as \"2026-11-24T10:15:00Z\", got {s:?}"
            ),
        ),
        Some(other) => broken(
            "time",
            format!(
                "time must be an RFC 3339 timestamp string, got {}",
                other.kind()
            ),
        ),
    }
    for (name, value) in [("data", data), ("metadata", get("metadata"))] {
        if let Some(v) = value {
            if v.bytes() > max_data_bytes {
                broken(
                    "size",
                    format!(
                        "{name} is {} bytes, over bss.max_data_bytes ({max_data_bytes})",
                        v.bytes()
                    ),
                );
            }
        }
    }
    event_id
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
        assert_eq!(check_event(0, &f, 1024), (None, vec![]));
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
            let (_, problems) = check_event(3, &f, 1024);
            assert_eq!(problems.len(), 1, "{rule}: {problems:?}");
            assert_eq!(problems[0].rule, rule);
            assert_eq!(problems[0].index, Some(3));
        }
    }

    #[test]
    fn every_broken_rule_of_an_event_is_named() {
        let f = fields(&[
            ("tipe", s("x")),
            ("time", s("noon")),
            ("event_id", Value::Number),
        ]);
        let (id, problems) = check_event(0, &f, 1024);
        assert_eq!(id, None);
        let rules: Vec<&str> = problems.iter().map(|p| p.rule).collect();
        assert_eq!(rules, ["attribute", "type", "data", "event_id", "time"]);
    }
}
