//! The rules of a plain event given as JSON (an `append_events` element, or
//! what `bss.validate_event` checks): every rule it breaks, in the order of
//! the README's list, its type's schema once the others pass. The attributes
//! are seen as `Value`s, so the same checks serve jsonb (batch.rs) and parsed
//! JSON. Never reads a table: the schemas come from the caller.

use std::borrow::Cow;

use serde_json::Map;

use super::{Problem, Rule};
use crate::rfc3339::is_rfc3339;
use crate::schemas::{self, Validators};

/// The attributes an element may carry.
pub const ALLOWED: &[&str] = &[
    "type", "data", "metadata", "event_id", "source", "subject", "time",
];

/// A scalar or container value as the iterator hands it out (nested containers unexpanded).
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Str(String),
    Number,
    Bool,
    Object { bytes: usize },
    Array { bytes: usize },
}

impl Value {
    pub fn kind(&self) -> &'static str {
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
    pub fn of_serde(v: &serde_json::Value) -> Value {
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
    pub fn bytes(&self) -> usize {
        match self {
            Value::Object { bytes } | Value::Array { bytes } => *bytes,
            Value::Str(s) => s.len(),
            _ => 8,
        }
    }
}

fn problem(index: usize, rule: Rule, message: impl Into<String>) -> Problem {
    Problem::new(Some(index), rule, message)
}

/// The schema rule, checked once an element passes the others.
pub fn schema_problem<'d>(
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
        problems.push(problem(i, Rule::Schema, v));
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
pub fn check_event(
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
    let mut broken = |rule: Rule, message: String| out.push(problem(i, rule, message));
    let unknown: Vec<&str> = fields
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !ALLOWED.contains(k))
        .collect();
    if !unknown.is_empty() {
        broken(
            Rule::Attribute,
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
            Rule::Type,
            "type is required and must be a non-empty string".into(),
        ),
    }
    let data = get("data");
    if data.is_none() {
        broken(
            Rule::Data,
            "data is required (use {} when an event carries nothing)".into(),
        );
    }
    match get("metadata") {
        None | Some(Value::Null) | Some(Value::Object { .. }) => {}
        Some(other) => broken(
            Rule::Metadata,
            format!("metadata must be a JSON object, got {}", other.kind()),
        ),
    }
    let event_id = match get("event_id") {
        None => None,
        Some(Value::Str(s)) => match uuid::Uuid::parse_str(s) {
            Ok(u) => Some(u),
            Err(_) => {
                broken(
                    Rule::EventId,
                    format!("event_id must be a UUID string, got {s:?}"),
                );
                None
            }
        },
        Some(other) => {
            broken(
                Rule::EventId,
                format!("event_id must be a UUID string, got {}", other.kind()),
            );
            None
        }
    };
    match get("source") {
        None => {}
        Some(Value::Str(s)) if !s.is_empty() => {}
        Some(_) => broken(Rule::Source, "source must be a non-empty string".into()),
    }
    match get("subject") {
        None | Some(Value::Null) | Some(Value::Str(_)) => {}
        Some(other) => broken(
            Rule::Subject,
            format!("subject must be a string, got {}", other.kind()),
        ),
    }
    match get("time") {
        None => {}
        Some(Value::Str(s)) if is_rfc3339(s) => {}
        Some(Value::Str(s)) => broken(
            Rule::Time,
            format!(
                "time must be an RFC 3339 timestamp such as \"2026-11-24T10:15:00Z\", got {s:?}"
            ),
        ),
        Some(other) => broken(
            Rule::Time,
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
                    Rule::Size,
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
            assert_eq!(problems[0].rule.name(), rule);
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
        let rules: Vec<&str> = problems.iter().map(|p| p.rule.name()).collect();
        assert_eq!(rules, ["attribute", "type", "data", "event_id", "time"]);
    }
}
