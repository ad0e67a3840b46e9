//! Owns the sidecar's Prometheus metrics: their names, help texts, labels
//! and buckets (`http.rs` serves them). Imports nothing of the crate, so
//! every part can count. Must never block the pipeline: updates are atomic.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set of per-sink metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    pub sink: String,
}

impl SinkLabel {
    pub fn new(sink: &str) -> Self {
        SinkLabel {
            sink: sink.to_owned(),
        }
    }
}

/// Label set of per-detector metrics (the anomaly stage).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DetectorLabel {
    pub detector: String,
}

impl DetectorLabel {
    pub fn new(detector: &str) -> Self {
        DetectorLabel {
            detector: detector.to_owned(),
        }
    }
}

/// Label set of the intelligence stage's classified events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassifiedLabel {
    /// The class, or `none`.
    pub class: String,
    /// Why it has no class (`backlog`, `no_text`), or `none`.
    pub unclassified: String,
}

/// Label set of the intelligence stage's routes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub team: String,
    pub priority: String,
}

/// Label set of per-event-type metrics (the forecast stage).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: String,
}

/// Label set of the forecast stage's capacity: which types it covers
/// (`all`). A family, so that without a capacity set there is no series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CapacityLabel {
    pub types: String,
}

/// A gauge of a fractional value.
pub type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~28 s in steps of 25%, fine enough for p99 estimates.
    Histogram::new(exponential_buckets(0.0005, 1.25, 50))
}

