//! Owns what every stage promises the runner (`runner.rs`): a consumer of
//! the spool that keeps state of its own (the anomaly stage's detectors),
//! works through batches in order and saves its state at checkpoints, after
//! which the runner moves its spool cursor. Each stage lives in its own
//! folder and knows nothing of the sinks, the source or the status page.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::event::Spooled;
use crate::failure::Failure;

pub mod anomaly;
pub mod db;
pub mod forecast;
pub mod intelligence;
pub mod state_file;

/// A consumer of the spool with state that must survive a restart.
pub trait Stage: Send + 'static {
    /// Short name for its cursor file, metrics and logs (`anomaly`).
    fn name(&self) -> &'static str;

    /// Restores the state saved last and returns the seq after the records
    /// it has seen: at least `cursor` (the stage's spool cursor), since the
    /// cursor moves only after a save.
    fn resume(&mut self, cursor: u64) -> anyhow::Result<u64>;

    /// Works through `batch` (consecutive records, in order). After an Err
    /// the runner hands the same batch again: a stage must not count a
    /// batch twice.
    fn process<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), Failure>>;

    /// How often the runner saves the stage's state; a crash redoes at
    /// most this much of the spool.
    fn checkpoint_every(&self) -> Duration;

    /// Saves, durably, the state that reflects every record before `next`.
    /// Only after Ok does the runner move the stage's cursor to `next`.
    fn save(&mut self, next: u64) -> BoxFuture<'_, anyhow::Result<()>>;
}
