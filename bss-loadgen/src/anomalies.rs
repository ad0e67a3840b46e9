//! Anomaly injection and its labels. Decides when an anomaly starts (so that
//! about `rate` of the usage events are anomalous), keeps the state of the
//! spike or drop in progress, and writes a precise label for each: what kind,
//! which key (MSISDN, cell, event type), which field of `data` a detector
//! should watch, which events are involved and in what time window.
//!
//! It never makes an event invalid: anomalies are unusual, valid data. The
//! anomalous records themselves are built by the simulator, which owns the
//! customers; this module only says what to build and remembers it.

use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::rfc3339_millis;

/// Usage batches the spiking MSISDN produces (one every other usage append).
pub const SPIKE_BATCHES: u32 = 10;
/// Usage events before the first anomaly, so that there is a population
/// and a normal level for an anomaly to stand out from.
pub const WARMUP_USAGE_EVENTS: u64 = 2000;
/// How long a payment drop (no payment events at all) lasts.
pub const PAYMENT_DROP_WINDOW: time::Duration = time::Duration::seconds(30);
/// How long a cell drop (no usage from one cell) lasts: longer than a
/// payment drop, as real cell outages are. A cell is one of 900 and its
/// CDRs come in clumps (most of a mediation file lands on the customer's
/// home cell), so an empty 25 s window, all a 30 s silence holds, is only
/// 3 to 6 spreads below the cell's normal count, where its ordinary lulls
/// reach too; the empty 50 s windows of a minute's silence stand out.
pub const CELL_DROP_WINDOW: time::Duration = time::Duration::seconds(60);
/// The least time between the end of one drop and the start of the next, so
/// that drops never overlap and a detector sees traffic between them.
pub const DROP_GAP: time::Duration = time::Duration::seconds(60);
/// A fraudulent data session is at least this big (50 GB plus a margin).
pub const FRAUD_DATA_MIN_BYTES: u64 = 55_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// One MSISDN produces many times its usual number of CDRs in a short window.
    UsageSpike,
    /// No payment.received or payment.failed at all for a window.
    PaymentDrop,
    /// No usage from one cell for a window.
    CellDrop,
    /// One data session far above any plan's norm (over 50 GB).
    FraudDataSession,
    /// A long premium-rate international call with a large charge.
    FraudPremiumVoice,
}

/// One injected anomaly, as written to the labels file (one JSON line each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyLabel {
    /// 1-based, in order of injection.
    pub id: u32,
    pub kind: AnomalyKind,
    /// The event type(s) the anomaly is in (or missing from, for drops).
    pub event_types: Vec<String>,
    /// What `key` is: "msisdn", "cell" or "event_type".
    pub key_kind: String,
    pub key: String,
    /// JSON pointer into `data` where the key is found (None for event_type).
    pub key_field: Option<String>,
    /// JSON pointer into `data` of the value a detector should look at.
    pub field: Option<String>,
    /// The anomalous value at `field` (bytes or charge), for single-event anomalies.
    pub value: Option<f64>,
    /// The customer stream involved, for spikes and fraud.
    pub customer_id: Option<String>,
    /// The events that are the anomaly (empty for drops: they are an absence).
    pub event_ids: Vec<Uuid>,
    /// The window (RFC 3339, event `time`): the span of the anomalous events,
    /// or the time nothing was sent, for drops.
    pub start: String,
    pub end: String,
    pub description: String,
}

/// What the simulator should do with the usage append it is about to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsagePlan {
    Normal,
    /// Start a spike: pick a customer and call `start_spike`.
    StartSpike,
    /// The next batch of the spike in progress belongs to this customer index.
    SpikeBatch(usize),
    /// Replace one CDR of a normal batch by this fraud.
    Fraud(AnomalyKind),
    /// Start a drop of this kind (PaymentDrop or CellDrop) and build a normal batch.
    StartDrop(AnomalyKind),
}

struct Spike {
    label: AnomalyLabel,
    customer: usize,
    batches_left: u32,
    /// Alternates so that spike batches interleave with normal traffic.
    turn: bool,
    first: Option<OffsetDateTime>,
    last: Option<OffsetDateTime>,
}

