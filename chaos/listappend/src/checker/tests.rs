//! The checker against small hand-made histories: each anomaly is found as
//! its own kind and as nothing else, and a clean history as nothing.

use std::collections::BTreeMap;

use super::*;
use crate::history::Timestamp;

const S: &str = "la-t-0";

fn at(ns: u64) -> Timestamp {
    Timestamp {
        monotonic_ns: ns,
        unix_ms: 1_700_000_000_000 + ns / 1_000_000,
    }
}

fn op(client: u32, span: (u64, u64), action: Action) -> Operation {
    Operation {
        client,
        stream: S.to_string(),
        invoked: at(span.0),
        completed: at(span.1),
        action,
    }
}

fn ok_append(
    client: u32,
    span: (u64, u64),
    value: i64,
    expected: Option<i64>,
    version: i64,
) -> Operation {
    op(
        client,
        span,
        Action::Append {
            value,
            expected_version: expected,
            outcome: Outcome::Ok { result: version },
        },
    )
}

fn failed_append(client: u32, span: (u64, u64), value: i64, expected: i64) -> Operation {
    op(
        client,
        span,
        Action::Append {
            value,
            expected_version: Some(expected),
            outcome: Outcome::Fail {
                sqlstate: "XB001".into(),
                message: "wrong expected version".into(),
            },
        },
    )
}

fn info_append(client: u32, span: (u64, u64), value: i64) -> Operation {
    op(
        client,
        span,
        Action::Append {
            value,
            expected_version: None,
            outcome: Outcome::Info {
                sqlstate: None,
                message: "connection closed".into(),
            },
        },
    )
}

fn ok_read(client: u32, span: (u64, u64), values: &[i64]) -> Operation {
    op(
        client,
        span,
        Action::Read {
            outcome: Outcome::Ok {
                result: list(values),
            },
        },
    )
}

/// Values at versions 1..n.
fn list(values: &[i64]) -> List {
    values
        .iter()
        .enumerate()
        .map(|(i, &value)| Element {
            version: i as i64 + 1,
            value,
        })
        .collect()
}

fn finals(list: List) -> BTreeMap<String, List> {
    BTreeMap::from([(S.to_string(), list)])
}

