//! Owns the anomaly stage: the configured detectors (bss-detect) run over
//! the spool in commit order, like a sink reads it, and every anomaly they
//! find is appended back into PostgreSQL as an `anomaly.detected` event of
//! stream `anomaly-<detector>`, from where it reaches Kafka and Redis like
//! any other event.
//!
//! Exactly once, across crashes: the detectors' state and the spool seq it
//! reflects are saved together in one file (written, fsynced, renamed), and
//! only then is the stage's spool cursor moved there, so the spool keeps
//! every event the saved state has not seen. After a crash the stage
//! restores the state and redoes the events after it; detectors are
//! deterministic, so it finds the same anomalies with the same name-based
//! event ids, and `bss.append_event` stores an id the stream already holds
//! only once. Windows are never empty after a restart and nothing is
//! reported twice. Anomalies are appended before the state that follows
//! them is saved: none is lost between the two.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bss_detect::config::DetectorConfig;
use bss_detect::pipeline::{Anomaly, Input, Pipeline, Stats};
use bss_detect::time::format_rfc3339_us;
use tokio::sync::watch;
use tokio_postgres::types::ToSql;
use tracing::{info, warn};

use crate::backoff::{self, Backoff};
use crate::event::Spooled;
use crate::metrics::{DetectorLabel, Metrics, SinkLabel};
use crate::runner;
use crate::spool::{write_durably, Spool};
use crate::status::RecentAnomalies;

/// The stage's name for its spool cursor, metrics and logs.
pub const NAME: &str = "anomaly";
/// The state file, in the spool directory.
const STATE_FILE: &str = "anomaly.state";
/// First bytes of the state file (and its format version).
const MAGIC: &[u8; 8] = b"BSSANOM1";
/// Source of the anomaly events.
const EVENT_SOURCE: &str = "/bss-sidecar/anomaly";

const APPEND_SQL: &str = "SELECT bss.append_event(stream_id => $1, type => 'anomaly.detected', \
     data => $2::text::jsonb, event_id => $3::text::uuid, source => $4, subject => $5, \
     \"time\" => $6::text::timestamptz)";

/// What the stage runs with.
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub database_url: String,
    pub detectors: Vec<DetectorConfig>,
    /// How often the detectors' state is saved (and the cursor moved);
    /// a crash redoes at most this much of the stream.
    pub checkpoint_every: Duration,
    /// How long appends may keep failing after shutdown before the stage
    /// stops without them (they are redone at the next start).
    pub drain_timeout: Duration,
}

