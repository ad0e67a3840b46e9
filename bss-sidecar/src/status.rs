//! Owns what the status page shows: a sampler that every [`SAMPLE_EVERY`]
//! reads the metrics into a bounded history (the last [`HISTORY_SAMPLES`]
//! samples), the last [`RECENT_ANOMALIES`] anomalies the anomaly stage
//! stored (received on a channel), and the report `/status.json` serves
//! (`http.rs` holds the routes). Must never block the pipeline: the
//! sampler only reads counters and the latency histogram's exposition, and
//! no pipeline task waits on a lock of the status page.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bss_detect::pipeline::Anomaly;
use bss_detect::time::format_rfc3339_us;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use crate::metrics::{Metrics, SinkLabel};
use crate::shutdown::stopped;

/// How often the sampler reads the metrics.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Samples the history keeps: ten minutes.
pub const HISTORY_SAMPLES: usize = 600;
/// Anomalies the page lists.
pub const RECENT_ANOMALIES: usize = 20;
/// Samples the "now" figures span (rates, p95, retrying): ten seconds are
/// steadier than one second of batch-sized deliveries.
pub const NOW_SAMPLES: usize = 10;
/// The latency quantile the page shows.
const QUANTILE: f64 = 0.95;

/// The last `cap` items pushed, oldest first.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    cap: usize,
}

impl<T> Ring<T> {
    pub fn new(cap: usize) -> Ring<T> {
        assert!(cap > 0, "a ring holds at least one item");
        Ring {
            items: VecDeque::with_capacity(cap),
            cap,
        }
    }

    /// Adds `item`, dropping the oldest when the ring is full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
        debug_assert!(self.items.len() <= self.cap);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Oldest first.
    pub fn iter(&self) -> std::collections::vec_deque::Iter<'_, T> {
        self.items.iter()
    }

    /// The item pushed `n` pushes before the latest (0: the latest), or the
    /// oldest when the ring holds fewer.
    pub fn back(&self, n: usize) -> Option<&T> {
        let len = self.items.len();
        let last = len.checked_sub(1)?;
        self.items.get(last - n.min(last))
    }
}

/// A histogram's cumulative bucket counts: (upper bound, observations at
/// or below it), ascending, the last one `+Inf`.
pub type Buckets = Vec<(f64, u64)>;

