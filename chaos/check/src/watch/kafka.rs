//! Watching Kafka: every partition of the topics the simulator's
//! categories map to, from the beginning, each record's `ce_id` and
//! `bss_stream_version` headers and key (the stream id). Topics that do not
//! exist yet are looked for again until they do. Must never create or
//! change a topic, never commit offsets, and never give up on a broker
//! error.
//!
//! A broker that comes back may be an empty one (the chaos suite's
//! broker-loss replaces it): its logs start again at offset 0 and may
//! outgrow the old position before the consumer fetches again. So at every
//! outage the consumer is dropped, and a new one reads each partition again
//! from its beginning once the broker answers; a record counts as new
//! unless the same event was seen at that offset before. Records read after
//! an outage carry the next epoch, which orders a new log after the old
//! one.
//!
//! The consumer runs in a child process (`bss-chaos-check kafka-tail`,
//! writing one JSON line per record), restarted when it dies: librdkafka
//! 2.12 crashes (SIGSEGV, strcmp of a NULL topic name in
//! rd_kafka_metadata_cache_find, from a fetch reply's leader-change tags
//! (KIP-951) that name the topic by a zero id) when tansu's broker dies
//! under it. A restarted child reads everything again in the next epoch;
//! the parent keeps the first sighting of each (offset, event).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
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
/// Wait before a child that ended is started again.
const RESTART_PAUSE: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
#[error("creating a Kafka consumer for {brokers}: {source}")]
pub struct KafkaWatchError {
    brokers: String,
    source: KafkaError,
}

/// Notes a lost broker connection as soon as librdkafka does: its `FAIL`
/// log line comes at once (from librdkafka's thread), its client-level
/// errors (all brokers down) later; the consumer must be gone before an
/// empty broker that takes the old one's place answers it (see the module
/// doc).
#[derive(Default)]
struct WatchContext {
    outage: AtomicBool,
}

impl ClientContext for WatchContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if fac == "FAIL" {
            self.outage.store(true, Ordering::SeqCst);
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => warn!(fac, "librdkafka: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => info!(fac, "librdkafka: {message}"),
            RDKafkaLogLevel::Debug => tracing::debug!(fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.outage.store(true, Ordering::SeqCst);
        warn!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for WatchContext {}

type WatchConsumer = BaseConsumer<WatchContext>;

fn config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
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
        // The sidecar writes no transactions, so committed and uncommitted
        // reads see the same records; read_committed (librdkafka's default)
        // also withholds every record at or past the last stable offset,
        // which tansu 0.6.0 appears to report with its high watermark's
        // error (fewer re-reads were needed since; see the README).
        .set("isolation.level", "read_uncommitted")
        // Reconnect soon after the broker is back (default: up to 10 s).
        .set("reconnect.backoff.max.ms", "1000");
    c
}

/// The child's side (`kafka-tail`): consumes `topics` from `brokers` and
/// writes each record as a JSON line ([`KafkaArrival`], its epoch counted
/// by this child) to `out`, until `out` is closed or the parent is gone.
pub fn tail(
    brokers: &str,
    topics: Vec<String>,
    mut out: impl Write,
) -> Result<(), KafkaWatchError> {
    let config = config(brokers);
    let consumer: WatchConsumer = config
        .create_with_context(WatchContext::default())
        .map_err(|source| KafkaWatchError {
            brokers: brokers.to_owned(),
            source,
        })?;
    let parent = std::os::unix::process::parent_id();
    let mut emit = |a: KafkaArrival| -> bool {
        serde_json::to_writer(&mut out, &a).is_ok()
            && out.write_all(b"\n").is_ok()
            && out.flush().is_ok()
    };
    // Orphaned (the parent was killed): stop.
    let orphaned = || std::os::unix::process::parent_id() != parent;
    Watcher::new(config, consumer, topics).run(&mut emit, &orphaned);
    Ok(())
}

/// The parent's side: a thread that runs `kafka-tail` children one after
/// the other and records what they read into `seen`.
pub struct KafkaWatch {
    thread: JoinHandle<()>,
    child: Arc<Mutex<Option<Child>>>,
    stop: Arc<AtomicBool>,
    /// The current child was ended by `reread`: the broker is the same, so
    /// the next child's records stay in the same epoch (same log, same
    /// offsets) instead of the next.
    reread: Arc<AtomicBool>,
}

impl KafkaWatch {
    /// Starts watching `topics` on `brokers`.
    pub fn spawn(
        brokers: &str,
        topics: Vec<String>,
        seen: Arc<Collected>,
    ) -> Result<KafkaWatch, KafkaWatchError> {
        // A bad setting fails the command at once, not in every child.
        let _: WatchConsumer = config(brokers)
            .create_with_context(WatchContext::default())
            .map_err(|source| KafkaWatchError {
                brokers: brokers.to_owned(),
                source,
            })?;
        let exe = std::env::current_exe().map_err(|e| KafkaWatchError {
            brokers: brokers.to_owned(),
            source: KafkaError::ClientCreation(format!("finding this program: {e}")),
        })?;
        let child = Arc::new(Mutex::new(None::<Child>));
        let stop = Arc::new(AtomicBool::new(false));
        let reread = Arc::new(AtomicBool::new(false));
        let (c, st, rr, b) = (
            child.clone(),
            stop.clone(),
            reread.clone(),
            brokers.to_owned(),
        );
        let thread = std::thread::Builder::new()
            .name("watch-kafka".into())
            .spawn(move || supervise(&exe, &b, &topics, &seen, &c, &st, &rr))
            .map_err(|e| KafkaWatchError {
                brokers: brokers.to_owned(),
                source: KafkaError::ClientCreation(e.to_string()),
            })?;
        Ok(KafkaWatch {
            thread,
            child,
            stop,
            reread,
        })
    }

    /// Ends the current child, so that the next one reads every partition
    /// again from its beginning (what it had seen is not counted twice).
    /// For records that following the log cannot reach: tansu 0.6.0 reports
    /// a partition's high watermark as its last batch's base offset + 1, so
    /// a consumer whose position fell inside that batch (a fetch that
    /// carried only part of it) waits for the rest of it for ever, while a
    /// read from an earlier offset gets the whole batch.
    pub fn reread(&self) {
        self.reread.store(true, Ordering::SeqCst);
        self.kill_child();
    }

    /// Kills the child of the moment, if any (the supervisor then starts
    /// another, unless stopped).
    fn kill_child(&self) {
        if let Some(c) = self
            .child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            let _ = c.kill();
        }
    }

    /// Stops the child and waits for the thread.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kill_child();
        if self.thread.join().is_err() {
            warn!("the kafka watch thread panicked");
        }
    }
}

