//! CloudEvents v1.0.2 in structured JSON mode: validation and the mapping to
//! rows of `bss.events`.
//!
//! Mapping: the stream is the `partitionkey` extension attribute, else
//! `subject`. CloudEvents ids are unique per `source`, so an id that is not a
//! canonical UUID becomes a name-based UUIDv5 of (source, id), and the original
//! id is kept in `metadata.ce_id`. Extension attributes go to `metadata`.
//! This module parses and validates only; it never writes.

use serde_json::{Map, Value};

use crate::error::{BssError, BssResult, SqlState};

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

fn invalid(index: Option<usize>, message: impl Into<String>) -> BssError {
    let at = index.map(|i| format!(" events[{i}]")).unwrap_or_default();
    BssError::new(SqlState::InvalidCloudEvent, format!("invalid CloudEvent{at}: {}", message.into())).hint(
        "A CloudEvents 1.0.2 JSON event needs string attributes id, source, type and specversion \"1.0\"; \
         the stream comes from the partitionkey extension or subject. Nothing was stored.",
    )
}

/// Parses one event (an object) or a batch (an array of them).
pub fn parse(
    value: &Value,
    max_data_bytes: usize,
    max_events: usize,
) -> BssResult<Vec<CloudEvent>> {
    match value {
        Value::Object(obj) => Ok(vec![parse_one(None, obj, max_data_bytes)?]),
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
                    return Err(invalid(Some(i), format!("must be a JSON object, got {}", kind(item))));
                };
                let ev = parse_one(Some(i), obj, max_data_bytes)?;
                if !seen.insert(ev.event_id) {
                    return Err(invalid(Some(i), format!("id {:?} from source {:?} appears more than once", obj["id"], ev.source)));
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
    i: Option<usize>,
    obj: &'a Map<String, Value>,
    name: &str,
) -> BssResult<&'a str> {
    match obj.get(name) {
        None | Some(Value::Null) => {
            Err(invalid(i, format!("required attribute {name} is missing")))
        }
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(invalid(i, format!("attribute {name} must not be empty"))),
        Some(other) => Err(invalid(
            i,
            format!("attribute {name} must be a string, got {}", kind(other)),
        )),
    }
}

fn optional_string(
    i: Option<usize>,
    obj: &Map<String, Value>,
    name: &str,
) -> BssResult<Option<String>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(invalid(
            i,
            format!("attribute {name} must not be empty when present"),
        )),
        Some(other) => Err(invalid(
            i,
            format!("attribute {name} must be a string, got {}", kind(other)),
        )),
    }
}

/// Extension attribute names: lower-case ASCII letters and digits (spec 1.0.2, "Attribute Naming Convention").
pub fn valid_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`, with field ranges.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    if !matches!(b[10], b'T' | b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') <= 23
                && (*m1 - b'0') * 10 + (*m2 - b'0') <= 59
        }
        _ => false,
    }
}

fn parse_one(
    i: Option<usize>,
    obj: &Map<String, Value>,
    max_data_bytes: usize,
) -> BssResult<CloudEvent> {
    let id = required_string(i, obj, "id")?;
    let source = required_string(i, obj, "source")?;
    let specversion = required_string(i, obj, "specversion")?;
    if specversion != "1.0" {
        return Err(invalid(
            i,
            format!("specversion must be \"1.0\", got {specversion:?}"),
        ));
    }
    let type_ = required_string(i, obj, "type")?;
    let subject = optional_string(i, obj, "subject")?;
    let datacontenttype = optional_string(i, obj, "datacontenttype")?;
    let dataschema = optional_string(i, obj, "dataschema")?;
    let time = optional_string(i, obj, "time")?;
    if let Some(t) = &time {
        if !is_rfc3339(t) {
            return Err(invalid(i, format!("time must be an RFC 3339 timestamp such as \"2026-11-24T10:15:00Z\", got {t:?}")));
        }
    }
    if obj.contains_key("data_base64") {
        return Err(invalid(
            i,
            "data_base64 (binary data) is not supported: pg_bss stores data as JSON",
        ));
    }

    let mut metadata = Map::new();
    for (name, value) in obj {
        if CORE.contains(&name.as_str()) {
            continue;
        }
        if !valid_extension_name(name) {
            return Err(invalid(
                i,
                format!("extension attribute name {name:?} must consist of lower-case letters a-z and digits 0-9"),
            ));
        }
        match value {
            Value::Null => {}
            Value::String(_) | Value::Bool(_) | Value::Number(_) => {
                metadata.insert(name.clone(), value.clone());
            }
            other => {
                return Err(invalid(
                    i,
                    format!(
                        "extension attribute {name} must be a string, number or boolean, got {}",
                        kind(other)
                    ),
                ))
            }
        }
    }

    let stream_id = match (obj.get("partitionkey"), &subject) {
        (Some(Value::String(k)), _) if !k.is_empty() => k.clone(),
        (Some(Value::String(_)) | None | Some(Value::Null), Some(s)) => s.clone(),
        (Some(Value::String(_)) | None | Some(Value::Null), None) => {
            return Err(invalid(
                i,
                "no stream: set the partitionkey extension attribute or subject",
            ))
        }
        (Some(other), _) => {
            return Err(invalid(
                i,
                format!("partitionkey must be a string, got {}", kind(other)),
            ))
        }
    };
    crate::append::check_stream_id(Some(&stream_id)).map_err(|e| {
        let at = i.map(|i| format!(" events[{i}]")).unwrap_or_default();
        BssError {
            message: format!("invalid CloudEvent{at}: {}", e.message),
            ..e
        }
    })?;

    let event_id = match uuid::Uuid::parse_str(id) {
        Ok(u) if u.hyphenated().to_string() == id => u,
        _ => {
            metadata.insert("ce_id".into(), Value::String(id.to_owned()));
            uuid::Uuid::new_v5(&ID_NAMESPACE, format!("{source}\n{id}").as_bytes())
        }
    };

    let data = obj.get("data").cloned().unwrap_or(Value::Null).to_string();
    if data.len() > max_data_bytes {
        return Err(BssError::new(
            SqlState::EventTooLarge,
            format!(
                "CloudEvent {}data is {} bytes, over bss.max_data_bytes ({max_data_bytes})",
                i.map(|i| format!("events[{i}] ")).unwrap_or_default(),
                data.len()
            ),
        )
        .hint("Keep large documents outside the event and reference them, or raise bss.max_data_bytes."));
    }

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

    #[test]
    fn rfc3339_accepts_offsets_and_fractions_and_rejects_the_rest() {
        for ok in [
            "2026-11-24T10:15:00Z",
            "2026-11-24t10:15:00.5+02:00",
            "1990-12-31T23:59:60-08:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-11-24T10:15:00",
            "2026-11-24 10:15:00Z",
            "2026-11-24T10:15:00.Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