/// The `q` quantile of the cumulative `buckets`, interpolated linearly
/// within its bucket as Prometheus's `histogram_quantile` does (the lowest
/// bucket starts at 0; a rank in `+Inf` is the highest finite bound).
/// None without observations.
pub fn quantile(q: f64, buckets: &[(f64, u64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let i = buckets.iter().position(|&(_, n)| n as f64 >= rank)?;
    let (upper, n) = buckets[i];
    let (lower, below) = if i == 0 { (0.0, 0) } else { buckets[i - 1] };
    if upper.is_infinite() {
        return Some(lower);
    }
    // `below < rank <= n`, so the bucket holds at least one observation.
    let inside = (n - below) as f64;
    Some(lower + (upper - lower) * (rank - below as f64) / inside)
}

/// The `q` quantile of the observations made between two snapshots of one
/// histogram: of their bucket deltas. A histogram that was absent or reset
/// at `before` counts from zero.
pub fn quantile_between(q: f64, before: &[(f64, u64)], after: &[(f64, u64)]) -> Option<f64> {
    let comparable = before.len() == after.len()
        && before
            .iter()
            .zip(after)
            .all(|(b, a)| b.0 == a.0 && b.1 <= a.1);
    let delta: Buckets = if comparable {
        before
            .iter()
            .zip(after)
            .map(|(b, a)| (a.0, a.1 - b.1))
            .collect()
    } else {
        after.to_vec()
    };
    quantile(q, &delta)
}

/// The cumulative buckets of each `sink` of the `commit_to_ack_seconds`
/// histogram in `text` (Prometheus text format, [`Metrics::encode_latency`]).
pub fn parse_latency(text: &str) -> BTreeMap<String, Buckets> {
    let mut out: BTreeMap<String, Buckets> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("commit_to_ack_seconds_bucket{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let (mut le, mut sink) = (None, None);
        for pair in labels.split(',') {
            match pair.split_once('=') {
                Some(("le", v)) => le = parse_bound(v.trim_matches('"')),
                Some(("sink", v)) => sink = Some(v.trim_matches('"')),
                _ => {}
            }
        }
        let count = value.split_whitespace().next().and_then(|v| v.parse().ok());
        if let (Some(le), Some(sink), Some(count)) = (le, sink, count) {
            out.entry(sink.to_owned()).or_default().push((le, count));
        }
    }
    for buckets in out.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn parse_bound(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        _ => v.parse().ok(),
    }
}

/// An anomaly as the page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct AnomalyNote {
    /// RFC 3339, UTC: the event's clock, or the end of its count window.
    pub time: String,
    pub detector: String,
    pub key: Option<String>,
    pub value: Vec<f64>,
    pub score: f64,
}

/// The anomalies the stage stored last, and how many since the start, as
/// the stage sends them on its channel (taken at each sample and each
/// report, so the channel holds at most a second of them).
pub struct RecentAnomalies {
    inner: Mutex<Recent>,
}

struct Recent {
    notes: Ring<AnomalyNote>,
    total: u64,
    found: Option<mpsc::UnboundedReceiver<Vec<Anomaly>>>,
}

impl RecentAnomalies {
    /// Listens on `found`; None: there is no anomaly stage.
    pub fn new(found: Option<mpsc::UnboundedReceiver<Vec<Anomaly>>>) -> RecentAnomalies {
        RecentAnomalies {
            inner: Mutex::new(Recent {
                notes: Ring::new(RECENT_ANOMALIES),
                total: 0,
                found,
            }),
        }
    }

    /// Newest first, and the count since the start.
    fn snapshot(&self) -> (Vec<AnomalyNote>, u64) {
        let mut inner = self.inner.lock();
        inner.take_sent();
        (inner.notes.iter().rev().cloned().collect(), inner.total)
    }

    /// Takes what the stage sent since the last call.
    fn take_sent(&self) {
        self.inner.lock().take_sent();
    }
}

impl Recent {
    fn take_sent(&mut self) {
        let Some(rx) = self.found.as_mut() else {
            return;
        };
        while let Ok(found) = rx.try_recv() {
            for a in &found {
                self.notes.push(AnomalyNote {
                    time: format_rfc3339_us(a.time_us),
                    detector: a.detector.clone(),
                    key: a.key.clone(),
                    value: a.value.clone(),
                    score: a.score,
                });
            }
            self.total += found.len() as u64;
        }
    }
}

/// One read of the metrics.
#[derive(Debug, Clone)]
struct Reading {
    at: Instant,
    at_ms: i64,
    sourced: u64,
    transactions: u64,
    reconnects: u64,
    slot_lag_bytes: i64,
    confirmed_lsn: i64,
    spool_depth: i64,
    spool_head: i64,
    spool_max: i64,
    streaming: bool,
    /// In the order of [`Status::sinks`].
    sinks: Vec<SinkReading>,
    stage: SinkReading,
}

#[derive(Debug, Clone, Default)]
struct SinkReading {
    delivered: u64,
    batches: u64,
    retries: u64,
    lag: i64,
    latency: Buckets,
}

/// What changed between two readings: one point of the charts, or the
/// "now" figures.
#[derive(Debug, Clone)]
struct Sample {
    at_ms: i64,
    sourced_per_s: f64,
    slot_lag_bytes: i64,
    spool_depth: i64,
    sinks: Vec<SinkSample>,
}

#[derive(Debug, Clone)]
struct SinkSample {
    delivered_per_s: f64,
    p95_s: Option<f64>,
    lag: i64,
    retried: bool,
}

impl Sample {
    fn between(a: &Reading, b: &Reading) -> Sample {
        // Never 0: two readings of one instant would divide by it.
        let secs = b.at.saturating_duration_since(a.at).as_secs_f64().max(1e-3);
        let rate = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
        Sample {
            at_ms: b.at_ms,
            sourced_per_s: rate(a.sourced, b.sourced),
            slot_lag_bytes: b.slot_lag_bytes,
            spool_depth: b.spool_depth,
            sinks: a
                .sinks
                .iter()
                .zip(&b.sinks)
                .map(|(x, y)| SinkSample {
                    delivered_per_s: rate(x.delivered, y.delivered),
                    p95_s: quantile_between(QUANTILE, &x.latency, &y.latency),
                    lag: y.lag,
                    retried: y.retries > x.retries,
                })
                .collect(),
        }
    }
}

/// The samples of the last [`HISTORY_SAMPLES`] intervals, and the readings
/// of the last [`NOW_SAMPLES`] (the "now" figures span them).
struct History {
    samples: Ring<Sample>,
    readings: Ring<Reading>,
}

impl History {
    fn new() -> History {
        History {
            samples: Ring::new(HISTORY_SAMPLES),
            readings: Ring::new(NOW_SAMPLES + 1),
        }
    }

    fn push(&mut self, r: Reading) {
        if let Some(prev) = self.readings.back(0) {
            self.samples.push(Sample::between(prev, &r));
        }
        self.readings.push(r);
    }
}

/// What the status page shows, shared by the sampler and the routes.
pub struct Status {
    metrics: Arc<Metrics>,
    sinks: Vec<SinkLabel>,
    /// The anomaly stage's label, when it runs.
    stage: Option<SinkLabel>,
    anomalies: RecentAnomalies,
    history: Mutex<History>,
    started_ms: i64,
}

impl Status {
    /// For the delivery sinks named `sinks`, and the anomaly stage when
    /// `stage` is its name.
    pub fn new(
        metrics: Arc<Metrics>,
        sinks: &[&str],
        stage: Option<&str>,
        anomalies: RecentAnomalies,
    ) -> Arc<Status> {
        Arc::new(Status {
            metrics,
            sinks: sinks.iter().map(|s| SinkLabel::new(s)).collect(),
            stage: stage.map(SinkLabel::new),
            anomalies,
            history: Mutex::new(History::new()),
            started_ms: crate::event::now_us() / 1000,
        })
    }

    fn read(&self) -> Reading {
        let m = &self.metrics;
        let latency = parse_latency(&m.encode_latency());
        let sink = |label: &SinkLabel| SinkReading {
            delivered: m.sink_delivered.get(label).map_or(0, |c| c.get()),
            batches: m.sink_batches.get(label).map_or(0, |c| c.get()),
            retries: m.sink_retries.get(label).map_or(0, |c| c.get()),
            lag: m.sink_lag.get(label).map_or(0, |g| g.get()),
            latency: latency.get(&label.sink).cloned().unwrap_or_default(),
        };
        Reading {
            at: Instant::now(),
            at_ms: crate::event::now_us() / 1000,
            sourced: m.source_events.get(),
            transactions: m.source_transactions.get(),
            reconnects: m.source_reconnects.get(),
            slot_lag_bytes: m.slot_lag_bytes.get(),
            confirmed_lsn: m.confirmed_lsn.get(),
            spool_depth: m.spool_depth.get(),
            spool_head: m.spool_head.get(),
            spool_max: m.spool_max_events.get(),
            streaming: m.source_up.load(Ordering::Acquire),
            sinks: self.sinks.iter().map(sink).collect(),
            stage: self.stage.as_ref().map(sink).unwrap_or_default(),
        }
    }

    /// Reads the metrics into the history.
    pub fn sample(&self) {
        self.anomalies.take_sent();
        let r = self.read();
        self.history.lock().push(r);
    }

    /// Everything the page shows: totals and gauges as they are now, rates
    /// and p95 over the last [`NOW_SAMPLES`] samples, the history, and the
    /// recent anomalies.
    pub fn report(&self) -> StatusReport {
        let live = self.read();
        let (anomalies, anomalies_total) = self.anomalies.snapshot();
        let history = self.history.lock();
        let now = history
            .readings
            .back(NOW_SAMPLES - 1)
            .map(|from| Sample::between(from, &live));
        let retrying = |i: usize| {
            history
                .samples
                .iter()
                .rev()
                .take(NOW_SAMPLES)
                .any(|s| s.sinks[i].retried)
                || now.as_ref().is_some_and(|n| n.sinks[i].retried)
        };
        let sinks: Vec<SinkReport> = self
            .sinks
            .iter()
            .zip(&live.sinks)
            .enumerate()
            .map(|(i, (label, r))| SinkReport {
                name: label.sink.clone(),
                delivered_total: r.delivered,
                delivered_per_s: now.as_ref().map(|n| n.sinks[i].delivered_per_s),
                commit_to_ack_p95_ms: now.as_ref().and_then(|n| n.sinks[i].p95_s).map(|s| s * 1e3),
                lag_events: r.lag,
                batches_total: r.batches,
                retries_total: r.retries,
                retrying: retrying(i),
            })
            .collect();
        let healthy = live.streaming && !sinks.iter().any(|s| s.retrying);
        StatusReport {
            now_ms: live.at_ms,
            started_ms: self.started_ms,
            sample_every_ms: SAMPLE_EVERY.as_millis() as u64,
            now_window_samples: NOW_SAMPLES,
            streaming: live.streaming,
            healthy,
            source: SourceReport {
                events_total: live.sourced,
                events_per_s: now.as_ref().map(|n| n.sourced_per_s),
                transactions_total: live.transactions,
                reconnects_total: live.reconnects,
                slot_lag_bytes: live.slot_lag_bytes,
                confirmed_lsn: format_lsn(live.confirmed_lsn),
            },
            spool: SpoolReport {
                depth_events: live.spool_depth,
                head_seq: live.spool_head,
                max_events: live.spool_max,
            },
            sinks,
            anomaly_stage: self.stage.as_ref().map(|label| StageReport {
                name: label.sink.clone(),
                lag_events: live.stage.lag,
                retries_total: live.stage.retries,
                anomalies_total,
            }),
            history: HistoryReport::of(&history.samples, &self.sinks),
            anomalies,
        }
    }
}

/// Samples the metrics every [`SAMPLE_EVERY`] until `shutdown` turns true.
pub async fn run_sampler(status: Arc<Status>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => status.sample(),
            _ = stopped(&mut shutdown) => return,
        }
    }
}