/// Runs children until stopped; each child's records are numbered in
/// epochs after the previous child's.
fn supervise(
    exe: &std::path::Path,
    brokers: &str,
    topics: &[String],
    seen: &Collected,
    slot: &Mutex<Option<Child>>,
    stop: &AtomicBool,
    reread: &AtomicBool,
) {
    let mut events_at: HashMap<(String, i32, i64), String> = HashMap::new();
    let mut base_epoch = 0u32;
    let mut children = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let spawned = Command::new(exe)
            .arg("kafka-tail")
            .args(["--kafka-brokers", brokers])
            .args(topics.iter().flat_map(|t| ["--topic", t.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "starting the kafka tail failed; retrying");
                std::thread::sleep(RESTART_PAUSE);
                continue;
            }
        };
        children += 1;
        let stdout = child.stdout.take();
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        if stop.load(Ordering::SeqCst) {
            break; // stopped between the check and the slot: kill below
        }
        let mut last_epoch = base_epoch;
        if let Some(stdout) = stdout {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(mut a) = serde_json::from_str::<KafkaArrival>(&line) else {
                    warn!(line, "the kafka tail wrote a line that is not an arrival");
                    continue;
                };
                a.epoch += base_epoch;
                last_epoch = last_epoch.max(a.epoch);
                let key = (a.topic.clone(), a.partition, a.offset);
                if events_at.get(&key) == Some(&a.ce_id) {
                    continue; // read again: the same record
                }
                events_at.insert(key, a.ce_id.clone());
                seen.lock().kafka(a);
            }
        }
        let status = slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|mut c| c.wait());
        if !stop.load(Ordering::SeqCst) {
            warn!(
                ?status,
                children, "the kafka tail ended; starting another, which reads everything again"
            );
            std::thread::sleep(RESTART_PAUSE);
        }
        // A child ended by `reread` read the broker's current log; the next
        // one reads that same log again. Any other end may be an outage,
        // after which the log may be a new one (see the module doc).
        base_epoch = if reread.swap(false, Ordering::SeqCst) {
            last_epoch
        } else {
            last_epoch + 1
        };
    }
    if let Some(mut c) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    info!(children, "kafka watch stopped");
}

