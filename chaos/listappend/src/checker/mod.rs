//! The checker: a pure function of a history and the final list of every
//! stream, in the manner of Elle's list-append checker. A pg_bss stream is
//! one append-only list with a single writer order (its versions), so each
//! of Elle's inferences reduces to a direct comparison with the final list:
//! a read must be a prefix of it, an append must sit in it at the version
//! it was told, and real time must not run backwards. Owns those rules; it
//! must never do I/O, and never treat an `info` operation as either
//! outcome (it may have committed or not: both are fine, once).

mod anomaly;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::history::{Action, Element, List, Operation, Outcome};

pub use anomaly::{Anomaly, AnomalyKind};

/// What became of the appends whose outcome the client never learnt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct InfoResolution {
    /// Found in their stream (once; more is a duplicate-value anomaly).
    pub present: u64,
    /// Not found anywhere: they did not commit.
    pub absent: u64,
}

/// The checker's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub anomalies: Vec<Anomaly>,
    pub info_appends: InfoResolution,
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty()
    }
}

/// An append of the history, by its value.
struct AppendOp<'a> {
    op: &'a Operation,
    expected_version: Option<i64>,
    outcome: &'a Outcome<i64>,
}

/// Where a value is stored: stream and version, for every copy of it.
type Placements<'a> = HashMap<i64, Vec<(&'a str, i64)>>;

/// Checks `history` against `finals`, the list of every stream read from the
/// store after the run (a stream the history touched but `finals` lacks is
/// taken as empty).
pub fn check(history: &[Operation], finals: &BTreeMap<String, List>) -> Verdict {
    let appends = appends_by_value(history);
    let mut verdict = Verdict::default();
    let placements = check_final_lists(finals, &appends, &mut verdict.anomalies);
    check_appends(&appends, &placements, &mut verdict);
    let empty = List::new();
    let final_of = |stream: &str| finals.get(stream).unwrap_or(&empty);
    for op in history {
        if let Action::Read {
            outcome: Outcome::Ok { result },
        } = &op.action
        {
            check_read(op, result, final_of(&op.stream), &appends, &mut verdict);
        }
    }
    check_real_time(history, &mut verdict.anomalies);
    verdict
}

fn appends_by_value(history: &[Operation]) -> HashMap<i64, AppendOp<'_>> {
    history
        .iter()
        .filter_map(|op| match &op.action {
            Action::Append {
                value,
                expected_version,
                outcome,
            } => Some((
                *value,
                AppendOp {
                    op,
                    expected_version: *expected_version,
                    outcome,
                },
            )),
            Action::Read { .. } => None,
        })
        .collect()
}

