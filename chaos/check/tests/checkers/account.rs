//! The account, fed histories with exactly one thing wrong each: every
//! count must come out exactly, and a clean history must be all zero.

use bss_chaos_check::account::{account, Scenario, StoredEvent};
use bss_chaos_check::arrivals::{
    AggregateVersion, Arrivals, EndLine, EndReason, KafkaArrival, RedisArrival,
};
use bss_chaos_check::history::History;
use bss_chaos_check::report::{Report, ViolationKind};
use bss_loadgen::history::{AppendRecord, EndRecord, Outcome};
use uuid::Uuid;

const STREAM: &str = "usage-r1-1";
const FAULT_START: f64 = 1010.0;
const FAULT_END: f64 = 1020.0;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn scenario() -> Scenario {
    Scenario {
        name: "test".into(),
        fault: "nothing".into(),
        fault_start_unix: FAULT_START,
        fault_end_unix: FAULT_END,
        broker_data_lost_unix: None,
        restored_to_unix: None,
    }
}

fn append(
    stream: &str,
    ids: &[u128],
    outcome: Outcome,
    intended: f64,
    latency_ms: f64,
) -> AppendRecord {
    AppendRecord {
        stream_id: stream.into(),
        event_ids: ids.iter().map(|&n| id(n)).collect(),
        types: ids.iter().map(|_| "usage.recorded".to_string()).collect(),
        outcome,
        sqlstate: match outcome {
            Outcome::Failed => Some("XB001".into()),
            _ => None,
        },
        intended_unix: intended,
        done_unix: intended + latency_ms / 1000.0,
        latency_ms,
    }
}

fn complete(appends: Vec<AppendRecord>) -> History {
    let offered = appends.iter().map(|a| a.event_ids.len() as u64).sum();
    let n = appends.len() as u64;
    History {
        appends,
        end: Some(EndRecord {
            end: true,
            offered,
            appends: n,
        }),
    }
}

fn stored(n: u128, stream: &str, version: i64) -> StoredEvent {
    StoredEvent {
        event_id: id(n).to_string(),
        stream_id: stream.into(),
        version,
        conflict: false,
    }
}

fn kafka(n: u128, stream: &str, version: i64, offset: i64, at: f64) -> KafkaArrival {
    KafkaArrival {
        ce_id: id(n).to_string(),
        stream_id: stream.into(),
        version,
        topic: "bss.usage".into(),
        partition: 0,
        offset,
        epoch: 0,
        at_unix: at,
    }
}

fn redis(n: u128, stream: &str, version: i64, entry: u64, at: f64) -> RedisArrival {
    RedisArrival {
        ce_id: id(n).to_string(),
        stream_id: stream.into(),
        version,
        key: "bss:events:usage".into(),
        entry_id: format!("{entry}-0"),
        at_unix: at,
    }
}

/// Three single-event appends to one stream: before, during and after the
/// fault, each stored once, in Kafka and Redis in order, the aggregate at
/// version 3. Event 2 reaches the sinks at 1021.5 (1.5 s after the fault).
struct Case {
    history: History,
    stored: Vec<StoredEvent>,
    arrivals: Arrivals,
}

fn clean() -> Case {
    let history = complete(vec![
        append(STREAM, &[1], Outcome::Acknowledged, 1005.0, 10.0),
        append(STREAM, &[2], Outcome::Acknowledged, 1015.0, 400.0),
        append(STREAM, &[3], Outcome::Acknowledged, 1025.0, 20.0),
    ]);
    let stored = vec![
        stored(1, STREAM, 1),
        stored(2, STREAM, 2),
        stored(3, STREAM, 3),
    ];
    let arrivals = Arrivals {
        kafka: vec![
            kafka(1, STREAM, 1, 0, 1005.1),
            kafka(2, STREAM, 2, 1, 1021.5),
            kafka(3, STREAM, 3, 2, 1025.1),
        ],
        redis: vec![
            redis(1, STREAM, 1, 100, 1005.05),
            redis(2, STREAM, 2, 200, 1021.0),
            redis(3, STREAM, 3, 300, 1025.05),
        ],
        aggregates: vec![AggregateVersion {
            stream_id: STREAM.into(),
            version: Some(3),
            at_unix: 1030.0,
        }],
        end: Some(EndLine {
            end: true,
            reason: EndReason::Settled,
            at_unix: 1030.0,
        }),
    };
    Case {
        history,
        stored,
        arrivals,
    }
}

fn run(c: &Case) -> Report {
    account(&scenario(), &c.history, &c.stored, &c.arrivals)
}