/// The body of `/status.json`.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub now_ms: i64,
    pub started_ms: i64,
    pub sample_every_ms: u64,
    /// Samples the rates and p95 span.
    pub now_window_samples: usize,
    /// The replication connection streams (what `/healthz` answers).
    pub streaming: bool,
    /// Streaming, and no sink failed a delivery in the last samples.
    pub healthy: bool,
    pub source: SourceReport,
    pub spool: SpoolReport,
    pub sinks: Vec<SinkReport>,
    pub anomaly_stage: Option<StageReport>,
    pub history: HistoryReport,
    /// Newest first.
    pub anomalies: Vec<AnomalyNote>,
}

#[derive(Debug, Serialize)]
pub struct SourceReport {
    pub events_total: u64,
    pub events_per_s: Option<f64>,
    pub transactions_total: u64,
    pub reconnects_total: u64,
    pub slot_lag_bytes: i64,
    /// As PostgreSQL prints an LSN (`16/B374D848`).
    pub confirmed_lsn: String,
}

#[derive(Debug, Serialize)]
pub struct SpoolReport {
    pub depth_events: i64,
    pub head_seq: i64,
    pub max_events: i64,
}

#[derive(Debug, Serialize)]
pub struct SinkReport {
    pub name: String,
    pub delivered_total: u64,
    pub delivered_per_s: Option<f64>,
    pub commit_to_ack_p95_ms: Option<f64>,
    pub lag_events: i64,
    pub batches_total: u64,
    pub retries_total: u64,
    /// A delivery failed in the last samples.
    pub retrying: bool,
}