/// Versions 1..n, each value stored once, by an append of this stream that
/// did not fail. Returns where each value is stored.
fn check_final_lists<'a>(
    finals: &'a BTreeMap<String, List>,
    appends: &HashMap<i64, AppendOp<'_>>,
    anomalies: &mut Vec<Anomaly>,
) -> Placements<'a> {
    let mut placements: Placements<'a> = HashMap::new();
    for (stream, list) in finals {
        if let Some((i, e)) = list
            .iter()
            .enumerate()
            .find(|(i, e)| e.version != *i as i64 + 1)
        {
            anomalies.push(Anomaly {
                kind: AnomalyKind::BrokenVersionSequence,
                stream: stream.clone(),
                detail: format!(
                    "event {} of {} is at version {}, not {} (versions from event {}: {})",
                    i + 1,
                    list.len(),
                    e.version,
                    i + 1,
                    i.saturating_sub(2) + 1,
                    versions_around(list, i)
                ),
            });
        }
        for e in list {
            placements
                .entry(e.value)
                .or_default()
                .push((stream.as_str(), e.version));
            match appends.get(&e.value) {
                Some(a) if a.op.stream != *stream => anomalies.push(Anomaly {
                    kind: AnomalyKind::UnexpectedValue,
                    stream: stream.clone(),
                    detail: format!(
                        "value {} at version {} was appended by client {} to stream {}",
                        e.value, e.version, a.op.client, a.op.stream
                    ),
                }),
                Some(AppendOp {
                    op,
                    outcome: Outcome::Fail { sqlstate, message },
                    ..
                }) => anomalies.push(Anomaly {
                    kind: AnomalyKind::FailedAppendStored,
                    stream: stream.clone(),
                    detail: format!(
                        "value {} is stored at version {}, but client {}'s append of it failed \
                         with {sqlstate} ({message}) at {}",
                        e.value,
                        e.version,
                        op.client,
                        seconds(op.completed.monotonic_ns)
                    ),
                }),
                Some(_) => {}
                None => anomalies.push(Anomaly {
                    kind: AnomalyKind::UnexpectedValue,
                    stream: stream.clone(),
                    detail: format!(
                        "value {} at version {} was never appended in this run",
                        e.value, e.version
                    ),
                }),
            }
        }
    }
    let mut duplicated: Vec<(&i64, &Vec<(&str, i64)>)> =
        placements.iter().filter(|(_, at)| at.len() > 1).collect();
    duplicated.sort();
    for (value, at) in duplicated {
        anomalies.push(Anomaly {
            kind: AnomalyKind::DuplicateValue,
            stream: at[0].0.to_string(),
            detail: format!(
                "value {value} is stored {} times: {}",
                at.len(),
                at.iter()
                    .map(|(s, v)| format!("{s}@{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    placements
}

/// An acknowledged append is stored in its stream at the version it
/// returned, which is the expected version + 1 when it named one; an
/// unknown one is stored at most once (counted either way).
fn check_appends(
    appends: &HashMap<i64, AppendOp<'_>>,
    placements: &Placements<'_>,
    verdict: &mut Verdict,
) {
    let mut by_value: Vec<(&i64, &AppendOp<'_>)> = appends.iter().collect();
    by_value.sort_by_key(|(value, _)| **value);
    for (&value, a) in by_value {
        let stream = a.op.stream.as_str();
        let stored: Vec<i64> = placements
            .get(&value)
            .map(|at| {
                at.iter()
                    .filter(|(s, _)| *s == stream)
                    .map(|(_, v)| *v)
                    .collect()
            })
            .unwrap_or_default();
        match a.outcome {
            Outcome::Ok { result: version } => {
                let version = *version;
                match stored.as_slice() {
                    [] => verdict.anomalies.push(Anomaly {
                        kind: AnomalyKind::LostAppend,
                        stream: stream.to_string(),
                        detail: format!(
                            "client {}'s append of {value} was acknowledged with version \
                             {version} at {}, but the stream does not hold it",
                            a.op.client,
                            seconds(a.op.completed.monotonic_ns)
                        ),
                    }),
                    [at] if *at != version => verdict.anomalies.push(Anomaly {
                        kind: AnomalyKind::MisplacedAppend,
                        stream: stream.to_string(),
                        detail: format!(
                            "client {}'s append of {value} returned version {version}, \
                             but the stream holds it at version {at}",
                            a.op.client
                        ),
                    }),
                    // Stored more than once: reported as a duplicate value.
                    _ => {}
                }
                if let Some(expected) = a.expected_version {
                    if version != expected + 1 {
                        verdict.anomalies.push(Anomaly {
                            kind: AnomalyKind::ExpectedVersionViolated,
                            stream: stream.to_string(),
                            detail: format!(
                                "client {}'s append of {value} expected version {expected} \
                                 and was acknowledged with version {version}, not {}",
                                a.op.client,
                                expected + 1
                            ),
                        });
                    }
                }
            }
            Outcome::Info { .. } if stored.is_empty() => verdict.info_appends.absent += 1,
            Outcome::Info { .. } => verdict.info_appends.present += 1,
            // Checked where the final lists are: a failed value must be nowhere.
            Outcome::Fail { .. } => {}
        }
    }
}

/// An acknowledged read returns a prefix of the final list: no value of a
/// failed append, none appended only after the read, none twice, none the
/// stream does not hold, none out of order.
fn check_read(
    op: &Operation,
    read: &[Element],
    final_list: &[Element],
    appends: &HashMap<i64, AppendOp<'_>>,
    verdict: &mut Verdict,
) {
    let mut report = |kind, detail: String| {
        verdict.anomalies.push(Anomaly {
            kind,
            stream: op.stream.clone(),
            detail: format!(
                "client {}'s read at {} of {} events: {detail}",
                op.client,
                seconds(op.invoked.monotonic_ns),
                read.len()
            ),
        })
    };
    let failed = read.iter().find_map(|e| match appends.get(&e.value) {
        Some(AppendOp {
            op: writer,
            outcome: Outcome::Fail { sqlstate, .. },
            ..
        }) => Some((e, writer.client, sqlstate)),
        _ => None,
    });
    if let Some((e, writer, sqlstate)) = failed {
        report(
            AnomalyKind::AbortedRead,
            format!(
                "it returned value {} at version {}, whose append by client {writer} failed with {sqlstate}",
                e.value, e.version
            ),
        );
        return;
    }
    let future = read.iter().find_map(|e| {
        let writer = appends.get(&e.value)?.op;
        op.precedes(writer).then_some((e, writer))
    });
    if let Some((e, writer)) = future {
        report(
            AnomalyKind::FutureRead,
            format!(
                "it completed at {} and returned value {} at version {}, which client {} \
                 began to append only at {}",
                seconds(op.completed.monotonic_ns),
                e.value,
                e.version,
                writer.client,
                seconds(writer.invoked.monotonic_ns)
            ),
        );
        return;
    }
    let mut seen = HashSet::new();
    if let Some(e) = read.iter().find(|e| !seen.insert(e.value)) {
        report(
            AnomalyKind::DuplicateValue,
            format!("it returned value {} twice", e.value),
        );
        return;
    }
    let Some((i, e)) = read
        .iter()
        .enumerate()
        .find(|(i, e)| final_list.get(*i) != Some(*e))
    else {
        return;
    };
    match final_list.iter().find(|f| f.value == e.value) {
        None => report(
            AnomalyKind::UncommittedRead,
            format!(
                "it returned value {} at version {}, which the stream does not hold",
                e.value, e.version
            ),
        ),
        Some(f) => report(
            AnomalyKind::ReorderedRead,
            format!(
                "its event {} is value {} at version {}, which the stream holds at version {} \
                 (there: {})",
                i + 1,
                e.value,
                e.version,
                f.version,
                final_list.get(i).map_or("nothing".to_string(), |g| format!(
                    "value {} at version {}",
                    g.value, g.version
                ))
            ),
        ),
    }
}

/// A stream's acknowledged appends (with their values) and reads (with their lists).
type AcknowledgedOps<'a> = (Vec<(&'a Operation, i64)>, Vec<(&'a Operation, &'a List)>);

/// Per stream: a read that began after an acknowledged append completed
/// holds its value, and a read that began after another read completed is
/// not shorter.
fn check_real_time(history: &[Operation], anomalies: &mut Vec<Anomaly>) {
    let mut streams: BTreeMap<&str, AcknowledgedOps<'_>> = BTreeMap::new();
    for op in history {
        let (appends, reads) = streams.entry(op.stream.as_str()).or_default();
        match &op.action {
            Action::Append {
                value,
                outcome: Outcome::Ok { .. },
                ..
            } => appends.push((op, *value)),
            Action::Read {
                outcome: Outcome::Ok { result },
            } => reads.push((op, result)),
            _ => {}
        }
    }
    for (stream, (mut appends, mut reads)) in streams {
        appends.sort_by_key(|(op, _)| op.completed.monotonic_ns);
        reads.sort_by_key(|(op, _)| op.invoked.monotonic_ns);
        let mut by_completion = reads.clone();
        by_completion.sort_by_key(|(op, _)| op.completed.monotonic_ns);
        let (mut appended, mut completed) = (0, 0);
        // The longest read completed so far, as reads are taken in invocation order.
        let mut longest: Option<(&Operation, usize)> = None;
        for (read_op, read) in &reads {
            while appended < appends.len() && appends[appended].0.precedes(read_op) {
                appended += 1;
            }
            while completed < by_completion.len() && by_completion[completed].0.precedes(read_op) {
                let (op, list) = by_completion[completed];
                if longest.is_none_or(|(_, len)| list.len() > len) {
                    longest = Some((op, list.len()));
                }
                completed += 1;
            }
            let holds: HashSet<i64> = read.iter().map(|e| e.value).collect();
            let missed: Vec<&(&Operation, i64)> = appends[..appended]
                .iter()
                .filter(|(_, value)| !holds.contains(value))
                .collect();
            if let Some((latest, value)) = missed.last() {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::StaleRead,
                    stream: stream.to_string(),
                    detail: format!(
                        "client {}'s read at {} returned {} events and missed {} acknowledged \
                         appends that completed before it began, the last value {value} by \
                         client {} at {}",
                        read_op.client,
                        seconds(read_op.invoked.monotonic_ns),
                        read.len(),
                        missed.len(),
                        latest.client,
                        seconds(latest.completed.monotonic_ns)
                    ),
                });
            }
            if let Some((earlier, len)) = longest.filter(|(_, len)| read.len() < *len) {
                anomalies.push(Anomaly {
                    kind: AnomalyKind::NonMonotonicReads,
                    stream: stream.to_string(),
                    detail: format!(
                        "client {}'s read at {} returned {} events, but client {}'s read \
                         completed at {}, before it began, had returned {len}",
                        read_op.client,
                        seconds(read_op.invoked.monotonic_ns),
                        read.len(),
                        earlier.client,
                        seconds(earlier.completed.monotonic_ns)
                    ),
                });
            }
        }
    }
}

/// A monotonic timestamp as seconds since the run's start, for messages.
fn seconds(monotonic_ns: u64) -> String {
    format!("{:.3}s", monotonic_ns as f64 / 1e9)
}

/// The versions of a list around event `i`, for messages.
fn versions_around(list: &[Element], i: usize) -> String {
    list.iter()
        .skip(i.saturating_sub(2))
        .take(5)
        .map(|e| e.version.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
