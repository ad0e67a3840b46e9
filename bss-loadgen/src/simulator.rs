//! The BSS traffic simulator: a population of customers with lifecycles
//! (created, activated on a plan, using the network, billed, paying, now and
//! then failing to pay, opening tickets, cancelling), turned into appends for
//! `bss.append_events`. Owns the population, the type mix, the CDRs and the
//! seeded RNG; tickets' texts come from `ticket_text`, given what the
//! simulator knows of the customer. Deterministic: the same config and the
//! same sequence of `now` instants give byte-identical appends; it never
//! reads the wall clock.
//!
//! Invariants the tests pin: no usage, invoice or payment for a customer
//! before its activation or after its cancellation; payments only for issued
//! invoices; events of a stream in version order.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::anomalies::{AnomalyKind, AnomalyLabel, Injector, UsagePlan, FRAUD_DATA_MIN_BYTES};
use crate::clock::{date, month, rfc3339_millis};
use crate::ticket_text::{self, TicketContext};

/// Share of events (by count) of each kind of action. They sum to 1;
/// `usage.recorded` dominates as it does in a real BSS.
pub const MIX: &[(Action, f64)] = &[
    (Action::Usage, 0.85),
    (Action::Onboard, 0.04), // customer.created + subscription.activated
    (Action::Cancel, 0.005),
    (Action::Invoice, 0.04),
    (Action::Payment, 0.035), // payment.received, or payment.failed (1 in 7)
    (Action::Ticket, TICKET_SHARE),
];
/// MIX's share of tickets: about a hundred times a real operator's, so
/// that a short run has plenty to classify.
pub const TICKET_SHARE: f64 = 0.03;
/// Of the payment attempts, the share that fails.
pub const PAYMENT_FAILURE_SHARE: f64 = 1.0 / 7.0;
/// A failed invoice is retried until this many attempts have failed.
pub const MAX_PAYMENT_ATTEMPTS: u32 = 3;
/// MSISDNs are `3161` and seven digits, so at most this many customers.
pub const MAX_CUSTOMERS: u64 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Usage,
    Onboard,
    Cancel,
    Invoice,
    Payment,
    Ticket,
}

/// What the simulator needs to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    pub seed: u64,
    /// The most customers active at once (new customers replace cancelled ones).
    pub customers: u64,
    /// CDRs per usage append.
    pub batch_size: usize,
    pub run_id: String,
    /// Fraction of usage events that are anomalous (0 = none).
    pub anomaly_rate: f64,
    /// Share of events that are `ticket.opened` (MIX's, `TICKET_SHARE`,
    /// unless set); usage takes up the difference.
    pub ticket_share: f64,
}

/// One event in the form `bss.append_events` accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
    pub event_id: Uuid,
    pub source: String,
    pub subject: String,
    pub time: String,
}

/// One call of `bss.append_events(stream_id, events)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Append {
    pub stream_id: String,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    PrepaidS,
    PostpaidM,
    UnlimitedXl,
}

impl Plan {
    fn name(self) -> &'static str {
        match self {
            Plan::PrepaidS => "prepaid-s",
            Plan::PostpaidM => "postpaid-m",
            Plan::UnlimitedXl => "unlimited-xl",
        }
    }
    fn monthly_fee_cents(self) -> i64 {
        match self {
            Plan::PrepaidS => 1000,
            Plan::PostpaidM => 2500,
            Plan::UnlimitedXl => 4500,
        }
    }
    /// Cents per started minute of a domestic call.
    fn voice_cents_per_minute(self) -> f64 {
        match self {
            Plan::PrepaidS => 12.0,
            Plan::PostpaidM => 5.0,
            Plan::UnlimitedXl => 0.0,
        }
    }
    fn sms_cents(self) -> f64 {
        match self {
            Plan::PrepaidS => 8.0,
            Plan::PostpaidM => 5.0,
            Plan::UnlimitedXl => 0.0,
        }
    }
    fn data_cents_per_mb(self) -> f64 {
        match self {
            Plan::PrepaidS => 1.0,
            Plan::PostpaidM => 0.2,
            Plan::UnlimitedXl => 0.0,
        }
    }
}

