//! Owns the forecast stage: every event read from the spool is counted by
//! type in buckets of its commit time (`counts.rs`), and every
//! `refresh_secs` a forecast of each type's next hour is fitted on the last
//! days (bss-intel's MSTL with daily and, from two weeks of history,
//! weekly seasons, and AutoETS, on a blocking thread) and exported as Prometheus gauges, beside the capacity the
//! operator set, for the alert that fires when the forecast exceeds it.
//!
//! Counted once, across crashes: the counts and the spool seq they reflect
//! are saved together (`stage::state_file`), and only then does the runner
//! move the stage's cursor; after a crash the stage restores the counts
//! and counts the events after them again.
//!
//! Must never append to the store (its output is metrics), and never hold
//! the spool while it fits.

pub mod config;
mod counts;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use self::config::ForecastConfig;
use self::counts::Counts;
use super::state_file::StateFile;
use super::Stage;
use crate::event::{now_us, Spooled};
use crate::failure::Failure;
use crate::metrics::{CapacityLabel, Metrics, TypeLabel};

/// The stage's name for its spool cursor, metrics and logs.
pub const NAME: &str = "forecast";
/// The state file (the counts), in the spool directory.
pub const STATE_FILE: &str = "forecast.state";

fn state_file(spool_dir: &Path) -> StateFile {
    StateFile {
        path: spool_dir.join(STATE_FILE),
        magic: b"BSSFCST1",
        what: "the forecast stage's counts",
        start_over: "to start counting afresh (forecasts then wait for new history)",
    }
}

/// The forecast stage.
pub struct ForecastStage {
    cfg: ForecastConfig,
    state: StateFile,
    counts: Arc<Mutex<Counts>>,
    refresher: Option<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl ForecastStage {
    pub fn new(cfg: ForecastConfig, spool_dir: &Path, metrics: Arc<Metrics>) -> ForecastStage {
        if let Some(c) = cfg.capacity_per_hour {
            let all = CapacityLabel {
                types: "all".to_owned(),
            };
            metrics.forecast_capacity.get_or_create(&all).set(c);
        }
        ForecastStage {
            counts: Arc::new(Mutex::new(Counts::new(cfg.bucket_us(), cfg.keep()))),
            cfg,
            state: state_file(spool_dir),
            refresher: None,
            metrics,
        }
    }
}

impl Drop for ForecastStage {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
    }
}

/// Fits every type's forecast now and sets the gauges.
fn refresh(counts: &Mutex<Counts>, cfg: &ForecastConfig, metrics: &Metrics) {
    let started = Instant::now();
    let series = counts.lock().complete(now_us());
    for (event_type, history) in series {
        let label = TypeLabel { r#type: event_type };
        metrics
            .forecast_history
            .get_or_create(&label)
            .set(history.len() as i64);
        // Quiet days count as zeros; only the buckets since the type was
        // first counted are history.
        let periods = [cfg.period(), 7 * cfg.period()];
        match bss_intel::forecast::forecast(&history, &periods, cfg.horizon(), 0.95) {
            Ok(f) => {
                let (point, lower, upper) = f.total();
                // The total over the horizon's buckets, as a rate an hour.
                let per_hour = 60.0 / (cfg.horizon() as f64 * f64::from(cfg.bucket_minutes));
                metrics
                    .forecast_rate
                    .get_or_create(&label)
                    .set(point * per_hour);
                metrics
                    .forecast_lower
                    .get_or_create(&label)
                    .set(lower * per_hour);
                metrics
                    .forecast_upper
                    .get_or_create(&label)
                    .set(upper * per_hour);
            }
            Err(bss_intel::forecast::ForecastError::NotEnoughHistory { .. }) => {}
            Err(e) => warn!(stage = NAME, event_type = %label.r#type, error = %e, "no forecast"),
        }
    }
    metrics.forecast_refreshes.inc();
    metrics
        .forecast_fit_seconds
        .set(started.elapsed().as_secs_f64());
}

impl Stage for ForecastStage {
    fn name(&self) -> &'static str {
        NAME
    }

    fn resume(&mut self, cursor: u64) -> Result<u64> {
        let next = match self.state.load_json::<Counts>(cursor)? {
            None => cursor,
            Some((next, saved)) => {
                if saved.fits(self.cfg.bucket_us(), self.cfg.keep()) {
                    *self.counts.lock() = saved;
                } else {
                    info!(
                        stage = NAME,
                        "bucket_minutes or history_days changed: counting afresh"
                    );
                }
                next
            }
        };
        let (counts, cfg, metrics) = (
            Arc::clone(&self.counts),
            self.cfg.clone(),
            Arc::clone(&self.metrics),
        );
        self.refresher = Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(cfg.refresh_every());
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let (counts, cfg, metrics) = (counts.clone(), cfg.clone(), metrics.clone());
                let _ = tokio::task::spawn_blocking(move || refresh(&counts, &cfg, &metrics)).await;
            }
        }));
        info!(stage = NAME, cursor, from = next, "forecast stage started");
        Ok(next)
    }

    fn process<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), Failure>> {
        let mut counts = self.counts.lock();
        for s in batch {
            if !counts.add(&s.event.event_type, s.event.commit_time_us) {
                self.metrics.forecast_too_late.inc();
            }
        }
        Box::pin(async { Ok(()) })
    }

    fn checkpoint_every(&self) -> Duration {
        self.cfg.checkpoint_every()
    }

    fn save(&mut self, next: u64) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let payload = serde_json::to_vec(&*self.counts.lock())?;
            self.state.save_off_thread(payload, next).await
        })
    }
}
