//! What a run measured: the recorder the workers write into while the load
//! runs (HDR histograms of latency, overall and per second of the run;
//! counts per event type and per SQLSTATE), and the report built from it at
//! the end, printed as a table and written as JSON. Latencies are recorded
//! in microseconds and reported in milliseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stages::Stage;

/// Latencies above an hour are recorded as an hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Error messages kept for the report (the counts are always complete).
pub const MAX_ERROR_SAMPLES: usize = 5;

/// A latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits: the bounds are valid constants.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"))
    })
}

/// p50, p95, p99 and max of one latency, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub count: u64,
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

impl LatencySummary {
    /// None when nothing was recorded.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        Some(LatencySummary {
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
            count: h.len(),
        })
    }
}

/// One second of the run (by intended send time for offered and append
/// latency, by acknowledgement time for achieved, by arrival for Kafka).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondStats {
    pub second: u64,
    /// Events scheduled in this second.
    pub offered: u64,
    /// Events acknowledged by PostgreSQL in this second.
    pub achieved: u64,
    pub failed: u64,
    /// Events whose append may or may not have committed, by when it ended.
    #[serde(default)]
    pub unknown: u64,
    pub append_p50_ms: Option<f64>,
    pub append_p95_ms: Option<f64>,
    pub append_p99_ms: Option<f64>,
    /// End-to-end p95 of events that arrived in Kafka in this second.
    pub e2e_p95_ms: Option<f64>,
    /// Events of this run that arrived in Kafka in this second (e2e mode).
    pub kafka_received: Option<u64>,
}

/// One stage of the run, measured: whole seconds from its start to its end
/// (append latency by intended send time, end-to-end by arrival in Kafka).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    /// 0-based index into `stages`.
    pub stage: usize,
    pub from_s: u64,
    pub to_s: u64,
    /// The stage's target rate at its end (events/s).
    pub target_rate: f64,
    pub offered_rate: f64,
    pub achieved_rate: f64,
    pub failed: u64,
    pub append_ms: Option<LatencySummary>,
    pub end_to_end_ms: Option<LatencySummary>,
}

/// One kept error message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorSample {
    pub sqlstate: String,
    pub stream_id: String,
    pub message: String,
}

/// The anomalies injected, by kind, and where their labels are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalySummary {
    pub labels_file: String,
    pub by_kind: BTreeMap<String, u64>,
}

/// The report of one run, as written by `--report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub version: String,
    pub run_id: String,
    pub seed: u64,
    /// Wall-clock start of the load (RFC 3339).
    pub started_at: String,
    /// The command-line settings of the run.
    pub config: serde_json::Value,
    pub stages: Vec<Stage>,
    /// How long the stages last, in seconds.
    pub planned_duration_s: f64,
    /// From the start to the last acknowledgement (drain included), in seconds.
    pub duration_s: f64,
    /// Events the stages scheduled.
    pub offered: u64,
    /// Events PostgreSQL acknowledged (their append returned).
    pub acknowledged: u64,
    /// Events in appends that failed (see errors_by_sqlstate).
    pub failed: u64,
    /// Events in appends whose committing statement lost its connection (or
    /// failed with SQLSTATE class 08, 57, 58 or XX): they may or may not be
    /// stored (see unknown_by_sqlstate). 0 in reports of older versions.
    #[serde(default)]
    pub unknown: u64,
    /// Events never sent: the queue was full, or the drain timed out.
    pub not_sent: u64,
    /// Events in appends still running when the drain timed out: they may or
    /// may not be stored.
    pub in_flight_abandoned: u64,
    pub appends_offered: u64,
    pub appends_acknowledged: u64,
    pub appends_failed: u64,
    #[serde(default)]
    pub appends_unknown: u64,
    /// Transactions that committed acknowledged appends: fewer than the
    /// appends when a backlog let a connection commit several at once
    /// (`--max-group`). 0 in reports of older versions.
    #[serde(default)]
    pub transactions: u64,
    /// Offered events per second over the planned duration.
    pub offered_rate: f64,
    /// Acknowledged events per second over `duration_s`.
    pub achieved_rate: f64,
    /// Failed appends per SQLSTATE ("client" for errors without one).
    pub errors_by_sqlstate: BTreeMap<String, u64>,
    /// Appends of unknown outcome per SQLSTATE ("client" for errors without one).
    #[serde(default)]
    pub unknown_by_sqlstate: BTreeMap<String, u64>,
    pub error_samples: Vec<ErrorSample>,
    pub acknowledged_by_type: BTreeMap<String, u64>,
    /// Append latency: acknowledgement minus intended send instant.
    pub append_ms: Option<LatencySummary>,
    /// Commit to Kafka: arrival in Kafka minus acknowledgement (e2e mode).
    pub commit_to_kafka_ms: Option<LatencySummary>,
    /// End to end: arrival in Kafka minus intended send instant (e2e mode).
    pub end_to_end_ms: Option<LatencySummary>,
    /// Acknowledged events of this run seen in Kafka (e2e mode).
    pub kafka_received: Option<u64>,
    /// Acknowledged but never seen in Kafka within --e2e-timeout (e2e mode).
    pub lost: Option<u64>,
    /// Events seen in Kafka more than once (e2e mode).
    pub duplicates: Option<u64>,
    pub anomalies: Option<AnomalySummary>,
    /// Each stage on its own (empty in reports of older versions).
    #[serde(default)]
    pub phases: Vec<PhaseStats>,
    pub timeline: Vec<SecondStats>,
}

