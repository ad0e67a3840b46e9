//! The arrivals file `watch` writes and `account` reads: what reached Kafka
//! and Redis, and when. Owns the format; must never hold anything the
//! watcher did not see (no inferred arrivals).
//!
//! Format: JSON lines, one per arrival, then the aggregate versions, then
//! one end line:
//!
//! ```text
//! {"sink": "kafka", "ce_id": "0190…", "stream_id": "usage-r1-7", "version": 3,
//!  "topic": "bss.usage", "partition": 2, "offset": 17, "epoch": 0, "at_unix": 1765000000.512}
//! {"sink": "redis", "ce_id": "0190…", "stream_id": "usage-r1-7", "version": 3,
//!  "key": "bss:events:usage", "entry_id": "24587512-0", "at_unix": 1765000000.498}
//! {"sink": "redis_aggregate", "stream_id": "usage-r1-7", "version": 3, "at_unix": 1765000031.0}
//! {"end": true, "reason": "settled" | "settle_timeout" | "signal", "at_unix": 1765000031.2}
//! ```
//!
//! A Kafka arrival is one record at one (topic, partition, epoch, offset),
//! written once however often it was fetched (`epoch` counts the broker
//! outages the watcher saw: after one, the broker may be an empty one whose
//! offsets start again); a Redis arrival is one stream entry.
//! `version` is the record's `bss_stream_version` header or the entry's
//! `version` field. A `redis_aggregate` line gives the `version` field of
//! the stream's aggregate hash when the watch ended (null: no hash); a
//! stream without such a line was not read (Redis unreachable at the end).
//! Only events named in the history are written.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

/// One record of an event in a Kafka topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaArrival {
    pub ce_id: String,
    pub stream_id: String,
    pub version: i64,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The watcher's count of broker outages when the record was read: a
    /// broker that came back empty starts its offsets again, so records are
    /// ordered by (epoch, offset) within a partition.
    #[serde(default)]
    pub epoch: u32,
    pub at_unix: f64,
}

/// One entry of an event in a Redis category stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisArrival {
    pub ce_id: String,
    pub stream_id: String,
    pub version: i64,
    pub key: String,
    pub entry_id: String,
    pub at_unix: f64,
}

impl RedisArrival {
    /// The entry id `<ms>-<seq>` as numbers, for ordering (Redis orders
    /// them so); None for an id that is not of that form.
    pub fn entry_order(&self) -> Option<(u64, u64)> {
        let (a, b) = self.entry_id.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }
}

/// The version in a stream's aggregate hash when the watch ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateVersion {
    pub stream_id: String,
    /// None: the hash (or its version field) does not exist.
    pub version: Option<i64>,
    pub at_unix: f64,
}

/// One line that is not the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "sink", rename_all = "snake_case")]
pub enum Record {
    Kafka(KafkaArrival),
    Redis(RedisArrival),
    RedisAggregate(AggregateVersion),
}

/// Why the watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Every acknowledged event arrived in both sinks.
    Settled,
    /// --settle-timeout passed after the history's end line.
    SettleTimeout,
    /// SIGTERM or SIGINT.
    Signal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndLine {
    pub end: bool,
    pub reason: EndReason,
    pub at_unix: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Record(Record),
    End(EndLine),
}

/// Everything an arrivals file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arrivals {
    pub kafka: Vec<KafkaArrival>,
    pub redis: Vec<RedisArrival>,
    pub aggregates: Vec<AggregateVersion>,
    /// None when the file has no end line (the watch did not finish).
    pub end: Option<EndLine>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArrivalsError {
    #[error("reading the arrivals: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line} of the arrivals is not an arrival: {source}")]
    Parse {
        line: usize,
        source: serde_json::Error,
    },
}

impl Arrivals {
    /// Reads the file's lines.
    pub fn read(input: impl BufRead) -> Result<Arrivals, ArrivalsError> {
        let mut a = Arrivals::default();
        for (i, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: Line =
                serde_json::from_str(&line).map_err(|source| ArrivalsError::Parse {
                    line: i + 1,
                    source,
                })?;
            match parsed {
                Line::Record(Record::Kafka(k)) => a.kafka.push(k),
                Line::Record(Record::Redis(r)) => a.redis.push(r),
                Line::Record(Record::RedisAggregate(g)) => a.aggregates.push(g),
                Line::End(e) => a.end = Some(e),
            }
        }
        Ok(a)
    }

    /// Writes the lines: Kafka, Redis, aggregates, then the end line.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut line = |l: &Line| -> std::io::Result<()> {
            serde_json::to_writer(&mut *out, l)?;
            out.write_all(b"\n")
        };
        for k in &self.kafka {
            line(&Line::Record(Record::Kafka(k.clone())))?;
        }
        for r in &self.redis {
            line(&Line::Record(Record::Redis(r.clone())))?;
        }
        for g in &self.aggregates {
            line(&Line::Record(Record::RedisAggregate(g.clone())))?;
        }
        if let Some(e) = &self.end {
            line(&Line::End(e.clone()))?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_round_trip_through_their_lines() {
        let a = Arrivals {
            kafka: vec![KafkaArrival {
                ce_id: "a".into(),
                stream_id: "usage-r-1".into(),
                version: 1,
                topic: "bss.usage".into(),
                partition: 2,
                offset: 7,
                epoch: 1,
                at_unix: 10.5,
            }],
            redis: vec![RedisArrival {
                ce_id: "a".into(),
                stream_id: "usage-r-1".into(),
                version: 1,
                key: "bss:events:usage".into(),
                entry_id: "123-4".into(),
                at_unix: 10.25,
            }],
            aggregates: vec![AggregateVersion {
                stream_id: "usage-r-1".into(),
                version: None,
                at_unix: 11.0,
            }],
            end: Some(EndLine {
                end: true,
                reason: EndReason::Settled,
                at_unix: 12.0,
            }),
        };
        let mut buf = Vec::new();
        a.write(&mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.lines().next().unwrap().contains(r#""sink":"kafka""#));
        assert!(text.contains(r#""sink":"redis_aggregate""#));
        assert_eq!(Arrivals::read(&buf[..]).unwrap(), a);
        assert_eq!(a.redis[0].entry_order(), Some((123, 4)));
    }
}
