//! The history of a run (`run --history PATH`): one JSON line per append
//! when its fate is known, and a last line saying the run is over, for a
//! checker to account for every event (the chaos suite's bss-chaos-check).
//! Owns the file's format and its writer thread. Must never block a worker
//! or the scheduler (they only send on a channel), and never leave an
//! offered append out: whatever has no fate when the run ends (abandoned in
//! flight at the drain deadline) is written as `unknown`.
//!
//! Format, one JSON object per line:
//!
//! ```text
//! {"stream_id": "usage-r1-7", "event_ids": ["0190…", …], "types": ["usage.recorded", …],
//!  "outcome": "acknowledged" | "failed" | "unknown" | "not_sent",
//!  "sqlstate": "XB001" | null, "intended_unix": 1765000000.123, "done_unix": 1765000000.130,
//!  "latency_ms": 7.1}
//! …
//! {"end": true, "offered": 12345, "appends": 2345}
//! ```
//!
//! `event_ids` are the events' ids as stored (`bss.events.event_id`) and as
//! the sidecar's `ce_id` (Kafka header, Redis field), in append order.
//! `sqlstate` is the SQLSTATE of a `failed` or `unknown` append's error,
//! null when the error did not come from the server (a lost connection)
//! and for the other outcomes. `offered` counts events, and
//! `appends` lines, of the whole run: a reader whose file has no end line,
//! or fewer appends, has an incomplete history.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::warn;
use uuid::Uuid;

use crate::simulator::Append;
use crate::writer::AppendObserver;

/// How an append ended, as the history says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Acknowledged,
    Failed,
    Unknown,
    NotSent,
}

/// One append's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendRecord {
    pub stream_id: String,
    pub event_ids: Vec<Uuid>,
    pub types: Vec<String>,
    pub outcome: Outcome,
    pub sqlstate: Option<String>,
    pub intended_unix: f64,
    pub done_unix: f64,
    pub latency_ms: f64,
}

/// The last line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndRecord {
    pub end: bool,
    /// Events offered in the run.
    pub offered: u64,
    /// Appends offered in the run (= append lines).
    pub appends: u64,
}

/// A line of the history file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HistoryLine {
    Append(AppendRecord),
    End(EndRecord),
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("creating the history file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the history file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the history writer thread of {path} panicked")]
    Panicked { path: PathBuf },
}

/// Maps the run's instants to wall-clock seconds, from one reading of both.
#[derive(Debug, Clone, Copy)]
struct WallClock {
    instant: Instant,
    unix: f64,
}

impl WallClock {
    fn now() -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        WallClock {
            instant: Instant::now(),
            unix,
        }
    }

    fn unix(&self, at: Instant) -> f64 {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix + after.as_secs_f64(),
            None => self.unix - self.instant.duration_since(at).as_secs_f64(),
        }
    }
}

enum Message {
    Offered(Pending),
    Done {
        first_event: Uuid,
        outcome: Outcome,
        sqlstate: Option<String>,
        done_unix: f64,
    },
    End,
}

/// Writes the history: an [`AppendObserver`] that hands every fate to a
/// thread of its own, which writes the lines through a buffer.
pub struct HistoryWriter {
    clock: WallClock,
    tx: Mutex<Option<mpsc::Sender<Message>>>,
    thread: Mutex<Option<JoinHandle<Result<(), HistoryError>>>>,
    path: PathBuf,
}

impl HistoryWriter {
    /// Creates (truncates) `path` and starts the writer thread.
    pub fn create(path: &Path) -> Result<Self, HistoryError> {
        let file = File::create(path).map_err(|source| HistoryError::Create {
            path: path.to_owned(),
            source,
        })?;
        let (tx, rx) = mpsc::channel();
        let out = BufWriter::new(file);
        let thread_path = path.to_owned();
        let clock = WallClock::now();
        let thread = std::thread::Builder::new()
            .name("bss-loadgen-history".into())
            .spawn(move || {
                write_lines(rx, out, clock).map_err(|source| HistoryError::Write {
                    path: thread_path,
                    source,
                })
            })
            .map_err(|source| HistoryError::Create {
                path: path.to_owned(),
                source,
            })?;
        Ok(HistoryWriter {
            clock,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            path: path.to_owned(),
        })
    }

