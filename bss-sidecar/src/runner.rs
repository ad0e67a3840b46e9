//! Owns driving every consumer of the spool, sinks and stages alike: take
//! the next batch from its reader, hand it over, retry with backoff while
//! the destination is down, and acknowledge to the reader only what was
//! handled: a sink's batch once its destination acknowledged it, a stage's
//! records once its state is saved (every checkpoint, and at shutdown).
//! On shutdown a consumer drains what is durable, or stops after the drain
//! timeout if its destination stays down (what it did not handle stays in
//! the spool for the next start). A stage's state that cannot be saved (a
//! full disk) is tried again with backoff until the sidecar stops.
//! Must never skip a batch, never acknowledge a batch before it was
//! handled, nor a stage's records before its state is saved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::backoff::{self, Backoff};
use crate::event::{now_us, Spooled};
use crate::failure::Failure;
use crate::metrics::{Metrics, SinkLabel};
use crate::reader::SpoolReader;
use crate::sink::Sink;
use crate::spool::Spool;
use crate::stage::Stage;

/// How long a consumer waits, the same for every one.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// After shutdown, how long to keep trying a destination that is down.
    pub drain_timeout: Duration,
    /// Once caught up, how long to let events gather after the next ones
    /// became durable, before reading them as one batch (Kafka's
    /// `linger.ms`): fewer, larger deliveries under a steady load, at up to
    /// this much more latency. Zero reads them at once.
    pub linger: Duration,
}

/// What the runner drives.
pub enum Consumer {
    Sink(Box<dyn Sink>),
    Stage(Box<dyn Stage>),
}

impl Consumer {
    fn name(&self) -> &'static str {
        match self {
            Consumer::Sink(s) => s.name(),
            Consumer::Stage(s) => s.name(),
        }
    }

    async fn handle(&mut self, batch: &[Spooled]) -> Result<(), Failure> {
        match self {
            Consumer::Sink(s) => s.deliver(batch).await,
            Consumer::Stage(s) => s.process(batch).await,
        }
    }
}

