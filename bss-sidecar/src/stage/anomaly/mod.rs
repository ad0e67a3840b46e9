//! Owns the anomaly stage: the configured detectors (bss-detect) run over
//! the spool in commit order, driven by the runner like a sink, and every
//! anomaly they find is appended back into PostgreSQL as an
//! `anomaly.detected` event of stream `anomaly-<detector>` (`store.rs`),
//! from where it reaches Kafka and Redis like any other event. Anomalies
//! stored are also sent on a channel, for the status page.
//!
//! Exactly once, across crashes: the detectors' state and the spool seq it
//! reflects are saved together in one file (`state.rs`: written, fsynced,
//! renamed), and only then does the runner move the stage's spool cursor
//! there, so the spool keeps every event the saved state has not seen.
//! After a crash the stage restores the state and redoes the events after
//! it; detectors are deterministic, so it finds the same anomalies with the
//! same name-based event ids, and `bss.append_event` stores an id the
//! stream already holds only once. Windows are never empty after a restart
//! and nothing is reported twice. Anomalies are appended before the state
//! that follows them is saved: none is lost between the two.
//!
//! Must never feed a batch to the detectors twice in one run (a retried
//! batch appends the anomalies already found), and never import the status
//! page.

mod counters;
mod state;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bss_detect::config::DetectorConfig;
use bss_detect::pipeline::{Anomaly, Input, Pipeline};
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tracing::info;

use self::counters::Reported;
use super::db::Db;
use super::Stage;
use crate::event::Spooled;
use crate::failure::Failure;
use crate::metrics::{Metrics, SinkLabel};

pub use self::state::STATE_FILE;

/// The stage's name for its spool cursor, metrics and logs.
pub const NAME: &str = "anomaly";

/// Where stored anomalies go (the status page listens); a send to a
/// closed channel (no status page) is dropped.
pub type AnomalySender = mpsc::UnboundedSender<Vec<Anomaly>>;

/// What the stage runs with.
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub database_url: String,
    pub detectors: Vec<DetectorConfig>,
    /// How often the detectors' state is saved (and the cursor moved);
    /// a crash redoes at most this much of the stream.
    pub checkpoint_every: Duration,
    /// The directory of the spool, where the state file lives.
    pub spool_dir: PathBuf,
}

/// The anomaly stage.
pub struct AnomalyStage {
    cfg: StageConfig,
    pipeline: Pipeline,
    /// The anomalies of the batch being processed, found once and appended
    /// until stored.
    pending: Option<Vec<Anomaly>>,
    db: Db,
    metrics: Arc<Metrics>,
    label: SinkLabel,
    reported: Reported,
    found: AnomalySender,
}

impl AnomalyStage {
    pub fn new(cfg: StageConfig, metrics: Arc<Metrics>, found: AnomalySender) -> AnomalyStage {
        let pipeline = Pipeline::new(cfg.detectors.clone());
        let reported = Reported::new(&pipeline, &metrics);
        AnomalyStage {
            db: Db::new(cfg.database_url.clone()),
            cfg,
            pipeline,
            pending: None,
            label: SinkLabel::new(NAME),
            reported,
            metrics,
            found,
        }
    }

    async fn process_batch(&mut self, batch: &[Spooled]) -> Result<(), Failure> {
        let pipeline = &mut self.pipeline;
        let found = self.pending.get_or_insert_with(|| detect(pipeline, batch));
        if !found.is_empty() {
            store::append(&mut self.db, found).await?;
            // One append transaction: the stage's delivered batch.
            self.metrics.sink_batches.get_or_create(&self.label).inc();
        }
        let found = self.pending.take().unwrap_or_default();
        self.reported.publish(&self.pipeline, &found, &self.metrics);
        if !found.is_empty() {
            let _ = self.found.send(found);
        }
        Ok(())
    }

    async fn save_state(&mut self, next: u64) -> Result<()> {
        let payload = self.pipeline.save();
        state::file(&self.cfg.spool_dir.join(STATE_FILE))
            .save_off_thread(payload, next)
            .await?;
        self.metrics.anomaly_checkpoints.inc();
        Ok(())
    }
}

impl Stage for AnomalyStage {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resume(&mut self, cursor: u64) -> Result<u64> {
        let path = self.cfg.spool_dir.join(STATE_FILE);
        let (pipeline, next, notes) = state::load(&path, self.cfg.detectors.clone(), cursor)?;
        for note in notes {
            info!(stage = NAME, "{note}");
        }
        self.pipeline = pipeline;
        self.reported = Reported::new(&self.pipeline, &self.metrics);
        info!(
            stage = NAME,
            cursor,
            from = next,
            detectors = self.cfg.detectors.len(),
            "anomaly stage started"
        );
        Ok(next)
    }

    fn process<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(self.process_batch(batch))
    }

    fn checkpoint_every(&self) -> Duration {
        self.cfg.checkpoint_every
    }

    fn save(&mut self, next: u64) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.save_state(next))
    }
}

/// Feeds a batch to the detectors, in order.
fn detect(pipeline: &mut Pipeline, batch: &[Spooled]) -> Vec<Anomaly> {
    let mut found = Vec::new();
    for s in batch {
        let e = &s.event;
        let parsed = if pipeline.wants_data(&e.event_type) {
            serde_json::from_str::<serde_json::Value>(&e.data).ok()
        } else {
            None
        };
        pipeline.observe(
            &Input {
                event_id: &e.event_id,
                event_type: &e.event_type,
                time_us: e.commit_time_us,
                data: parsed.as_ref(),
            },
            &mut found,
        );
    }
    found
}
