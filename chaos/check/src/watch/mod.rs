//! `watch`: runs through a whole scenario, recording every arrival of an
//! event in Kafka and in Redis with its wall-clock time, and ends when the
//! load generator's history is complete and every acknowledged event has
//! arrived in both sinks, or --settle-timeout after the history's end, or
//! on SIGTERM/SIGINT; then writes the arrivals file (`arrivals.rs`).
//! SIGUSR1 says Redis was rebuilt from the store (the chaos suite's
//! restore-pitr): its arrivals are read again from the start. Owns when
//! the watch ends; must never end on a broker or Redis error.

pub mod collected;
pub mod kafka;
pub mod redis;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bss_loadgen::history::Outcome;
use bss_loadgen::kafka_watch::CATEGORIES;
use tracing::{info, warn};

use crate::arrivals::{Arrivals, EndLine, EndReason};
use crate::history::HistoryTail;
use collected::{unix_now, Collected};

/// How often the history is read and the end condition checked.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);
/// After this long without an awaited event arriving, Kafka is read again.
const REREAD_AFTER: Duration = Duration::from_secs(5);
/// The end condition must hold this long before the watch ends: events of
/// unknown outcome that were stored may still be on their way.
const QUIET: Duration = Duration::from_secs(2);
/// How long the aggregates may take to read at the end (Redis may be
/// unreachable); shorter after a signal, whose sender waits for the exit.
const AGGREGATE_PATIENCE: Duration = Duration::from_secs(10);
const AGGREGATE_PATIENCE_SIGNALLED: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Kafka(#[from] kafka::KafkaWatchError),
    #[error(transparent)]
    Redis(#[from] redis::RedisWatchError),
    #[error("installing the signal handlers: {0}")]
    Signal(std::io::Error),
    #[error("writing the arrivals {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the aggregates: {0}")]
    Join(#[from] tokio::task::JoinError),
}

pub struct WatchConfig {
    pub kafka_brokers: String,
    pub topic_prefix: String,
    pub redis_url: String,
    pub redis_stream_prefix: String,
    pub redis_agg_prefix: String,
    pub history: Vec<PathBuf>,
    pub out: PathBuf,
    pub settle_timeout: Duration,
}

/// Events that must still arrive before the watch may end: the
/// acknowledged ones, and the unknown ones seen in one sink (so stored).
#[derive(Default)]
struct Awaited {
    waiting: Vec<String>,
    unknown: Vec<String>,
}

impl Awaited {
    /// How many awaited events Kafka has not shown yet.
    fn missing_in_kafka(&self, seen: &collected::Seen) -> usize {
        self.waiting
            .iter()
            .filter(|id| !seen.kafka_ids.contains(*id))
            .count()
    }

    /// Whether every awaited event has arrived in both sinks.
    fn settled(&mut self, seen: &collected::Seen) -> bool {
        let both = |id: &String| seen.kafka_ids.contains(id) && seen.redis_ids.contains(id);
        let mut promoted = Vec::new();
        self.unknown.retain(|id| {
            let any = seen.kafka_ids.contains(id) || seen.redis_ids.contains(id);
            if any {
                promoted.push(id.clone());
            }
            !any
        });
        self.waiting.extend(promoted);
        self.waiting.retain(|id| !both(id));
        self.waiting.is_empty()
    }
}

/// Runs the watch until it ends (see the module doc), then writes the arrivals.
pub async fn watch(cfg: WatchConfig) -> Result<(), WatchError> {
    let seen = Arc::new(Collected::default());
    let stop = Arc::new(AtomicBool::new(false));
    let topics: Vec<String> = CATEGORIES
        .iter()
        .map(|c| format!("{}{c}", cfg.topic_prefix))
        .collect();
    let keys: Vec<String> = CATEGORIES
        .iter()
        .map(|c| format!("{}{c}", cfg.redis_stream_prefix))
        .collect();
    let kafka = kafka::KafkaWatch::spawn(&cfg.kafka_brokers, topics.clone(), seen.clone())?;
    let rebuilt = Arc::new(AtomicBool::new(false));
    let redis = redis::spawn(
        &cfg.redis_url,
        keys.clone(),
        seen.clone(),
        stop.clone(),
        rebuilt.clone(),
    )?;
    info!(?topics, ?keys, history = ?cfg.history, "watching");

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(WatchError::Signal)?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(WatchError::Signal)?;
    let mut sigusr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        .map_err(WatchError::Signal)?;
    let mut tail = HistoryTail::many(&cfg.history);
    let mut awaited = Awaited::default();
    let mut end_seen: Option<Instant> = None;
    let mut settled_since: Option<Instant> = None;
    let mut history_errors = 0u64;
    let (mut last_missing, mut progress_at, mut last_reread) =
        (0usize, Instant::now(), None::<Instant>);
    let reason = loop {
        tokio::select! {
            _ = sigterm.recv() => break EndReason::Signal,
            _ = sigint.recv() => break EndReason::Signal,
            _ = sigusr1.recv() => {
                info!("SIGUSR1: Redis was rebuilt; its streams are read again from the start");
                rebuilt.store(true, Ordering::SeqCst);
                settled_since = None;
            }
            _ = tokio::time::sleep(CHECK_INTERVAL) => {}
        }
        match tail.poll() {
            Ok(new) => {
                for a in new {
                    let ids = a.event_ids.iter().map(|id| id.to_string());
                    match a.outcome {
                        Outcome::Acknowledged => awaited.waiting.extend(ids),
                        Outcome::Unknown => awaited.unknown.extend(ids),
                        Outcome::Failed | Outcome::NotSent => {}
                    }
                }
            }
            Err(e) => {
                history_errors += 1;
                if history_errors <= 10 {
                    warn!(error = %e, "reading the history");
                }
            }
        }
        if !tail.history.is_complete() {
            continue;
        }
        let end_at = *end_seen.get_or_insert_with(|| {
            info!(
                appends = tail.history.appends.len(),
                "the history is complete; waiting for the sinks"
            );
            Instant::now()
        });
        let missing_in_kafka = {
            let g = seen.lock();
            let settled = awaited.settled(&g);
            (!settled).then(|| awaited.missing_in_kafka(&g))
        };
        if let Some(missing) = missing_in_kafka {
            // No progress for a while with events still missing in Kafka:
            // read it again from the beginning (see KafkaWatch::reread).
            if missing != last_missing {
                last_missing = missing;
                progress_at = Instant::now();
            } else if missing > 0
                && progress_at.elapsed() >= REREAD_AFTER
                && last_reread.is_none_or(|t| t.elapsed() >= REREAD_AFTER)
            {
                info!(
                    missing,
                    "acknowledged events still missing in Kafka; reading it again from the beginning"
                );
                kafka.reread();
                last_reread = Some(Instant::now());
            }
        }
        if missing_in_kafka.is_none() {
            if settled_since.get_or_insert_with(Instant::now).elapsed() >= QUIET {
                break EndReason::Settled;
            }
        } else {
            settled_since = None;
        }
        if end_at.elapsed() >= cfg.settle_timeout {
            warn!(
                missing = awaited.waiting.len(),
                "settle timeout: not every acknowledged event arrived in both sinks"
            );
            break EndReason::SettleTimeout;
        }
    };
    info!(?reason, "the watch ends");
    stop.store(true, Ordering::SeqCst);
    // Read what the history has by now (a signal may come before its end).
    if let Err(e) = tail.poll() {
        warn!(error = %e, "reading the history");
    }
    let streams: Vec<String> = {
        let mut s: Vec<String> = tail
            .history
            .appends
            .iter()
            .map(|a| a.stream_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        s.sort();
        s
    };
    let (url, prefix) = (cfg.redis_url.clone(), cfg.redis_agg_prefix.clone());
    let patience = match reason {
        EndReason::Signal => AGGREGATE_PATIENCE_SIGNALLED,
        EndReason::Settled | EndReason::SettleTimeout => AGGREGATE_PATIENCE,
    };
    let aggregates = tokio::task::spawn_blocking(move || {
        redis::read_aggregates(&url, &prefix, &streams, patience)
    })
    .await?;
    tokio::task::spawn_blocking(move || kafka.stop()).await?;
    if tokio::task::spawn_blocking(move || redis.join())
        .await
        .map_or(true, |r| r.is_err())
    {
        warn!("the redis watcher thread panicked");
    }

    let ids: HashSet<String> = tail
        .history
        .appends
        .iter()
        .flat_map(|a| a.event_ids.iter().map(|id| id.to_string()))
        .collect();
    let (kafka, redis) = {
        let g = seen.lock();
        (
            g.kafka
                .iter()
                .filter(|a| ids.contains(&a.ce_id))
                .cloned()
                .collect(),
            g.redis
                .iter()
                .filter(|a| ids.contains(&a.ce_id))
                .cloned()
                .collect(),
        )
    };
    let arrivals = Arrivals {
        kafka,
        redis,
        aggregates,
        end: Some(EndLine {
            end: true,
            reason,
            at_unix: unix_now(),
        }),
    };
    write_arrivals(&cfg.out, &arrivals).map_err(|source| WatchError::Write {
        path: cfg.out.clone(),
        source,
    })?;
    info!(
        kafka = arrivals.kafka.len(),
        redis = arrivals.redis.len(),
        aggregates = arrivals.aggregates.len(),
        file = %cfg.out.display(),
        "arrivals written"
    );
    Ok(())
}

/// Writes the file whole under a temporary name, then renames it: a reader
/// never sees half of it.
fn write_arrivals(path: &std::path::Path, arrivals: &Arrivals) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    arrivals.write(&mut w)?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}
