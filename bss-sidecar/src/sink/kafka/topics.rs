//! Owns which Kafka topic an event goes to and making sure that topic exists
//! before the Kafka sink produces to it: routing rules from the config, the
//! `<prefix><category>` default, topic name validation, creation through the
//! Admin API and waiting until the producer's metadata shows the topic.
//! Must never produce, never delete or reconfigure a topic, and never report a
//! topic ready that the broker's metadata does not show with a leader for
//! every partition.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaRespErr;
use serde::Deserialize;

use super::client::KafkaContext;
use crate::sink::SinkError;

/// Longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// How long one metadata request or Admin call may take before the delivery
/// is retried.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a created topic may take to appear in metadata with leaders.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(10);
const TOPIC_READY_POLL: Duration = Duration::from_millis(100);

/// One routing rule: events of `tenant` (any tenant when unset),
/// `category` (exact, or `*`, the default, for every category) and `type`
/// (any type when unset) go to `topic`, in which `{tenant}` and
/// `{category}` stand for the event's. The first matching rule wins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaRoute {
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default = "any_category")]
    pub category: String,
    #[serde(default, rename = "type")]
    pub event_type: Option<String>,
    pub topic: String,
}

fn any_category() -> String {
    "*".to_owned()
}

impl KafkaRoute {
    fn matches(&self, tenant: &str, category: &str, event_type: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
            && (self.category == category || self.category == "*")
            && self.event_type.as_deref().is_none_or(|t| t == event_type)
    }

    fn topic(&self, tenant: &str, category: &str) -> String {
        self.topic
            .replace("{tenant}", tenant)
            .replace("{category}", category)
    }
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_NAME_LEN
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Maps tenants and categories to topics, remembering every answer.
#[derive(Debug)]
pub struct TopicRouter {
    prefix: String,
    routes: Vec<KafkaRoute>,
    /// Whether any rule looks at the tenant; if none does, every answer is
    /// kept under the tenant "".
    by_tenant: bool,
    /// Whether any rule looks at the type; if one does, answers are kept
    /// under `category NUL type`, else under the category.
    by_type: bool,
    cache: HashMap<String, HashMap<String, String>>,
}

impl TopicRouter {
    /// Fails (naming the rule) if a rule names an invalid topic.
    pub fn new(prefix: &str, routes: &[KafkaRoute]) -> Result<Self, String> {
        for r in routes {
            if !is_valid_topic_name(&r.topic("t", "c")) {
                return Err(format!(
                    "kafka route for category {:?} names an invalid topic {:?}: \
                     use 1 to {MAX_TOPIC_NAME_LEN} of [a-zA-Z0-9._-] ({{tenant}} and \
                     {{category}} stand for the event's)",
                    r.category, r.topic
                ));
            }
        }
        Ok(TopicRouter {
            prefix: prefix.to_owned(),
            routes: routes.to_vec(),
            by_tenant: routes
                .iter()
                .any(|r| r.tenant.is_some() || r.topic.contains("{tenant}")),
            by_type: routes.iter().any(|r| r.event_type.is_some()),
            cache: HashMap::new(),
        })
    }

    /// The topic for an event of `tenant`, `category` and `event_type`, or
    /// why there is none that Kafka accepts.
    pub fn topic_for(
        &mut self,
        tenant: &str,
        category: &str,
        event_type: &str,
    ) -> Result<&str, String> {
        let tenant = if self.by_tenant { tenant } else { "" };
        let key: std::borrow::Cow<'_, str> = if self.by_type {
            format!("{category}\0{event_type}").into()
        } else {
            category.into()
        };
        let known = self
            .cache
            .get(tenant)
            .is_some_and(|m| m.contains_key(key.as_ref()));
        if !known {
            let route = self
                .routes
                .iter()
                .find(|r| r.matches(tenant, category, event_type));
            let topic = match route {
                Some(r) => r.topic(tenant, category),
                None => format!("{}{category}", self.prefix),
            };
            if !is_valid_topic_name(&topic) {
                return Err(format!(
                    "tenant {tenant:?}, category {category:?} maps to {topic:?}, which is not a \
                     valid Kafka topic name (HINT: add a kafka route for category {category:?}, \
                     or a \"*\" route)"
                ));
            }
            self.cache
                .entry(tenant.to_owned())
                .or_default()
                .insert(key.clone().into_owned(), topic);
        }
        Ok(&self.cache[tenant][key.as_ref()])
    }
}

/// What the broker's metadata says about one topic.
enum TopicState {
    Ready,
    Missing,
    NotReady(String),
}

/// Creates topics on first use and remembers the ones known to exist.
pub struct TopicCreator {
    admin: AdminClient<KafkaContext>,
    partitions: i32,
    replication_factor: i32,
    topic_config: Vec<(String, String)>,
    ready: HashSet<String>,
}

impl TopicCreator {
    pub fn new(
        admin: AdminClient<KafkaContext>,
        partitions: i32,
        replication_factor: i32,
        topic_config: Vec<(String, String)>,
    ) -> Self {
        TopicCreator {
            admin,
            partitions,
            replication_factor,
            topic_config,
            ready: HashSet::new(),
        }
    }