#[derive(Default)]
struct SecondAcc {
    offered: u64,
    achieved: u64,
    failed: u64,
    unknown: u64,
    append: Option<Histogram<u64>>,
}

#[derive(Default)]
struct Inner {
    append: Option<Histogram<u64>>,
    seconds: Vec<SecondAcc>,
    offered: u64,
    acknowledged: u64,
    failed: u64,
    unknown: u64,
    not_sent: u64,
    in_flight_abandoned: u64,
    appends_offered: u64,
    appends_acknowledged: u64,
    appends_failed: u64,
    appends_unknown: u64,
    transactions: u64,
    by_type: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    unknown_errors: BTreeMap<String, u64>,
    samples: Vec<ErrorSample>,
    last_ack_s: f64,
}

impl Inner {
    fn second(&mut self, s: u64) -> &mut SecondAcc {
        let i = s as usize;
        if self.seconds.len() <= i {
            self.seconds.resize_with(i + 1, SecondAcc::default);
        }
        &mut self.seconds[i]
    }
}

/// A live view for the progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub offered: u64,
    pub acknowledged: u64,
    pub failed: u64,
    /// Offered and achieved events in the last complete second.
    pub offered_rate: u64,
    pub achieved_rate: u64,
    /// Append p95 of the last complete second, ms.
    pub p95_ms: Option<f64>,
}

/// Collects measurements from the scheduler and the workers.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

/// What the Kafka watcher measured, folded into the report.
pub struct KafkaMeasurements {
    pub commit_to_kafka: Histogram<u64>,
    pub end_to_end: Histogram<u64>,
    /// Per second of arrival: events received and their end-to-end latency.
    pub per_second: Vec<(u64, Histogram<u64>)>,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
}

/// Everything the report says about the run that the recorder does not know.
pub struct RunFacts {
    pub run_id: String,
    pub seed: u64,
    pub started_at: String,
    pub config: serde_json::Value,
    pub stages: Vec<Stage>,
    pub planned_duration_s: f64,
    pub duration_s: f64,
    pub anomalies: Option<AnomalySummary>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A worker that panicked mid-record leaves counts that are still
        // counts; keep going rather than lose the report.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An append of `events` events scheduled in second `second`.
    pub fn offered(&self, second: u64, events: u64) {
        let mut g = self.lock();
        g.offered += events;
        g.appends_offered += 1;
        g.second(second).offered += events;
    }