struct Customer {
    /// 1-based number in the stream ids.
    number: u64,
    msisdn: String,
    plan: Plan,
    home_cell: usize,
    active: bool,
    unbilled_cents: i64,
}

struct OpenInvoice {
    invoice_id: String,
    customer: usize,
    amount_cents: i64,
    failed_attempts: u32,
    method: &'static str,
}

/// When a customer says the trouble started.
const TICKET_WEEKDAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "the weekend",
];
/// `ticket.opened`'s `channel` values.
const TICKET_CHANNELS: &[&str] = &["phone", "chat", "email", "shop"];
const CITIES: &[&str] = &["AMS", "RTM", "UTR", "DHG", "EIN", "GRO"];
const CELLS_PER_CITY: usize = 150;
const FIRST_NAMES: &[&str] = &[
    "Ada", "Bram", "Chloe", "Daan", "Emma", "Finn", "Gijs", "Hanna", "Ilse", "Jesse", "Lotte",
    "Milan", "Noor", "Olivier", "Pien", "Ruben", "Sanne", "Thijs", "Vera", "Yara",
];
const LAST_NAMES: &[&str] = &[
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "Mulder",
    "de Boer",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dekker",
    "Brouwer",
];

fn cell_name(index: usize) -> String {
    let city = CITIES[(index / CELLS_PER_CITY) % CITIES.len()];
    format!("NL-{city}-{:03}", index % CELLS_PER_CITY + 1)
}

/// The MSISDN of customer `number`: unique for every number below
/// `MAX_CUSTOMERS` (7919 is prime, so it permutes the 7-digit range).
fn msisdn_of(number: u64) -> String {
    format!("3161{:07}", (number * 7919) % MAX_CUSTOMERS)
}

/// FNV-1a, a stable hash (std's hasher may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn euros(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// What a ticket's text may mention about the customer: its home cell, plan and
/// bill, with the day the trouble started and the channel drawn here.
fn ticket_context(
    rng: &mut impl Rng,
    home_cell: usize,
    plan: Plan,
    unbilled_cents: i64,
) -> TicketContext {
    let weekday = *TICKET_WEEKDAYS.choose(rng).unwrap_or(&"Monday");
    let channel = *TICKET_CHANNELS.choose(rng).unwrap_or(&"chat");
    TicketContext {
        cell: cell_name(home_cell),
        plan: plan.name(),
        weekday,
        channel,
        monthly_fee_eur: euros(plan.monthly_fee_cents()),
        bill_eur: euros(plan.monthly_fee_cents() + unbilled_cents),
    }
}

/// A ticket context as the simulator's customers have them, for
/// `ticket_text::training_set`: any cell, any plan, up to 60 EUR of usage.
pub fn random_ticket_context(rng: &mut impl Rng) -> TicketContext {
    let home_cell = rng.random_range(0..CITIES.len() * CELLS_PER_CITY);
    let plan = *[Plan::PrepaidS, Plan::PostpaidM, Plan::UnlimitedXl]
        .choose(rng)
        .unwrap_or(&Plan::PostpaidM);
    let unbilled_cents = rng.random_range(0..6000);
    ticket_context(rng, home_cell, plan, unbilled_cents)
}