/// Every count that says something went wrong, in one tuple:
/// (lost, lost_postgres, lost_kafka, lost_redis, duplicates, duplicates_postgres,
///  duplicates_redis, out_of_order, failed_but_stored, in_sink_but_not_stored, partial_appends)
fn wrongs(r: &Report) -> [u64; 11] {
    [
        r.lost,
        r.lost_postgres,
        r.lost_kafka,
        r.lost_redis,
        r.duplicates,
        r.duplicates_postgres,
        r.duplicates_redis,
        r.out_of_order,
        r.failed_but_stored,
        r.in_sink_but_not_stored,
        r.partial_appends,
    ]
}

#[test]
fn a_clean_history_counts_nothing_wrong_and_is_ok() {
    let r = run(&clean());
    assert_eq!(wrongs(&r), [0; 11]);
    assert!(r.ok, "{r:#?}");
    assert!(r.violations.is_empty());
    assert_eq!(r.violation_count, 0);
    assert_eq!(
        (r.offered, r.acknowledged, r.failed, r.not_sent, r.unknown),
        (3, 3, 0, 0, 0)
    );
    assert_eq!(r.fault_seconds, 10.0);
    // Event 2, acknowledged during the fault, is the last to reach both sinks.
    assert_eq!(r.recovery_seconds, Some(1.5));
    assert_eq!(r.append_p95_ms_before, Some(10.0));
    assert_eq!(r.append_p95_ms, Some(400.0));
    assert_eq!(r.aggregates_read, 1);
    assert_eq!(r.timeline_start_unix, 1005.0);
    assert_eq!(r.timeline.len(), 21);
    assert_eq!(r.timeline[0].acknowledged, 1);
    assert_eq!(
        r.timeline[10].kafka_lag_s.map(|l| (l * 1000.0).round()),
        Some(6100.0)
    );
    assert!(r.summary().starts_with("test OK"), "{}", r.summary());
}

#[test]
fn failover_is_the_longest_time_without_an_acknowledgement_across_the_fault() {
    // Acknowledged every 0.5 s until 1010.2 (the primary dies at 1010.0,
    // two appends in flight are still acknowledged), then failures (no
    // primary), then acknowledged again from 1012.7; a longer gap before
    // the fault (1001 to 1004) does not count.
    let mut appends = vec![
        append(STREAM, &[1], Outcome::Acknowledged, 1000.99, 10.0),
        append(STREAM, &[2], Outcome::Acknowledged, 1003.99, 10.0),
    ];
    // In tenths of a second: 1004.0, 1004.5, ... 1010.0, 1010.2, 1010.7, ...
    let mut tenths: Vec<u32> = (10040..=10100).step_by(5).collect();
    tenths.extend((10102..10250).step_by(5));
    for (n, tenth) in (3u128..).zip(tenths) {
        let outcome = match tenth {
            ..=10102 => Outcome::Acknowledged,
            10103..=10122 => Outcome::Failed,
            _ => Outcome::Acknowledged,
        };
        appends.push(append(STREAM, &[n], outcome, f64::from(tenth) / 10.0, 0.0));
    }
    let c = Case {
        history: complete(appends),
        stored: Vec::new(),
        arrivals: Arrivals::default(),
    };
    let r = run(&c);
    assert_eq!(
        r.failover_seconds,
        Some(2.5),
        "{:?}",
        (r.failover_from_unix, r.failover_to_unix)
    );
    assert_eq!(r.failover_from_unix, Some(1010.2));
    assert!(
        r.summary().contains("acknowledgements 2.50s"),
        "{}",
        r.summary()
    );
    // No acknowledgement after the fault began: no failover.
    let mut c = c;
    for a in c
        .history
        .appends
        .iter_mut()
        .filter(|a| a.done_unix > 1010.0)
    {
        a.outcome = Outcome::Failed;
    }
    assert_eq!(run(&c).failover_seconds, None);
}

