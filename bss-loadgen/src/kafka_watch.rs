//! End-to-end measurement through Kafka: creates the topics the sidecar
//! writes (the broker does not auto-create them), assigns every partition at
//! the high watermark taken before the load (no consumer group), and matches
//! each message by its `ce_id` header to the event the run sent. Owns the
//! per-event account (intended, acknowledged, first seen, times seen) from
//! which commit-to-Kafka and end-to-end latency, lost and duplicates come.
//! Messages whose `ce_id` this run did not send are ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};
use uuid::Uuid;

use crate::report::{new_histogram, KafkaMeasurements};
use crate::simulator::Append;
use crate::writer::AppendObserver;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The categories the simulator writes, hence the topics to watch.
pub const CATEGORIES: &[&str] = &["customer", "usage", "ticket"];

pub struct KafkaConfig {
    pub brokers: String,
    pub topic_prefix: String,
    pub partitions: i32,
    pub run_id: String,
}

impl KafkaConfig {
    pub fn topics(&self) -> Vec<String> {
        CATEGORIES
            .iter()
            .map(|c| format!("{}{c}", self.topic_prefix))
            .collect()
    }
}

struct Entry {
    intended: Instant,
    ack: Option<Instant>,
    first_seen: Option<Instant>,
    seen: u32,
}

#[derive(Default)]
struct Account {
    events: HashMap<Uuid, Entry>,
    acknowledged: u64,
    acknowledged_seen: u64,
}

/// The per-event account of what was sent and what arrived.
#[derive(Default)]
pub struct Tracker {
    inner: Mutex<Account>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A Kafka message with header `ce_id` arrived at `at`.
    pub fn arrived(&self, ce_id: &[u8], at: Instant) {
        let Some(id) = std::str::from_utf8(ce_id)
            .ok()
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            return;
        };
        let mut g = self.lock();
        let Some(e) = g.events.get_mut(&id) else {
            return;
        };
        e.seen += 1;
        let first = e.seen == 1;
        if first {
            e.first_seen = Some(at);
        }
        let acked = e.ack.is_some();
        if first && acked {
            g.acknowledged_seen += 1;
        }
    }

    /// Acknowledged events not yet seen in Kafka.
    pub fn missing(&self) -> u64 {
        let g = self.lock();
        g.acknowledged - g.acknowledged_seen
    }

    /// Latencies, lost and duplicates; seconds are counted from `start`.
    pub fn measurements(&self, start: Instant) -> KafkaMeasurements {
        let g = self.lock();
        let mut m = KafkaMeasurements {
            commit_to_kafka: new_histogram(),
            end_to_end: new_histogram(),
            per_second: Vec::new(),
            received: 0,
            lost: 0,
            duplicates: 0,
        };
        for e in g.events.values() {
            let Some(ack) = e.ack else { continue };
            let Some(seen) = e.first_seen else {
                m.lost += 1;
                continue;
            };
            m.received += 1;
            if e.seen > 1 {
                m.duplicates += 1;
            }
            // The message can be consumed before the worker records the
            // acknowledgement; that is a commit-to-Kafka time of ~0.
            let c2k = seen.saturating_duration_since(ack).as_micros() as u64;
            let e2e = seen.saturating_duration_since(e.intended).as_micros() as u64;
            m.commit_to_kafka.saturating_record(c2k.max(1));
            m.end_to_end.saturating_record(e2e.max(1));
            let sec = seen.saturating_duration_since(start).as_secs() as usize;
            if m.per_second.len() <= sec {
                m.per_second.resize_with(sec + 1, || (0, new_histogram()));
            }
            m.per_second[sec].0 += 1;
            m.per_second[sec].1.saturating_record(e2e.max(1));
        }
        m
    }
}

impl AppendObserver for Tracker {
    fn offered(&self, append: &Append, intended: Instant) {
        let mut g = self.lock();
        for e in &append.events {
            g.events.insert(
                e.event_id,
                Entry {
                    intended,
                    ack: None,
                    first_seen: None,
                    seen: 0,
                },
            );
        }
    }

