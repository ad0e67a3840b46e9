//! The account: from a history, the rows PostgreSQL holds for its streams
//! and what arrived in Kafka and Redis, the report of a scenario. Owns the
//! rules (what each outcome obliges, how an unknown append is resolved,
//! what counts as out of order, recovery, latency and the longest time
//! without an acknowledged append); a pure function:
//! must never read a file, a clock or the network.
//!
//! The rules, per event of the history:
//! - acknowledged: in PostgreSQL exactly once, in Kafka at least once
//!   (extra records are duplicates, allowed; a record is one (topic,
//!   partition, epoch, offset)), in Redis exactly once, and
//!   its stream's aggregate version in Redis at or above its version;
//! - failed, not sent: not in PostgreSQL, not in a sink;
//! - unknown: every event of the append stored: as acknowledged; none: as
//!   failed; some: a partial append (a violation, no further checks);
//! - after a point-in-time restore: acknowledged after its target and not
//!   stored: undone, allowed in Kafka, not in Redis (see
//!   [`Scenario::restored_to_unix`]);
//! - order: per stream, its events' first records in Kafka (per partition,
//!   by offset) and its entries in Redis (per key, by entry id) come in
//!   increasing version (a partition's records in (epoch, offset) order: a
//!   broker that came back empty starts its offsets again); each event that
//!   comes after a later version is a
//!   break.

use std::collections::{HashMap, HashSet};

use bss_loadgen::history::{AppendRecord, Outcome};

use crate::arrivals::Arrivals;
use crate::history::History;
use crate::report::{Report, SecondStats, Violation, ViolationKind, MAX_VIOLATION_EXAMPLES};

/// One row of bss.events (of the history's streams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// `event_id` as text (lower case, as PostgreSQL prints a uuid).
    pub event_id: String,
    pub stream_id: String,
    pub version: i64,
    /// Kept in bss.conflicts rather than in its stream: appended in a
    /// region that had lost the stream, colliding with the owner's events
    /// (pg_bss's regions). Not lost, and not to arrive in the sinks as
    /// itself (its announcement, bss.event_conflicted, does).
    pub conflict: bool,
}

/// What the scenario was and when its fault was on.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub fault: String,
    pub fault_start_unix: f64,
    pub fault_end_unix: f64,
    /// When the broker was lost with its data (the chaos suite's
    /// broker-loss: tansu keeps messages in memory only). An event
    /// acknowledged before then that never reached Kafka may have been on
    /// the lost broker: it is counted apart (`lost_with_broker`), not as
    /// lost by the pipeline. One acknowledged after then must arrive.
    pub broker_data_lost_unix: Option<f64>,
    /// The target time of a point-in-time restore of the database (the
    /// chaos suite's restore-pitr). An event acknowledged after it and
    /// absent from the restored store was undone by the restore
    /// (`undone_by_restore`), not lost; Kafka may still hold such an event
    /// (it got it before the restore: `undone_in_kafka`), Redis, rebuilt
    /// from the store, must not; and it has no place in the order checks.
    /// One acknowledged before it must be everywhere.
    pub restored_to_unix: Option<f64>,
}

/// What an event must do, once its append's outcome is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Duty {
    /// Stored once, in both sinks.
    Deliver,
    /// Stored nowhere.
    Absent,
    /// Part of a partial append: already a violation.
    None,
}

/// Where and when an event arrived in one sink.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    copies: u64,
    first_unix: Option<f64>,
    version: Option<i64>,
}

impl Seen {
    fn add(&mut self, at: f64, version: i64) {
        self.copies += 1;
        self.first_unix = Some(self.first_unix.map_or(at, |f| f.min(at)));
        self.version.get_or_insert(version);
    }
}

struct Violations {
    count: u64,
    examples: Vec<Violation>,
}

impl Violations {
    fn add(
        &mut self,
        kind: ViolationKind,
        event_id: &str,
        stream_id: &str,
        version: Option<i64>,
        detail: String,
    ) {
        self.count += 1;
        if self.examples.len() < MAX_VIOLATION_EXAMPLES {
            self.examples.push(Violation {
                kind,
                event_id: event_id.to_owned(),
                stream_id: stream_id.to_owned(),
                version,
                detail,
            });
        }
    }
}