    /// An append acknowledged at `ack_s` seconds (from the start), intended
    /// in second `intended_second`, `latency_us` late.
    pub fn acknowledged<'a>(
        &self,
        intended_second: u64,
        ack_s: f64,
        latency_us: u64,
        types: impl Iterator<Item = &'a str>,
    ) {
        let mut g = self.lock();
        let mut n = 0;
        for t in types {
            n += 1;
            match g.by_type.get_mut(t) {
                Some(c) => *c += 1,
                None => {
                    g.by_type.insert(t.to_owned(), 1);
                }
            }
        }
        g.acknowledged += n;
        g.appends_acknowledged += 1;
        g.last_ack_s = g.last_ack_s.max(ack_s);
        g.append
            .get_or_insert_with(new_histogram)
            .saturating_record(latency_us.max(1));
        g.second(ack_s as u64).achieved += n;
        g.second(intended_second)
            .append
            .get_or_insert_with(new_histogram)
            .saturating_record(latency_us.max(1));
    }

    /// A transaction committed acknowledged appends.
    pub fn committed(&self) {
        self.lock().transactions += 1;
    }

    /// An append of `events` events that failed at `at_s` seconds.
    pub fn failed(&self, at_s: f64, events: u64, sqlstate: &str, stream_id: &str, message: &str) {
        let mut g = self.lock();
        g.failed += events;
        g.appends_failed += 1;
        g.last_ack_s = g.last_ack_s.max(at_s);
        g.second(at_s as u64).failed += events;
        *g.errors.entry(sqlstate.to_owned()).or_insert(0) += 1;
        if g.samples.len() < MAX_ERROR_SAMPLES {
            g.samples.push(ErrorSample {
                sqlstate: sqlstate.to_owned(),
                stream_id: stream_id.to_owned(),
                message: message.to_owned(),
            });
        }
    }

    /// An append of `events` events whose committing statement ended at
    /// `at_s` seconds with an error that leaves its commit unknown.
    pub fn unknown(&self, at_s: f64, events: u64, sqlstate: &str, stream_id: &str, message: &str) {
        let mut g = self.lock();
        g.unknown += events;
        g.appends_unknown += 1;
        g.last_ack_s = g.last_ack_s.max(at_s);
        g.second(at_s as u64).unknown += events;
        *g.unknown_errors.entry(sqlstate.to_owned()).or_insert(0) += 1;
        if g.samples.len() < MAX_ERROR_SAMPLES {
            g.samples.push(ErrorSample {
                sqlstate: sqlstate.to_owned(),
                stream_id: stream_id.to_owned(),
                message: format!("(outcome unknown) {message}"),
            });
        }
    }

    /// Events that were scheduled but never sent.
    pub fn not_sent(&self, events: u64) {
        self.lock().not_sent += events;
    }

    /// Events in appends abandoned while running at the drain deadline.
    pub fn in_flight_abandoned(&self, events: u64) {
        self.lock().in_flight_abandoned += events;
    }

    /// The live numbers, `now_s` seconds into the run.
    pub fn progress(&self, now_s: f64) -> Progress {
        let g = self.lock();
        let last = (now_s as usize).checked_sub(1);
        let sec = last.and_then(|i| g.seconds.get(i));
        Progress {
            offered: g.offered,
            acknowledged: g.acknowledged,
            failed: g.failed,
            offered_rate: sec.map_or(0, |s| s.offered),
            achieved_rate: sec.map_or(0, |s| s.achieved),
            p95_ms: sec
                .and_then(|s| s.append.as_ref())
                .map(|h| ms(h.value_at_quantile(0.95))),
        }
    }

    /// The report, with the Kafka measurements when end-to-end mode ran.
    pub fn finish(&self, facts: RunFacts, kafka: Option<KafkaMeasurements>) -> Report {
        let g = self.lock();
        let mut timeline: Vec<SecondStats> = g
            .seconds
            .iter()
            .enumerate()
            .map(|(i, s)| SecondStats {
                second: i as u64,
                offered: s.offered,
                achieved: s.achieved,
                failed: s.failed,
                unknown: s.unknown,
                append_p50_ms: s.append.as_ref().map(|h| ms(h.value_at_quantile(0.50))),
                append_p95_ms: s.append.as_ref().map(|h| ms(h.value_at_quantile(0.95))),
                append_p99_ms: s.append.as_ref().map(|h| ms(h.value_at_quantile(0.99))),
                e2e_p95_ms: None,
                kafka_received: kafka.as_ref().map(|_| 0),
            })
            .collect();
        if let Some(k) = &kafka {
            for (i, (received, h)) in k.per_second.iter().enumerate() {
                while timeline.len() <= i {
                    let second = timeline.len() as u64;
                    timeline.push(SecondStats {
                        second,
                        offered: 0,
                        achieved: 0,
                        failed: 0,
                        unknown: 0,
                        append_p50_ms: None,
                        append_p95_ms: None,
                        append_p99_ms: None,
                        e2e_p95_ms: None,
                        kafka_received: Some(0),
                    });
                }
                timeline[i].kafka_received = Some(*received);
                if !h.is_empty() {
                    timeline[i].e2e_p95_ms = Some(ms(h.value_at_quantile(0.95)));
                }
            }
        }
        let duration_s = facts.duration_s.max(g.last_ack_s);
        let phases = phases(&facts.stages, &g.seconds, kafka.as_ref());
        let empty = new_histogram();
        Report {
            tool: "bss-loadgen".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            run_id: facts.run_id,
            seed: facts.seed,
            started_at: facts.started_at,
            config: facts.config,
            stages: facts.stages,
            planned_duration_s: facts.planned_duration_s,
            duration_s,
            offered: g.offered,
            acknowledged: g.acknowledged,
            failed: g.failed,
            unknown: g.unknown,
            not_sent: g.not_sent,
            in_flight_abandoned: g.in_flight_abandoned,
            appends_offered: g.appends_offered,
            appends_acknowledged: g.appends_acknowledged,
            appends_failed: g.appends_failed,
            appends_unknown: g.appends_unknown,
            transactions: g.transactions,
            offered_rate: rate(g.offered, facts.planned_duration_s),
            achieved_rate: rate(g.acknowledged, duration_s),
            errors_by_sqlstate: g.errors.clone(),
            unknown_by_sqlstate: g.unknown_errors.clone(),
            error_samples: g.samples.clone(),
            acknowledged_by_type: g.by_type.clone(),
            append_ms: LatencySummary::of(g.append.as_ref().unwrap_or(&empty)),
            commit_to_kafka_ms: kafka
                .as_ref()
                .and_then(|k| LatencySummary::of(&k.commit_to_kafka)),
            end_to_end_ms: kafka
                .as_ref()
                .and_then(|k| LatencySummary::of(&k.end_to_end)),
            kafka_received: kafka.as_ref().map(|k| k.received),
            lost: kafka.as_ref().map(|k| k.lost),
            duplicates: kafka.as_ref().map(|k| k.duplicates),
            anomalies: facts.anomalies,
            phases,
            timeline,
        }
    }
}

