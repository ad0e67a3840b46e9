//! Owns delivery to Kafka: one record per event, through an idempotent
//! librdkafka producer with `acks=all`, to topic `bss.<category>` unless a
//! routing rule says otherwise (`kafka_topics.rs`), keyed by stream id so a
//! stream keeps its order within its partition. Records follow the
//! CloudEvents Kafka protocol binding in binary content mode: the context
//! attributes are `ce_*` headers, `content-type` is `datacontenttype`, the
//! value is `data`; `bss_*` headers carry the event's place in the store.
//! Any failed delivery is retried by the runner with a new producer (see
//! `replace_producer`), so the sink recovers by itself after an outage.
//!
//! Must never report a batch delivered before the broker acknowledged every
//! record of it, never drop a record (a full local queue is waited out), and
//! never give a redelivered event another `ce_id` or other headers.
//!
//! The binding is written by hand: cloudevents-sdk 0.9's `rdkafka` feature
//! pins rdkafka 0.38 (with `cmake-build`), and two rdkafka-sys versions
//! cannot link into one binary next to our rdkafka 0.39. The mapping is a
//! dozen headers; `headers()` below is all of it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::admin::AdminClient;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use serde::Deserialize;

pub use super::kafka_topics::KafkaRoute;
use super::kafka_topics::{TopicCreator, TopicRouter};
use super::{Sink, SinkError};
use crate::event::{Event, Spooled};

/// How long librdkafka may try to deliver one record before it reports
/// failure (`message.timeout.ms`): a dead broker surfaces as Retry this fast.
pub const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 10_000;
/// Extra time, past the delivery timeout and the last in-flight request's
/// timeout, before a missing delivery report counts as a failure.
const ACK_SLACK: Duration = Duration::from_secs(10);
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

/// The `[kafka]` section of the sidecar's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// Topic of a category without a route: prefix + category.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// First matching rule wins; `category = "*"` matches every category.
    #[serde(default)]
    pub routes: Vec<KafkaRoute>,
    /// Partitions of the topics the sink creates.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor of the topics the sink creates.
    #[serde(default = "default_replication_factor")]
    pub replication_factor: i32,
    /// Topic-level configuration of the topics the sink creates
    /// (`retention.ms`, `min.insync.replicas`, ...).
    #[serde(default)]
    pub topic_config: BTreeMap<String, String>,
    /// `message.timeout.ms`: how long a record may wait for its
    /// acknowledgement before the batch is retried.
    #[serde(default = "default_delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// librdkafka properties, applied over the sink's defaults. The sink
    /// refuses to start if they turn idempotence off or acks below `all`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_topic_prefix() -> String {
    "bss.".to_owned()
}
fn default_partitions() -> i32 {
    6
}
fn default_replication_factor() -> i32 {
    1
}
fn default_delivery_timeout_ms() -> u64 {
    DEFAULT_DELIVERY_TIMEOUT_MS
}

impl KafkaSinkConfig {
    /// Defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSinkConfig {
            brokers: brokers.into(),
            topic_prefix: default_topic_prefix(),
            routes: Vec::new(),
            partitions: default_partitions(),
            replication_factor: default_replication_factor(),
            topic_config: BTreeMap::new(),
            delivery_timeout_ms: default_delivery_timeout_ms(),
            properties: BTreeMap::new(),
        }
    }

    /// Adds a routing rule after the existing ones.
    pub fn route(mut self, category: &str, topic: &str) -> Self {
        self.routes.push(KafkaRoute {
            category: category.to_owned(),
            topic: topic.to_owned(),
        });
        self
    }

    /// Sets one librdkafka property.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The producer's librdkafka configuration: the sink's defaults, then
    /// `properties`. Fails if they would weaken delivery guarantees.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        if self.brokers.trim().is_empty() {
            return Err("kafka.brokers is empty (HINT: brokers = \"host:9092\")".into());
        }
        if self.partitions < 1 || self.replication_factor < 1 {
            return Err(format!(
                "kafka.partitions ({}) and kafka.replication_factor ({}) must be at least 1",
                self.partitions, self.replication_factor
            ));
        }
        if self.delivery_timeout_ms < 1_000 {
            return Err(format!(
                "kafka.delivery_timeout_ms ({}) must be at least 1000",
                self.delivery_timeout_ms
            ));
        }
        let timeout = self.delivery_timeout_ms;
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "bss-sidecar")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", timeout.to_string())
            // In-flight requests are only failed once they time out, so they
            // must time out well within the delivery timeout.
            .set(
                "request.timeout.ms",
                (timeout / 2).clamp(500, 30_000).to_string(),
            )
            .set("socket.timeout.ms", timeout.to_string())
            .set("reconnect.backoff.max.ms", "1000")
            .set("allow.auto.create.topics", "false")
            // The Java client's partitioner, so a stream lands on the same
            // partition whichever client writes it.
            .set("partitioner", "murmur2_random")
            // deliver waits for every ack of a batch, so lingering past the
            // end of a batch is pure latency; 2 ms measured best on tansu.
            .set("linger.ms", "2")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "200000");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        let get = |k: &str| c.get(k).map(str::to_ascii_lowercase);
        if get("enable.idempotence").as_deref() != Some("true") {
            return Err("kafka.properties must not turn enable.idempotence off".into());
        }
        for k in ["acks", "request.required.acks"] {
            if let Some(v) = get(k) {
                if v != "all" && v != "-1" {
                    return Err(format!(
                        "kafka.properties: {k} must be all (or -1), not {v}"
                    ));
                }
            }
        }
        Ok(c)
    }
}