/// The report of `scenario` from its history, the rows PostgreSQL holds
/// for the history's streams and the arrivals.
pub fn account(
    scenario: &Scenario,
    history: &History,
    stored: &[StoredEvent],
    arrivals: &Arrivals,
) -> Report {
    let mut r = Report {
        scenario: scenario.name.clone(),
        fault: scenario.fault.clone(),
        fault_start_unix: scenario.fault_start_unix,
        fault_end_unix: scenario.fault_end_unix,
        fault_seconds: (scenario.fault_end_unix - scenario.fault_start_unix).max(0.0),
        history_complete: history.is_complete(),
        watch_end: arrivals.end.as_ref().map(|e| {
            serde_json::to_value(e.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        }),
        ..Report::default()
    };
    let mut v = Violations {
        count: 0,
        examples: Vec::new(),
    };

    let mut in_pg: HashMap<&str, (u64, i64)> = HashMap::new();
    let mut conflicted: HashSet<&str> = HashSet::new();
    for s in stored {
        if s.conflict {
            conflicted.insert(s.event_id.as_str());
            continue;
        }
        let e = in_pg.entry(s.event_id.as_str()).or_insert((0, s.version));
        e.0 += 1;
    }
    let mut in_kafka: HashMap<String, Seen> = HashMap::new();
    let mut kafka_records = HashSet::new();
    for k in &arrivals.kafka {
        if kafka_records.insert((k.topic.as_str(), k.partition, k.epoch, k.offset)) {
            in_kafka
                .entry(k.ce_id.to_ascii_lowercase())
                .or_default()
                .add(k.at_unix, k.version);
        }
    }
    let mut in_redis: HashMap<String, Seen> = HashMap::new();
    let mut redis_entries = HashSet::new();
    for e in &arrivals.redis {
        if redis_entries.insert((e.key.as_str(), e.entry_id.as_str())) {
            in_redis
                .entry(e.ce_id.to_ascii_lowercase())
                .or_default()
                .add(e.at_unix, e.version);
        }
    }
    let aggregates: HashMap<&str, Option<i64>> = arrivals
        .aggregates
        .iter()
        .map(|a| (a.stream_id.as_str(), a.version))
        .collect();
    r.aggregates_read = aggregates.len() as u64;

    let mut history_ids: HashSet<String> = HashSet::new();
    // Events a point-in-time restore undid: out of the order checks.
    let mut undone_ids: HashSet<String> = HashSet::new();
    // The latest first arrival (Kafka, Redis) of each event that had to be
    // delivered and was acknowledged before the fault ended; None: missing.
    let mut recovery: Option<f64> = Some(0.0);
    for a in &history.appends {
        let ids: Vec<String> = a.event_ids.iter().map(|id| id.to_string()).collect();
        let n = ids.len() as u64;
        r.offered += n;
        let duty = match a.outcome {
            Outcome::Acknowledged => {
                r.acknowledged += n;
                Duty::Deliver
            }
            Outcome::Failed => {
                r.failed += n;
                Duty::Absent
            }
            Outcome::NotSent => {
                r.not_sent += n;
                Duty::Absent
            }
            Outcome::Unknown => {
                r.unknown += n;
                let stored_n = ids
                    .iter()
                    .filter(|id| {
                        in_pg.contains_key(id.as_str()) || conflicted.contains(id.as_str())
                    })
                    .count() as u64;
                if stored_n == n {
                    r.unknown_stored += n;
                    Duty::Deliver
                } else if stored_n == 0 {
                    r.unknown_absent += n;
                    Duty::Absent
                } else {
                    r.partial_appends += 1;
                    let missing = ids.iter().find(|id| !in_pg.contains_key(id.as_str()));
                    v.add(
                        ViolationKind::PartialAppend,
                        missing.map_or("", |s| s.as_str()),
                        &a.stream_id,
                        None,
                        format!("an append of unknown outcome is stored in part: {stored_n} of its {n} events"),
                    );
                    Duty::None
                }
            }
        };
        for id in &ids {
            history_ids.insert(id.clone());
            let pg = in_pg.get(id.as_str()).copied();
            let kafka = in_kafka.get(id).copied().unwrap_or_default();
            let redis = in_redis.get(id).copied().unwrap_or_default();
            let version = pg.map(|p| p.1).or(redis.version).or(kafka.version);
            let undone = pg.is_none()
                && a.outcome != Outcome::Failed
                && scenario.restored_to_unix.is_some_and(|t| a.done_unix > t);
            if undone {
                undone_ids.insert(id.clone());
                if duty == Duty::Deliver {
                    r.undone_by_restore += 1;
                }
                if kafka.copies > 0 {
                    r.undone_in_kafka += 1;
                }
                if redis.copies > 0 {
                    r.in_sink_but_not_stored += 1;
                    v.add(
                        ViolationKind::InSinkButNotStored,
                        id,
                        &a.stream_id,
                        version,
                        format!(
                            "undone by the restore, yet {} entries in Redis",
                            redis.copies
                        ),
                    );
                }
                continue;
            }
            if duty == Duty::Deliver && pg.is_none() && conflicted.contains(id.as_str()) {
                r.conflicted += 1;
                continue;
            }
            match duty {
                Duty::Deliver => {
                    let mut lost = false;
                    match pg {
                        None => {
                            lost = true;
                            r.lost_postgres += 1;
                            v.add(
                                ViolationKind::LostPostgres,
                                id,
                                &a.stream_id,
                                version,
                                format!("{} but not in bss.events", outcome_name(a.outcome)),
                            );
                        }
                        Some((copies, _)) if copies > 1 => {
                            r.duplicates_postgres += copies - 1;
                            v.add(
                                ViolationKind::DuplicatePostgres,
                                id,
                                &a.stream_id,
                                version,
                                format!("{copies} rows in bss.events"),
                            );
                        }
                        Some(_) => {}
                    }
                    let on_lost_broker = scenario
                        .broker_data_lost_unix
                        .is_some_and(|t| a.done_unix < t);
                    if kafka.copies == 0 && on_lost_broker {
                        r.lost_with_broker += 1;
                    } else if kafka.copies == 0 {
                        lost = true;
                        r.lost_kafka += 1;
                        v.add(
                            ViolationKind::LostKafka,
                            id,
                            &a.stream_id,
                            version,
                            "never arrived in Kafka".into(),
                        );
                    } else {
                        r.duplicates += kafka.copies - 1;
                    }
                    let aggregate = aggregates.get(a.stream_id.as_str()).copied();
                    let behind = match (aggregate, version) {
                        (Some(None), _) => Some("no aggregate hash in Redis".to_owned()),
                        (Some(Some(agg)), Some(ev)) if agg < ev => Some(format!(
                            "the stream's aggregate in Redis is at version {agg}"
                        )),
                        _ => None,
                    };
                    if redis.copies == 0 {
                        lost = true;
                        r.lost_redis += 1;
                        v.add(
                            ViolationKind::LostRedis,
                            id,
                            &a.stream_id,
                            version,
                            "no entry in Redis".into(),
                        );
                    } else if let Some(detail) = behind {
                        lost = true;
                        r.lost_redis += 1;
                        v.add(
                            ViolationKind::AggregateBehind,
                            id,
                            &a.stream_id,
                            version,
                            detail,
                        );
                    }
                    if redis.copies > 1 {
                        r.duplicates_redis += redis.copies - 1;
                        v.add(
                            ViolationKind::DuplicateRedis,
                            id,
                            &a.stream_id,
                            version,
                            format!("{} entries in Redis", redis.copies),
                        );
                    }
                    if lost {
                        r.lost += 1;
                    }
                    // An event gone with the broker never arrives in Kafka;
                    // recovery is then the time until Redis had it.
                    let kafka_first = match (kafka.first_unix, on_lost_broker) {
                        (None, true) => redis.first_unix,
                        (k, _) => k,
                    };
                    if a.done_unix < scenario.fault_end_unix {
                        recovery = match (recovery, kafka_first, redis.first_unix) {
                            (Some(worst), Some(k), Some(rd)) => {
                                Some(worst.max(k.max(rd) - scenario.fault_end_unix))
                            }
                            _ => None,
                        };
                    }
                }
                Duty::Absent => match pg {
                    Some((copies, _)) => {
                        r.failed_but_stored += 1;
                        v.add(
                            ViolationKind::FailedButStored,
                            id,
                            &a.stream_id,
                            version,
                            format!(
                                "outcome {} (SQLSTATE {}) but {copies} row(s) in bss.events",
                                outcome_name(a.outcome),
                                a.sqlstate.as_deref().unwrap_or("none")
                            ),
                        );
                    }
                    None if kafka.copies + redis.copies > 0 => {
                        r.in_sink_but_not_stored += 1;
                        v.add(ViolationKind::InSinkButNotStored, id, &a.stream_id, version,
                            format!("not in bss.events, yet {} record(s) in Kafka and {} entries in Redis",
                                kafka.copies, redis.copies));
                    }
                    None => {}
                },
                Duty::None => {}
            }
        }
    }
    r.recovery_seconds = recovery;

    // Out of the order checks too: events a restore undid, and events kept
    // as conflicts (their version is the owner's event's now, which
    // arrives after them in the sinks of the region that wrote them).
    history_ids.retain(|id| !undone_ids.contains(id) && !conflicted.contains(id.as_str()));
    order(&mut r, &mut v, &history_ids, arrivals);
    r.out_of_order = r.out_of_order_kafka + r.out_of_order_redis;

    let p95 = |during: bool| {
        let lat: Vec<f64> = history
            .appends
            .iter()
            .filter(|a| a.outcome == Outcome::Acknowledged)
            .filter(|a| {
                if during {
                    a.intended_unix >= scenario.fault_start_unix
                        && a.intended_unix < scenario.fault_end_unix
                } else {
                    a.intended_unix < scenario.fault_start_unix
                }
            })
            .map(|a| a.latency_ms)
            .collect();
        p95_of(lat)
    };
    r.append_p95_ms = p95(true);
    r.append_p95_ms_before = p95(false);
    if let Some((from, to)) = longest_gap(
        &history.appends,
        scenario.fault_start_unix,
        scenario.fault_end_unix,
    ) {
        r.failover_seconds = Some(((to - from) * 1000.0).round() / 1000.0);
        r.failover_from_unix = Some(from);
        r.failover_to_unix = Some(to);
    }

    timeline(&mut r, &history.appends, &in_kafka, &in_redis);

    r.violation_count = v.count;
    r.violations = v.examples;
    r.ok = r.history_complete
        && r.lost == 0
        && r.out_of_order == 0
        && r.duplicates_postgres == 0
        && r.duplicates_redis == 0
        && r.failed_but_stored == 0
        && r.in_sink_but_not_stored == 0
        && r.partial_appends == 0;
    r
}

/// An outcome as the history spells it.
fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Acknowledged => "acknowledged",
        Outcome::Failed => "failed",
        Outcome::Unknown => "unknown",
        Outcome::NotSent => "not_sent",
    }
}