/// Each stage's measurements, over the whole seconds it covers.
fn phases(
    stages: &[Stage],
    seconds: &[SecondAcc],
    kafka: Option<&KafkaMeasurements>,
) -> Vec<PhaseStats> {
    let mut out = Vec::with_capacity(stages.len());
    let mut start = 0f64;
    for (i, stage) in stages.iter().enumerate() {
        let end = start + stage.duration.as_secs_f64();
        let (from_s, to_s) = (start.ceil() as u64, end.floor() as u64);
        start = end;
        if to_s <= from_s {
            continue;
        }
        let range = from_s as usize..(to_s as usize).min(seconds.len());
        let mut append = new_histogram();
        let (mut offered, mut achieved, mut failed) = (0u64, 0u64, 0u64);
        for s in seconds.get(range.clone()).unwrap_or(&[]) {
            offered += s.offered;
            achieved += s.achieved;
            failed += s.failed;
            if let Some(h) = &s.append {
                let _ = append.add(h);
            }
        }
        let end_to_end = kafka.map(|k| {
            let mut e2e = new_histogram();
            for (_, h) in k
                .per_second
                .get(from_s as usize..(to_s as usize).min(k.per_second.len()))
                .unwrap_or(&[])
            {
                let _ = e2e.add(h);
            }
            e2e
        });
        let secs = (to_s - from_s) as f64;
        out.push(PhaseStats {
            stage: i,
            from_s,
            to_s,
            target_rate: stage.target,
            offered_rate: rate(offered, secs),
            achieved_rate: rate(achieved, secs),
            failed,
            append_ms: LatencySummary::of(&append),
            end_to_end_ms: end_to_end.as_ref().and_then(LatencySummary::of),
        });
    }
    out
}