#[derive(Debug, Serialize)]
pub struct StageReport {
    pub name: String,
    pub lag_events: i64,
    pub retries_total: u64,
    pub anomalies_total: u64,
}

/// The charts' series, one value per sample, oldest first.
#[derive(Debug, Serialize)]
pub struct HistoryReport {
    pub t_ms: Vec<i64>,
    pub sourced_per_s: Vec<f64>,
    pub slot_lag_bytes: Vec<i64>,
    pub spool_depth_events: Vec<i64>,
    pub sinks: Vec<SinkHistory>,
}

#[derive(Debug, Serialize)]
pub struct SinkHistory {
    pub name: String,
    pub delivered_per_s: Vec<f64>,
    /// None for a sample without deliveries.
    pub p95_ms: Vec<Option<f64>>,
    pub lag_events: Vec<i64>,
}

impl HistoryReport {
    fn of(samples: &Ring<Sample>, sinks: &[SinkLabel]) -> HistoryReport {
        let column = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<_>>();
        HistoryReport {
            t_ms: samples.iter().map(|s| s.at_ms).collect(),
            sourced_per_s: column(&|s| s.sourced_per_s),
            slot_lag_bytes: samples.iter().map(|s| s.slot_lag_bytes).collect(),
            spool_depth_events: samples.iter().map(|s| s.spool_depth).collect(),
            sinks: sinks
                .iter()
                .enumerate()
                .map(|(i, label)| SinkHistory {
                    name: label.sink.clone(),
                    delivered_per_s: column(&|s| s.sinks[i].delivered_per_s),
                    p95_ms: samples
                        .iter()
                        .map(|s| s.sinks[i].p95_s.map(|v| v * 1e3))
                        .collect(),
                    lag_events: samples.iter().map(|s| s.sinks[i].lag).collect(),
                })
                .collect(),
        }
    }
}

