//! What a run found, as the JSON of `--out` and a one-line summary:
//! operations by kind and outcome, the failures' SQLSTATEs, how the unknown
//! appends resolved, and the anomalies by kind with a few examples each.
//! Owns the report's shape; it must never decide what is an anomaly.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checker::{Anomaly, InfoResolution, Verdict};
use crate::history::{Action, List, Operation, Outcome};

/// Examples kept per anomaly kind; the count is always complete.
pub const EXAMPLES_PER_KIND: usize = 20;

#[derive(Debug, Serialize)]
pub struct Report {
    pub run_id: String,
    /// True when no anomaly was found.
    pub ok: bool,
    /// "append" and "read", each with "ok", "fail" and "info" counts.
    pub operations: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Failed operations by SQLSTATE ("client" for a reply the client could not use).
    pub fail_sqlstates: BTreeMap<String, u64>,
    pub info_appends: InfoResolution,
    /// Streams read back at the end, and the events they hold.
    pub streams: usize,
    pub events: usize,
    pub anomalies: BTreeMap<String, AnomalyGroup>,
}

#[derive(Debug, Serialize)]
pub struct AnomalyGroup {
    pub count: usize,
    pub examples: Vec<Anomaly>,
}

impl Report {
    pub fn new(
        run_id: &str,
        history: &[Operation],
        finals: &BTreeMap<String, List>,
        verdict: &Verdict,
    ) -> Self {
        let mut operations: BTreeMap<&'static str, BTreeMap<&'static str, u64>> =
            ["append", "read"]
                .into_iter()
                .map(|kind| (kind, ["ok", "fail", "info"].map(|o| (o, 0)).into()))
                .collect();
        let mut fail_sqlstates = BTreeMap::new();
        for op in history {
            *operations
                .entry(op.action.label())
                .or_default()
                .entry(op.action.outcome_label())
                .or_default() += 1;
            let sqlstate = match &op.action {
                Action::Append {
                    outcome: Outcome::Fail { sqlstate, .. },
                    ..
                }
                | Action::Read {
                    outcome: Outcome::Fail { sqlstate, .. },
                } => sqlstate,
                _ => continue,
            };
            *fail_sqlstates.entry(sqlstate.clone()).or_default() += 1;
        }
        let mut anomalies: BTreeMap<String, AnomalyGroup> = BTreeMap::new();
        for anomaly in &verdict.anomalies {
            let group = anomalies
                .entry(anomaly.kind.name().to_string())
                .or_insert(AnomalyGroup {
                    count: 0,
                    examples: Vec::new(),
                });
            group.count += 1;
            if group.examples.len() < EXAMPLES_PER_KIND {
                group.examples.push(anomaly.clone());
            }
        }
        Report {
            run_id: run_id.to_string(),
            ok: verdict.is_clean(),
            operations,
            fail_sqlstates,
            info_appends: verdict.info_appends,
            streams: finals.len(),
            events: finals.values().map(Vec::len).sum(),
            anomalies,
        }
    }

    /// One line for the terminal and the chaos run's log.
    pub fn summary_line(&self) -> String {
        let counts = |kind: &str| {
            let c = |o: &str| self.operations.get(kind).and_then(|m| m.get(o)).copied();
            let (ok, fail, info) = (c("ok"), c("fail"), c("info"));
            format!(
                "{} {kind}s ({} ok, {} fail, {} info)",
                ok.unwrap_or(0) + fail.unwrap_or(0) + info.unwrap_or(0),
                ok.unwrap_or(0),
                fail.unwrap_or(0),
                info.unwrap_or(0)
            )
        };
        let anomalies = match self.anomalies.is_empty() {
            true => "no anomalies".to_string(),
            false => format!(
                "ANOMALIES: {}",
                self.anomalies
                    .iter()
                    .map(|(kind, group)| format!("{kind} {}", group.count))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        format!(
            "bss-listappend {}: {}; {}, {}; info appends {} present, {} absent; {} streams, {} events; {anomalies}",
            self.run_id,
            if self.ok { "OK" } else { "FAILED" },
            counts("append"),
            counts("read"),
            self.info_appends.present,
            self.info_appends.absent,
            self.streams,
            self.events,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::AnomalyKind;
    use crate::history::Timestamp;

    fn op(action: Action) -> Operation {
        let t = Timestamp {
            monotonic_ns: 0,
            unix_ms: 0,
        };
        Operation {
            client: 1,
            stream: "la-r-0".into(),
            invoked: t,
            completed: t,
            action,
        }
    }

    #[test]
    fn the_report_counts_every_operation_and_keeps_at_most_twenty_examples_a_kind() {
        let history = vec![
            op(Action::Append {
                value: 1,
                expected_version: Some(0),
                outcome: Outcome::Fail {
                    sqlstate: "XB001".into(),
                    message: "wrong expected version".into(),
                },
            }),
            op(Action::Read {
                outcome: Outcome::Ok { result: vec![] },
            }),
        ];
        let verdict = Verdict {
            anomalies: (0..25)
                .map(|i| Anomaly {
                    kind: AnomalyKind::StaleRead,
                    stream: "la-r-0".into(),
                    detail: format!("{i}"),
                })
                .collect(),
            info_appends: InfoResolution::default(),
        };
        let finals = BTreeMap::from([("la-r-0".to_string(), vec![])]);
        let report = Report::new("r", &history, &finals, &verdict);
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["ok"], false);
        assert_eq!(json["operations"]["append"]["fail"], 1);
        assert_eq!(json["operations"]["append"]["ok"], 0);
        assert_eq!(json["operations"]["read"]["ok"], 1);
        assert_eq!(json["fail_sqlstates"]["XB001"], 1);
        assert_eq!(json["anomalies"]["stale-read"]["count"], 25);
        assert_eq!(
            json["anomalies"]["stale-read"]["examples"]
                .as_array()
                .map(Vec::len),
            Some(EXAMPLES_PER_KIND)
        );
        let line = report.summary_line();
        assert!(line.contains("FAILED"), "{line}");
        assert!(line.contains("stale-read 25"), "{line}");
        assert!(line.contains("1 appends (0 ok, 1 fail, 0 info)"), "{line}");
    }

    #[test]
    fn a_clean_report_says_ok() {
        let report = Report::new("r", &[], &BTreeMap::new(), &Verdict::default());
        assert!(report.ok);
        assert!(
            report.summary_line().contains(": OK;"),
            "{}",
            report.summary_line()
        );
    }
}
