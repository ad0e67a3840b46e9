//! Owns what every sink promises the runner (`runner.rs`): ordered,
//! acknowledged delivery of a batch of spooled events. Each sink lives in
//! its own file or folder (`redis.rs`, `kafka/`) and knows nothing of the
//! others, the stages, the source or the spool.

use futures::future::BoxFuture;

use crate::event::Spooled;

pub mod kafka;
pub mod redis;

/// Why a delivery failed: for now (the runner retries the same batch after
/// a backoff) or for good (the sidecar stops).
pub use crate::failure::Failure as SinkError;

/// A destination for events, in spool order.
pub trait Sink: Send + 'static {
    /// Short name for its cursor file, metrics and logs (`kafka`, `redis`).
    fn name(&self) -> &'static str;

    /// Delivers `batch` (consecutive spool records, in order) and returns Ok
    /// once the destination has acknowledged every event in it; only then
    /// does the runner move the sink's durable cursor past the batch. After
    /// an Err the runner delivers the same batch again, so a sink must
    /// tolerate redelivery (idempotent writes, or duplicates that carry the
    /// same `ce_id`).
    fn deliver<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), SinkError>>;
}
