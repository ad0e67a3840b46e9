//! Watching Kafka: every partition of the topics the simulator's
//! categories map to, from the beginning, each record's `ce_id` and
//! `bss_stream_version` headers and key (the stream id). Topics that do not
//! exist yet are looked for again every second; when the broker is down
//! librdkafka reconnects and the consumer resumes after the last offset
//! seen. Must never create or change a topic, never commit offsets, and
//! never give up on a broker error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::collected::{unix_now, Collected};
use crate::arrivals::KafkaArrival;

/// How often the topics' partitions are looked up again: often while a
/// topic is missing (its first records' arrival times wait for it), seldom
/// once every topic has partitions.
const METADATA_INTERVAL_MISSING: Duration = Duration::from_millis(250);
const METADATA_INTERVAL: Duration = Duration::from_secs(5);
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one poll waits for a record: bounds how late a stop is seen.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// Errors logged one by one before only every thousandth is.
const ERRORS_LOGGED: u64 = 10;

#[derive(Debug, thiserror::Error)]
#[error("creating a Kafka consumer for {brokers}: {source}")]
pub struct KafkaWatchError {
    brokers: String,
    source: rdkafka::error::KafkaError,
}

/// Starts the thread that consumes `topics` from `brokers` into `seen`
/// until `stop` is set.
pub fn spawn(
    brokers: &str,
    topics: Vec<String>,
    seen: Arc<Collected>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, KafkaWatchError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", "bss-chaos-check")
        .set(
            "group.id",
            format!("bss-chaos-check-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false")
        .set("auto.offset.reset", "earliest")
        .set("socket.timeout.ms", "10000")
        .set("fetch.wait.max.ms", "50")
        .create()
        .map_err(|source| KafkaWatchError {
            brokers: brokers.to_owned(),
            source,
        })?;
    let handle = std::thread::Builder::new()
        .name("watch-kafka".into())
        .spawn(move || Watcher::new(consumer, topics).run(&seen, &stop))
        .map_err(|e| KafkaWatchError {
            brokers: brokers.to_owned(),
            source: rdkafka::error::KafkaError::ClientCreation(e.to_string()),
        })?;
    Ok(handle)
}

struct Watcher {
    consumer: BaseConsumer,
    topics: Vec<String>,
    /// Every partition assigned, and the offset after the last record seen
    /// (None: none seen, start at the beginning).
    next: BTreeMap<(String, i32), Option<i64>>,
    errors: u64,
}

impl Watcher {
    fn new(consumer: BaseConsumer, topics: Vec<String>) -> Self {
        Watcher {
            consumer,
            topics,
            next: BTreeMap::new(),
            errors: 0,
        }
    }

    fn run(mut self, seen: &Collected, stop: &AtomicBool) {
        let mut looked = None::<Instant>;
        while !stop.load(Ordering::SeqCst) {
            let every = if self.every_topic_assigned() {
                METADATA_INTERVAL
            } else {
                METADATA_INTERVAL_MISSING
            };
            if looked.is_none_or(|t| t.elapsed() >= every) {
                looked = Some(Instant::now());
                self.assign_new_partitions();
            }
            if self.next.is_empty() {
                std::thread::sleep(POLL_TIMEOUT);
                continue;
            }
            match self.consumer.poll(POLL_TIMEOUT) {
                None => {}
                Some(Ok(msg)) => {
                    let key = (msg.topic().to_owned(), msg.partition());
                    self.next.insert(key, Some(msg.offset() + 1));
                    if let Some(a) = arrival(&msg) {
                        seen.lock().kafka(a);
                    }
                }
                Some(Err(e)) => self.error("kafka consumer error", &e),
            }
        }
        info!(partitions = self.next.len(), "kafka watch stopped");
    }

    fn every_topic_assigned(&self) -> bool {
        self.topics
            .iter()
            .all(|t| self.next.keys().any(|(topic, _)| topic == t))
    }

    fn error(&mut self, what: &str, e: &dyn std::fmt::Display) {
        self.errors += 1;
        if self.errors <= ERRORS_LOGGED || self.errors.is_multiple_of(1000) {
            warn!(error = %e, errors = self.errors, "{what}");
        }
    }

    /// Looks the topics up and assigns partitions not assigned yet (with
    /// the others at the offset after the last record seen).
    fn assign_new_partitions(&mut self) {
        let mut added = 0;
        for topic in self.topics.clone() {
            let md = match self.consumer.fetch_metadata(Some(&topic), METADATA_TIMEOUT) {
                Ok(md) => md,
                Err(e) => {
                    self.error("kafka metadata not available", &e);
                    continue;
                }
            };
            let Some(t) = md
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
            else {
                continue;
            };
            for p in t.partitions() {
                if let std::collections::btree_map::Entry::Vacant(v) =
                    self.next.entry((topic.clone(), p.id()))
                {
                    v.insert(None);
                    added += 1;
                }
            }
        }
        if added == 0 {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &self.next {
            let offset = next.map_or(Offset::Beginning, Offset::Offset);
            if let Err(e) = tpl.add_partition_offset(topic, *partition, offset) {
                self.error("kafka assignment", &e);
                return;
            }
        }
        match self.consumer.assign(&tpl) {
            Ok(()) => info!(
                partitions = self.next.len(),
                added, "kafka watch assigned partitions"
            ),
            Err(e) => {
                // Forget the new ones, so the next lookup adds them again.
                self.next.retain(|_, n| n.is_some());
                self.error("kafka assignment", &e);
            }
        }
    }
}

/// The arrival a record stands for; None for a record without the
/// sidecar's headers (not an event of pg_bss).
fn arrival(msg: &BorrowedMessage<'_>) -> Option<KafkaArrival> {
    let headers = msg.headers()?;
    let mut ce_id = None;
    let mut version = None;
    for h in headers.iter() {
        match h.key {
            "ce_id" => ce_id = h.value.and_then(|v| std::str::from_utf8(v).ok()),
            "bss_stream_version" => {
                version = h
                    .value
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.parse::<i64>().ok())
            }
            _ => {}
        }
    }
    let stream_id = msg.key().and_then(|k| std::str::from_utf8(k).ok())?;
    Some(KafkaArrival {
        ce_id: ce_id?.to_ascii_lowercase(),
        stream_id: stream_id.to_owned(),
        version: version?,
        topic: msg.topic().to_owned(),
        partition: msg.partition(),
        offset: msg.offset(),
        at_unix: unix_now(),
    })
}
