//! Owns delivery to Kafka: one record per event, through an idempotent
//! producer with `acks=all` (`config.rs`), to the topic `topics.rs` routes
//! its category to, keyed by stream id so a stream keeps its order within
//! its partition, with the CloudEvents headers of `headers.rs`. Any failed
//! delivery is retried by the runner with a new producer (see
//! `replace_producer`), so the sink recovers by itself after an outage.
//!
//! Must never report a batch delivered before the broker acknowledged every
//! record of it, never drop a record (a full local queue is waited out), and
//! never give a redelivered event another `ce_id` or other headers.

use std::collections::VecDeque;
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::admin::AdminClient;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureRecord, Producer};

use super::client::{at, classify, new_producer, KafkaContext, KafkaProducer};
use super::config::KafkaSinkConfig;
use super::headers::{headers, value};
use super::topics::{TopicCreator, TopicRouter};
use crate::event::Spooled;
use crate::sink::{Sink, SinkError};

/// Extra time, past the delivery timeout and the last in-flight request's
/// timeout, before a missing delivery report counts as a failure.
const ACK_SLACK: Duration = Duration::from_secs(10);
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
        let mut last: Option<(&str, &str, &str, usize)> = None;
        let mut names: Vec<String> = Vec::new();
        for s in batch {
            let e = &s.event;
            let (tenant, category, ty) = (e.tenant.as_str(), e.category(), e.event_type.as_str());
            let idx = match last {
                Some((t, c, y, i)) if t == tenant && c == category && y == ty => i,
                _ => {
                    let topic = self
                        .router
                        .topic_for(tenant, category, ty)
                        .map_err(|e| SinkError::Fatal(format!("kafka: {} : {e}", at(s))))?;
                    let i = match names.iter().position(|n| n == topic) {
                        Some(i) => i,
                        None => {
                            names.push(topic.to_owned());
                            names.len() - 1
                        }
                    };
                    last = Some((tenant, category, ty, i));
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
        if result.is_err() {
            // A broker that lost its data (or a topic deleted) does not
            // always answer "unknown topic": librdkafka may only time the
            // records out. So after any failure every topic of the batch is
            // looked up again (and created if missing) before the retry;
            // otherwise the sink would retry into a topic that is gone, forever.
            for name in &names {
                self.topics.forget(name);
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