/// The breaks of version order, per stream, in Kafka and in Redis.
fn order(r: &mut Report, v: &mut Violations, ids: &HashSet<String>, arrivals: &Arrivals) {
    let mut kafka: Vec<_> = arrivals
        .kafka
        .iter()
        .filter(|k| ids.contains(&k.ce_id.to_ascii_lowercase()))
        .collect();
    kafka.sort_by(|a, b| {
        (&a.topic, a.partition, a.epoch, a.offset).cmp(&(&b.topic, b.partition, b.epoch, b.offset))
    });
    let mut first = HashSet::new();
    let mut last: HashMap<(&str, i32, &str), i64> = HashMap::new();
    for k in kafka {
        if !first.insert(k.ce_id.to_ascii_lowercase()) {
            continue;
        }
        let prev = last
            .entry((k.topic.as_str(), k.partition, k.stream_id.as_str()))
            .or_insert(i64::MIN);
        if k.version <= *prev {
            r.out_of_order_kafka += 1;
            v.add(
                ViolationKind::OutOfOrderKafka,
                &k.ce_id,
                &k.stream_id,
                Some(k.version),
                format!(
                    "first in {}/{} at offset {}, after version {}",
                    k.topic, k.partition, k.offset, *prev
                ),
            );
        } else {
            *prev = k.version;
        }
    }
    let mut redis: Vec<_> = arrivals
        .redis
        .iter()
        .filter(|e| ids.contains(&e.ce_id.to_ascii_lowercase()))
        .collect();
    redis.sort_by(|a, b| {
        (&a.key, a.entry_order(), &a.entry_id).cmp(&(&b.key, b.entry_order(), &b.entry_id))
    });
    let mut first = HashSet::new();
    let mut last: HashMap<(&str, &str), i64> = HashMap::new();
    for e in redis {
        if !first.insert(e.ce_id.to_ascii_lowercase()) {
            continue;
        }
        let prev = last
            .entry((e.key.as_str(), e.stream_id.as_str()))
            .or_insert(i64::MIN);
        if e.version <= *prev {
            r.out_of_order_redis += 1;
            v.add(
                ViolationKind::OutOfOrderRedis,
                &e.ce_id,
                &e.stream_id,
                Some(e.version),
                format!("entry {} of {} after version {}", e.entry_id, e.key, *prev),
            );
        } else {
            *prev = e.version;
        }
    }
}