fn kinds(verdict: &Verdict) -> Vec<AnomalyKind> {
    let mut kinds: Vec<AnomalyKind> = verdict.anomalies.iter().map(|a| a.kind).collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

#[test]
fn a_clean_history_with_conflicts_failures_and_overlaps_has_no_anomaly() {
    let history = vec![
        ok_read(0, (0, 4), &[]),
        ok_append(0, (5, 10), 1, Some(0), 1),
        ok_append(1, (6, 20), 2, None, 2),
        failed_append(2, (11, 12), 3, 0),
        // Overlaps the second append: may or may not see it.
        ok_read(2, (15, 18), &[1]),
        ok_read(1, (25, 30), &[1, 2]),
        ok_append(0, (31, 35), 4, Some(2), 3),
        ok_read(3, (32, 33), &[1, 2]),
        ok_read(3, (40, 41), &[1, 2, 4]),
    ];
    let verdict = check(&history, &finals(list(&[1, 2, 4])));
    assert!(verdict.is_clean(), "{:#?}", verdict.anomalies);
    assert_eq!(verdict.info_appends, InfoResolution::default());
}

#[test]
fn an_acknowledged_append_missing_from_its_stream_is_a_lost_append() {
    let history = vec![
        ok_append(0, (0, 10), 1, None, 1),
        ok_append(1, (0, 10), 2, None, 2),
    ];
    let verdict = check(&history, &finals(list(&[1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::LostAppend]);
    assert!(verdict.anomalies[0].detail.contains("append of 2"));
}

#[test]
fn a_value_stored_twice_is_a_duplicate_value() {
    let history = vec![ok_append(0, (0, 10), 1, None, 1)];
    let verdict = check(&history, &finals(list(&[1, 1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::DuplicateValue]);
    assert_eq!(verdict.anomalies.len(), 1);
}

#[test]
fn an_unknown_append_stored_twice_is_a_duplicate_value() {
    let history = vec![info_append(0, (0, 10), 1)];
    let verdict = check(&history, &finals(list(&[1, 1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::DuplicateValue]);
}

#[test]
fn a_read_in_another_order_than_the_stream_is_a_reordered_read() {
    let history = vec![
        ok_append(0, (0, 50), 1, None, 1),
        ok_append(1, (0, 50), 2, None, 2),
        ok_read(2, (10, 20), &[2, 1]),
    ];
    let verdict = check(&history, &finals(list(&[1, 2])));
    assert_eq!(kinds(&verdict), [AnomalyKind::ReorderedRead]);
}

#[test]
fn a_read_of_a_failed_append_is_an_aborted_read() {
    let history = vec![
        ok_append(0, (0, 10), 1, None, 1),
        failed_append(1, (11, 15), 9, 0),
        ok_read(2, (20, 30), &[1, 9]),
    ];
    let verdict = check(&history, &finals(list(&[1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::AbortedRead]);
}

#[test]
fn a_read_of_a_value_the_stream_does_not_hold_is_an_uncommitted_read() {
    let history = vec![info_append(0, (0, 10), 7), ok_read(1, (5, 8), &[7])];
    let verdict = check(&history, &finals(list(&[])));
    assert_eq!(kinds(&verdict), [AnomalyKind::UncommittedRead]);
    assert_eq!(verdict.info_appends.absent, 1);
}

#[test]
fn a_read_that_misses_an_append_completed_before_it_began_is_stale() {
    let history = vec![ok_append(0, (0, 10), 1, None, 1), ok_read(1, (20, 25), &[])];
    let verdict = check(&history, &finals(list(&[1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::StaleRead]);
}

#[test]
fn a_read_that_overlaps_an_append_may_miss_it() {
    let history = vec![ok_append(0, (0, 10), 1, None, 1), ok_read(1, (10, 25), &[])];
    assert!(check(&history, &finals(list(&[1]))).is_clean());
}

#[test]
fn a_read_of_a_value_appended_only_after_it_completed_is_a_future_read() {
    let history = vec![
        ok_read(1, (0, 10), &[1]),
        ok_append(0, (20, 30), 1, None, 1),
    ];
    let verdict = check(&history, &finals(list(&[1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::FutureRead]);
}

#[test]
fn a_read_shorter_than_one_completed_before_it_began_is_non_monotonic() {
    let history = vec![
        // Overlaps both reads, so neither is stale by it.
        ok_append(0, (0, 100), 1, None, 1),
        ok_read(1, (5, 10), &[1]),
        ok_read(2, (20, 30), &[]),
    ];
    let verdict = check(&history, &finals(list(&[1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::NonMonotonicReads]);
}

#[test]
fn an_append_acknowledged_past_its_expected_version_violates_it() {
    let history = vec![
        ok_append(0, (0, 10), 1, None, 1),
        ok_append(1, (20, 30), 2, Some(0), 2),
    ];
    let verdict = check(&history, &finals(list(&[1, 2])));
    assert_eq!(kinds(&verdict), [AnomalyKind::ExpectedVersionViolated]);
}

#[test]
fn an_append_stored_at_another_version_than_it_returned_is_misplaced() {
    let history = vec![
        ok_append(0, (0, 10), 1, None, 2),
        ok_append(1, (0, 10), 2, None, 2),
    ];
    let verdict = check(&history, &finals(list(&[1, 2])));
    assert_eq!(kinds(&verdict), [AnomalyKind::MisplacedAppend]);
    assert!(verdict.anomalies[0].detail.contains("append of 1"));
}

#[test]
fn a_failed_append_that_is_stored_is_reported() {
    let history = vec![failed_append(0, (0, 10), 1, 5)];
    let verdict = check(&history, &finals(list(&[1])));
    assert_eq!(kinds(&verdict), [AnomalyKind::FailedAppendStored]);
}

#[test]
fn a_stored_value_no_append_carried_is_unexpected() {
    let history = vec![ok_append(0, (0, 10), 1, None, 1)];
    let verdict = check(&history, &finals(list(&[1, 99])));
    assert_eq!(kinds(&verdict), [AnomalyKind::UnexpectedValue]);
}

#[test]
fn a_value_appended_to_one_stream_and_stored_in_another_is_lost_and_unexpected() {
    let history = vec![ok_append(0, (0, 10), 1, None, 1)];
    let finals = BTreeMap::from([
        (S.to_string(), list(&[])),
        ("la-t-1".to_string(), list(&[1])),
    ]);
    let verdict = check(&history, &finals);
    assert_eq!(
        kinds(&verdict),
        [AnomalyKind::LostAppend, AnomalyKind::UnexpectedValue]
    );
}

#[test]
fn versions_with_a_gap_are_a_broken_version_sequence() {
    let history = vec![
        ok_append(0, (0, 10), 1, None, 1),
        ok_append(0, (20, 30), 2, None, 3),
    ];
    let stored = vec![
        Element {
            version: 1,
            value: 1,
        },
        Element {
            version: 3,
            value: 2,
        },
    ];
    let verdict = check(&history, &finals(stored));
    assert_eq!(kinds(&verdict), [AnomalyKind::BrokenVersionSequence]);
}

#[test]
fn an_unknown_append_found_in_its_stream_resolves_present() {
    let history = vec![info_append(0, (0, 10), 1), ok_read(1, (20, 30), &[1])];
    let verdict = check(&history, &finals(list(&[1])));
    assert!(verdict.is_clean(), "{:#?}", verdict.anomalies);
    assert_eq!(
        verdict.info_appends,
        InfoResolution {
            present: 1,
            absent: 0
        }
    );
}

#[test]
fn an_unknown_append_not_found_resolves_absent() {
    let history = vec![info_append(0, (0, 10), 1), ok_read(1, (20, 30), &[])];
    let verdict = check(&history, &finals(list(&[])));
    assert!(verdict.is_clean(), "{:#?}", verdict.anomalies);
    assert_eq!(
        verdict.info_appends,
        InfoResolution {
            present: 0,
            absent: 1
        }
    );
}

#[test]
fn reads_and_appends_that_failed_or_are_unknown_bind_nothing_in_real_time() {
    let history = vec![
        failed_append(0, (0, 5), 1, 3),
        info_append(0, (6, 8), 2),
        op(
            1,
            (10, 12),
            Action::Read {
                outcome: Outcome::Info {
                    sqlstate: Some("57014".into()),
                    message: "statement timeout".into(),
                },
            },
        ),
        ok_read(1, (20, 30), &[]),
    ];
    let verdict = check(&history, &finals(list(&[])));
    assert!(verdict.is_clean(), "{:#?}", verdict.anomalies);
}