/// Runs the detectors over the spool until `shutdown` turns true and the
/// stage has caught up with what is durable, recording every anomaly it
/// stored in `recent` (for the status page). Returns Err when an anomaly
/// cannot be stored for a reason retrying cannot fix.
pub async fn run(
    spool: Arc<Spool>,
    spool_dir: PathBuf,
    cfg: StageConfig,
    metrics: Arc<Metrics>,
    recent: Arc<RecentAnomalies>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let path = spool_dir.join(STATE_FILE);
    let cursor = spool.register(NAME)?;
    let (mut pipeline, mut next) = load(&path, cfg.detectors.clone(), cursor)?;
    info!(
        stage = NAME,
        cursor,
        from = next,
        detectors = cfg.detectors.len(),
        "anomaly stage started"
    );
    let mut durable = spool.subscribe();
    let mut db = Db::new(cfg.database_url.clone());
    let mut saved_at = Instant::now();
    let mut saved_next = cursor;
    let mut reported = Reported::new(&pipeline, &metrics);
    let label = SinkLabel::new(NAME);
    // The stage's own series exist at zero from the start, as a sink's do
    // (Metrics::init_sink); it delivers through PostgreSQL, so it has no
    // delivered count or commit-to-ack latency.
    let _ = metrics.sink_batches.get_or_create(&label);
    let _ = metrics.sink_retries.get_or_create(&label);
    loop {
        let batch = runner::read(&spool, next).await?;
        if batch.is_empty() {
            metrics.sink_lag.get_or_create(&label).set(0);
            // Caught up. The state is saved when checkpoint_every has
            // passed, not each time the stage catches up: under a steady
            // load that is many times a second, each a write of the whole
            // state.
            let unsaved = saved_next != next;
            if unsaved && (*shutdown.borrow() || saved_at.elapsed() >= cfg.checkpoint_every) {
                checkpoint(&spool, &path, &pipeline, next, &metrics).await?;
                saved_next = next;
                saved_at = Instant::now();
                continue;
            }
            if *shutdown.borrow() {
                info!(stage = NAME, next, "anomaly stage drained");
                return Ok(());
            }
            let save_in = if unsaved {
                cfg.checkpoint_every.saturating_sub(saved_at.elapsed())
            } else {
                Duration::MAX
            };
            tokio::select! {
                r = durable.changed() => r.map_err(|_| anyhow!("spool closed"))?,
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(save_in) => {}
            }
            continue;
        }
        let found = detect(&mut pipeline, &batch);
        if !found.is_empty()
            && !db
                .append_until_stored(&found, &mut shutdown, cfg.drain_timeout, &metrics)
                .await?
        {
            warn!(
                stage = NAME,
                "stopping before the anomalies were stored; they are found again at the next start"
            );
            return Ok(());
        }
        recent.record(&found);
        next = batch.last().map_or(next, |s| s.seq + 1);
        reported.publish(&pipeline, &found, &metrics);
        metrics
            .sink_lag
            .get_or_create(&label)
            .set(spool.durable_seq().saturating_sub(next) as i64);
        if saved_at.elapsed() >= cfg.checkpoint_every {
            checkpoint(&spool, &path, &pipeline, next, &metrics).await?;
            saved_next = next;
            saved_at = Instant::now();
        }
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

/// The state saved last and the seq after the events it has seen; empty
/// detectors from `cursor` when there is none.
fn load(path: &Path, detectors: Vec<DetectorConfig>, cursor: u64) -> Result<(Pipeline, u64)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Pipeline::new(detectors), cursor))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let damaged = |why: &str| {
        anyhow!(
            "the anomaly state {} is damaged ({why}); remove it to start the detectors with empty windows",
            path.display()
        )
    };
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(damaged("not a state file"));
    }
    let next = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let payload = &bytes[20..];
    if crc32fast::hash(payload) != crc {
        return Err(damaged("checksum mismatch"));
    }
    if next < cursor {
        bail!(
            "the anomaly state {} is older than the stage's spool cursor ({next} < {cursor}): \
             it was replaced by an older copy; remove it to start the detectors with empty windows",
            path.display()
        );
    }
    let (pipeline, notes) = Pipeline::restore(detectors, payload).map_err(|e| damaged(&e))?;
    for note in notes {
        info!(stage = NAME, "{note}");
    }
    Ok((pipeline, next))
}

/// Saves the state durably, then moves the stage's cursor to `next`, and
/// counts the save.
async fn checkpoint(
    spool: &Arc<Spool>,
    path: &Path,
    pipeline: &Pipeline,
    next: u64,
    metrics: &Metrics,
) -> Result<()> {
    let payload = pipeline.save();
    let spool = Arc::clone(spool);
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut bytes = Vec::with_capacity(payload.len() + 20);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&next.to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        write_durably(&path, &bytes)?;
        spool.advance(NAME, next)
    })
    .await??;
    metrics.anomaly_checkpoints.inc();
    Ok(())
}

/// The connection anomalies are appended through.
struct Db {
    url: String,
    client: Option<tokio_postgres::Client>,
}

/// Why an append failed.
enum AppendError {
    /// The connection or the server is unavailable for now.
    Retry(String),
    /// The server refused the event for a reason retrying cannot fix.
    Fatal(String),
}

impl Db {
    fn new(url: String) -> Db {
        Db { url, client: None }
    }