/// The longest gap between two consecutive acknowledgements (by the time
/// the client had them) that overlaps the fault window [start, end]: for a
/// failover, from the last append the old primary acknowledged to the first
/// the new one did. None without an acknowledgement on each side of `start`.
fn longest_gap(appends: &[AppendRecord], start: f64, end: f64) -> Option<(f64, f64)> {
    let mut acks: Vec<f64> = appends
        .iter()
        .filter(|a| a.outcome == Outcome::Acknowledged)
        .map(|a| a.done_unix)
        .collect();
    acks.sort_by(f64::total_cmp);
    acks.windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|&(from, to)| to > start && from < end)
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
}

/// The 95th percentile (nearest rank), rounded to µs; None of nothing.
fn p95_of(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64) * 0.95).ceil() as usize;
    let p = values[rank.clamp(1, values.len()) - 1];
    Some((p * 1000.0).round() / 1000.0)
}

/// Per second (from the first intended second): acknowledged, errors and
/// the sinks' lag behind the acknowledgements of that second.
fn timeline(
    r: &mut Report,
    appends: &[AppendRecord],
    kafka: &HashMap<String, Seen>,
    redis: &HashMap<String, Seen>,
) {
    let start = appends
        .iter()
        .map(|a| a.intended_unix)
        .min_by(f64::total_cmp)
        .unwrap_or(r.fault_start_unix)
        .floor();
    r.timeline_start_unix = start;
    let mut seconds: Vec<SecondStats> = Vec::new();
    for a in appends {
        let s = (a.done_unix - start).max(0.0) as usize;
        if seconds.len() <= s {
            let from = seconds.len();
            seconds.extend((from..=s).map(|i| SecondStats {
                second: i as u64,
                ..SecondStats::default()
            }));
        }
        let n = a.event_ids.len() as u64;
        let sec = &mut seconds[s];
        match a.outcome {
            Outcome::Acknowledged => {
                sec.acknowledged += n;
                for id in &a.event_ids {
                    let id = id.to_string();
                    let lag = |seen: Option<&Seen>| {
                        seen.and_then(|s| s.first_unix)
                            .map(|f| (f - a.done_unix).max(0.0))
                    };
                    let (k, rd) = (lag(kafka.get(&id)), lag(redis.get(&id)));
                    if let Some(l) = k {
                        sec.kafka_lag_s = Some(sec.kafka_lag_s.map_or(l, |m| m.max(l)));
                    }
                    if let Some(l) = rd {
                        sec.redis_lag_s = Some(sec.redis_lag_s.map_or(l, |m| m.max(l)));
                    }
                    if k.is_none() || rd.is_none() {
                        sec.lost += 1;
                    }
                }
            }
            Outcome::Failed | Outcome::Unknown => sec.errors += n,
            Outcome::NotSent => {}
        }
    }
    r.timeline = seconds;
}
