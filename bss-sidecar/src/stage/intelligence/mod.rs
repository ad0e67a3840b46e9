//! Owns the intelligence stage: events with free text (`ticket.opened` and
//! any type configured in `[intelligence]`) are classified by a sentence
//! embedding model and a trained classifier (bss-intel), scored for
//! sentiment (VADER), routed to a team and a priority by rules over the
//! class, the sentiment, the customer's segment and plan and the recent
//! anomalies, and the result is appended to the event's own stream as a
//! `<prefix>.classified` event (`ticket.classified`), from where it reaches
//! Kafka and Redis like any other event.
//!
//! Off the spool's critical path: the stage only copies the events to
//! classify into its backlog (`backlog.rs`) as it reads the spool, and a
//! worker (`worker.rs`) classifies from the backlog on at most `threads`
//! threads at a lower priority (`model_nice`), pausing after each batch so
//! that it uses at most `model_cpu` of a core; another routes those
//! without a class, so they never wait for the model. The backlog is
//! bounded: with `max_backlog` events waiting for the model, the stage waits for room, but never past `max_wait_ms` after
//! an event's commit; an event that still finds no room is routed without a
//! class (and counted so). So a slow model holds the stage's spool cursor
//! (never the sinks) by at most that long.
//!
//! Exactly once, across crashes: at each checkpoint the backlog is saved
//! whole with the spool seq it reflects (`stage::state_file`), and only
//! then does the runner move the stage's cursor. After a crash the saved
//! backlog and the spool after it are done again; a classified event's id
//! is named by the event it classifies (`ticket.rs`) and lives in that
//! event's stream, so `bss.append_event` stores it once however often it
//! is done.
//!
//! Must never feed an event to the backlog twice in one run, never drop
//! one from it before its classified event is committed, and never import
//! the status page.

mod backlog;
pub mod config;
mod store;
mod ticket;
mod worker;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tracing::info;

use self::backlog::Backlog;
use self::config::IntelligenceConfig;
use self::ticket::Ticket;
use self::worker::Models;
use super::db::Db;
use super::state_file::StateFile;
use super::Stage;
use crate::event::{now_us, Spooled};
use crate::failure::Failure;
use crate::metrics::{Metrics, SinkLabel};

/// The stage's name for its spool cursor, metrics and logs.
pub const NAME: &str = "intelligence";
/// The state file (the saved backlog), in the spool directory.
pub const STATE_FILE: &str = "intelligence.state";

fn state_file(spool_dir: &Path) -> StateFile {
    StateFile {
        path: spool_dir.join(STATE_FILE),
        magic: b"BSSINTL1",
        what: "the intelligence stage's backlog",
        start_over: "to start without it (the events it held are then not classified)",
    }
}

/// The intelligence stage.
pub struct IntelligenceStage {
    cfg: IntelligenceConfig,
    database_url: String,
    state: StateFile,
    backlog: Arc<Backlog>,
    models: Arc<Models>,
    workers: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl IntelligenceStage {
    /// Loads the models (the error names the file that is missing or bad).
    pub fn new(
        cfg: IntelligenceConfig,
        database_url: String,
        spool_dir: &Path,
        metrics: Arc<Metrics>,
    ) -> Result<IntelligenceStage> {
        let models = Arc::new(Models::load(&cfg)?);
        Ok(IntelligenceStage {
            backlog: Arc::new(Backlog::new(cfg.max_backlog)),
            cfg,
            database_url,
            state: state_file(spool_dir),
            models,
            workers: Vec::new(),
            metrics,
        })
    }

    async fn take(&mut self, batch: &[Spooled]) -> Result<(), Failure> {
        for s in batch {
            let Some(mut ticket) = Ticket::of(&s.event, &self.cfg, true) else {
                continue;
            };
            // Room for the model, or the wait is over (or there is no text).
            loop {
                let dropped = self.backlog.dropped();
                if let Some(why) = self.backlog.failure() {
                    return Err(Failure::Fatal(why));
                }
                if !ticket.model || self.backlog.model_has_room() {
                    break;
                }
                let waited = now_us().saturating_sub(ticket.commit_time_us).max(0) as u64;
                let left = self
                    .cfg
                    .max_wait()
                    .saturating_sub(Duration::from_micros(waited));
                if left.is_zero() {
                    ticket.model = false;
                    break;
                }
                tokio::select! {
                    _ = dropped => {}
                    _ = tokio::time::sleep(left) => {}
                }
            }
            self.backlog.push(ticket);
            self.metrics
                .intel_backlog
                .set(self.backlog.waiting() as i64);
        }
        Ok(())
    }

    async fn save_backlog(&mut self, next: u64) -> Result<()> {
        self.state.save_json(&self.backlog.snapshot(), next).await?;
        self.metrics.intel_checkpoints.inc();
        Ok(())
    }
}

impl Drop for IntelligenceStage {
    fn drop(&mut self) {
        // What it was doing is in the saved backlog, or in the spool after it.
        for w in self.workers.drain(..) {
            w.abort();
        }
    }
}

impl Stage for IntelligenceStage {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resume(&mut self, cursor: u64) -> Result<u64> {
        let next = match self.state.load_json::<Vec<Ticket>>(cursor)? {
            None => cursor,
            Some((next, tickets)) => {
                self.backlog.restore(tickets);
                next
            }
        };
        let _ = self
            .metrics
            .sink_retries
            .get_or_create(&SinkLabel::new(NAME));
        self.metrics
            .intel_backlog
            .set(self.backlog.waiting() as i64);
        for model in [true, false] {
            let worker = worker::run(
                Arc::clone(&self.backlog),
                model,
                Arc::clone(&self.models),
                Db::new(self.database_url.clone()),
                self.cfg.clone(),
                Arc::clone(&self.metrics),
            );
            self.workers.push(tokio::spawn(worker));
        }
        info!(
            stage = NAME,
            cursor,
            from = next,
            backlog = self.backlog.waiting(),
            types = ?self.cfg.types,
            "intelligence stage started"
        );
        Ok(next)
    }

    fn process<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(self.take(batch))
    }

    fn checkpoint_every(&self) -> Duration {
        self.cfg.checkpoint_every()
    }

    fn save(&mut self, next: u64) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.save_backlog(next))
    }
}