/// `hi/lo` in hex, as PostgreSQL prints a `pg_lsn`.
fn format_lsn(lsn: i64) -> String {
    let lsn = lsn as u64;
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    /// `got` is `want`, but for floating-point rounding.
    fn near(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() <= 1e-9 * want.abs().max(1.0))
    }

    #[test]
    fn ring_keeps_the_last_items_oldest_first() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        assert!(r.back(0).is_none());
        for i in 1..=5 {
            r.push(i);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
    }

    #[test]
    fn ring_back_counts_from_the_latest_and_stops_at_the_oldest() {
        let mut r = Ring::new(10);
        for i in 1..=4 {
            r.push(i);
        }
        assert_eq!(r.back(0), Some(&4));
        assert_eq!(r.back(2), Some(&2));
        assert_eq!(r.back(3), Some(&1));
        assert_eq!(r.back(100), Some(&1));
    }

    #[test]
    fn quantile_interpolates_within_the_bucket_like_histogram_quantile() {
        // 100 observations: 50 at or below 1, 40 in (1, 2], 10 in (2, 4].
        let b = [(1.0, 50), (2.0, 90), (4.0, 100), (INF, 100)];
        // Rank 95 is the 5th of 10 in (2, 4]: 2 + 2 * 5/10.
        assert!(near(quantile(0.95, &b), 3.0));
        // Rank 50 is the last of the first bucket, which starts at 0.
        assert!(near(quantile(0.5, &b), 1.0));
        assert!(near(quantile(0.25, &b), 0.5));
    }

    #[test]
    fn quantile_in_the_inf_bucket_is_the_highest_finite_bound() {
        let b = [(1.0, 10), (2.0, 20), (INF, 100)];
        assert!(near(quantile(0.95, &b), 2.0));
    }

    #[test]
    fn quantile_without_observations_is_none() {
        assert_eq!(quantile(0.95, &[(1.0, 0), (INF, 0)]), None);
        assert_eq!(quantile(0.95, &[]), None);
    }

    #[test]
    fn quantile_between_uses_only_the_observations_of_the_interval() {
        // Before: 100 slow observations (in (2, 4]); then 100 fast ones (<= 1).
        let before = [(1.0, 0), (2.0, 0), (4.0, 100), (INF, 100)];
        let after = [(1.0, 100), (2.0, 100), (4.0, 200), (INF, 200)];
        assert!(near(quantile_between(0.95, &before, &after), 0.95));
        // Over everything the slow ones dominate the p95.
        assert!(near(quantile(0.95, &after), 3.8));
    }

    #[test]
    fn quantile_between_snapshots_without_new_observations_is_none() {
        let b = [(1.0, 7), (INF, 9)];
        assert_eq!(quantile_between(0.95, &b, &b), None);
    }

    #[test]
    fn quantile_between_counts_a_new_or_reset_histogram_from_zero() {
        let after = [(1.0, 10), (2.0, 20), (INF, 20)];
        assert!(near(quantile_between(0.5, &[], &after), 1.0));
        let reset_before = [(1.0, 50), (2.0, 90), (INF, 90)];
        assert!(near(quantile_between(0.5, &reset_before, &after), 1.0));
    }

    #[test]
    fn parse_latency_reads_the_buckets_of_each_sink_from_the_real_exposition() {
        let m = Metrics::new();
        let kafka = SinkLabel::new("kafka");
        for _ in 0..90 {
            m.commit_to_ack.get_or_create(&kafka).observe(0.001);
        }
        for _ in 0..10 {
            m.commit_to_ack.get_or_create(&kafka).observe(100.0);
        }
        m.commit_to_ack
            .get_or_create(&SinkLabel::new("redis"))
            .observe(0.2);
        let parsed = parse_latency(&m.encode_latency());
        assert_eq!(parsed.keys().collect::<Vec<_>>(), vec!["kafka", "redis"]);
        let k = &parsed["kafka"];
        assert_eq!(k.len(), 51, "50 bounds and +Inf");
        assert_eq!(k.last(), Some(&(INF, 100)));
        assert!(k.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        // p50 sits in the bucket of 1 ms; p95 beyond the last bound (~28 s).
        let p50 = quantile(0.5, k).unwrap();
        assert!((0.0008..=0.0013).contains(&p50), "p50 {p50}");
        let p95 = quantile(0.95, k).unwrap();
        assert!((20.0..30.0).contains(&p95), "p95 {p95}");
        assert_eq!(parsed["redis"].last(), Some(&(INF, 1)));
    }

    #[test]
    fn sample_between_readings_is_a_rate_per_second_and_the_interval_p95() {
        let t0 = Instant::now();
        let reading = |secs: u64, sourced: u64, delivered: u64, slow: u64, fast: u64| Reading {
            at: t0 + Duration::from_secs(secs),
            at_ms: 1_000 * secs as i64,
            sourced,
            transactions: 0,
            reconnects: 0,
            slot_lag_bytes: 7,
            confirmed_lsn: 0,
            spool_depth: 3,
            spool_head: 0,
            spool_max: 10,
            streaming: true,
            sinks: vec![SinkReading {
                delivered,
                batches: 0,
                retries: 0,
                lag: 2,
                latency: vec![(0.01, fast), (1.0, fast + slow), (INF, fast + slow)],
            }],
            stage: SinkReading::default(),
        };
        let a = reading(10, 1_000, 900, 50, 0);
        let b = reading(12, 3_000, 2_900, 50, 100);
        let s = Sample::between(&a, &b);
        assert_eq!(s.at_ms, 12_000);
        assert!(near(Some(s.sourced_per_s), 1_000.0));
        assert!(near(Some(s.sinks[0].delivered_per_s), 1_000.0));
        // Only the 100 fast ones fell in the interval.
        assert!(near(s.sinks[0].p95_s, 0.0095), "{:?}", s.sinks[0].p95_s);
        assert!(!s.sinks[0].retried);

        let mut h = History::new();
        for i in 0..(HISTORY_SAMPLES as u64 + 5) {
            h.push(reading(i, i * 10, i * 10, 0, i));
        }
        assert_eq!(h.samples.len(), HISTORY_SAMPLES);
        assert_eq!(h.readings.len(), NOW_SAMPLES + 1);
        assert!(h.samples.iter().all(|s| near(Some(s.sourced_per_s), 10.0)));
    }

    #[test]
    fn format_lsn_prints_like_postgres() {
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(format_lsn(0), "0/0");
    }
}
