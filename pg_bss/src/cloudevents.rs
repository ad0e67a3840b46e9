//! CloudEvents v1.0.2 in structured JSON mode: validation and the mapping to
//! rows of `bss.events`.
//!
//! Mapping: the stream is the `partitionkey` extension attribute, else
//! `subject`. CloudEvents ids are unique per `source`, so an id that is not a
//! canonical UUID becomes a name-based UUIDv5 of (source, id), and the original
//! id is kept in `metadata.ce_id`. Extension attributes go to `metadata`.
//! Every rule an event breaks is reported (rules/mod.rs names them). This
//! module parses and validates only; it never writes.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::{BssError, BssResult, SqlState};
use crate::rfc3339::is_rfc3339;
use crate::rules::{self, Path, Problem, Rule};
use crate::schemas::{self, Validators};
use crate::stream_id;

/// Namespace for UUIDv5 event ids made from (source, id).
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b2f_1c5e_9f3a_4d7b_8e21_b55b_5e00_0001);

/// The context attributes the spec defines; everything else is an extension.
const CORE: &[&str] = &[
    "id",
    "source",
    "specversion",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
    "data",
    "data_base64",
];

#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    pub stream_id: String,
    pub event_id: uuid::Uuid,
    pub source: String,
    pub type_: String,
    pub subject: Option<String>,
    pub time: Option<String>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    pub data: String,
    pub metadata: String,
}

/// Parses one event (an object) or a batch (an array of them). A refused
/// event names every CloudEvents rule it breaks (the first in the message,
/// the others in DETAIL); a batch stops at its first refused event.
pub fn parse(
    value: &Value,
    max_data_bytes: usize,
    max_events: usize,
) -> BssResult<Vec<CloudEvent>> {
    let refused = |problems| rules::rejection("", Path::CloudEvent, problems);
    match value {
        Value::Object(obj) => Ok(vec![parse_one(None, obj, max_data_bytes).map_err(refused)?]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(BssError::new(SqlState::InvalidBatch, "events is an empty array")
                    .hint("Pass one CloudEvent object or a non-empty array of them."));
            }
            if items.len() > max_events {
                return Err(BssError::new(
                    SqlState::InvalidBatch,
                    format!("events has {} elements, over bss.max_batch_events ({max_events})", items.len()),
                )
                .hint("Split the batch, or raise bss.max_batch_events."));
            }
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::Object(obj) = item else {
                    let mut found = Found::new(Some(i));
                    found.broken(format!("must be a JSON object, got {}", kind(item)));
                    return Err(refused(found.problems));
                };
                let ev = parse_one(Some(i), obj, max_data_bytes).map_err(refused)?;
                if !seen.insert(ev.event_id) {
                    let mut found = Found::new(Some(i));
                    found.broken(format!("id {:?} from source {:?} appears more than once", obj["id"], ev.source));
                    return Err(refused(found.problems));
                }
                out.push(ev);
            }
            Ok(out)
        }
        other => Err(BssError::new(
            SqlState::InvalidBatch,
            format!("events must be a CloudEvent object or an array of them, got {}", kind(other)),
        )
        .hint("Pass the structured-mode JSON of one event, or a JSON array (the CloudEvents batch format).")),
    }
}

/// Every rule one CloudEvent breaks, its schema included once the others
/// pass: what `bss.validate_event` reports for an object with specversion.
pub fn problems_of_object(
    obj: &Map<String, Value>,
    max_data_bytes: usize,
    schemas: &Validators,
) -> Vec<Problem> {
    match parse_one(None, obj, max_data_bytes) {
        Err(problems) => problems,
        Ok(ev) => {
            let data = obj.get("data").unwrap_or(&Value::Null);
            schema_problem(schemas, None, &ev.type_, data)
                .into_iter()
                .collect()
        }
    }
}

/// The data of each CloudEvent (one object or an array, already parsed)
/// against its type's schema.
pub fn check_schemas(schemas: &Validators, value: &Value) -> BssResult<()> {
    let one = std::slice::from_ref(value);
    let (items, batch) = match value {
        Value::Array(items) => (items.as_slice(), true),
        _ => (one, false),
    };
    for (i, item) in items.iter().enumerate() {
        let type_ = item
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        let data = item.get("data").unwrap_or(&Value::Null);
        if let Some(p) = schema_problem(schemas, batch.then_some(i), type_, data) {
            return Err(rules::rejection("", Path::CloudEvent, vec![p]));
        }
    }
    Ok(())
}

fn schema_problem(
    schemas: &Validators,
    index: Option<usize>,
    type_: &str,
    data: &Value,
) -> Option<Problem> {
    let message = schemas::violation(schemas, type_, || Cow::Borrowed(data))?;
    let at = index.map(|i| format!(" events[{i}]")).unwrap_or_default();
    Some(Problem::new(
        index,
        Rule::Schema,
        format!("invalid CloudEvent{at}: {message}"),
    ))
}