/// Sends librdkafka's logs and errors to `tracing`.
#[derive(Clone, Default)]
pub struct KafkaContext;

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel::*;
        match level {
            Emerg | Alert | Critical | Error => tracing::error!(fac, "librdkafka: {message}"),
            Warning => tracing::warn!(fac, "librdkafka: {message}"),
            Notice | Info => tracing::info!(fac, "librdkafka: {message}"),
            Debug => tracing::debug!(fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, "kafka client error: {reason}");
    }
}

type KafkaProducer = FutureProducer<KafkaContext>;

/// The Kafka sink.
pub struct KafkaSink {
    client_config: ClientConfig,
    producer: KafkaProducer,
    router: TopicRouter,
    topics: TopicCreator,
    /// Longest wait for one delivery report.
    ack_deadline: Duration,
}

impl KafkaSink {
    /// Builds the producer and admin clients. Does not wait for a broker: an
    /// unreachable cluster shows up as `Retry` from `deliver`. Fails with
    /// `Fatal` on a configuration the sink cannot run with.
    pub async fn connect(cfg: KafkaSinkConfig) -> Result<KafkaSink, SinkError> {
        let client_config = cfg.client_config().map_err(SinkError::Fatal)?;
        let router = TopicRouter::new(&cfg.topic_prefix, &cfg.routes).map_err(SinkError::Fatal)?;
        let producer = new_producer(&client_config)?;
        // The admin client is a producer handle too: same brokers, security
        // and timeouts, but no producer id of its own.
        let mut admin_config = client_config.clone();
        admin_config
            .set("client.id", "bss-sidecar-admin")
            .set("enable.idempotence", "false");
        let admin = AdminClient::from_config_and_context(&admin_config, KafkaContext)
            .map_err(|e| SinkError::Fatal(format!("kafka: cannot create admin client: {e}")))?;
        let topics = TopicCreator::new(
            admin,
            cfg.partitions,
            cfg.replication_factor,
            cfg.topic_config.clone().into_iter().collect(),
        );
        let request_timeout_ms: u64 = client_config
            .get("request.timeout.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30_000);
        let delivery_timeout_ms: u64 = client_config
            .get("message.timeout.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(cfg.delivery_timeout_ms);
        Ok(KafkaSink {
            client_config,
            producer,
            router,
            topics,
            ack_deadline: Duration::from_millis(delivery_timeout_ms + request_timeout_ms)
                + ACK_SLACK,
        })
    }

    async fn deliver_batch(&mut self, batch: &[Spooled]) -> Result<(), SinkError> {
        // Route every event first, so no record is enqueued for a batch that
        // cannot be delivered at all.
        let mut topic_of = Vec::with_capacity(batch.len());
        let mut last: Option<(&str, usize)> = None;
        let mut names: Vec<String> = Vec::new();
        for s in batch {
            let category = s.event.category();
            let idx = match last {
                Some((c, i)) if c == category => i,
                _ => {
                    let topic = self
                        .router
                        .topic_for(category)
                        .map_err(|e| SinkError::Fatal(format!("kafka: {} : {e}", at(s))))?;
                    let i = match names.iter().position(|n| n == topic) {
                        Some(i) => i,
                        None => {
                            names.push(topic.to_owned());
                            names.len() - 1
                        }
                    };
                    last = Some((category, i));
                    i
                }
            };
            topic_of.push(idx);
        }
        for name in &names {
            if !self.topics.is_ready(name) {
                self.topics.ensure(&self.producer, name).await?;
            }
        }

        let result = self.produce_all(batch, &names, &topic_of).await;
        if let Err((i, ref e)) = result {
            if matches!(
                e,
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic
                )
            ) {
                self.topics.forget(&names[topic_of[i]]);
            }
        }
        let result = result.map_err(|(i, e)| classify(&e, &batch[i], &names[topic_of[i]]));
        if let Err(SinkError::Retry(why)) = &result {
            self.replace_producer(why).await;
        }
        result
    }

    /// Enqueues every record, then waits for every delivery report. Returns
    /// the index of the first event that failed, with why.
    async fn produce_all(
        &self,
        batch: &[Spooled],
        names: &[String],
        topic_of: &[usize],
    ) -> Result<(), (usize, KafkaError)> {
        let mut pending: VecDeque<(usize, DeliveryFuture)> = VecDeque::with_capacity(batch.len());
        for (i, s) in batch.iter().enumerate() {
            let e = &s.event;
            let value = value(e);
            let mut record = FutureRecord::to(&names[topic_of[i]])
                .key(e.stream_id.as_str())
                .payload(value.as_ref())
                .timestamp(e.commit_time_us.div_euclid(1000))
                .headers(headers(e));
            loop {
                match self.producer.send_result(record) {
                    Ok(f) => {
                        pending.push_back((i, f));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        tracing::trace!(seq = s.seq, "kafka local queue full; waiting for acks");
                        // The oldest record is the first to free its room.
                        match pending.pop_front() {
                            Some((j, f)) => self.acked(j, f).await?,
                            None => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                    Err((err, _)) => return Err((i, err)),
                }
            }
        }
        for (i, f) in pending {
            self.acked(i, f).await?;
        }
        Ok(())
    }

    async fn acked(&self, i: usize, f: DeliveryFuture) -> Result<(), (usize, KafkaError)> {
        match tokio::time::timeout(self.ack_deadline, f).await {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err((err, _)))) => Err((i, err)),
            Ok(Err(_canceled)) => Err((i, KafkaError::Canceled)),
            Err(_elapsed) => Err((
                i,
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
            )),
        }
    }

    /// Starts the next attempt with a new producer, that is a new producer
    /// id. After records timed out, librdkafka keeps the idempotent
    /// producer's id and bumps its epoch (or raises a fatal error when the
    /// sequence is lost); tansu answers every later record of a bumped epoch
    /// with ProducerFenced, so the old producer would never recover. A new
    /// one is accepted by every broker, and the runner redelivers the whole
    /// batch, so nothing it purges is lost.
    async fn replace_producer(&mut self, why: &str) {
        let fatal = self.producer.client().fatal_error();
        match new_producer(&self.client_config) {
            Ok(p) => {
                tracing::info!(
                    fatal_error = ?fatal,
                    why,
                    "kafka delivery failed; next attempt uses a new producer"
                );
                let old = std::mem::replace(&mut self.producer, p);
                // Dropping purges its queue and joins its thread: blocking.
                let _ = tokio::task::spawn_blocking(move || drop(old)).await;
            }
            Err(e) => {
                tracing::error!(fatal_error = ?fatal, "kafka producer cannot be replaced: {e}")
            }
        }
    }
}

impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn deliver<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.deliver_batch(batch))
    }
}