/// Drives `consumer` over the spool until `shutdown` turns true and it has
/// caught up with what is durable (a drain), or `timing.drain_timeout`
/// after shutdown if its destination is down. Returns Err on a
/// [`Failure::Fatal`].
pub async fn run(
    spool: Arc<Spool>,
    mut consumer: Consumer,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
    timing: Timing,
) -> Result<()> {
    let name = consumer.name();
    let label = SinkLabel::new(name);
    let mut reader = SpoolReader::open(spool, name, shutdown.clone())?;
    let checkpoint_every = match &mut consumer {
        Consumer::Sink(_) => {
            metrics.init_sink(&label);
            info!(sink = name, cursor = reader.acknowledged(), "sink started");
            None
        }
        Consumer::Stage(stage) => {
            // The stage's own series exist at zero from the start, as a
            // sink's do; it delivers through PostgreSQL, so it has no
            // delivered count or commit-to-ack latency.
            let _ = metrics.sink_batches.get_or_create(&label);
            let _ = metrics.sink_retries.get_or_create(&label);
            let from = stage.resume(reader.acknowledged())?;
            reader.seek(from)?;
            Some(stage.checkpoint_every())
        }
    };
    let mut saved_at = Instant::now();
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let batch = reader.next_batch().await?;
        if batch.is_empty() {
            metrics.sink_lag.get_or_create(&label).set(0);
            // Caught up. A stage's state is saved when checkpoint_every has
            // passed, not each time it catches up: under a steady load that
            // is many times a second, each a write of the whole state.
            let unsaved = reader.position() != reader.acknowledged();
            if let (Consumer::Stage(stage), Some(every)) = (&mut consumer, checkpoint_every) {
                if unsaved && (*shutdown.borrow() || saved_at.elapsed() >= every) {
                    checkpoint(stage.as_mut(), &mut reader, &shutdown).await?;
                    saved_at = Instant::now();
                    continue;
                }
            }
            // Its cursor is saved while it waits, when due
            // (reader::CURSOR_SAVE_INTERVAL); at once when it stops.
            if *shutdown.borrow() {
                reader.settle().await?;
                info!(sink = name, cursor = reader.acknowledged(), "drained");
                return Ok(());
            }
            let save_in = match checkpoint_every {
                Some(every) if unsaved => every.saturating_sub(saved_at.elapsed()),
                _ => Duration::MAX,
            };
            let more = tokio::select! {
                r = reader.wait_for_more() => { r?; true }
                _ = shutdown.changed() => false,
                _ = tokio::time::sleep(save_in) => false,
            };
            if more && !timing.linger.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(timing.linger) => {}
                    _ = shutdown.changed() => {}
                }
            }
            continue;
        }

        let mut backoff = Backoff::new(backoff::DELIVERY);
        loop {
            match consumer.handle(&batch).await {
                Ok(()) => break,
                Err(Failure::Fatal(e)) => {
                    reader.settle().await?;
                    return Err(match consumer {
                        Consumer::Sink(_) => anyhow!(
                            "sink {name} cannot deliver the events from spool seq {}: {e}",
                            batch[0].seq
                        ),
                        Consumer::Stage(_) => anyhow!(e),
                    });
                }
                Err(Failure::Retry(e)) => {
                    metrics.sink_retries.get_or_create(&label).inc();
                    metrics
                        .sink_lag
                        .get_or_create(&label)
                        .set(reader.behind(batch[0].seq) as i64);
                    let retry_in = backoff.next_wait();
                    warn!(sink = name, error = %e, ?retry_in, "handing a batch over failed; retrying");
                    let past_deadline = *shutdown.borrow()
                        && Instant::now()
                            >= *drain_deadline
                                .get_or_insert_with(|| Instant::now() + timing.drain_timeout);
                    if past_deadline {
                        reader.settle().await?;
                        warn!(
                            sink = name,
                            cursor = reader.acknowledged(),
                            "stopping before it drained; what it did not handle stays in the spool"
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

        let next = reader.position();
        match &mut consumer {
            Consumer::Sink(_) => {
                observe_latency(&metrics, &label, &batch);
                metrics.sink_batches.get_or_create(&label).inc();
                // Saved beside the next deliveries, at most every
                // CURSOR_SAVE_INTERVAL (reader.rs).
                reader.acknowledge(next).await?;
                metrics
                    .sink_delivered
                    .get_or_create(&label)
                    .inc_by(batch.len() as u64);
                metrics.spool_depth.set(reader.spool_depth() as i64);
            }
            Consumer::Stage(stage) => {
                if checkpoint_every.is_some_and(|every| saved_at.elapsed() >= every) {
                    checkpoint(stage.as_mut(), &mut reader, &shutdown).await?;
                    saved_at = Instant::now();
                }
            }
        }
        metrics
            .sink_lag
            .get_or_create(&label)
            .set(reader.behind(next) as i64);
    }
}

/// Saves the stage's state durably, then moves its cursor to match. A
/// save that fails (a full disk) is tried again after a backoff, so the
/// stage does not stop and hold the spool's records for good; once the
/// sidecar stops, the error is the stage's.
async fn checkpoint(
    stage: &mut dyn Stage,
    reader: &mut SpoolReader,
    shutdown: &watch::Receiver<bool>,
) -> Result<()> {
    let next = reader.position();
    let mut backoff = Backoff::new(backoff::DELIVERY);
    loop {
        match stage.save(next).await {
            Ok(()) => break,
            Err(e) if *shutdown.borrow() => return Err(e),
            Err(e) => {
                let retry_in = backoff.next_wait();
                warn!(sink = stage.name(), error = %format!("{e:#}"), ?retry_in, "saving the stage's state failed; retrying");
                tokio::time::sleep(retry_in).await;
            }
        }
    }
    reader.acknowledge(next).await
}

/// The commit-to-ack latency of each event of an acknowledged batch.
fn observe_latency(metrics: &Metrics, label: &SinkLabel, batch: &[Spooled]) {
    let now_us = now_us();
    let hist = metrics.commit_to_ack.get_or_create(label);
    for s in batch {
        hist.observe((now_us - s.event.commit_time_us).max(0) as f64 / 1e6);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;

    const NO_LINGER: Timing = Timing {
        drain_timeout: Duration::from_secs(5),
        linger: Duration::ZERO,
    };

    /// A runtime of one worker thread, as the sidecar's consumers share few.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Runs `consumer` with shutdown already asked for: it drains, then stops.
    fn drain(spool: Arc<Spool>, consumer: Consumer) -> Result<()> {
        let rt = runtime();
        let (_stop, shutdown) = watch::channel(true);
        rt.block_on(run(spool, consumer, Metrics::new(), shutdown, NO_LINGER))
    }

    /// Fails `failures` times with Retry, then records what it delivered.
    struct FlakySink {
        failures: usize,
        delivered: Arc<Mutex<Vec<u64>>>,
    }

    impl Sink for FlakySink {
        fn name(&self) -> &'static str {
            "flaky"
        }

        fn deliver<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), Failure>> {
            Box::pin(async move {
                if self.failures > 0 {
                    self.failures -= 1;
                    return Err(Failure::Retry("down".into()));
                }
                if batch.iter().any(|s| s.seq == 7) {
                    return Err(Failure::Fatal("refused".into()));
                }
                let mut d = self.delivered.lock().unwrap();
                d.extend(batch.iter().map(|s| s.seq));
                Ok(())
            })
        }
    }

    #[test]
    fn a_failed_batch_is_delivered_again_once_and_the_sink_drains() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 5);
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let sink = FlakySink {
            failures: 2,
            delivered: delivered.clone(),
        };
        drain(spool.clone(), Consumer::Sink(Box::new(sink))).unwrap();
        assert_eq!(*delivered.lock().unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(
            spool.depth(),
            0,
            "the cursor moved past the delivered batch"
        );
    }

    #[test]
    fn a_fatal_failure_stops_the_sink_naming_the_batch_and_keeps_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 10);
        let sink = FlakySink {
            failures: 0,
            delivered: Arc::default(),
        };
        let err = drain(spool.clone(), Consumer::Sink(Box::new(sink))).unwrap_err();
        assert!(
            format!("{err:#}").contains("from spool seq 0: refused"),
            "{err:#}"
        );
        assert_eq!(spool.depth(), 10, "nothing acknowledged");
    }

    /// Records, at each save, the seq saved and how many records the spool
    /// still held for it then.
    struct RecordingStage {
        spool: Arc<Spool>,
        resume_at: u64,
        seen: Arc<Mutex<Vec<u64>>>,
        saves: Arc<Mutex<Vec<(u64, u64)>>>,
        every: Duration,
        /// Saves that fail (as on a full disk) before the first that works.
        failing_saves: usize,
    }

    impl Stage for RecordingStage {
        fn name(&self) -> &'static str {
            "recording"
        }

        fn resume(&mut self, cursor: u64) -> Result<u64> {
            Ok(cursor.max(self.resume_at))
        }

        fn process<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), Failure>> {
            let mut seen = self.seen.lock().unwrap();
            seen.extend(batch.iter().map(|s| s.seq));
            Box::pin(async { Ok(()) })
        }

        fn checkpoint_every(&self) -> Duration {
            self.every
        }

        fn save(&mut self, next: u64) -> BoxFuture<'_, Result<()>> {
            if self.failing_saves > 0 {
                self.failing_saves -= 1;
                return Box::pin(async { Err(anyhow!("No space left on device")) });
            }
            let depth = self.spool.depth();
            self.saves.lock().unwrap().push((next, depth));
            Box::pin(async { Ok(()) })
        }
    }

    #[test]
    fn a_stage_resumes_after_its_saved_state_and_its_cursor_moves_only_after_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 10);
        let (seen, saves) = (Arc::default(), Arc::default());
        let stage = RecordingStage {
            spool: spool.clone(),
            resume_at: 4,
            seen: Arc::clone(&seen),
            saves: Arc::clone(&saves),
            every: Duration::from_secs(3600),
            failing_saves: 0,
        };
        drain(spool.clone(), Consumer::Stage(Box::new(stage))).unwrap();
        assert_eq!(*seen.lock().unwrap(), (4..10).collect::<Vec<u64>>());
        // One save, at shutdown (the interval is an hour), made while the
        // spool still held all 10 records for the stage.
        assert_eq!(*saves.lock().unwrap(), [(10, 10)]);
        assert_eq!(spool.depth(), 0, "the cursor followed the save");
    }

    #[test]
    fn a_stage_whose_state_cannot_be_saved_tries_again_and_its_cursor_moves_once_saved() {
        let dir = tempfile::tempdir().unwrap();
        let spool = crate::spool::filled(dir.path(), 10);
        let saves = Arc::new(Mutex::new(Vec::new()));
        let stage = RecordingStage {
            spool: spool.clone(),
            resume_at: 0,
            seen: Arc::default(),
            saves: Arc::clone(&saves),
            every: Duration::ZERO,
            failing_saves: 2,
        };
        let rt = runtime();
        let (stop, shutdown) = watch::channel(false);
        rt.block_on(async {
            let running = tokio::spawn(run(
                spool.clone(),
                Consumer::Stage(Box::new(stage)),
                Metrics::new(),
                shutdown,
                NO_LINGER,
            ));
            let deadline = Instant::now() + Duration::from_secs(10);
            while saves.lock().unwrap().is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "the stage stopped saving after a failed save"
                );
                assert!(!running.is_finished(), "the stage stopped");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stop.send(true).unwrap();
            running.await.unwrap().unwrap();
        });
        assert_eq!(*saves.lock().unwrap(), [(10, 10)], "saved once it could be");
        assert_eq!(spool.depth(), 0, "the cursor followed the save");
    }

    /// Records each batch it is handed.
    struct BatchesSink(Arc<Mutex<Vec<Vec<u64>>>>);

    impl Sink for BatchesSink {
        fn name(&self) -> &'static str {
            "batches"
        }

        fn deliver<'a>(&'a mut self, batch: &'a [Spooled]) -> BoxFuture<'a, Result<(), Failure>> {
            self.0
                .lock()
                .unwrap()
                .push(batch.iter().map(|s| s.seq).collect());
            Box::pin(async { Ok(()) })
        }
    }

    #[test]
    fn a_caught_up_sink_lets_events_gather_for_the_linger_and_takes_them_as_one_batch() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(Spool::open(dir.path(), 1 << 20).unwrap());
        let batches = Arc::new(Mutex::new(Vec::new()));
        let rt = runtime();
        let (stop, shutdown) = watch::channel(false);
        let commit = |lsn: u64| {
            let mut e = crate::event::example(&format!("customer-{lsn}"), 1);
            e.commit_lsn = lsn;
            spool.append(vec![e]).unwrap();
            spool.sync().unwrap();
        };
        rt.block_on(async {
            let running = tokio::spawn(run(
                spool.clone(),
                Consumer::Sink(Box::new(BatchesSink(Arc::clone(&batches)))),
                Metrics::new(),
                shutdown,
                Timing {
                    drain_timeout: Duration::from_secs(5),
                    linger: Duration::from_secs(1),
                },
            ));
            // Caught up (the spool is empty) and waiting by then.
            tokio::time::sleep(Duration::from_millis(300)).await;
            // Two commits 100 ms apart, both within the linger of the first.
            commit(10);
            tokio::time::sleep(Duration::from_millis(100)).await;
            commit(20);
            let deadline = Instant::now() + Duration::from_secs(10);
            while batches.lock().unwrap().concat().len() < 2 {
                assert!(Instant::now() < deadline, "the events were not delivered");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stop.send(true).unwrap();
            running.await.unwrap().unwrap();
        });
        assert_eq!(*batches.lock().unwrap(), [vec![0, 1]]);
    }
}