    pub fn is_ready(&self, topic: &str) -> bool {
        self.ready.contains(topic)
    }

    /// Forgets that `topic` exists (the broker said it does not), so the
    /// next delivery checks and creates it again.
    pub fn forget(&mut self, topic: &str) {
        self.ready.remove(topic);
    }

    /// Returns once `topic` exists and the producer's metadata shows a
    /// leader for each of its partitions; creates it if it is missing.
    pub async fn ensure(
        &mut self,
        producer: &FutureProducer<KafkaContext>,
        topic: &str,
    ) -> Result<(), SinkError> {
        if self.ready.contains(topic) {
            return Ok(());
        }
        if let TopicState::Missing = topic_state(producer, topic).await? {
            self.create(topic).await?;
        }
        let start = Instant::now();
        loop {
            match topic_state(producer, topic).await? {
                TopicState::Ready => break,
                TopicState::Missing if start.elapsed() >= TOPIC_READY_TIMEOUT => {
                    return Err(SinkError::Retry(format!(
                        "kafka: topic {topic} was created but is not in the metadata after {TOPIC_READY_TIMEOUT:?}"
                    )))
                }
                TopicState::NotReady(why) if start.elapsed() >= TOPIC_READY_TIMEOUT => {
                    return Err(SinkError::Retry(format!(
                        "kafka: topic {topic} is not ready after {TOPIC_READY_TIMEOUT:?}: {why}"
                    )))
                }
                _ => tokio::time::sleep(TOPIC_READY_POLL).await,
            }
        }
        tracing::info!(topic, "kafka topic ready");
        self.ready.insert(topic.to_owned());
        Ok(())
    }

    async fn create(&self, topic: &str) -> Result<(), SinkError> {
        let mut new = NewTopic::new(
            topic,
            self.partitions,
            TopicReplication::Fixed(self.replication_factor),
        );
        for (k, v) in &self.topic_config {
            new = new.set(k, v);
        }
        let opts = AdminOptions::new()
            .request_timeout(Some(METADATA_TIMEOUT))
            .operation_timeout(Some(METADATA_TIMEOUT));
        let results = self
            .admin
            .create_topics([&new], &opts)
            .await
            .map_err(|e| SinkError::Retry(format!("kafka: creating topic {topic}: {e}")))?;
        for r in results {
            match r {
                Ok(_) => tracing::info!(
                    topic,
                    partitions = self.partitions,
                    replication_factor = self.replication_factor,
                    "kafka topic created"
                ),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(create_error(topic, code)),
            }
        }
        Ok(())
    }
}

/// Errors of CreateTopics that only an operator can fix are fatal; the
/// rest (timeouts, a controller moving, too few brokers up for the
/// replication factor) may heal.
fn create_error(topic: &str, code: RDKafkaErrorCode) -> SinkError {
    let msg = format!("kafka: creating topic {topic}: {code}");
    match code {
        RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed
        | RDKafkaErrorCode::PolicyViolation
        | RDKafkaErrorCode::InvalidTopic
        | RDKafkaErrorCode::InvalidPartitions
        | RDKafkaErrorCode::InvalidConfig => SinkError::Fatal(format!(
            "{msg} (HINT: create the topic yourself, grant the sidecar CREATE on it, \
             or fix partitions/replication_factor/topic_config in the kafka config)"
        )),
        _ => SinkError::Retry(format!(
            "{msg} (HINT: replication_factor must not exceed the brokers that are up)"
        )),
    }
}

