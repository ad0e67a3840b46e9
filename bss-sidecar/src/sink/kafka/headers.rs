//! Owns the CloudEvents Kafka protocol binding, binary content mode: an
//! event's record value is `data` and its headers are the context
//! attributes as `ce_*`, `content-type` for `datacontenttype`, extension
//! attributes from the metadata, and `bss_*` for the event's place in the
//! store and its tenant. Must give a redelivered event the same headers.
//!
//! The binding is written by hand: cloudevents-sdk 0.9's `rdkafka` feature
//! pins rdkafka 0.38 (with `cmake-build`), and two rdkafka-sys versions
//! cannot link into one binary next to our rdkafka 0.39. The mapping is a
//! dozen headers; `headers()` below is all of it.

use std::borrow::Cow;

use rdkafka::message::{Header, OwnedHeaders};

use crate::event::Event;

/// Context attributes of CloudEvents; metadata keys with these names are not
/// extensions.
const CE_CORE: &[&str] = &[
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

/// PostgreSQL's text form of an LSN: `16/B374D848`.
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Whether `name` may be a CloudEvents attribute name (v1.0.2: lower-case
/// letters and digits, at most 20 characters).
fn is_ce_attribute_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_json_media_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media.is_empty()
        || media == "application/json"
        || media == "text/json"
        || media.ends_with("+json")
}

/// The record value: `data` as stored (JSON text). With a non-JSON
/// `datacontenttype` (`text/plain`), a JSON string is sent as its contents,
/// as binary mode carries data in its own media type.
pub fn value(e: &Event) -> Cow<'_, str> {
    if !is_json_media_type(&e.datacontenttype) && e.data.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(&e.data) {
            return Cow::Owned(s);
        }
    }
    Cow::Borrowed(&e.data)
}

/// The headers of an event's record: CloudEvents binary mode plus `bss_*`.
pub fn headers(e: &Event) -> OwnedHeaders {
    let mut h = HeaderList(Some(OwnedHeaders::new_with_capacity(16)));
    let mut add = |key: &str, value: &str| h.add(key, value);
    add("ce_specversion", "1.0");
    add("ce_id", &e.ce_id());
    add("ce_source", &e.source);
    add("ce_type", &e.event_type);
    add("ce_time", &e.time);
    if let Some(subject) = &e.subject {
        add("ce_subject", subject);
    }
    if let Some(schema) = &e.dataschema {
        add("ce_dataschema", schema);
    }
    if !e.datacontenttype.is_empty() {
        add("content-type", &e.datacontenttype);
    }
    if let Ok(serde_json::Value::Object(meta)) = serde_json::from_str(&e.metadata) {
        for (name, v) in &meta {
            if !is_ce_attribute_name(name) || CE_CORE.contains(&name.as_str()) {
                continue;
            }
            let text = match v {
                serde_json::Value::String(s) => Cow::Borrowed(s.as_str()),
                serde_json::Value::Number(n) => Cow::Owned(n.to_string()),
                serde_json::Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
                _ => continue,
            };
            add(&format!("ce_{name}"), &text);
        }
    }
    add("bss_stream_version", &e.stream_version.to_string());
    add("bss_global_position", &e.global_position.to_string());
    add("bss_commit_lsn", &lsn_text(e.commit_lsn));
    if !e.region.is_empty() {
        add("bss_region", &e.region);
    }
    add("bss_tenant", &e.tenant);
    h.0.unwrap_or_default()
}

/// `OwnedHeaders::insert` takes and returns the list; this keeps it in place.
struct HeaderList(Option<OwnedHeaders>);

impl HeaderList {
    fn add(&mut self, key: &str, value: &str) {
        self.0 = self.0.take().map(|h| {
            h.insert(Header {
                key,
                value: Some(value),
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event::example;
    use rdkafka::message::Headers;

    fn header_map(h: &OwnedHeaders) -> BTreeMap<String, String> {
        h.iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn lsn_is_written_as_postgresql_does() {
        assert_eq!(lsn_text(0x16_B374_D848), "16/B374D848");
        assert_eq!(lsn_text(0), "0/0");
        assert_eq!(lsn_text(0x1_0000_0001), "1/1");
    }

    #[test]
    fn headers_carry_cloudevents_attributes_and_store_position() {
        let mut e = example("customer-42", 3);
        e.subject = Some("msisdn-316".into());
        e.dataschema = Some("https://schemas.example/usage/1".into());
        e.commit_lsn = 0x16_B374_D848;
        e.global_position = 9_000_000_001;
        e.tenant = "acme".into();
        let h = header_map(&headers(&e));
        assert_eq!(h["ce_specversion"], "1.0");
        assert_eq!(h["ce_id"], e.event_id);
        assert_eq!(h["ce_source"], "/pg_bss");
        assert_eq!(h["ce_type"], "usage.recorded");
        assert_eq!(h["ce_time"], e.time);
        assert_eq!(h["ce_subject"], "msisdn-316");
        assert_eq!(h["ce_dataschema"], "https://schemas.example/usage/1");
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["bss_stream_version"], "3");
        assert_eq!(h["bss_global_position"], "9000000001");
        assert_eq!(h["bss_commit_lsn"], "16/B374D848");
        assert_eq!(h["bss_region"], "local");
        assert_eq!(h["bss_tenant"], "acme");
    }

    #[test]
    fn only_valid_scalar_extension_attributes_become_ce_headers() {
        let mut e = example("ticket-7", 1);
        e.metadata = r#"{"ce_id":"T-1","tenant":"acme","priority":3,"urgent":true,
            "correlation_id":"x","Tenant":"no","nested":{"a":1},"list":[1],"none":null,
            "source":"/evil","waytoolongforanattribute":"x"}"#
            .into();
        let h = header_map(&headers(&e));
        assert_eq!(h["ce_id"], "T-1");
        assert_eq!(h["ce_source"], "/pg_bss");
        assert_eq!(h["ce_tenant"], "acme");
        assert_eq!(h["ce_priority"], "3");
        assert_eq!(h["ce_urgent"], "true");
        let ce: Vec<_> = h.keys().filter(|k| k.starts_with("ce_")).collect();
        assert_eq!(
            ce,
            [
                "ce_id",
                "ce_priority",
                "ce_source",
                "ce_specversion",
                "ce_tenant",
                "ce_time",
                "ce_type",
                "ce_urgent"
            ]
        );
    }

    #[test]
    fn value_is_data_and_a_text_payload_is_unquoted() {
        let mut e = example("ticket-7", 1);
        assert_eq!(value(&e), e.data);
        e.datacontenttype = "application/cloudevents+json; charset=utf-8".into();
        e.data = r#""kept""#.into();
        assert_eq!(value(&e), r#""kept""#);
        e.datacontenttype = "text/plain".into();
        e.data = r#""no signal \"at\" home""#.into();
        assert_eq!(value(&e), r#"no signal "at" home"#);
        e.data = "42".into();
        assert_eq!(value(&e), "42");
    }
}