/// The problems found in one CloudEvent so far, each message naming it.
struct Found {
    index: Option<usize>,
    /// " events[i]" in a batch, else empty.
    at: String,
    problems: Vec<Problem>,
}

impl Found {
    fn new(index: Option<usize>) -> Self {
        Found {
            index,
            at: index.map(|i| format!(" events[{i}]")).unwrap_or_default(),
            problems: Vec::new(),
        }
    }

    /// A CloudEvents rule broken.
    fn broken(&mut self, message: impl Into<String>) {
        let message = format!("invalid CloudEvent{}: {}", self.at, message.into());
        self.problems
            .push(Problem::new(self.index, Rule::CloudEvents, message));
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn required_string<'a>(
    found: &mut Found,
    obj: &'a Map<String, Value>,
    name: &str,
) -> Option<&'a str> {
    match obj.get(name) {
        None | Some(Value::Null) => found.broken(format!("required attribute {name} is missing")),
        Some(Value::String(s)) if !s.is_empty() => return Some(s),
        Some(Value::String(_)) => found.broken(format!("attribute {name} must not be empty")),
        Some(other) => found.broken(format!(
            "attribute {name} must be a string, got {}",
            kind(other)
        )),
    }
    None
}

/// The attribute's value; `Err` when it breaks a rule (recorded in `found`).
fn optional_string(
    found: &mut Found,
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ()> {
    match obj.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if !s.is_empty() => return Ok(Some(s.clone())),
        Some(Value::String(_)) => {
            found.broken(format!("attribute {name} must not be empty when present"))
        }
        Some(other) => found.broken(format!(
            "attribute {name} must be a string, got {}",
            kind(other)
        )),
    }
    Err(())
}

