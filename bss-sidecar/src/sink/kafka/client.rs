//! Owns the librdkafka clients of the Kafka sink: their context (logs and
//! errors into `tracing`), making a producer, and what a failed delivery
//! means (retry, or stop). Must never treat an error retrying could fix as
//! fatal.

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;

use crate::event::Spooled;
use crate::sink::SinkError;

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

pub type KafkaProducer = FutureProducer<KafkaContext>;

pub fn new_producer(c: &ClientConfig) -> Result<KafkaProducer, SinkError> {
    KafkaProducer::from_config_and_context(c, KafkaContext)
        .map_err(|e| SinkError::Fatal(format!("kafka: cannot create producer: {e}")))
}

pub fn at(s: &Spooled) -> String {
    format!(
        "seq {} (stream {} version {})",
        s.seq, s.event.stream_id, s.event.stream_version
    )
}

/// Errors no retry can fix are fatal; everything else (timeouts, broker
/// down, leader moves, a producer replaced after a fatal error) is retried.
pub fn classify(err: &KafkaError, s: &Spooled, topic: &str) -> SinkError {
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