    fn send(&self, m: Message) {
        let g = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        // A send fails only when the thread ended on a write error, which
        // `finish` reports.
        if let Some(tx) = g.as_ref() {
            let _ = tx.send(m);
        }
    }

    fn done(&self, append: &Append, outcome: Outcome, sqlstate: Option<&str>, at: Instant) {
        let Some(first) = append.events.first() else {
            return;
        };
        self.send(Message::Done {
            first_event: first.event_id,
            outcome,
            sqlstate: sqlstate.map(str::to_owned),
            done_unix: self.clock.unix(at),
        });
    }

    /// Writes what has no fate yet as `unknown`, then the end line, and
    /// flushes. Call after the load (the drain included) is over; a second
    /// call (or the drop) does nothing.
    pub fn finish(&self) -> Result<(), HistoryError> {
        self.send(Message::End);
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match thread {
            Some(t) => t.join().map_err(|_| HistoryError::Panicked {
                path: self.path.clone(),
            })?,
            None => Ok(()),
        }
    }
}

/// A run that ends early (an error before or during the load) still gets
/// its end line, so a reader waiting for it is not left waiting.
impl Drop for HistoryWriter {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            warn!(error = %e, "history not finished");
        }
    }
}

impl AppendObserver for HistoryWriter {
    fn offered(&self, append: &Append, intended: Instant) {
        if append.events.is_empty() {
            return;
        }
        self.send(Message::Offered(Pending {
            stream_id: append.stream_id.clone(),
            event_ids: append.events.iter().map(|e| e.event_id).collect(),
            types: append.events.iter().map(|e| e.event_type.clone()).collect(),
            intended_unix: self.clock.unix(intended),
        }));
    }

    fn acknowledged(&self, append: &Append, at: Instant) {
        self.done(append, Outcome::Acknowledged, None, at);
    }

    fn failed(&self, append: &Append, sqlstate: Option<&str>, at: Instant) {
        self.done(append, Outcome::Failed, sqlstate, at);
    }

    fn not_sent(&self, append: &Append) {
        self.done(append, Outcome::NotSent, None, Instant::now());
    }

    fn unknown(&self, append: &Append, sqlstate: Option<&str>, at: Instant) {
        self.done(append, Outcome::Unknown, sqlstate, at);
    }
}

/// An offered append waiting for its fate: what its line will say of it.
struct Pending {
    stream_id: String,
    event_ids: Vec<Uuid>,
    types: Vec<String>,
    intended_unix: f64,
}

fn record(p: Pending, outcome: Outcome, sqlstate: Option<String>, done_unix: f64) -> AppendRecord {
    AppendRecord {
        stream_id: p.stream_id,
        event_ids: p.event_ids,
        types: p.types,
        outcome,
        sqlstate,
        intended_unix: p.intended_unix,
        done_unix,
        latency_ms: ((done_unix - p.intended_unix) * 1000.0).max(0.0),
    }
}