/// The simulator. Call `next_append(now)` for each append, then `finish`.
pub struct Simulator {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    /// Event ids come from their own stream, seeded by the seed and the run
    /// id: two runs with one seed and different run ids send the same
    /// traffic under different ids, so their events never collide.
    id_rng: ChaCha8Rng,
    customers: Vec<Customer>,
    /// Indices into `customers` of the active ones, and each one's position here.
    active: Vec<usize>,
    active_pos: Vec<usize>,
    invoices: Vec<OpenInvoice>,
    next_invoice: u64,
    next_payment: u64,
    next_ticket: u64,
    injector: Injector,
    last_now: Option<OffsetDateTime>,
    /// Cumulative per-append weights of MIX (weight by events / events per append).
    append_weights: Vec<(Action, f64)>,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Self {
        let batch = cfg.batch_size.max(1) as f64;
        let mut acc = 0.0;
        let append_weights = MIX
            .iter()
            .map(|&(a, share)| {
                let share = match a {
                    Action::Ticket => cfg.ticket_share,
                    Action::Usage => share + TICKET_SHARE - cfg.ticket_share,
                    _ => share,
                };
                let per_append = match a {
                    Action::Usage => batch,
                    Action::Onboard => 2.0,
                    _ => 1.0,
                };
                acc += share / per_append;
                (a, acc)
            })
            .collect();
        Simulator {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            id_rng: ChaCha8Rng::seed_from_u64(cfg.seed ^ fnv1a(cfg.run_id.as_bytes())),
            injector: Injector::new(cfg.anomaly_rate),
            cfg,
            customers: Vec::new(),
            active: Vec::new(),
            active_pos: Vec::new(),
            invoices: Vec::new(),
            next_invoice: 1,
            next_payment: 1,
            next_ticket: 1,
            last_now: None,
            append_weights,
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The next append, its events stamped `now`.
    pub fn next_append(&mut self, now: OffsetDateTime) -> Append {
        self.last_now = Some(now);
        let total = self.append_weights.last().map_or(1.0, |w| w.1);
        let roll = self.rng.random::<f64>() * total;
        let action = self
            .append_weights
            .iter()
            .find(|w| roll < w.1)
            .map_or(Action::Usage, |w| w.0);
        if self.active.is_empty() {
            return self.onboard(now);
        }
        let attempt = match action {
            Action::Usage => None,
            Action::Onboard => {
                if (self.active.len() as u64) < self.cfg.customers.min(MAX_CUSTOMERS) {
                    Some(self.onboard(now))
                } else {
                    None
                }
            }
            Action::Cancel => self.cancel(now),
            Action::Invoice => Some(self.invoice(now)),
            Action::Payment => self.payment(now),
            Action::Ticket => Some(self.ticket(now)),
        };
        match attempt {
            Some(a) => a,
            None => self.usage(now),
        }
    }

    /// The anomaly labels, once the simulation is over.
    pub fn finish(self) -> Vec<AnomalyLabel> {
        let last = self.last_now.unwrap_or(OffsetDateTime::UNIX_EPOCH);
        self.injector.finish(last)
    }

    /// A UUIDv7 (RFC 9562) of the event's time with seeded random bits, as
    /// pg_bss makes its own ids: time-ordered ids land at the right edge of
    /// the event_id index instead of on a random page of it.
    fn event_id(&mut self, now: OffsetDateTime) -> Uuid {
        let millis = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        uuid::Builder::from_unix_timestamp_millis(millis, &self.id_rng.random()).into_uuid()
    }

    fn event(
        &mut self,
        event_type: &str,
        source: &str,
        subject: String,
        data: Value,
        now: OffsetDateTime,
    ) -> Event {
        Event {
            event_type: event_type.to_owned(),
            data,
            event_id: self.event_id(now),
            source: source.to_owned(),
            subject,
            time: rfc3339_millis(now),
        }
    }

    fn customer_stream(&self, c: usize) -> String {
        format!("customer-{}-{}", self.cfg.run_id, self.customers[c].number)
    }

    fn random_active(&mut self) -> usize {
        let i = self.rng.random_range(0..self.active.len());
        self.active[i]
    }

    fn onboard(&mut self, now: OffsetDateTime) -> Append {
        let number = self.customers.len() as u64 + 1;
        let roll: f64 = self.rng.random();
        let plan = if roll < 0.40 {
            Plan::PrepaidS
        } else if roll < 0.85 {
            Plan::PostpaidM
        } else {
            Plan::UnlimitedXl
        };
        let home_cell = self.rng.random_range(0..CITIES.len() * CELLS_PER_CITY);
        let first = *FIRST_NAMES.choose(&mut self.rng).unwrap_or(&"Ada");
        let last = *LAST_NAMES.choose(&mut self.rng).unwrap_or(&"Jansen");
        let segment = if self.rng.random_bool(0.2) {
            "business"
        } else {
            "consumer"
        };
        let msisdn = msisdn_of(number);
        let c = self.customers.len();
        self.customers.push(Customer {
            number,
            msisdn: msisdn.clone(),
            plan,
            home_cell,
            active: true,
            unbilled_cents: 0,
        });
        self.active_pos.push(self.active.len());
        self.active.push(c);
        let stream = self.customer_stream(c);
        let email = format!(
            "{}.{}{}@example.nl",
            first.to_lowercase(),
            last.to_lowercase().replace(' ', ""),
            number
        );
        let created = self.event(
            "customer.created",
            "/crm",
            stream.clone(),
            json!({
                "customer_id": stream, "name": format!("{first} {last}"), "segment": segment,
                "msisdn": msisdn, "email": email, "country": "NL",
            }),
            now,
        );
        let activated = self.event(
            "subscription.activated",
            "/provisioning",
            stream.clone(),
            json!({
                "customer_id": stream, "plan": plan.name(),
                "monthly_fee": euros(plan.monthly_fee_cents()), "currency": "EUR",
                "msisdn": msisdn, "activated_at": rfc3339_millis(now),
            }),
            now,
        );
        Append {
            stream_id: stream,
            events: vec![created, activated],
        }
    }

    fn cancel(&mut self, now: OffsetDateTime) -> Option<Append> {
        if self.active.len() < 2 {
            return None;
        }
        let c = self.random_active();
        if self.injector.spiking_customer() == Some(c) {
            return None;
        }
        let pos = self.active_pos[c];
        self.active.swap_remove(pos);
        if let Some(&moved) = self.active.get(pos) {
            self.active_pos[moved] = pos;
        }
        self.active_pos[c] = usize::MAX;
        self.customers[c].active = false;
        let reasons = ["moved", "price", "coverage", "service", "other"];
        let reason = *reasons.choose(&mut self.rng).unwrap_or(&"other");
        let stream = self.customer_stream(c);
        let plan = self.customers[c].plan.name();
        let ev = self.event(
            "subscription.cancelled",
            "/provisioning",
            stream.clone(),
            json!({"customer_id": stream, "plan": plan, "reason": reason,
                   "cancelled_at": rfc3339_millis(now)}),
            now,
        );
        Some(Append {
            stream_id: stream,
            events: vec![ev],
        })
    }

    fn invoice(&mut self, now: OffsetDateTime) -> Append {
        let c = self.random_active();
        let cust = &mut self.customers[c];
        let amount_cents = cust.plan.monthly_fee_cents() + cust.unbilled_cents;
        cust.unbilled_cents = 0;
        let invoice_id = format!("INV-{}-{}", self.cfg.run_id, self.next_invoice);
        self.next_invoice += 1;
        let methods = ["card", "sepa_debit", "sepa_debit", "ideal"];
        let method = *methods.choose(&mut self.rng).unwrap_or(&"card");
        self.invoices.push(OpenInvoice {
            invoice_id: invoice_id.clone(),
            customer: c,
            amount_cents,
            failed_attempts: 0,
            method,
        });
        let stream = self.customer_stream(c);
        let ev = self.event(
            "invoice.issued",
            "/billing",
            stream.clone(),
            json!({"invoice_id": invoice_id, "customer_id": stream, "period": month(now),
                   "amount": euros(amount_cents), "currency": "EUR",
                   "due_date": date(now + time::Duration::days(14))}),
            now,
        );
        Append {
            stream_id: stream,
            events: vec![ev],
        }
    }

    fn payment(&mut self, now: OffsetDateTime) -> Option<Append> {
        if self.injector.payments_blocked(now) {
            return None;
        }
        // Invoices of cancelled customers are written off, not paid.
        let i = loop {
            if self.invoices.is_empty() {
                return None;
            }
            let i = self.rng.random_range(0..self.invoices.len());
            if self.customers[self.invoices[i].customer].active {
                break i;
            }
            self.invoices.swap_remove(i);
        };
        let fails = self.rng.random_bool(PAYMENT_FAILURE_SHARE);
        let payment_id = format!("PAY-{}-{}", self.cfg.run_id, self.next_payment);
        self.next_payment += 1;
        let inv = &mut self.invoices[i];
        let attempt = inv.failed_attempts + 1;
        let c = inv.customer;
        let mut data = json!({
            "payment_id": payment_id, "invoice_id": inv.invoice_id, "amount": euros(inv.amount_cents),
            "currency": "EUR", "method": inv.method, "attempt": attempt,
        });
        let event_type = if fails {
            inv.failed_attempts += 1;
            let will_retry = attempt < MAX_PAYMENT_ATTEMPTS;
            let reasons = [
                "insufficient_funds",
                "card_expired",
                "bank_declined",
                "timeout",
            ];
            let reason = *reasons.choose(&mut self.rng).unwrap_or(&"timeout");
            data["reason"] = json!(reason);
            data["will_retry"] = json!(will_retry);
            if !will_retry {
                self.invoices.swap_remove(i);
            }
            "payment.failed"
        } else {
            self.invoices.swap_remove(i);
            "payment.received"
        };
        let stream = self.customer_stream(c);
        data["customer_id"] = json!(stream);
        let ev = self.event(event_type, "/payments", stream.clone(), data, now);
        Some(Append {
            stream_id: stream,
            events: vec![ev],
        })
    }

    fn ticket(&mut self, now: OffsetDateTime) -> Append {
        let c = self.random_active();
        let k = self.next_ticket;
        self.next_ticket += 1;
        let stream = format!("ticket-{}-{}", self.cfg.run_id, k);
        let customer_id = self.customer_stream(c);
        let cust = &self.customers[c];
        let (home_cell, plan, unbilled_cents) = (cust.home_cell, cust.plan, cust.unbilled_cents);
        let ctx = ticket_context(&mut self.rng, home_cell, plan, unbilled_cents);
        let ticket = ticket_text::generate(&mut self.rng, &ctx);
        let (channel, category, priority) =
            (ctx.channel, ticket.class.as_str(), ticket.priority.as_str());
        let text = ticket.text;
        let ev = self.event(
            "ticket.opened",
            "/crm/tickets",
            stream.clone(),
            json!({"ticket_id": stream, "customer_id": customer_id, "channel": channel,
                   "category": category, "priority": priority, "text": text}),
            now,
        );
        Append {
            stream_id: stream,
            events: vec![ev],
        }
    }

    fn usage(&mut self, now: OffsetDateTime) -> Append {
        let batch = self.cfg.batch_size.max(1);
        let plan = self.injector.plan_usage(now, batch, &mut self.rng);
        let (c, spike, fraud) = match plan {
            UsagePlan::Normal => (self.random_active(), false, None),
            UsagePlan::SpikeBatch(c) => (c, true, None),
            UsagePlan::StartSpike => {
                let c = self.random_active();
                let stream = self.customer_stream(c);
                let msisdn = self.customers[c].msisdn.clone();
                self.injector.start_spike(c, &stream, &msisdn);
                (c, true, None)
            }
            UsagePlan::Fraud(kind) => (self.random_active(), false, Some(kind)),
            UsagePlan::StartDrop(kind) => {
                let c = self.random_active();
                let cell =
                    (kind == AnomalyKind::CellDrop).then(|| cell_name(self.customers[c].home_cell));
                self.injector.start_drop(kind, cell, now);
                (c, false, None)
            }
        };
        let fraud_at = fraud.map(|_| self.rng.random_range(0..batch));
        let mut events = Vec::with_capacity(batch);
        for i in 0..batch {
            let data = match (fraud, fraud_at) {
                (Some(kind), Some(at)) if at == i => self.fraud_cdr(c, kind, now),
                _ => self.cdr(c, now),
            };
            let subject = format!("msisdn-{}", self.customers[c].msisdn);
            let ev = self.event("usage.recorded", "/mediation", subject, data, now);
            if let (Some(kind), Some(at)) = (fraud, fraud_at) {
                if at == i {
                    let field = if kind == AnomalyKind::FraudDataSession {
                        "/bytes"
                    } else {
                        "/charge"
                    };
                    let value = ev
                        .data
                        .pointer(field)
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0);
                    let stream = self.customer_stream(c);
                    let msisdn = self.customers[c].msisdn.clone();
                    self.injector.record_fraud(
                        kind,
                        &stream,
                        &msisdn,
                        ev.event_id,
                        field,
                        value,
                        now,
                    );
                }
            }
            events.push(ev);
        }
        if spike {
            let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
            self.injector.record_spike_batch(&ids, now);
        }
        self.injector.count_usage(events.len());
        Append {
            stream_id: format!("usage-{}-{}", self.cfg.run_id, self.customers[c].number),
            events,
        }
    }

    /// A cell for customer `c`'s next CDR: mostly the home cell, never one
    /// whose traffic is being dropped.
    fn cell_for(&mut self, c: usize) -> String {
        let total = CITIES.len() * CELLS_PER_CITY;
        let mut index = if self.rng.random_bool(0.7) {
            self.customers[c].home_cell
        } else {
            self.rng.random_range(0..total)
        };
        let mut cell = cell_name(index);
        while self.injector.cell_blocked(&cell) {
            index = (index + 1) % total;
            cell = cell_name(index);
        }
        cell
    }

    fn destination(&mut self, international: bool) -> String {
        if international {
            let cc = *["44", "49", "32", "33", "34"]
                .choose(&mut self.rng)
                .unwrap_or(&"44");
            format!("{cc}{:09}", self.rng.random_range(0..1_000_000_000u64))
        } else {
            format!("316{:08}", self.rng.random_range(0..100_000_000u64))
        }
    }

    fn cdr(&mut self, c: usize, now: OffsetDateTime) -> Value {
        let plan = self.customers[c].plan;
        let cell = self.cell_for(c);
        let kind_roll: f64 = self.rng.random();
        // 1 - u is in (0, 1], so ln never sees 0.
        let exp = |rng: &mut ChaCha8Rng, mean: f64| -(1.0 - rng.random::<f64>()).ln() * mean;
        let (mut data, cents, length) = if kind_roll < 0.5 {
            let bytes = (1000.0 + exp(&mut self.rng, 25_000_000.0)).min(4_000_000_000.0) as u64;
            let cents = (bytes as f64 / 1_000_000.0 * plan.data_cents_per_mb()).round() as i64;
            (
                json!({"kind": "data", "bytes": bytes, "rate_class": "domestic"}),
                cents,
                60 + bytes / 2_000_000,
            )
        } else if kind_roll < 0.8 {
            let international = self.rng.random_bool(0.03);
            let seconds = (1.0 + exp(&mut self.rng, 110.0)).min(7200.0) as u64;
            let minutes = seconds.div_ceil(60) as f64;
            let per_minute = if international {
                if plan == Plan::UnlimitedXl {
                    25.0
                } else {
                    45.0
                }
            } else {
                plan.voice_cents_per_minute()
            };
            let destination = self.destination(international);
            let class = if international {
                "international"
            } else {
                "domestic"
            };
            let cents = (minutes * per_minute).round() as i64;
            (
                json!({"kind": "voice", "seconds": seconds, "destination": destination, "rate_class": class}),
                cents,
                seconds,
            )
        } else {
            let destination = self.destination(false);
            (
                json!({"kind": "sms", "destination": destination, "rate_class": "domestic"}),
                plan.sms_cents() as i64,
                1,
            )
        };
        self.finish_cdr(c, &mut data, cents, cell, now, length);
        data
    }

    fn fraud_cdr(&mut self, c: usize, kind: AnomalyKind, now: OffsetDateTime) -> Value {
        let plan = self.customers[c].plan;
        let cell = self.cell_for(c);
        let (mut data, cents, length) = if kind == AnomalyKind::FraudDataSession {
            let bytes = self.rng.random_range(FRAUD_DATA_MIN_BYTES..200_000_000_000);
            let cents = (bytes as f64 / 1_000_000.0 * plan.data_cents_per_mb()).round() as i64;
            (
                json!({"kind": "data", "bytes": bytes, "rate_class": "domestic"}),
                cents,
                3600,
            )
        } else {
            let seconds = self.rng.random_range(1800..7200u64);
            let destination = format!("882{:09}", self.rng.random_range(0..1_000_000_000u64));
            let cents = (seconds.div_ceil(60) as f64 * 250.0).round() as i64;
            (
                json!({"kind": "voice", "seconds": seconds, "destination": destination, "rate_class": "premium"}),
                cents,
                seconds,
            )
        };
        self.finish_cdr(c, &mut data, cents, cell, now, length);
        data
    }

    /// Adds the fields every CDR has; the session ended `length` seconds
    /// after it started and reached mediation up to five minutes later.
    fn finish_cdr(
        &mut self,
        c: usize,
        data: &mut Value,
        cents: i64,
        cell: String,
        now: OffsetDateTime,
        length: u64,
    ) {
        let delay = self.rng.random_range(5..300) as i64 + length.min(86_400) as i64;
        let stream = self.customer_stream(c);
        let cust = &mut self.customers[c];
        cust.unbilled_cents += cents;
        data["customer_id"] = json!(stream);
        data["msisdn"] = json!(cust.msisdn);
        data["cell_id"] = json!(cell);
        data["started_at"] = json!(rfc3339_millis(now - time::Duration::seconds(delay)));
        data["charge"] = json!(euros(cents));
    }
}

/// Appends at a fixed simulated rate from `start`: what `generate` prints.
/// Stops at the first append that brings the total to `count` events or more.
pub fn generate(
    cfg: SimConfig,
    count: u64,
    rate: f64,
    start: OffsetDateTime,
) -> (Vec<Append>, Vec<AnomalyLabel>) {
    let mut sim = Simulator::new(cfg);
    let mut appends = Vec::new();
    let mut events = 0u64;
    let rate = if rate > 0.0 { rate } else { 1000.0 };
    while events < count {
        let now = start + time::Duration::seconds_f64(events as f64 / rate);
        let a = sim.next_append(now);
        events += a.events.len() as u64;
        appends.push(a);
    }
    (appends, sim.finish())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::clock::{parse_rfc3339, DEFAULT_SIMULATED_START};
    use crate::ticket_text::{TicketClass, MAX_TEXT_CHARS};

    fn tickets(seed: u64) -> Vec<Value> {
        let cfg = SimConfig {
            seed,
            customers: 500,
            batch_size: 10,
            run_id: "u1".into(),
            anomaly_rate: 0.0,
            ticket_share: TICKET_SHARE,
        };
        let start = parse_rfc3339(DEFAULT_SIMULATED_START).expect("default start parses");
        let (appends, _) = generate(cfg, 60_000, 1000.0, start);
        appends
            .into_iter()
            .flat_map(|a| a.events)
            .filter(|e| e.event_type == "ticket.opened")
            .map(|e| e.data)
            .collect()
    }

    #[test]
    fn tickets_carry_generated_labelled_texts_within_the_schema() {
        let all = tickets(7);
        assert!(all.len() >= 100, "{} tickets", all.len());
        let classes: Vec<&str> = TicketClass::ALL.iter().map(|c| c.as_str()).collect();
        let mut categories = HashSet::new();
        let mut texts = HashSet::new();
        for t in &all {
            let category = t["category"].as_str().unwrap_or_default();
            let priority = t["priority"].as_str().unwrap_or_default();
            let channel = t["channel"].as_str().unwrap_or_default();
            let text = t["text"].as_str().unwrap_or_default();
            assert!(classes.contains(&category), "{t}");
            assert!(["low", "normal", "high"].contains(&priority), "{t}");
            assert!(TICKET_CHANNELS.contains(&channel), "{t}");
            assert!(
                !text.is_empty() && text.chars().count() <= MAX_TEXT_CHARS,
                "{t}"
            );
            categories.insert(category.to_owned());
            texts.insert(text.to_owned());
        }
        assert_eq!(categories.len(), classes.len(), "every category occurs");
        assert!(
            texts.len() * 10 >= all.len() * 9,
            "{} distinct of {}",
            texts.len(),
            all.len()
        );
    }

    #[test]
    fn tickets_are_deterministic_for_a_seed() {
        assert_eq!(tickets(3), tickets(3));
        assert_ne!(tickets(3), tickets(4));
    }
}