struct Watcher {
    config: ClientConfig,
    /// None between an outage and the next consumer.
    consumer: Option<WatchConsumer>,
    topics: Vec<String>,
    /// Every partition assigned, and the offset after the last record seen
    /// (None: none seen, start at the beginning).
    next: BTreeMap<(String, i32), Option<i64>>,
    /// The event seen at each offset of each partition.
    events_at: HashMap<(String, i32), HashMap<i64, String>>,
    /// Incremented at each outage (see the module doc).
    epoch: u32,
    /// An outage began and the broker has not answered since.
    outage: bool,
    errors: u64,
}

impl Watcher {
    fn new(config: ClientConfig, consumer: WatchConsumer, topics: Vec<String>) -> Self {
        Watcher {
            config,
            consumer: Some(consumer),
            topics,
            next: BTreeMap::new(),
            events_at: HashMap::new(),
            epoch: 0,
            outage: false,
            errors: 0,
        }
    }

    /// An outage was seen: the consumer goes, every partition will be read
    /// again from its beginning, and later records belong to the next epoch.
    fn outage_began(&mut self) {
        if self.outage {
            return;
        }
        self.outage = true;
        self.epoch += 1;
        self.consumer = None;
        self.next.clear();
        info!(
            epoch = self.epoch,
            "kafka outage; the partitions will be read again from their beginning"
        );
    }

    /// Reads until `stop()` says so or `emit` refuses a record.
    fn run(mut self, emit: &mut dyn FnMut(KafkaArrival) -> bool, stop: &dyn Fn() -> bool) {
        let mut looked = None::<Instant>;
        while !stop() {
            let Some(consumer) = self.consumer.as_ref() else {
                match self.config.create_with_context(WatchContext::default()) {
                    Ok(c) => {
                        self.consumer = Some(c);
                        looked = None;
                    }
                    Err(e) => {
                        self.error("creating a kafka consumer", &e);
                        std::thread::sleep(POLL_TIMEOUT);
                    }
                }
                continue;
            };
            if consumer.context().outage.swap(false, Ordering::SeqCst) {
                self.outage_began();
                continue;
            }
            let every = if self.every_topic_assigned() {
                METADATA_INTERVAL
            } else {
                METADATA_INTERVAL_MISSING
            };
            if looked.is_none_or(|t| t.elapsed() >= every) {
                looked = Some(Instant::now());
                self.assign_new_partitions();
                continue;
            }
            if self.next.is_empty() {
                std::thread::sleep(POLL_TIMEOUT);
                continue;
            }
            match consumer.poll(POLL_TIMEOUT) {
                None => {}
                Some(Ok(msg)) => {
                    let key = (msg.topic().to_owned(), msg.partition());
                    let (offset, arrival) = (msg.offset(), arrival(&msg, self.epoch));
                    drop(msg);
                    self.next.insert(key.clone(), Some(offset + 1));
                    let Some(a) = arrival else {
                        continue;
                    };
                    let at = self.events_at.entry(key).or_default();
                    if at.get(&a.offset) == Some(&a.ce_id) {
                        continue; // read again after an outage: the same record
                    }
                    at.insert(a.offset, a.ce_id.clone());
                    if !emit(a) {
                        break;
                    }
                }
                Some(Err(e)) => {
                    self.error("kafka consumer error", &e);
                    self.outage_began();
                }
            }
        }
        info!(partitions = self.next.len(), "kafka tail stopped");
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

    /// Looks the topics up and assigns partitions not assigned yet from
    /// their beginning (with the others at the offset after the last record
    /// seen). The broker answering ends an outage.
    fn assign_new_partitions(&mut self) {
        let Some(consumer) = self.consumer.as_ref() else {
            return;
        };
        let mut found = Vec::new();
        let mut failure = None;
        for topic in &self.topics {
            match consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT) {
                Ok(md) => {
                    if let Some(t) = md
                        .topics()
                        .iter()
                        .find(|t| t.name() == topic && t.error().is_none())
                    {
                        found.extend(t.partitions().iter().map(|p| (topic.clone(), p.id())));
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            self.error("kafka metadata not available", &e);
            return;
        }
        self.outage = false;
        let mut added = 0;
        for key in found {
            if let std::collections::btree_map::Entry::Vacant(v) = self.next.entry(key) {
                v.insert(None);
                added += 1;
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
        let Some(consumer) = self.consumer.as_ref() else {
            return;
        };
        match consumer.assign(&tpl) {
            Ok(()) => info!(
                partitions = self.next.len(),
                added,
                epoch = self.epoch,
                "kafka watch assigned partitions"
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
fn arrival(msg: &BorrowedMessage<'_>, epoch: u32) -> Option<KafkaArrival> {
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
        epoch,
        at_unix: unix_now(),
    })
}