fn write_line(out: &mut impl Write, line: &HistoryLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// The writer thread: pairs each fate with its offer, writes it, and at the
/// end writes the appends without a fate as `unknown` and the end line.
fn write_lines(
    rx: mpsc::Receiver<Message>,
    mut out: impl Write,
    clock: WallClock,
) -> std::io::Result<()> {
    let mut pending: HashMap<Uuid, Pending> = HashMap::new();
    let (mut offered, mut appends) = (0u64, 0u64);
    for m in rx {
        match m {
            Message::Offered(p) => {
                let Some(&first) = p.event_ids.first() else {
                    continue;
                };
                offered += p.event_ids.len() as u64;
                appends += 1;
                pending.insert(first, p);
            }
            Message::Done {
                first_event,
                outcome,
                sqlstate,
                done_unix,
            } => match pending.remove(&first_event) {
                Some(p) => {
                    let line = record(p, outcome, sqlstate, done_unix);
                    write_line(&mut out, &HistoryLine::Append(line))?;
                }
                None => {
                    warn!(event_id = %first_event, "history: a fate for an append never offered")
                }
            },
            Message::End => break,
        }
    }
    // Abandoned in flight at the drain deadline: sent, so maybe stored.
    let now = clock.unix(Instant::now());
    let mut left: Vec<Pending> = pending.into_values().collect();
    left.sort_by(|a, b| a.intended_unix.total_cmp(&b.intended_unix));
    for p in left {
        let line = record(p, Outcome::Unknown, None, now);
        write_line(&mut out, &HistoryLine::Append(line))?;
    }
    let end = EndRecord {
        end: true,
        offered,
        appends,
    };
    write_line(&mut out, &HistoryLine::End(end))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::Event;

    fn append(stream: &str, n: usize) -> Append {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Append {
            stream_id: stream.to_owned(),
            events: (0..n)
                .map(|_| Event {
                    event_type: "usage.recorded".into(),
                    data: serde_json::json!({}),
                    event_id: Uuid::from_u128(u128::from(
                        NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    )),
                    source: "/test".into(),
                    subject: "s".into(),
                    time: "2026-01-01T00:00:00Z".into(),
                })
                .collect(),
        }
    }

    fn lines(path: &Path) -> Vec<HistoryLine> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_offered_append_gets_one_line_and_the_end_line_comes_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let h = HistoryWriter::create(&path).unwrap();
        let (a, b, c, d, e) = (
            append("usage-r-1", 3),
            append("customer-r-1", 1),
            append("usage-r-2", 2),
            append("ticket-r-1", 1),
            append("usage-r-3", 1),
        );
        let t0 = Instant::now();
        for x in [&a, &b, &c, &d, &e] {
            h.offered(x, t0);
        }
        h.acknowledged(&a, t0 + std::time::Duration::from_millis(5));
        h.failed(&b, Some("XB001"), Instant::now());
        h.unknown(&c, None, Instant::now());
        h.not_sent(&d);
        // e: abandoned in flight.
        h.finish().unwrap();
        let got = lines(&path);
        assert_eq!(got.len(), 6);
        let HistoryLine::End(end) = &got[5] else {
            panic!("the last line is not the end line: {:?}", got[5]);
        };
        assert_eq!((end.end, end.offered, end.appends), (true, 8, 5));
        let outcomes: Vec<(String, Outcome, Option<String>)> = got[..5]
            .iter()
            .map(|l| match l {
                HistoryLine::Append(r) => (r.stream_id.clone(), r.outcome, r.sqlstate.clone()),
                HistoryLine::End(_) => panic!("an end line before the last"),
            })
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("usage-r-1".into(), Outcome::Acknowledged, None),
                ("customer-r-1".into(), Outcome::Failed, Some("XB001".into())),
                ("usage-r-2".into(), Outcome::Unknown, None),
                ("ticket-r-1".into(), Outcome::NotSent, None),
                ("usage-r-3".into(), Outcome::Unknown, None),
            ]
        );
        let HistoryLine::Append(first) = &got[0] else {
            unreachable!()
        };
        assert_eq!(
            first.event_ids,
            a.events.iter().map(|e| e.event_id).collect::<Vec<_>>()
        );
        assert!((first.latency_ms - 5.0).abs() < 0.5, "{}", first.latency_ms);
        assert!((first.done_unix - first.intended_unix - 0.005).abs() < 0.0005);
    }

    #[test]
    fn a_history_dropped_unfinished_still_gets_its_end_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let h = HistoryWriter::create(&path).unwrap();
        let a = append("usage-r-1", 2);
        h.offered(&a, Instant::now());
        drop(h);
        let got = lines(&path);
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[0], HistoryLine::Append(r) if r.outcome == Outcome::Unknown));
        assert!(matches!(&got[1], HistoryLine::End(e) if e.offered == 2 && e.appends == 1));
    }

    #[test]
    fn history_lines_use_the_documented_field_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let h = HistoryWriter::create(&path).unwrap();
        let a = append("usage-r-1", 1);
        h.offered(&a, Instant::now());
        h.failed(&a, None, Instant::now());
        h.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut it = text.lines();
        let first: serde_json::Value = serde_json::from_str(it.next().unwrap()).unwrap();
        for f in [
            "stream_id",
            "event_ids",
            "types",
            "outcome",
            "sqlstate",
            "intended_unix",
            "done_unix",
            "latency_ms",
        ] {
            assert!(first.get(f).is_some(), "missing {f} in {first}");
        }
        assert_eq!(first["outcome"], "failed");
        assert!(first["sqlstate"].is_null(), "{first}");
        assert_eq!(first["event_ids"][0], a.events[0].event_id.to_string());
        let end: serde_json::Value = serde_json::from_str(it.next().unwrap()).unwrap();
        assert_eq!(
            end,
            serde_json::json!({"end": true, "offered": 1, "appends": 1})
        );
    }
}