/// Asks the broker through the producer's own client, which also teaches
/// the producer the topic's partitions.
async fn topic_state(
    producer: &FutureProducer<KafkaContext>,
    topic: &str,
) -> Result<TopicState, SinkError> {
    let p = producer.clone();
    let t = topic.to_owned();
    // fetch_metadata blocks the calling thread until the broker answers.
    let md =
        tokio::task::spawn_blocking(move || p.client().fetch_metadata(Some(&t), METADATA_TIMEOUT))
            .await
            .map_err(|e| SinkError::Retry(format!("kafka: metadata task failed: {e}")))?
            .map_err(|e: KafkaError| {
                SinkError::Retry(format!("kafka: metadata for topic {topic}: {e}"))
            })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(TopicState::Missing);
    };
    match t.error() {
        None => {}
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
            return Ok(TopicState::Missing)
        }
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) => {
            return Err(SinkError::Fatal(format!(
                "kafka: not authorized to describe topic {topic} (HINT: grant the sidecar DESCRIBE and WRITE on it)"
            )))
        }
        Some(e) => return Ok(TopicState::NotReady(format!("{:?}", RDKafkaErrorCode::from(e)))),
    }
    if t.partitions().is_empty() {
        return Ok(TopicState::NotReady("no partitions yet".into()));
    }
    if let Some(p) = t
        .partitions()
        .iter()
        .find(|p| p.leader() < 0 || p.error().is_some())
    {
        return Ok(TopicState::NotReady(format!(
            "partition {} has no leader",
            p.id()
        )));
    }
    Ok(TopicState::Ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(category: &str, topic: &str) -> KafkaRoute {
        KafkaRoute {
            tenant: None,
            category: category.into(),
            event_type: None,
            topic: topic.into(),
        }
    }

    #[test]
    fn category_goes_to_prefix_plus_category_without_a_rule() {
        let mut r = TopicRouter::new("bss.", &[]).unwrap();
        assert_eq!(
            r.topic_for("acme", "customer", "t.x").unwrap(),
            "bss.customer"
        );
    }

    #[test]
    fn first_matching_rule_wins_and_star_matches_the_rest() {
        let routes = [
            route("ticket", "support.tickets"),
            route("usage", "usage.raw"),
            route("*", "bss.other"),
            route("customer", "never"),
        ];
        let mut r = TopicRouter::new("bss.", &routes).unwrap();
        assert_eq!(
            r.topic_for("acme", "ticket", "t.x").unwrap(),
            "support.tickets"
        );
        assert_eq!(r.topic_for("acme", "usage", "t.x").unwrap(), "usage.raw");
        assert_eq!(r.topic_for("acme", "customer", "t.x").unwrap(), "bss.other");
    }

    #[test]
    fn category_that_is_no_valid_topic_name_is_refused_with_a_hint() {
        let mut r = TopicRouter::new("bss.", &[]).unwrap();
        let err = r.topic_for("acme", "kund/ä", "t.x").unwrap_err();
        assert!(err.contains("kund/ä") && err.contains("HINT"), "{err}");
        let long = "x".repeat(MAX_TOPIC_NAME_LEN);
        assert!(r.topic_for("acme", &long, "t.x").is_err());
    }

    #[test]
    fn rules_match_tenants_and_name_topics_after_the_event() {
        let routes = [
            KafkaRoute {
                tenant: Some("acme".into()),
                category: "usage".into(),
                event_type: None,
                topic: "acme.usage.raw".into(),
            },
            route("*", "{tenant}.bss.{category}"),
        ];
        let mut r = TopicRouter::new("bss.", &routes).unwrap();
        assert_eq!(
            r.topic_for("acme", "usage", "t.x").unwrap(),
            "acme.usage.raw"
        );
        assert_eq!(
            r.topic_for("acme", "ticket", "t.x").unwrap(),
            "acme.bss.ticket"
        );
        assert_eq!(
            r.topic_for("globex", "usage", "t.x").unwrap(),
            "globex.bss.usage"
        );
        assert_eq!(
            r.topic_for("acme", "usage", "t.x").unwrap(),
            "acme.usage.raw"
        );
        let err = r.topic_for("bad tenant", "usage", "t.x").unwrap_err();
        assert!(err.contains("bad tenant") && err.contains("HINT"), "{err}");
    }

    #[test]
    fn a_rule_with_a_type_takes_only_that_type_of_its_category() {
        let routes = [
            KafkaRoute {
                event_type: Some("ticket.classified".into()),
                ..route("*", "support.routing")
            },
            route("ticket", "support.tickets"),
        ];
        let mut r = TopicRouter::new("bss.", &routes).unwrap();
        assert_eq!(
            r.topic_for("acme", "ticket", "ticket.classified").unwrap(),
            "support.routing"
        );
        assert_eq!(
            r.topic_for("acme", "ticket", "ticket.opened").unwrap(),
            "support.tickets"
        );
        assert_eq!(
            r.topic_for("acme", "ticket", "ticket.classified").unwrap(),
            "support.routing",
            "kept per type"
        );
        assert_eq!(
            r.topic_for("acme", "usage", "usage.recorded").unwrap(),
            "bss.usage"
        );
    }

    #[test]
    fn without_a_tenant_rule_every_tenant_shares_the_category_topic() {
        let mut r = TopicRouter::new("bss.", &[route("usage", "usage.raw")]).unwrap();
        assert_eq!(r.topic_for("acme", "usage", "t.x").unwrap(), "usage.raw");
        assert_eq!(r.topic_for("globex", "usage", "t.x").unwrap(), "usage.raw");
        assert_eq!(
            r.topic_for("globex", "ticket", "t.x").unwrap(),
            "bss.ticket"
        );
        assert_eq!(r.cache.len(), 1, "answers kept once, not per tenant");
    }

    #[test]
    fn rule_naming_an_invalid_topic_is_refused() {
        assert!(TopicRouter::new("", &[route("x", "{tenant}/{category}")]).is_err());
        let err = TopicRouter::new("bss.", &[route("ticket", "bad topic")]).unwrap_err();
        assert!(err.contains("bad topic"), "{err}");
        assert!(TopicRouter::new("", &[route("x", "..")]).is_err());
    }

    #[test]
    fn topic_names_follow_kafkas_rule() {
        assert!(is_valid_topic_name("bss.usage_v2-x"));
        assert!(!is_valid_topic_name(""));
        assert!(!is_valid_topic_name("."));
        assert!(!is_valid_topic_name("a b"));
        assert!(is_valid_topic_name(&"a".repeat(249)));
        assert!(!is_valid_topic_name(&"a".repeat(250)));
    }
}