#[test]
fn after_a_broker_lost_with_its_data_only_events_acknowledged_later_must_be_in_kafka() {
    // Event 2 is acknowledged at 1015.4, event 3 at 1025.02; neither arrived.
    let mut c = clean();
    c.arrivals.kafka.truncate(1);
    let mut s = scenario();
    s.broker_data_lost_unix = Some(1020.0);
    let r = account(&s, &c.history, &c.stored, &c.arrivals);
    assert_eq!(r.lost_with_broker, 1, "event 2 went with the broker");
    assert_eq!(
        wrongs(&r),
        [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        "event 3 is lost"
    );
    assert!(!r.ok);
    assert_eq!(r.violations[0].event_id, id(3).to_string());

    // With event 3 delivered, the account is clean.
    let mut c = clean();
    c.arrivals.kafka.remove(1);
    let r = account(&s, &c.history, &c.stored, &c.arrivals);
    assert_eq!((r.lost_with_broker, r.lost), (1, 0));
    assert!(r.ok, "{r:#?}");
    // Recovery: event 2 reached Redis 1 s after the fault's end.
    assert_eq!(r.recovery_seconds, Some(1.0));
}

#[test]
fn an_event_missing_from_kafka_is_lost_and_recovery_never_came() {
    let mut c = clean();
    c.arrivals.kafka.remove(1);
    let r = run(&c);
    assert_eq!(wrongs(&r), [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(!r.ok);
    assert_eq!(r.recovery_seconds, None);
    let v = &r.violations[0];
    assert_eq!(
        (v.kind, v.event_id.as_str(), v.stream_id.as_str(), v.version),
        (
            ViolationKind::LostKafka,
            id(2).to_string().as_str(),
            STREAM,
            Some(2)
        )
    );
}

#[test]
fn an_acknowledged_event_not_in_postgres_or_redis_is_lost_once() {
    let mut c = clean();
    c.stored.remove(2);
    c.arrivals.redis.remove(2);
    let r = run(&c);
    assert_eq!(wrongs(&r), [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert!(!r.ok);
    assert_eq!(r.violation_count, 2);
}

#[test]
fn an_acknowledged_event_kept_among_a_regions_conflicts_is_conflicted_not_lost() {
    // Event 3 was acknowledged in a region that had lost its stream; the
    // owner wrote version 3 first: the event is in bss.conflicts, and only
    // its announcement reaches the sinks.
    let mut c = clean();
    c.stored[2].conflict = true;
    c.arrivals.kafka.remove(2);
    c.arrivals.redis.remove(2);
    let r = run(&c);
    assert_eq!(wrongs(&r), [0; 11]);
    assert_eq!(r.conflicted, 1);
    assert!(r.ok, "{r:#?}");
    // In the region that wrote it, it reached the sinks at version 3
    // before the owner's event 4 took that version: no order violation.
    let mut here = clean();
    here.stored[2].conflict = true;
    here.stored.push(stored(4, STREAM, 3));
    here.history = complete(vec![
        append(STREAM, &[1], Outcome::Acknowledged, 1005.0, 10.0),
        append(STREAM, &[2], Outcome::Acknowledged, 1015.0, 400.0),
        append(STREAM, &[3], Outcome::Acknowledged, 1025.0, 20.0),
        append(STREAM, &[4], Outcome::Acknowledged, 1026.0, 10.0),
    ]);
    here.arrivals.kafka.push(kafka(4, STREAM, 3, 3, 1026.5));
    here.arrivals.redis.push(redis(4, STREAM, 3, 400, 1026.5));
    let r = run(&here);
    assert_eq!(wrongs(&r), [0; 11], "{r:#?}");
    // Absent from both bss.events and bss.conflicts, it is lost.
    c.stored.remove(2);
    let r = run(&c);
    assert_eq!(r.conflicted, 0);
    assert_eq!(r.lost, 1);
    assert!(!r.ok);
}

#[test]
fn a_stream_aggregate_behind_its_last_acknowledged_version_is_lost_in_redis() {
    let mut c = clean();
    c.arrivals.aggregates[0].version = Some(2);
    let r = run(&c);
    assert_eq!(wrongs(&r), [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(r.violations[0].kind, ViolationKind::AggregateBehind);
    assert_eq!(r.violations[0].version, Some(3));
    // A stream whose aggregate was not read is not judged by it.
    c.arrivals.aggregates.clear();
    let r = run(&c);
    assert_eq!(wrongs(&r), [0; 11]);
    assert_eq!(r.aggregates_read, 0);
}

#[test]
fn a_second_kafka_record_is_a_duplicate_but_not_a_violation() {
    let mut c = clean();
    c.arrivals.kafka.push(kafka(2, STREAM, 2, 3, 1022.0));
    // The same offset read twice is one record, not a duplicate.
    c.arrivals.kafka.push(kafka(3, STREAM, 3, 2, 1025.2));
    let r = run(&c);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert!(r.ok, "{:?}", r.violations);
}

#[test]
fn a_second_row_in_postgres_is_a_violation() {
    let mut c = clean();
    c.stored.push(stored(2, STREAM, 2));
    let r = run(&c);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    assert!(!r.ok);
    assert_eq!(r.violations[0].kind, ViolationKind::DuplicatePostgres);
}

#[test]
fn a_second_redis_entry_is_a_violation() {
    let mut c = clean();
    c.arrivals.redis.push(redis(3, STREAM, 3, 301, 1025.1));
    let r = run(&c);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert!(!r.ok);
}

#[test]
fn an_earlier_version_after_a_later_one_is_out_of_order_in_each_sink() {
    let mut c = clean();
    // Kafka: versions 2, 1, 3 by offset; Redis: 1, 3, 2 by entry id.
    c.arrivals.kafka[0].offset = 1;
    c.arrivals.kafka[1].offset = 0;
    c.arrivals.redis[1].entry_id = "400-0".into();
    let r = run(&c);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!((r.out_of_order_kafka, r.out_of_order_redis), (1, 1));
    assert!(!r.ok);
    let kinds: Vec<_> = r.violations.iter().map(|v| (v.kind, v.version)).collect();
    assert_eq!(
        kinds,
        vec![
            (ViolationKind::OutOfOrderKafka, Some(1)),
            (ViolationKind::OutOfOrderRedis, Some(2))
        ]
    );
}

#[test]
fn a_redelivered_run_of_records_is_duplicates_not_disorder() {
    let mut c = clean();
    // The producer sent 1, 2, 3 and then 2, 3 again after a retry.
    c.arrivals.kafka.push(kafka(2, STREAM, 2, 3, 1026.0));
    c.arrivals.kafka.push(kafka(3, STREAM, 3, 4, 1026.0));
    let r = run(&c);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]);
    assert!(r.ok);
}

#[test]
fn a_broker_that_came_back_empty_starts_its_offsets_again_without_disorder_or_duplicates() {
    let mut c = clean();
    // Event 3 is in the new broker's log at offset 0, read in epoch 1; the
    // old log's offset 0 (event 1) is another record.
    c.arrivals.kafka[2].offset = 0;
    c.arrivals.kafka[2].epoch = 1;
    let r = run(&c);
    assert_eq!(wrongs(&r), [0; 11]);
    assert!(r.ok, "{:?}", r.violations);
    // In one epoch, an earlier offset is an earlier record: out of order.
    c.arrivals.kafka[2].epoch = 0;
    c.arrivals.kafka[2].offset = -1;
    let r = run(&c);
    assert_eq!(r.out_of_order_kafka, 2);
}

#[test]
fn a_failed_append_that_is_stored_is_failed_but_stored() {
    let mut c = clean();
    c.history = complete(vec![
        c.history.appends[0].clone(),
        c.history.appends[1].clone(),
        append(STREAM, &[3], Outcome::Failed, 1025.0, 20.0),
    ]);
    let r = run(&c);
    assert_eq!((r.acknowledged, r.failed), (2, 1));
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert!(!r.ok);
    let v = &r.violations[0];
    assert_eq!(
        (v.kind, v.version),
        (ViolationKind::FailedButStored, Some(3))
    );
    assert!(
        v.detail.contains("outcome failed (SQLSTATE XB001)"),
        "{}",
        v.detail
    );
}

#[test]
fn a_not_sent_event_found_in_a_sink_but_not_stored_is_a_violation() {
    let mut c = clean();
    c.history = complete(vec![
        c.history.appends[0].clone(),
        c.history.appends[1].clone(),
        append(STREAM, &[3], Outcome::NotSent, 1025.0, 0.0),
    ]);
    c.stored.remove(2);
    c.arrivals.redis.remove(2);
    c.arrivals.aggregates[0].version = Some(2);
    let r = run(&c);
    assert_eq!(r.not_sent, 1);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    assert!(!r.ok);
}

#[test]
fn an_unknown_append_wholly_stored_is_held_to_acknowledged() {
    let mut c = clean();
    c.history.appends[2].outcome = Outcome::Unknown;
    let r = run(&c);
    assert_eq!(
        (
            r.acknowledged,
            r.unknown,
            r.unknown_stored,
            r.unknown_absent
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(wrongs(&r), [0; 11]);
    assert!(r.ok);
    // Stored, so it must reach the sinks.
    c.arrivals.kafka.remove(2);
    let r = run(&c);
    assert_eq!(wrongs(&r), [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn an_unknown_append_wholly_absent_is_held_to_failed() {
    let mut c = clean();
    c.history
        .appends
        .push(append(STREAM, &[4, 5], Outcome::Unknown, 1026.0, 5000.0));
    c.history = complete(c.history.appends.clone());
    let r = run(&c);
    assert_eq!((r.unknown, r.unknown_stored, r.unknown_absent), (2, 0, 2));
    assert_eq!(wrongs(&r), [0; 11]);
    assert!(r.ok);
    // Not stored, so it must not be in a sink either.
    c.arrivals.kafka.push(kafka(4, STREAM, 4, 3, 1027.0));
    let r = run(&c);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
}

#[test]
fn an_unknown_append_stored_in_part_is_a_partial_append() {
    let mut c = clean();
    c.history
        .appends
        .push(append(STREAM, &[4, 5], Outcome::Unknown, 1026.0, 5000.0));
    c.history = complete(c.history.appends.clone());
    c.stored.push(stored(4, STREAM, 4));
    let r = run(&c);
    assert_eq!(wrongs(&r), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert!(!r.ok);
    let v = &r.violations[0];
    assert_eq!(
        (v.kind, v.event_id.clone()),
        (ViolationKind::PartialAppend, id(5).to_string())
    );
}

#[test]
fn a_history_without_its_end_is_not_ok() {
    let mut c = clean();
    c.history.end = None;
    let r = run(&c);
    assert_eq!(wrongs(&r), [0; 11]);
    assert!(!r.history_complete);
    assert!(!r.ok);
}

#[test]
fn violation_examples_stop_at_twenty_but_the_counts_do_not() {
    let mut appends = Vec::new();
    for n in 1..=30u128 {
        appends.push(append(
            &format!("usage-r1-{n}"),
            &[n],
            Outcome::Acknowledged,
            1000.0 + n as f64,
            5.0,
        ));
    }
    let c = Case {
        history: complete(appends),
        stored: Vec::new(),
        arrivals: Arrivals::default(),
    };
    let r = run(&c);
    assert_eq!(
        (r.lost, r.lost_postgres, r.lost_kafka, r.lost_redis),
        (30, 30, 30, 30)
    );
    assert_eq!(r.violation_count, 90);
    assert_eq!(r.violations.len(), 20);
}

#[test]
fn after_a_point_in_time_restore_events_acknowledged_after_its_target_may_be_gone_but_not_from_redis(
) {
    // Restored to 1012: event 1 (acknowledged at 1005.01) must stay; event 2
    // (acknowledged at 1015.4) was undone: gone from the store and Redis
    // (rebuilt), still in Kafka. Its version 2 is taken by event 4, appended
    // after the restore; Kafka's v2 (undone) then v2, v3 is no order break.
    let mut c = clean();
    c.history = complete(vec![
        append(STREAM, &[1], Outcome::Acknowledged, 1005.0, 10.0),
        append(STREAM, &[2], Outcome::Acknowledged, 1015.0, 400.0),
        append(STREAM, &[4], Outcome::Acknowledged, 1024.0, 20.0),
        append(STREAM, &[3], Outcome::Acknowledged, 1025.0, 20.0),
    ]);
    c.stored = vec![
        stored(1, STREAM, 1),
        stored(4, STREAM, 2),
        stored(3, STREAM, 3),
    ];
    c.arrivals.redis = vec![
        redis(1, STREAM, 1, 100, 1005.05),
        redis(4, STREAM, 2, 400, 1024.05),
        redis(3, STREAM, 3, 500, 1025.05),
    ];
    c.arrivals.kafka = vec![
        kafka(1, STREAM, 1, 0, 1005.1),
        kafka(2, STREAM, 2, 1, 1015.5),
        kafka(4, STREAM, 2, 2, 1024.1),
        kafka(3, STREAM, 3, 3, 1025.1),
    ];
    let mut s = scenario();
    s.restored_to_unix = Some(1012.0);
    let r = account(&s, &c.history, &c.stored, &c.arrivals);
    assert_eq!((r.undone_by_restore, r.undone_in_kafka), (1, 1));
    assert_eq!(wrongs(&r), [0; 11], "{r:#?}");
    assert!(r.ok, "{r:#?}");

    // Without the restore the same is a lost event.
    let r = account(&scenario(), &c.history, &c.stored, &c.arrivals);
    assert!(!r.ok);
    assert_eq!(r.lost, 1);

    // The undone event still in Redis: a violation.
    let mut in_redis = c.arrivals.clone();
    in_redis.redis.insert(1, redis(2, STREAM, 2, 200, 1015.5));
    let r = account(&s, &c.history, &c.stored, &in_redis);
    assert!(!r.ok);
    assert_eq!(r.in_sink_but_not_stored, 1);

    // One acknowledged before the target and missing is lost all the same.
    let mut s_late = scenario();
    s_late.restored_to_unix = Some(1016.0);
    let r = account(&s_late, &c.history, &c.stored, &c.arrivals);
    assert!(!r.ok);
    assert_eq!((r.lost, r.undone_by_restore), (1, 0));
}