fn new_producer(c: &ClientConfig) -> Result<KafkaProducer, SinkError> {
    KafkaProducer::from_config_and_context(c, KafkaContext)
        .map_err(|e| SinkError::Fatal(format!("kafka: cannot create producer: {e}")))
}

fn at(s: &Spooled) -> String {
    format!(
        "seq {} (stream {} version {})",
        s.seq, s.event.stream_id, s.event.stream_version
    )
}

/// Errors no retry can fix are fatal; everything else (timeouts, broker
/// down, leader moves, a producer replaced after a fatal error) is retried.
fn classify(err: &KafkaError, s: &Spooled, topic: &str) -> SinkError {
    let code = match err {
        KafkaError::MessageProduction(code) => Some(*code),
        _ => err.rdkafka_error_code(),
    };
    let msg = format!("kafka: delivering {} to topic {topic}: {err}", at(s));
    match code {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => SinkError::Fatal(format!(
            "{msg} (HINT: the record is {} bytes of data; raise message.max.bytes in kafka.properties \
             and max.message.bytes on the topic)",
            s.event.data.len()
        )),
        Some(
            RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidTopic
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed,
        ) => SinkError::Fatal(msg),
        _ => SinkError::Retry(msg),
    }
}

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

    #[test]
    fn config_refuses_to_weaken_delivery() {
        assert!(KafkaSinkConfig::new("h:1").client_config().is_ok());
        let c = KafkaSinkConfig::new("h:1").property("enable.idempotence", "false");
        assert!(c.client_config().is_err());
        let c = KafkaSinkConfig::new("h:1").property("acks", "1");
        assert!(c.client_config().is_err());
        let c = KafkaSinkConfig::new("h:1").property("request.required.acks", "-1");
        assert!(c.client_config().is_ok());
        assert!(KafkaSinkConfig::new(" ").client_config().is_err());
    }

    #[test]
    fn config_reads_from_toml_with_defaults() {
        let c: KafkaSinkConfig = toml::from_str(
            r#"
            brokers = "127.0.0.1:9092"
            routes = [{ category = "ticket", topic = "support.tickets" }]
            [properties]
            "linger.ms" = "20"
            "#,
        )
        .unwrap();
        assert_eq!(c.topic_prefix, "bss.");
        assert_eq!(c.partitions, 6);
        assert_eq!(c.replication_factor, 1);
        assert_eq!(c.delivery_timeout_ms, DEFAULT_DELIVERY_TIMEOUT_MS);
        assert_eq!(c.routes[0].topic, "support.tickets");
        assert_eq!(c.client_config().unwrap().get("linger.ms"), Some("20"));
        assert!(toml::from_str::<KafkaSinkConfig>("brokers = \"x\"\nbrokrs = 1").is_err());
    }
}
