//! Owns the event as the sidecar carries it: decoded from a `bss.events` row
//! of the replication stream, stored in the spool (MessagePack through
//! bss-wal's TypedLog), and handed to the sinks. Must keep every column a
//! sink needs; never derives anything a sink could get wrong twice.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch at `t`, the unit of commit times
/// (0 before the epoch).
pub fn unix_us(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Now, in the unit of commit times.
pub fn now_us() -> i64 {
    unix_us(SystemTime::now())
}

/// One event of the store, with the commit that published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// End LSN of the commit record of its transaction: what the sidecar
    /// confirms to PostgreSQL once the transaction is in the spool.
    pub commit_lsn: u64,
    /// 0-based index of the event within its transaction.
    pub txn_index: u32,
    /// Commit time, microseconds since the Unix epoch.
    pub commit_time_us: i64,
    pub global_position: i64,
    pub stream_id: String,
    pub stream_version: i64,
    /// The event's UUID (CloudEvents `id`, unless `metadata.ce_id` is set).
    pub event_id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: Option<String>,
    /// CloudEvents `time`, RFC 3339 in UTC.
    pub time: String,
    pub datacontenttype: String,
    pub dataschema: Option<String>,
    /// The payload, as JSON text.
    pub data: String,
    /// Extension attributes and other metadata, a JSON object as text.
    pub metadata: String,
    pub region: String,
    /// When the store recorded it, RFC 3339 in UTC.
    pub recorded_at: String,
    /// The tenant whose event it is (`bss.events.tenant`). Spooled by a
    /// sidecar older than tenants: `default`, the tenant of every event
    /// stored before them.
    #[serde(default = "default_tenant")]
    pub tenant: String,
}

fn default_tenant() -> String {
    "default".to_owned()
}

impl Event {
    /// The part of `stream_id` before the first `-` (`customer-42` →
    /// `customer`), as the store's generated `category` column.
    pub fn category(&self) -> &str {
        self.stream_id.split('-').next().unwrap_or("")
    }

    /// The CloudEvents `id`: `metadata.ce_id` when the event came in as a
    /// CloudEvent whose id was not a UUID, else `event_id`. Metadata without
    /// a `ce_id` member (most events) is not parsed: the store prints member
    /// names without escapes.
    pub fn ce_id(&self) -> Cow<'_, str> {
        if !self.metadata.contains("\"ce_id\"") {
            return Cow::Borrowed(&self.event_id);
        }
        #[derive(serde::Deserialize)]
        struct Metadata {
            ce_id: Option<serde_json::Value>,
        }
        match serde_json::from_str::<Metadata>(&self.metadata) {
            Ok(Metadata {
                ce_id: Some(serde_json::Value::String(id)),
            }) => Cow::Owned(id),
            _ => Cow::Borrowed(&self.event_id),
        }
    }
}

/// An event with its sequence number in the spool. The event is shared:
/// every sink reading the spool's recent tail gets the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub seq: u64,
    pub event: Arc<Event>,
}

/// A sample event for tests and examples.
pub fn example(stream_id: &str, version: i64) -> Event {
    Event {
        commit_lsn: 0x1_0000 + version as u64,
        txn_index: 0,
        commit_time_us: 1_795_000_000_000_000,
        global_position: version,
        stream_id: stream_id.to_owned(),
        stream_version: version,
        event_id: format!("0190f0f0-0000-7000-8000-{version:012x}"),
        source: "/pg_bss".to_owned(),
        event_type: "usage.recorded".to_owned(),
        subject: None,
        time: "2026-11-24T07:12:37.123456Z".to_owned(),
        datacontenttype: "application/json".to_owned(),
        dataschema: None,
        data: format!(r#"{{"bytes":{version}}}"#),
        metadata: "{}".to_owned(),
        region: "local".to_owned(),
        recorded_at: "2026-11-24T07:12:37.123456Z".to_owned(),
        tenant: "default".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_is_the_part_before_the_first_dash() {
        assert_eq!(example("customer-42-x", 1).category(), "customer");
        assert_eq!(example("nodash", 1).category(), "nodash");
    }

    #[test]
    fn ce_id_prefers_the_original_cloudevents_id() {
        let mut e = example("customer-1", 1);
        assert_eq!(e.ce_id(), e.event_id);
        e.metadata = r#"{"ce_id":"order-17"}"#.to_owned();
        assert_eq!(e.ce_id(), "order-17");
    }
}
