//! Checks an `append_events` batch in its binary jsonb form, in one pass with
//! PostgreSQL's own jsonb iterator: no text round trip, no SQL per element.
//! It finds the broken rules of each element (with its index), the schema of
//! its type included (`data` is turned into a serde value only for types that
//! have one), and collects the event ids the caller gave, for the idempotency
//! check. It never writes.

use std::borrow::Cow;
use std::collections::HashSet;

use pgrx::pg_sys::{self, jbvType, JsonbIteratorToken, JsonbValue};

use crate::jsonb::{self, Root};
use crate::rules::event::{check_event, schema_problem, Value};
use crate::rules::{Problem, Rule};
use crate::schemas::Validators;

/// What the insert needs to know of a batch.
pub struct Checked {
    pub len: usize,
    /// Event ids given by the caller for its valid events, in batch order.
    pub event_ids: Vec<uuid::Uuid>,
    /// The invalid events, in batch order (only when asked to collect them).
    pub invalid: Vec<Invalid>,
}

impl Checked {
    /// The event ids the caller named, as the retry check takes them.
    pub fn named_ids(&self) -> Vec<pgrx::Uuid> {
        self.event_ids
            .iter()
            .map(|u| pgrx::Uuid::from_bytes(*u.as_bytes()))
            .collect()
    }
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
    /// The first invalid element fails the batch, naming every rule it breaks.
    FirstProblem,
    /// Every invalid element is collected, with all its problems.
    CollectInvalid,
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

/// Checks `events`, a non-null jsonb datum. A batch refused as a whole
/// gives its problems (at least one): the batch's own, or every rule its
/// first invalid element breaks.
///
/// # Safety
/// `events` must be a valid jsonb datum.
pub unsafe fn check(
    events: pg_sys::Datum,
    max_data_bytes: usize,
    max_events: usize,
    schemas: &Validators,
    mode: Mode,
) -> Result<Checked, Vec<Problem>> {
    let batch_problem = |message: String| vec![Problem::new(None, Rule::Batch, message)];
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
                let p = Problem::new(
                    Some(i),
                    Rule::Shape,
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
                problems.push(Problem::new(
                    Some(i),
                    Rule::EventId,
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
            Mode::FirstProblem => return Err(problems),
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
