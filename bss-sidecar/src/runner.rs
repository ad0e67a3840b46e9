//! Owns driving one sink: read durable batches from the spool at the sink's
//! cursor, deliver them, retry with backoff while the destination is down,
//! and move the cursor only past what the destination acknowledged. The
//! next batch is read, and the previous cursor saved, while a batch is
//! being delivered, so the destination never waits on the spool's disk.
//! Must never skip a batch, never hold more than two batches in memory,
//! and never save a cursor before its batch was acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::backoff::{self, Backoff};
use crate::event::Spooled;
use crate::metrics::{Metrics, SinkLabel};
use crate::sink::{Sink, SinkError};
use crate::spool::Spool;

/// Largest batch handed to a sink at once.
pub const MAX_BATCH: usize = 5_000;
/// Events a sink may have delivered past its durable cursor: the batch
/// being delivered and the one whose cursor is being saved. A crash
/// redelivers at most these.
pub const MAX_IN_FLIGHT: usize = 2 * MAX_BATCH;

/// Delivers the spool to `sink` until `shutdown` turns true and the sink has
/// caught up with what is durable (a drain), or `drain_timeout` after
/// shutdown if its destination is down (what it did not deliver stays in
/// the spool for the next start). Returns Err on a [`SinkError::Fatal`].
pub async fn run_sink(
    spool: Arc<Spool>,
    mut sink: Box<dyn Sink>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> Result<()> {
    let name = sink.name();
    let label = SinkLabel::new(name);
    metrics.init_sink(&label);
    let mut cursor = spool.register(name)?;
    let mut durable = spool.subscribe();
    info!(sink = name, cursor, "sink started");
    let mut drain_deadline: Option<Instant> = None;
    let past_deadline = |shutdown: &watch::Receiver<bool>, deadline: &mut Option<Instant>| {
        *shutdown.borrow()
            && Instant::now() >= *deadline.get_or_insert_with(|| Instant::now() + drain_timeout)
    };
    let mut saving = CursorSave::default();
    let mut batch = read(&spool, cursor).await?;
    loop {
        if batch.is_empty() {
            saving.finish().await?;
            metrics.sink_lag.get_or_create(&label).set(0);
            if *shutdown.borrow() {
                info!(sink = name, cursor, "sink drained");
                return Ok(());
            }
            tokio::select! {
                r = durable.changed() => r.map_err(|_| anyhow!("spool closed"))?,
                _ = shutdown.changed() => {}
            }
            batch = read(&spool, cursor).await?;
            continue;
        }
        let next = batch.last().map_or(cursor, |s| s.seq + 1);
        let prefetch = read_ahead(&spool, next);
        let mut backoff = Backoff::new(backoff::DELIVERY);
        loop {
            match sink.deliver(&batch).await {
                Ok(()) => break,
                Err(SinkError::Fatal(e)) => {
                    saving.finish().await?;
                    return Err(anyhow!(
                        "sink {name} cannot deliver the events from spool seq {}: {e}",
                        batch[0].seq
                    ));
                }
                Err(SinkError::Retry(e)) => {
                    metrics.sink_retries.get_or_create(&label).inc();
                    metrics
                        .sink_lag
                        .get_or_create(&label)
                        .set(spool.durable_seq().saturating_sub(cursor) as i64);
                    let retry_in = backoff.next_wait();
                    warn!(sink = name, error = %e, ?retry_in, "delivery failed; retrying");
                    if past_deadline(&shutdown, &mut drain_deadline) {
                        saving.finish().await?;
                        warn!(
                            sink = name,
                            cursor,
                            "stopping before the sink drained; its events stay in the spool"
                        );
                        return Ok(());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(retry_in) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        observe_latency(&metrics, &label, &batch);
        metrics.sink_batches.get_or_create(&label).inc();
        // One save at a time, in order: the previous one ends before this starts.
        saving.finish().await?;
        saving.start(&spool, name, next);
        cursor = next;
        metrics
            .sink_delivered
            .get_or_create(&label)
            .inc_by(batch.len() as u64);
        metrics
            .sink_lag
            .get_or_create(&label)
            .set(spool.durable_seq().saturating_sub(cursor) as i64);
        metrics.spool_depth.set(spool.depth() as i64);
        batch = prefetch.await??;
    }
}

/// Starts reading up to [`MAX_BATCH`] durable records from `from` on, off
/// the runtime.
fn read_ahead(spool: &Arc<Spool>, from: u64) -> JoinHandle<Result<Vec<Spooled>>> {
    let spool = Arc::clone(spool);
    tokio::task::spawn_blocking(move || spool.read(from, MAX_BATCH))
}

/// Up to [`MAX_BATCH`] durable records from `from` on.
pub(crate) async fn read(spool: &Arc<Spool>, from: u64) -> Result<Vec<Spooled>> {
    read_ahead(spool, from).await?
}

/// The commit-to-ack latency of each event of an acknowledged batch.
fn observe_latency(metrics: &Metrics, label: &SinkLabel, batch: &[Spooled]) {
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let hist = metrics.commit_to_ack.get_or_create(label);
    for s in batch {
        hist.observe((now_us - s.event.commit_time_us).max(0) as f64 / 1e6);
    }
}

/// The durable save of a sink's cursor, running beside the next delivery.
#[derive(Default)]
struct CursorSave(Option<JoinHandle<Result<()>>>);

impl CursorSave {
    fn start(&mut self, spool: &Arc<Spool>, sink: &'static str, to: u64) {
        let spool = Arc::clone(spool);
        self.0 = Some(tokio::task::spawn_blocking(move || spool.advance(sink, to)));
    }

    /// Waits for the save under way, if any; its error is the runner's.
    async fn finish(&mut self) -> Result<()> {
        match self.0.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}