struct Drop {
    label_index: usize,
    kind: AnomalyKind,
    cell: Option<String>,
    end: OffsetDateTime,
}

/// Decides and remembers the anomalies of one simulation.
pub struct Injector {
    rate: f64,
    usage_events: u64,
    anomalous_events: u64,
    spike: Option<Spike>,
    drop: Option<Drop>,
    last_drop_end: Option<OffsetDateTime>,
    labels: Vec<AnomalyLabel>,
    next_id: u32,
    drop_turn: u32,
}

impl Injector {
    /// `rate`: the fraction of usage events that should be anomalous (0 = none).
    pub fn new(rate: f64) -> Self {
        Injector {
            rate: rate.clamp(0.0, 1.0),
            usage_events: 0,
            anomalous_events: 0,
            spike: None,
            drop: None,
            last_drop_end: None,
            labels: Vec::new(),
            next_id: 1,
            drop_turn: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// Called before each usage append of `batch_size` events.
    pub fn plan_usage<R: Rng>(
        &mut self,
        now: OffsetDateTime,
        batch_size: usize,
        rng: &mut R,
    ) -> UsagePlan {
        self.expire_drop(now);
        if !self.enabled() || self.usage_events < WARMUP_USAGE_EVENTS {
            return UsagePlan::Normal;
        }
        if let Some(s) = self.spike.as_mut() {
            s.turn = !s.turn;
            if s.turn {
                return UsagePlan::SpikeBatch(s.customer);
            }
        }
        let pending = self
            .spike
            .as_ref()
            .map_or(0, |s| u64::from(s.batches_left) * batch_size as u64);
        let due = self.rate * (self.usage_events + batch_size as u64 - WARMUP_USAGE_EVENTS) as f64;
        if ((self.anomalous_events + pending) as f64) >= due {
            return UsagePlan::Normal;
        }
        let roll: f64 = rng.random();
        let drop_allowed =
            self.drop.is_none() && self.last_drop_end.is_none_or(|end| now >= end + DROP_GAP);
        if roll < 0.15 && drop_allowed {
            self.drop_turn += 1;
            return UsagePlan::StartDrop(if self.drop_turn % 2 == 1 {
                AnomalyKind::PaymentDrop
            } else {
                AnomalyKind::CellDrop
            });
        }
        if roll < 0.5 && self.spike.is_none() {
            return UsagePlan::StartSpike;
        }
        if roll < 0.75 {
            UsagePlan::Fraud(AnomalyKind::FraudDataSession)
        } else {
            UsagePlan::Fraud(AnomalyKind::FraudPremiumVoice)
        }
    }

    /// Counts a usage append that was built (all its events are usage.recorded).
    pub fn count_usage(&mut self, events: usize) {
        self.usage_events += events as u64;
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Starts a spike on customer index `customer`.
    pub fn start_spike(&mut self, customer: usize, customer_id: &str, msisdn: &str) {
        let id = self.take_id();
        self.spike = Some(Spike {
            label: AnomalyLabel {
                id,
                kind: AnomalyKind::UsageSpike,
                event_types: vec!["usage.recorded".into()],
                key_kind: "msisdn".into(),
                key: msisdn.to_owned(),
                key_field: Some("/msisdn".into()),
                field: Some("/msisdn".into()),
                value: None,
                customer_id: Some(customer_id.to_owned()),
                event_ids: Vec::new(),
                start: String::new(),
                end: String::new(),
                description: format!(
                    "{} usage batches from one MSISDN within a few seconds, \
                     interleaved with normal traffic: count events per /msisdn",
                    SPIKE_BATCHES
                ),
            },
            customer,
            batches_left: SPIKE_BATCHES,
            turn: true,
            first: None,
            last: None,
        });
    }

    /// Records one batch of the spike in progress (its event ids, stamped `now`).
    pub fn record_spike_batch(&mut self, ids: &[Uuid], now: OffsetDateTime) {
        let Some(s) = self.spike.as_mut() else {
            return;
        };
        s.label.event_ids.extend_from_slice(ids);
        s.first.get_or_insert(now);
        s.last = Some(now);
        s.batches_left = s.batches_left.saturating_sub(1);
        self.anomalous_events += ids.len() as u64;
        if s.batches_left == 0 {
            self.close_spike();
        }
    }

    fn close_spike(&mut self) {
        if let Some(mut s) = self.spike.take() {
            if let (Some(first), Some(last)) = (s.first, s.last) {
                s.label.start = rfc3339_millis(first);
                s.label.end = rfc3339_millis(last);
                self.labels.push(s.label);
            }
        }
    }

    /// The customer of a spike in progress must not be cancelled under it.
    pub fn spiking_customer(&self) -> Option<usize> {
        self.spike.as_ref().map(|s| s.customer)
    }

    /// Records one fraudulent CDR.
    #[allow(clippy::too_many_arguments)]
    pub fn record_fraud(
        &mut self,
        kind: AnomalyKind,
        customer_id: &str,
        msisdn: &str,
        event_id: Uuid,
        field: &str,
        value: f64,
        now: OffsetDateTime,
    ) {
        let id = self.take_id();
        let description = match kind {
            AnomalyKind::FraudDataSession => {
                format!("one data session of {value} bytes (over 50 GB) on an ordinary plan")
            }
            _ => format!("premium-rate international call charged {value:.2} EUR"),
        };
        self.labels.push(AnomalyLabel {
            id,
            kind,
            event_types: vec!["usage.recorded".into()],
            key_kind: "msisdn".into(),
            key: msisdn.to_owned(),
            key_field: Some("/msisdn".into()),
            field: Some(field.to_owned()),
            value: Some(value),
            customer_id: Some(customer_id.to_owned()),
            event_ids: vec![event_id],
            start: rfc3339_millis(now),
            end: rfc3339_millis(now),
            description,
        });
        self.anomalous_events += 1;
    }

    /// Starts a payment drop (cell None) or a drop of usage from `cell`.
    pub fn start_drop(&mut self, kind: AnomalyKind, cell: Option<String>, now: OffsetDateTime) {
        let id = self.take_id();
        let end = now
            + if cell.is_some() {
                CELL_DROP_WINDOW
            } else {
                PAYMENT_DROP_WINDOW
            };
        let (event_types, key_kind, key, key_field, field, description) = match &cell {
            Some(c) => (
                vec!["usage.recorded".to_string()],
                "cell",
                c.clone(),
                Some("/cell_id".to_string()),
                Some("/cell_id".to_string()),
                format!("no usage at all from cell {c} for the window"),
            ),
            None => (
                vec!["payment.received".to_string(), "payment.failed".to_string()],
                "event_type",
                "payment.received".to_string(),
                None,
                None,
                "no payment.received or payment.failed events for the window".to_string(),
            ),
        };
        self.labels.push(AnomalyLabel {
            id,
            kind,
            event_types,
            key_kind: key_kind.into(),
            key,
            key_field,
            field,
            value: None,
            customer_id: None,
            event_ids: Vec::new(),
            start: rfc3339_millis(now),
            end: rfc3339_millis(end),
            description,
        });
        self.drop = Some(Drop {
            label_index: self.labels.len() - 1,
            kind,
            cell,
            end,
        });
    }

    fn expire_drop(&mut self, now: OffsetDateTime) {
        if let Some(d) = &self.drop {
            if now >= d.end {
                self.last_drop_end = Some(d.end);
                self.drop = None;
            }
        }
    }

    /// True while payments must not be emitted.
    pub fn payments_blocked(&mut self, now: OffsetDateTime) -> bool {
        self.expire_drop(now);
        matches!(&self.drop, Some(d) if d.kind == AnomalyKind::PaymentDrop)
    }

    /// True while usage from `cell` must not be emitted.
    pub fn cell_blocked(&self, cell: &str) -> bool {
        matches!(&self.drop, Some(Drop { cell: Some(c), .. }) if c == cell)
    }

    /// Ends the simulation at `last` (the last event time): a spike still in
    /// progress is labelled with what it produced, a drop still open is cut at
    /// `last`. Returns all labels in order of id.
    pub fn finish(mut self, last: OffsetDateTime) -> Vec<AnomalyLabel> {
        self.close_spike();
        if let Some(d) = self.drop.take() {
            if last < d.end {
                self.labels[d.label_index].end = rfc3339_millis(last);
            }
        }
        self.labels.sort_by_key(|l| l.id);
        self.labels
    }
}