    /// Appends `found` in one transaction, retrying with backoff while
    /// PostgreSQL is unavailable. Ok(false): shutdown came and the drain
    /// timeout passed before they were stored.
    async fn append_until_stored(
        &mut self,
        found: &[Anomaly],
        shutdown: &mut watch::Receiver<bool>,
        drain_timeout: Duration,
        metrics: &Metrics,
    ) -> Result<bool> {
        let mut backoff = Backoff::new(backoff::DELIVERY);
        let mut deadline: Option<Instant> = None;
        loop {
            match self.append(found).await {
                Ok(()) => {
                    metrics
                        .sink_batches
                        .get_or_create(&SinkLabel::new(NAME))
                        .inc();
                    return Ok(true);
                }
                Err(AppendError::Fatal(e)) => bail!(
                    "the anomaly stage cannot store anomaly {}: {e}",
                    found[0].id
                ),
                Err(AppendError::Retry(e)) => {
                    self.client = None;
                    metrics
                        .sink_retries
                        .get_or_create(&SinkLabel::new(NAME))
                        .inc();
                    let retry_in = backoff.next_wait();
                    warn!(stage = NAME, error = %e, ?retry_in, "appending anomalies failed; retrying");
                    if *shutdown.borrow()
                        && Instant::now()
                            >= *deadline.get_or_insert_with(|| Instant::now() + drain_timeout)
                    {
                        return Ok(false);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(retry_in) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }

    async fn append(&mut self, found: &[Anomaly]) -> Result<(), AppendError> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
                .await
                .map_err(classify)?;
            tokio::spawn(conn);
            self.client = Some(client);
        }
        let client = self.client.as_mut().expect("connected above");
        let tx = client.transaction().await.map_err(classify)?;
        let stmt = tx.prepare(APPEND_SQL).await.map_err(classify)?;
        let rows: Vec<_> = found
            .iter()
            .map(|a| {
                (
                    a.stream_id(),
                    a.data().to_string(),
                    a.id.to_string(),
                    a.key.clone(),
                    format_rfc3339_us(a.time_us),
                )
            })
            .collect();
        let params: Vec<[&(dyn ToSql + Sync); 6]> = rows
            .iter()
            .map(|(stream, data, id, subject, time)| {
                [
                    stream as _,
                    data as _,
                    id as _,
                    &EVENT_SOURCE as _,
                    subject as _,
                    time as _,
                ]
            })
            .collect();
        // Sent together: tokio-postgres pipelines queries polled at once.
        let appends = params.iter().map(|p| tx.query_one(&stmt, p));
        futures::future::try_join_all(appends)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }
}

/// Connection trouble, a server shutting down, lock conflicts and resource
/// shortage pass; anything else the server says about the event does not.
fn classify(e: tokio_postgres::Error) -> AppendError {
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => return AppendError::Retry(e.to_string()),
    };
    let code = e.code().map(|c| c.code()).unwrap_or("");
    let passes = ["08", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "40001" | "40P01" | "55P03");
    if passes {
        AppendError::Retry(text)
    } else {
        AppendError::Fatal(text)
    }
}

/// Turns the detectors' statistics into counter increments.
struct Reported {
    last: BTreeMap<String, Stats>,
}

impl Reported {
    /// Also makes every detector's metrics exist (at 0) from the start.
    fn new(pipeline: &Pipeline, metrics: &Metrics) -> Reported {
        for (name, _) in pipeline.stats() {
            let label = DetectorLabel::new(name);
            let _ = metrics.anomalies.get_or_create(&label);
            let _ = metrics.detector_observations.get_or_create(&label);
            let _ = metrics.detector_unjudged.get_or_create(&label);
        }
        Reported {
            last: pipeline
                .stats()
                .map(|(n, s)| (n.to_owned(), s.clone()))
                .collect(),
        }
    }

    fn publish(&mut self, pipeline: &Pipeline, found: &[Anomaly], metrics: &Metrics) {
        for a in found {
            metrics
                .anomalies
                .get_or_create(&DetectorLabel::new(&a.detector))
                .inc();
        }
        for (name, stats) in pipeline.stats() {
            let before = self.last.entry(name.to_owned()).or_default();
            let label = DetectorLabel::new(name);
            metrics
                .detector_observations
                .get_or_create(&label)
                .inc_by(stats.observations.saturating_sub(before.observations));
            let unjudged = |s: &Stats| s.skipped + s.late + s.refused;
            metrics
                .detector_unjudged
                .get_or_create(&label)
                .inc_by(unjudged(stats).saturating_sub(unjudged(before)));
            *before = stats.clone();
        }
        for (name, keys) in pipeline.keys() {
            metrics
                .detector_keys
                .get_or_create(&DetectorLabel::new(name))
                .set(keys as i64);
        }
    }
}
