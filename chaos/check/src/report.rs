//! The report of one scenario (`account --out`): counts of every fate and
//! every kind of violation, examples of the violations, the recovery time,
//! append latency before and during the fault, and a per-second timeline
//! the chart is drawn from. Owns the report's fields and the one-line
//! summary; computes nothing (that is `account.rs`).

use serde::{Deserialize, Serialize};

/// Violations kept as examples (the counts are always complete).
pub const MAX_VIOLATION_EXAMPLES: usize = 20;

/// What is wrong with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Acknowledged (or unknown and stored) but not in bss.events.
    LostPostgres,
    /// Acknowledged but never in Kafka.
    LostKafka,
    /// Acknowledged but no entry in its Redis category stream.
    LostRedis,
    /// Acknowledged, but its stream's aggregate hash in Redis stops below it.
    AggregateBehind,
    /// More than one row in bss.events.
    DuplicatePostgres,
    /// More than one entry in Redis.
    DuplicateRedis,
    /// Its first record in Kafka came after one of a later version of its
    /// stream (in its partition's offset order).
    OutOfOrderKafka,
    /// Its Redis entry came after one of a later version of its stream.
    OutOfOrderRedis,
    /// The append failed (or was never sent) but the event is stored.
    FailedButStored,
    /// Not stored (failed, not sent, or unknown and absent) yet in a sink.
    InSinkButNotStored,
    /// An append of unknown outcome of which some events are stored, not all.
    PartialAppend,
}

/// One example of a violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    pub event_id: String,
    pub stream_id: String,
    /// The stream version, when the store or a sink says it.
    pub version: Option<i64>,
    pub detail: String,
}

/// One second of the scenario, from `timeline_start_unix`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondStats {
    pub second: u64,
    /// Events acknowledged in this second.
    pub acknowledged: u64,
    /// Events whose append failed or ended unknown in this second.
    pub errors: u64,
    /// Of the events acknowledged in this second, those missing from Kafka
    /// or Redis when the watch ended.
    #[serde(default)]
    pub lost: u64,
    /// Of the events acknowledged in this second, the longest from the
    /// acknowledgement to the first arrival in Kafka, in seconds.
    pub kafka_lag_s: Option<f64>,
    /// The same for Redis.
    pub redis_lag_s: Option<f64>,
}

/// The account of one scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub fault: String,
    pub fault_start_unix: f64,
    pub fault_end_unix: f64,
    pub fault_seconds: f64,
    /// Whether the history had its end line and every append it announced.
    pub history_complete: bool,
    /// Why the watch ended (null: the arrivals have no end line).
    pub watch_end: Option<String>,
    /// Events, by the load generator's outcome of their append.
    pub offered: u64,
    pub acknowledged: u64,
    pub failed: u64,
    pub not_sent: u64,
    pub unknown: u64,
    /// Unknown events whose whole append is stored (then held to what an
    /// acknowledged event must do).
    pub unknown_stored: u64,
    /// Unknown events whose append is wholly absent (then held to what a
    /// failed event must do).
    pub unknown_absent: u64,
    /// Events that should be stored (acknowledged, unknown and stored)
    /// missing from PostgreSQL, Kafka or Redis (each counted once).
    pub lost: u64,
    pub lost_postgres: u64,
    pub lost_kafka: u64,
    /// Acknowledged before the broker was lost with its data, never seen in
    /// Kafka: gone with the broker, not counted in `lost` (see
    /// `Scenario::broker_data_lost_unix`).
    #[serde(default)]
    pub lost_with_broker: u64,
    /// No entry, or the aggregate version stops below the event.
    pub lost_redis: u64,
    /// Acknowledged after the point-in-time restore's target and not in
    /// the restored store: undone by the restore, not lost (see
    /// `Scenario::restored_to_unix`).
    #[serde(default)]
    pub undone_by_restore: u64,
    /// Of the events absent from the restored store, those Kafka got before
    /// the restore (a log keeps them; Redis must not).
    #[serde(default)]
    pub undone_in_kafka: u64,
    /// Acknowledged events kept in bss.conflicts instead of their streams
    /// (pg_bss's regions: appended in a region that had lost the stream and
    /// colliding with the owner's); not lost, their announcement is the
    /// event that arrives.
    pub conflicted: u64,
    /// Extra Kafka records of events (at-least-once: not a violation).
    pub duplicates: u64,
    pub duplicates_postgres: u64,
    pub duplicates_redis: u64,
    /// Breaks of version order per stream in Kafka and Redis.
    pub out_of_order: u64,
    pub out_of_order_kafka: u64,
    pub out_of_order_redis: u64,
    /// Failed or not-sent events stored in PostgreSQL.
    pub failed_but_stored: u64,
    /// Events not stored yet found in Kafka or Redis.
    pub in_sink_but_not_stored: u64,
    /// Appends of unknown outcome stored in part.
    pub partial_appends: u64,
    /// Streams whose aggregate version in Redis was read at the end.
    pub aggregates_read: u64,
    /// From the fault's end until every event acknowledged before it had
    /// arrived in both sinks (0 if they all had by then); null when some
    /// never arrived.
    pub recovery_seconds: Option<f64>,
    /// The client's view of a failover (or of any outage of appends): the
    /// longest time without an acknowledged append that overlaps the fault
    /// window, from the last acknowledgement before it to the first after
    /// it, in seconds. Null when no append was acknowledged after the
    /// fault began (or none before it).
    #[serde(default)]
    pub failover_seconds: Option<f64>,
    /// When that gap began and ended (the two acknowledgements), unix seconds.
    #[serde(default)]
    pub failover_from_unix: Option<f64>,
    #[serde(default)]
    pub failover_to_unix: Option<f64>,
    /// p95 latency of the appends acknowledged that were intended during
    /// the fault window, ms (null: none).
    pub append_p95_ms: Option<f64>,
    /// The same for the appends intended before the fault.
    pub append_p95_ms_before: Option<f64>,
    /// Violations counted in all (all kinds above except Kafka duplicates).
    pub violation_count: u64,
    /// Up to [`MAX_VIOLATION_EXAMPLES`] of them.
    pub violations: Vec<Violation>,
    pub ok: bool,
    /// The first second of the timeline, unix seconds.
    pub timeline_start_unix: f64,
    pub timeline: Vec<SecondStats>,
}

impl Report {
    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let recovery = self
            .recovery_seconds
            .map_or("never".to_owned(), |s| format!("{s:.1}s"));
        let failover = self
            .failover_seconds
            .map_or("none".to_owned(), |s| format!("{s:.2}s"));
        format!(
            "{} {}: {} acknowledged, {} failed, {} unknown ({} stored), {} not sent; lost {} \
             (pg {}, kafka {}, redis {}), duplicates kafka {} pg {} redis {}, out of order {}, \
             failed but stored {}, partial {}; recovery {recovery}; longest gap between \
             acknowledgements {failover}{}",
            self.scenario,
            if self.ok { "OK" } else { "FAILED" },
            self.acknowledged,
            self.failed,
            self.unknown,
            self.unknown_stored,
            self.not_sent,
            self.lost,
            self.lost_postgres,
            self.lost_kafka,
            self.lost_redis,
            self.duplicates,
            self.duplicates_postgres,
            self.duplicates_redis,
            self.out_of_order,
            self.failed_but_stored,
            self.partial_appends,
            if self.history_complete {
                ""
            } else {
                "; the history is incomplete"
            },
        )
    }
}