/// Extension attribute names: lower-case ASCII letters and digits (spec 1.0.2, "Attribute Naming Convention").
pub fn valid_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// One CloudEvent as a row, or every rule it breaks (at least one), in the
/// order of the spec's attributes: the first is what an append raises.
fn parse_one(
    i: Option<usize>,
    obj: &Map<String, Value>,
    max_data_bytes: usize,
) -> Result<CloudEvent, Vec<Problem>> {
    let mut found = Found::new(i);
    let id = required_string(&mut found, obj, "id");
    let source = required_string(&mut found, obj, "source");
    if let Some(specversion) = required_string(&mut found, obj, "specversion") {
        if specversion != "1.0" {
            found.broken(format!("specversion must be \"1.0\", got {specversion:?}"));
        }
    }
    let type_ = required_string(&mut found, obj, "type");
    let subject = optional_string(&mut found, obj, "subject");
    let datacontenttype = optional_string(&mut found, obj, "datacontenttype").unwrap_or(None);
    let dataschema = optional_string(&mut found, obj, "dataschema").unwrap_or(None);
    let time = optional_string(&mut found, obj, "time").unwrap_or(None);
    if let Some(t) = &time {
        if !is_rfc3339(t) {
            found.broken(format!(
                "time must be an RFC 3339 timestamp such as \"2026-11-24T10:15:00Z\", got {t:?}"
            ));
        }
    }
    if obj.contains_key("data_base64") {
        found.broken("data_base64 (binary data) is not supported: pg_bss stores data as JSON");
    }

    let mut metadata = Map::new();
    for (name, value) in obj {
        if CORE.contains(&name.as_str()) {
            continue;
        }
        if !valid_extension_name(name) {
            found.broken(format!("extension attribute name {name:?} must consist of lower-case letters a-z and digits 0-9"));
            continue;
        }
        match value {
            Value::Null => {}
            Value::String(_) | Value::Bool(_) | Value::Number(_) => {
                metadata.insert(name.clone(), value.clone());
            }
            other => found.broken(format!(
                "extension attribute {name} must be a string, number or boolean, got {}",
                kind(other)
            )),
        }
    }

    let stream = match (obj.get("partitionkey"), &subject) {
        (Some(Value::String(k)), _) if !k.is_empty() => Some(k.clone()),
        (Some(Value::String(_)) | None | Some(Value::Null), Ok(Some(s))) => Some(s.clone()),
        (Some(Value::String(_)) | None | Some(Value::Null), Ok(None)) => {
            found.broken("no stream: set the partitionkey extension attribute or subject");
            None
        }
        // A subject that breaks a rule is named already; it is no stream either.
        (Some(Value::String(_)) | None | Some(Value::Null), Err(())) => None,
        (Some(other), _) => {
            found.broken(format!(
                "partitionkey must be a string, got {}",
                kind(other)
            ));
            None
        }
    };
    if let Some(Err(e)) = stream.as_deref().map(|s| stream_id::check(Some(s))) {
        found.problems.push(Problem {
            index: i,
            rule: Rule::CloudEventsStream,
            message: format!("invalid CloudEvent{}: {}", found.at, e.message),
            detail: e.detail,
            hint: e.hint,
        });
    }

    let data = obj.get("data").cloned().unwrap_or(Value::Null).to_string();
    if data.len() > max_data_bytes {
        found.problems.push(Problem::new(
            i,
            Rule::CloudEventsSize,
            format!(
                "CloudEvent {}data is {} bytes, over bss.max_data_bytes ({max_data_bytes})",
                i.map(|i| format!("events[{i}] ")).unwrap_or_default(),
                data.len()
            ),
        ));
    }

    let (Some(id), Some(source), Some(type_), Some(stream_id), Ok(subject), true) = (
        id,
        source,
        type_,
        stream,
        subject,
        found.problems.is_empty(),
    ) else {
        return Err(found.problems);
    };
    let event_id = match uuid::Uuid::parse_str(id) {
        Ok(u) if u.hyphenated().to_string() == id => u,
        _ => {
            metadata.insert("ce_id".into(), Value::String(id.to_owned()));
            uuid::Uuid::new_v5(&ID_NAMESPACE, format!("{source}\n{id}").as_bytes())
        }
    };

    Ok(CloudEvent {
        stream_id,
        event_id,
        source: source.to_owned(),
        type_: type_.to_owned(),
        subject,
        time,
        datacontenttype,
        dataschema,
        data,
        metadata: Value::Object(metadata).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"specversion": "1.0", "id": "A234-1234-1234", "source": "/billing", "type": "invoice.issued",
               "subject": "customer-42", "time": "2026-11-24T10:15:00.123Z", "data": {"amount": 10}})
    }

    #[test]
    fn a_valid_event_maps_to_a_row() {
        let evs = parse(&base(), 1 << 20, 10).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].stream_id, "customer-42");
        assert!(evs[0].metadata.contains("\"ce_id\":\"A234-1234-1234\""));
        assert_eq!(evs[0].data, r#"{"amount":10}"#);
    }

    #[test]
    fn the_same_source_and_id_give_the_same_event_id() {
        let a = parse(&base(), 1 << 20, 10).unwrap();
        let b = parse(&base(), 1 << 20, 10).unwrap();
        assert_eq!(a[0].event_id, b[0].event_id);
        let mut other = base();
        other["source"] = json!("/crm");
        assert_ne!(
            parse(&other, 1 << 20, 10).unwrap()[0].event_id,
            a[0].event_id
        );
    }

    #[test]
    fn partitionkey_wins_over_subject() {
        let mut v = base();
        v["partitionkey"] = json!("account-7");
        assert_eq!(parse(&v, 1 << 20, 10).unwrap()[0].stream_id, "account-7");
    }

    #[test]
    fn missing_required_attributes_are_rejected() {
        for attr in ["id", "source", "type", "specversion"] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(attr);
            let err = parse(&v, 1 << 20, 10).unwrap_err();
            assert_eq!(err.state, SqlState::InvalidCloudEvent);
            assert!(err.message.contains(attr), "{attr}: {}", err.message);
        }
    }

    #[test]
    fn wrong_specversion_bad_time_and_bad_extension_names_are_rejected() {
        let mut v = base();
        v["specversion"] = json!("0.3");
        assert!(parse(&v, 1 << 20, 10)
            .unwrap_err()
            .message
            .contains("specversion"));
        let mut v = base();
        v["time"] = json!("yesterday");
        assert!(parse(&v, 1 << 20, 10)
            .unwrap_err()
            .message
            .contains("RFC 3339"));
        let mut v = base();
        v["Tenant_ID"] = json!("x");
        assert!(parse(&v, 1 << 20, 10)
            .unwrap_err()
            .message
            .contains("Tenant_ID"));
    }

    #[test]
    fn an_event_without_stream_is_rejected() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("subject");
        assert!(parse(&v, 1 << 20, 10)
            .unwrap_err()
            .message
            .contains("partitionkey"));
    }

    #[test]
    fn batch_errors_name_the_index() {
        let mut bad = base();
        bad["type"] = json!(7);
        let err = parse(&json!([base(), bad]), 1 << 20, 10).unwrap_err();
        assert!(err.message.contains("events[1]"), "{}", err.message);
        assert_eq!(
            parse(&json!([]), 1 << 20, 10).unwrap_err().state,
            SqlState::InvalidBatch
        );
        assert_eq!(
            parse(&json!("x"), 1 << 20, 10).unwrap_err().state,
            SqlState::InvalidBatch
        );
    }

    #[test]
    fn oversized_data_is_rejected() {
        let mut v = base();
        v["data"] = json!({"blob": "x".repeat(2000)});
        assert_eq!(
            parse(&v, 1024, 10).unwrap_err().state,
            SqlState::EventTooLarge
        );
    }
}