fn rate(events: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (events as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

fn latency_row(out: &mut String, name: &str, l: Option<&LatencySummary>) {
    match l {
        Some(l) => {
            let _ = writeln!(
                out,
                "  {name:<18} {:>10.2} {:>10.2} {:>10.2} {:>10.2}   ({} samples)",
                l.p50, l.p95, l.p99, l.max, l.count
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  {name:<18} {:>10} {:>10} {:>10} {:>10}",
                "-", "-", "-", "-"
            );
        }
    }
}

/// The report as a table for the terminal.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    let stages: Vec<String> = r.stages.iter().map(|s| s.to_string()).collect();
    let _ = writeln!(out, "bss-loadgen run {} (seed {})", r.run_id, r.seed);
    let _ = writeln!(out, "  stages             {}", stages.join(","));
    let _ = writeln!(
        out,
        "  duration           {:.1}s planned, {:.1}s with drain",
        r.planned_duration_s, r.duration_s
    );
    let _ = writeln!(
        out,
        "  rate (events/s)    offered {:.1}, achieved {:.1}",
        r.offered_rate, r.achieved_rate
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  {:<18} {:>12} {:>12}", "events", "count", "appends");
    let _ = writeln!(
        out,
        "  {:<18} {:>12} {:>12}",
        "offered", r.offered, r.appends_offered
    );
    let _ = writeln!(
        out,
        "  {:<18} {:>12} {:>12}",
        "acknowledged", r.acknowledged, r.appends_acknowledged
    );
    let _ = writeln!(
        out,
        "  {:<18} {:>12} {:>12}",
        "failed", r.failed, r.appends_failed
    );
    if r.unknown > 0 {
        let _ = writeln!(
            out,
            "  {:<18} {:>12} {:>12}",
            "outcome unknown", r.unknown, r.appends_unknown
        );
    }
    let _ = writeln!(out, "  {:<18} {:>12}", "not sent", r.not_sent);
    if r.transactions > 0 {
        let _ = writeln!(
            out,
            "  {:<18} {:>12} {:>12.1} appends each",
            "transactions",
            r.transactions,
            r.appends_acknowledged as f64 / r.transactions as f64
        );
    }
    if r.in_flight_abandoned > 0 {
        let _ = writeln!(
            out,
            "  {:<18} {:>12}",
            "in flight at end", r.in_flight_abandoned
        );
    }
    if let (Some(lost), Some(dup), Some(rcv)) = (r.lost, r.duplicates, r.kafka_received) {
        let _ = writeln!(out, "  {:<18} {:>12}", "seen in kafka", rcv);
        let _ = writeln!(out, "  {:<18} {:>12}", "lost", lost);
        let _ = writeln!(out, "  {:<18} {:>12}", "duplicates", dup);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  {:<18} {:>12}", "acknowledged by type", "");
    for (t, n) in &r.acknowledged_by_type {
        let share = if r.acknowledged > 0 {
            *n as f64 * 100.0 / r.acknowledged as f64
        } else {
            0.0
        };
        let _ = writeln!(out, "    {t:<24} {n:>10} {share:>6.2}%");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<18} {:>10} {:>10} {:>10} {:>10}",
        "latency (ms)", "p50", "p95", "p99", "max"
    );
    latency_row(&mut out, "append", r.append_ms.as_ref());
    if r.lost.is_some() {
        latency_row(&mut out, "commit to kafka", r.commit_to_kafka_ms.as_ref());
        latency_row(&mut out, "end to end", r.end_to_end_ms.as_ref());
    }
    if !r.phases.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<14} {:>9} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "stage (s)",
            "target/s",
            "offered/s",
            "achieved/s",
            "failed",
            "append p95",
            "append p99",
            "e2e p95",
            "e2e p99"
        );
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        for p in &r.phases {
            let _ = writeln!(
                out,
                "  {:<14} {:>9.0} {:>10.0} {:>10.0} {:>8} {:>10} {:>10} {:>10} {:>10}",
                format!("{}-{}", p.from_s, p.to_s),
                p.target_rate,
                p.offered_rate,
                p.achieved_rate,
                p.failed,
                f(p.append_ms.map(|l| l.p95)),
                f(p.append_ms.map(|l| l.p99)),
                f(p.end_to_end_ms.map(|l| l.p95)),
                f(p.end_to_end_ms.map(|l| l.p99)),
            );
        }
    }
    if !r.errors_by_sqlstate.is_empty() || !r.unknown_by_sqlstate.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  errors (failed and unknown appends by SQLSTATE)");
        for (code, n) in &r.errors_by_sqlstate {
            let _ = writeln!(out, "    {code:<8} {n:>10}");
        }
        for (code, n) in &r.unknown_by_sqlstate {
            let _ = writeln!(out, "    {code:<8} {n:>10} (outcome unknown)");
        }
        for s in &r.error_samples {
            let _ = writeln!(out, "    {} on {}: {}", s.sqlstate, s.stream_id, s.message);
        }
    }
    if let Some(a) = &r.anomalies {
        let _ = writeln!(out);
        let kinds: Vec<String> = a.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  anomalies          {} -> {}",
            kinds.join(", "),
            a.labels_file
        );
    }
    out
}