    fn acknowledged(&self, append: &Append, at: Instant) {
        let mut g = self.lock();
        let mut seen = 0;
        for ev in &append.events {
            if let Some(e) = g.events.get_mut(&ev.event_id) {
                e.ack = Some(at);
                if e.seen > 0 {
                    seen += 1;
                }
            }
        }
        g.acknowledged += append.events.len() as u64;
        g.acknowledged_seen += seen;
    }
}

fn base_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("client.id", "bss-loadgen")
        .set("socket.timeout.ms", "10000");
    c
}

/// Creates the topics (an existing topic is fine) and waits until the
/// broker's metadata shows them.
pub async fn ensure_topics(cfg: &KafkaConfig) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(cfg)
        .create()
        .with_context(|| format!("creating a Kafka admin client for {}", cfg.brokers))?;
    let topics = cfg.topics();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, cfg.partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new()
        .request_timeout(Some(METADATA_TIMEOUT))
        .operation_timeout(Some(METADATA_TIMEOUT));
    let results = admin
        .create_topics(new.iter(), &opts)
        .await
        .with_context(|| format!("creating Kafka topics {topics:?} on {}", cfg.brokers))?;
    for r in results {
        match r {
            Ok(t) => info!(
                topic = t,
                partitions = cfg.partitions,
                "kafka topic created"
            ),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => bail!("creating Kafka topic {t}: {code}"),
        }
    }
    Ok(())
}

/// A consumer assigned to every partition of the topics at its current high
/// watermark, so it sees exactly what is produced from now on.
pub async fn assign_at_end(cfg: &KafkaConfig) -> Result<Arc<StreamConsumer>> {
    let consumer: StreamConsumer = base_config(cfg)
        .set("group.id", format!("bss-loadgen-{}", cfg.run_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false")
        // Fetch responses return as soon as there is data; a long wait
        // would show up as end-to-end latency.
        .set("fetch.wait.max.ms", "10")
        .create()
        .with_context(|| format!("creating a Kafka consumer for {}", cfg.brokers))?;
    let consumer = Arc::new(consumer);
    let topics = cfg.topics();
    let c = consumer.clone();
    let tpl = tokio::task::spawn_blocking(move || -> Result<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        for topic in &topics {
            let started = Instant::now();
            let partitions = loop {
                let md = c
                    .fetch_metadata(Some(topic), METADATA_TIMEOUT)
                    .with_context(|| format!("reading Kafka metadata of {topic}"))?;
                let n = md
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map_or(0, |t| t.partitions().len());
                if n > 0 {
                    break n;
                }
                if started.elapsed() > TOPIC_READY_TIMEOUT {
                    bail!("Kafka topic {topic} has no partitions in the metadata after {TOPIC_READY_TIMEOUT:?}");
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            for p in 0..partitions as i32 {
                let (_, high) = c
                    .fetch_watermarks(topic, p, METADATA_TIMEOUT)
                    .with_context(|| format!("reading the high watermark of {topic}/{p}"))?;
                tpl.add_partition_offset(topic, p, Offset::Offset(high))
                    .map_err(|e| anyhow!("assigning {topic}/{p} at {high}: {e}"))?;
            }
        }
        Ok(tpl)
    })
    .await
    .map_err(|e| anyhow!("reading Kafka watermarks: {e}"))??;
    consumer
        .assign(&tpl)
        .map_err(|e| anyhow!("assigning Kafka partitions: {e}"))?;
    info!(
        partitions = tpl.count(),
        "kafka consumer assigned at the high watermarks"
    );
    Ok(consumer)
}

/// Reads messages until aborted, telling `tracker` about each `ce_id`.
pub fn spawn_consumer(
    consumer: Arc<StreamConsumer>,
    tracker: Arc<Tracker>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut errors = 0u64;
        loop {
            match consumer.recv().await {
                Ok(msg) => {
                    let at = Instant::now();
                    if let Some(headers) = msg.headers() {
                        for h in headers.iter() {
                            if h.key == "ce_id" {
                                if let Some(v) = h.value {
                                    tracker.arrived(v, at);
                                }
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    errors += 1;
                    if errors <= 10 || errors.is_multiple_of(1000) {
                        warn!(error = %e, errors, "kafka consumer error");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// Waits until every acknowledged event has arrived, or `timeout`.
pub async fn wait_for_arrivals(tracker: &Tracker, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if tracker.missing() == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
