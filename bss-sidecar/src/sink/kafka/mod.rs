//! The Kafka sink, a folder: `config.rs` (the `[kafka]` settings and the
//! producer's configuration), `client.rs` (librdkafka clients and what
//! their errors mean), `topics.rs` (routing and creating topics),
//! `headers.rs` (the CloudEvents binding), `sink.rs` (delivery).

mod client;
pub mod config;
pub mod headers;
mod sink;
pub mod topics;

pub use config::{KafkaRoute, KafkaSinkConfig, DEFAULT_DELIVERY_TIMEOUT_MS};
pub use sink::KafkaSink;
