//! Owns the `[kafka]` settings of the sidecar and the producer's librdkafka
//! configuration made from them: the sink's defaults (idempotent, `acks=all`,
//! timeouts that let a dead broker surface as a retried batch), then the
//! user's `properties`. Must refuse any setting that would weaken delivery
//! guarantees, naming it.

use std::collections::BTreeMap;

use rdkafka::config::ClientConfig;
use serde::Deserialize;

pub use super::topics::KafkaRoute;
use super::topics::TopicRouter;

/// How long librdkafka may try to deliver one record before it reports
/// failure (`message.timeout.ms`): a dead broker surfaces as Retry this fast.
pub const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 10_000;
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
            tenant: None,
            category: category.to_owned(),
            event_type: None,
            topic: topic.to_owned(),
        });
        self
    }

    /// Sets one librdkafka property.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Everything the sink checks before it makes a client: the producer's
    /// configuration and the routing rules. Touches no network.
    pub fn check(&self) -> Result<(), String> {
        self.client_config()?;
        TopicRouter::new(&self.topic_prefix, &self.routes)?;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn check_refuses_a_bad_route_as_the_sink_would() {
        assert!(KafkaSinkConfig::new("h:1").check().is_ok());
        let c = KafkaSinkConfig::new("h:1").route("ticket", "bad topic");
        let err = c.check().unwrap_err();
        assert!(err.contains("bad topic"), "{err}");
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