/// Every metric the sidecar exports.
pub struct Metrics {
    registry: Registry,
    /// Only `commit_to_ack`: the status sampler reads its buckets from this
    /// exposition, the one public view of them prometheus-client gives.
    latency_registry: Registry,
    pub source_events: Counter,
    pub source_transactions: Counter,
    pub source_reconnects: Counter,
    /// Replication slots the source created where the spool had followed
    /// one before (a promotion, a restore, a dropped slot).
    pub source_slots_recreated: Counter,
    /// Events the gap fill read from `bss.events` and spooled.
    pub source_gap_fill_events: Counter,
    /// The gap fill's floor: every event at or below it is in the spool.
    pub source_floor_position: Gauge,
    /// Decoded events held until the synchronous standbys have their commit.
    pub source_held_events: Gauge,
    pub confirmed_lsn: Gauge,
    pub slot_lag_bytes: Gauge,
    pub spool_depth: Gauge,
    pub spool_head: Gauge,
    pub spool_max_events: Gauge,
    /// Reopens of the spool's log after an IO error failed it (a full disk).
    pub spool_reopens: Counter,
    /// 1 while the replication connection streams (mirrors `source_up`).
    pub source_streaming: Gauge,
    pub sink_delivered: Family<SinkLabel, Counter>,
    /// Batches a sink's destination acknowledged: with `sink_retries`, the
    /// failed attempts per delivered batch.
    pub sink_batches: Family<SinkLabel, Counter>,
    pub sink_retries: Family<SinkLabel, Counter>,
    pub sink_lag: Family<SinkLabel, Gauge>,
    pub commit_to_ack: Family<SinkLabel, Histogram, fn() -> Histogram>,
    pub anomalies: Family<DetectorLabel, Counter>,
    pub detector_observations: Family<DetectorLabel, Counter>,
    pub detector_unjudged: Family<DetectorLabel, Counter>,
    pub detector_keys: Family<DetectorLabel, Gauge>,
    /// Saves of the anomaly stage's detector state.
    pub anomaly_checkpoints: Counter,
    pub intel_classified: Family<ClassifiedLabel, Counter>,
    pub intel_routed: Family<RouteLabel, Counter>,
    /// Tickets waiting for their classification to be stored.
    pub intel_backlog: Gauge,
    /// Commit of a ticket to the commit of its classification.
    pub intel_latency: Histogram,
    /// Wall seconds the model ran (on `[intelligence] threads`).
    pub intel_model_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// Saves of the intelligence stage's backlog.
    pub intel_checkpoints: Counter,
    /// The forecast rate of the coming horizon, events an hour, and its band.
    pub forecast_rate: Family<TypeLabel, FloatGauge>,
    pub forecast_lower: Family<TypeLabel, FloatGauge>,
    pub forecast_upper: Family<TypeLabel, FloatGauge>,
    pub forecast_history: Family<TypeLabel, Gauge>,
    pub forecast_capacity: Family<CapacityLabel, FloatGauge>,
    pub forecast_refreshes: Counter,
    pub forecast_fit_seconds: FloatGauge,
    pub forecast_too_late: Counter,
    /// The replication connection is streaming.
    pub source_up: AtomicBool,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut m = Metrics {
            source_events: Counter::default(),
            source_transactions: Counter::default(),
            source_reconnects: Counter::default(),
            source_slots_recreated: Counter::default(),
            source_gap_fill_events: Counter::default(),
            source_floor_position: Gauge::default(),
            source_held_events: Gauge::default(),
            confirmed_lsn: Gauge::default(),
            slot_lag_bytes: Gauge::default(),
            spool_depth: Gauge::default(),
            spool_head: Gauge::default(),
            spool_max_events: Gauge::default(),
            spool_reopens: Counter::default(),
            source_streaming: Gauge::default(),
            sink_delivered: Family::default(),
            sink_batches: Family::default(),
            sink_retries: Family::default(),
            sink_lag: Family::default(),
            commit_to_ack: Family::new_with_constructor(latency_histogram),
            anomalies: Family::default(),
            detector_observations: Family::default(),
            detector_unjudged: Family::default(),
            detector_keys: Family::default(),
            anomaly_checkpoints: Counter::default(),
            intel_classified: Family::default(),
            intel_routed: Family::default(),
            intel_backlog: Gauge::default(),
            intel_latency: latency_histogram(),
            intel_model_seconds: Counter::default(),
            intel_checkpoints: Counter::default(),
            forecast_rate: Family::default(),
            forecast_lower: Family::default(),
            forecast_upper: Family::default(),
            forecast_history: Family::default(),
            forecast_capacity: Family::default(),
            forecast_refreshes: Counter::default(),
            forecast_fit_seconds: FloatGauge::default(),
            forecast_too_late: Counter::default(),
            source_up: AtomicBool::new(false),
            registry: Registry::with_prefix("bss_sidecar"),
            latency_registry: Registry::default(),
        };
        m.registry.register(
            "source_events",
            "Events read from the replication slot and spooled",
            m.source_events.clone(),
        );
        m.registry.register(
            "source_slots_recreated",
            "Replication slots created anew after the one the spool followed was lost (promotion, restore, drop)",
            m.source_slots_recreated.clone(),
        );
        m.registry.register(
            "source_gap_fill_events",
            "Events committed before a recreated slot's start that the spool lacked, read from bss.events and spooled",
            m.source_gap_fill_events.clone(),
        );
        m.registry.register(
            "source_floor_position",
            "The gap fill's floor: every event at or below this global position is in the spool",
            m.source_floor_position.clone(),
        );
        m.registry.register(
            "source_held_events",
            "Decoded events held until the synchronous standbys have flushed their commit",
            m.source_held_events.clone(),
        );
        m.registry.register(
            "source_transactions",
            "Transactions read from the replication slot and spooled",
            m.source_transactions.clone(),
        );
        m.registry.register(
            "source_reconnects",
            "Times the replication connection was re-established",
            m.source_reconnects.clone(),
        );
        m.registry.register(
            "confirmed_lsn",
            "Flush LSN last confirmed to PostgreSQL (as a number)",
            m.confirmed_lsn.clone(),
        );
        m.registry.register(
            "slot_lag_bytes",
            "WAL bytes between the server's current LSN and the slot's confirmed flush LSN",
            m.slot_lag_bytes.clone(),
        );
        m.registry.register(
            "spool_depth_events",
            "Spooled events the slowest sink has not delivered yet",
            m.spool_depth.clone(),
        );
        m.registry.register(
            "spool_head_seq",
            "Sequence number the next spooled event gets",
            m.spool_head.clone(),
        );
        m.registry.register(
            "spool_max_events",
            "The spool's bound (--spool-max-events): at it the source stops reading",
            m.spool_max_events.clone(),
        );
        m.registry.register(
            "spool_reopens",
            "Times the spool's log was reopened after an IO error failed it (a full disk)",
            m.spool_reopens.clone(),
        );
        m.registry.register(
            "source_streaming",
            "1 while the replication connection streams, else 0",
            m.source_streaming.clone(),
        );
        m.registry.register(
            "sink_delivered_events",
            "Events a sink's destination acknowledged",
            m.sink_delivered.clone(),
        );
        m.registry.register(
            "sink_batches",
            "Delivery batches a sink's destination acknowledged (the runner's batches; the anomaly stage's append transactions)",
            m.sink_batches.clone(),
        );
        m.registry.register(
            "sink_retries",
            "Failed deliveries a sink retried",
            m.sink_retries.clone(),
        );
        m.registry.register(
            "sink_lag_events",
            "Durable spooled events a sink has not delivered yet",
            m.sink_lag.clone(),
        );
        m.registry.register(
            "commit_to_ack_seconds",
            "Time from the PostgreSQL commit to the sink's acknowledgement",
            m.commit_to_ack.clone(),
        );
        m.latency_registry.register(
            "commit_to_ack_seconds",
            "Time from the PostgreSQL commit to the sink's acknowledgement",
            m.commit_to_ack.clone(),
        );
        m.registry.register(
            "anomalies",
            "Anomalies a detector found and the stage stored as anomaly.detected events",
            m.anomalies.clone(),
        );
        m.registry.register(
            "detector_observations",
            "Observations a detector judged (events, or count samples)",
            m.detector_observations.clone(),
        );
        m.registry.register(
            "detector_unjudged_events",
            "Watched events a detector could not judge: no key or number at its pointers, too late for its window, or past max_keys",
            m.detector_unjudged.clone(),
        );
        m.registry.register(
            "detector_keys",
            "Keys (series) a detector tracks",
            m.detector_keys.clone(),
        );
        m.registry.register(
            "anomaly_checkpoints",
            "Saves of the anomaly stage's detector state (every [anomaly] checkpoint_secs while events come, and at shutdown)",
            m.anomaly_checkpoints.clone(),
        );
        m.registry.register(
            "intelligence_classified",
            "Events the intelligence stage classified and stored a *.classified event for, by class (none: routed without one, for the reason in unclassified)",
            m.intel_classified.clone(),
        );
        m.registry.register(
            "intelligence_routed",
            "Classified events by the team and priority routing gave them",
            m.intel_routed.clone(),
        );
        m.registry.register(
            "intelligence_backlog",
            "Events waiting for the intelligence stage to store their classification",
            m.intel_backlog.clone(),
        );
        m.registry.register(
            "intelligence_latency_seconds",
            "Time from the commit of an event to the commit of its classification",
            m.intel_latency.clone(),
        );
        m.registry.register(
            "intelligence_model_seconds",
            "Wall seconds the intelligence stage's model ran ([intelligence] threads at most)",
            m.intel_model_seconds.clone(),
        );
        m.registry.register(
            "intelligence_checkpoints",
            "Saves of the intelligence stage's backlog (every [intelligence] checkpoint_secs while events come, and at shutdown)",
            m.intel_checkpoints.clone(),
        );
        m.registry.register(
            "forecast_events_per_hour",
            "Forecast rate of the coming [forecast] horizon_minutes, events an hour, by type (MSTL with a daily season and AutoETS)",
            m.forecast_rate.clone(),
        );
        m.registry.register(
            "forecast_events_per_hour_lower",
            "Lower bound of the forecast rate's 95% band, events an hour",
            m.forecast_lower.clone(),
        );
        m.registry.register(
            "forecast_events_per_hour_upper",
            "Upper bound of the forecast rate's 95% band, events an hour",
            m.forecast_upper.clone(),
        );
        m.registry.register(
            "forecast_history_buckets",
            "Buckets of counts a type's forecast is fitted on (the daily season takes two days)",
            m.forecast_history.clone(),
        );
        m.registry.register(
            "forecast_capacity_events_per_hour",
            "Events an hour the deployment can take ([forecast] capacity_per_hour), for the alert BssLoadForecastOverCapacity",
            m.forecast_capacity.clone(),
        );
        m.registry.register(
            "forecast_refreshes",
            "Times the forecast stage fitted its forecasts",
            m.forecast_refreshes.clone(),
        );
        m.registry.register(
            "forecast_fit_seconds",
            "Wall seconds the last fitting of every type's forecast took",
            m.forecast_fit_seconds.clone(),
        );
        m.registry.register(
            "forecast_too_late_events",
            "Events the forecast stage did not count: committed before the oldest bucket it keeps",
            m.forecast_too_late.clone(),
        );
        Arc::new(m)
    }

    /// Counts one classified event: its class (None: routed without one
    /// because of `unclassified`) and route.
    pub fn count_classified(
        &self,
        class: Option<&str>,
        unclassified: Option<&str>,
        team: &str,
        priority: &str,
    ) {
        self.intel_classified
            .get_or_create(&ClassifiedLabel {
                class: class.unwrap_or("none").to_owned(),
                unclassified: unclassified.unwrap_or("none").to_owned(),
            })
            .inc();
        self.intel_routed
            .get_or_create(&RouteLabel {
                team: team.to_owned(),
                priority: priority.to_owned(),
            })
            .inc();
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Creates every per-sink series of `label` at zero. A series that is
    /// born at its first value shows no increase to Prometheus's `rate()`,
    /// so a sink's first deliveries would not count.
    pub fn init_sink(&self, label: &SinkLabel) {
        let _ = self.sink_delivered.get_or_create(label);
        let _ = self.sink_batches.get_or_create(label);
        let _ = self.sink_retries.get_or_create(label);
        let _ = self.sink_lag.get_or_create(label);
        let _ = self.commit_to_ack.get_or_create(label);
    }

    /// Only the `commit_to_ack_seconds` histogram, in Prometheus text
    /// format without the `bss_sidecar_` prefix.
    pub fn encode_latency(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.latency_registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_sink_exposes_the_sinks_series_at_zero_before_any_delivery() {
        let m = Metrics::new();
        let before = m.encode();
        assert!(!before.contains("sink=\"kafka\""), "{before}");
        m.init_sink(&SinkLabel::new("kafka"));
        let after = m.encode();
        for sample in [
            "bss_sidecar_sink_delivered_events_total{sink=\"kafka\"} 0",
            "bss_sidecar_sink_batches_total{sink=\"kafka\"} 0",
            "bss_sidecar_sink_retries_total{sink=\"kafka\"} 0",
            "bss_sidecar_sink_lag_events{sink=\"kafka\"} 0",
            "bss_sidecar_commit_to_ack_seconds_count{sink=\"kafka\"} 0",
        ] {
            assert!(after.contains(sample), "no {sample} in:\n{after}");
        }
    }
}
