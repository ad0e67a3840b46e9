//! Invariants of the simulated traffic: lifecycles in order, the type mix,
//! determinism, and anomaly labels that point at real events.

use std::collections::{BTreeMap, HashMap, HashSet};

use bss_loadgen::anomalies::AnomalyKind;
use bss_loadgen::clock::{parse_rfc3339, DEFAULT_SIMULATED_START};
use bss_loadgen::simulator::{generate, Append, SimConfig, MIX, TICKET_SHARE};
use uuid::Uuid;

fn cfg(seed: u64, anomalies: f64) -> SimConfig {
    SimConfig {
        seed,
        customers: 10_000,
        batch_size: 10,
        run_id: "t1".into(),
        anomaly_rate: anomalies,
        ticket_share: TICKET_SHARE,
    }
}

fn gen(
    seed: u64,
    count: u64,
    anomalies: f64,
) -> (Vec<Append>, Vec<bss_loadgen::anomalies::AnomalyLabel>) {
    let start = parse_rfc3339(DEFAULT_SIMULATED_START).unwrap();
    generate(cfg(seed, anomalies), count, 1000.0, start)
}

fn customer_of(data: &serde_json::Value) -> String {
    data["customer_id"].as_str().unwrap().to_owned()
}

#[test]
fn lifecycles_keep_their_order() {
    let (appends, _) = gen(7, 200_000, 0.01);
    #[derive(PartialEq, Clone, Copy, Debug)]
    enum State {
        Created,
        Active,
        Cancelled,
    }
    let mut state: HashMap<String, State> = HashMap::new();
    let mut issued: HashSet<String> = HashSet::new();
    let mut settled: HashSet<String> = HashSet::new();
    for a in &appends {
        for e in &a.events {
            let cust = customer_of(&e.data);
            let st = state.get(&cust).copied();
            match e.event_type.as_str() {
                "customer.created" => {
                    assert_eq!(st, None, "{cust} created twice");
                    assert_eq!(a.stream_id, cust);
                    state.insert(cust, State::Created);
                }
                "subscription.activated" => {
                    assert_eq!(st, Some(State::Created), "{cust} activated before creation");
                    state.insert(cust, State::Active);
                }
                "subscription.cancelled" => {
                    assert_eq!(st, Some(State::Active), "{cust} cancelled while not active");
                    state.insert(cust, State::Cancelled);
                }
                "usage.recorded" | "invoice.issued" | "payment.received" | "payment.failed" => {
                    assert_eq!(
                        st,
                        Some(State::Active),
                        "{} for {cust} in state {st:?}",
                        e.event_type
                    );
                    if e.event_type == "usage.recorded" {
                        let n = cust.rsplit('-').next().unwrap();
                        assert!(
                            a.stream_id.starts_with("usage-t1-")
                                && a.stream_id.ends_with(&format!("-{n}"))
                        );
                    } else {
                        assert_eq!(a.stream_id, cust);
                    }
                    let inv = e.data["invoice_id"].as_str().map(str::to_owned);
                    match e.event_type.as_str() {
                        "invoice.issued" => {
                            assert!(issued.insert(inv.unwrap()), "invoice issued twice")
                        }
                        "payment.received" | "payment.failed" => {
                            let inv = inv.unwrap();
                            assert!(issued.contains(&inv), "payment for unknown invoice {inv}");
                            assert!(!settled.contains(&inv), "payment for settled invoice {inv}");
                            if e.event_type == "payment.received" || e.data["will_retry"] == false {
                                settled.insert(inv);
                            }
                        }
                        _ => {}
                    }
                }
                "ticket.opened" => {
                    assert!(a.stream_id.starts_with("ticket-t1-"));
                    assert!(st.is_some(), "ticket for unknown customer {cust}");
                }
                other => panic!("unexpected type {other}"),
            }
        }
    }
    assert!(
        state.values().any(|s| *s == State::Cancelled),
        "no cancellation in 200k events"
    );
}

#[test]
fn streams_get_versions_one_to_n_in_order() {
    let (appends, _) = gen(3, 50_000, 0.0);
    let mut versions: HashMap<&str, u64> = HashMap::new();
    let mut first_type: HashMap<&str, &str> = HashMap::new();
    for a in &appends {
        assert!(!a.events.is_empty() && a.events.len() <= 10);
        let category = a.stream_id.split('-').next().unwrap();
        assert!(
            ["customer", "usage", "ticket"].contains(&category),
            "{}",
            a.stream_id
        );
        let v = versions.entry(&a.stream_id).or_insert(0);
        first_type
            .entry(&a.stream_id)
            .or_insert(&a.events[0].event_type);
        *v += a.events.len() as u64;
    }
    for (stream, t) in &first_type {
        if stream.starts_with("customer-") {
            assert_eq!(*t, "customer.created", "{stream} starts with {t}");
        }
        if stream.starts_with("ticket-") {
            assert_eq!(versions[stream], 1, "a ticket stream holds one event");
        }
    }
    // Event times never go backwards across appends.
    let times: Vec<&str> = appends.iter().map(|a| a.events[0].time.as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn type_mix_by_event_count_is_within_tolerance() {
    let (appends, _) = gen(42, 200_000, 0.0);
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    for a in &appends {
        for e in &a.events {
            *by_type.entry(e.event_type.clone()).or_insert(0) += 1;
            total += 1;
        }
    }
    let share = |t: &str| by_type.get(t).copied().unwrap_or(0) as f64 / total as f64;
    let usage = MIX[0].1;
    assert!(
        (share("usage.recorded") - usage).abs() < 0.01,
        "usage {:.4}",
        share("usage.recorded")
    );
    let expect = [
        ("customer.created", 0.02),
        ("subscription.activated", 0.02),
        ("subscription.cancelled", 0.005),
        ("invoice.issued", 0.04),
        ("payment.received", 0.03),
        ("payment.failed", 0.005),
        ("ticket.opened", 0.03),
    ];
    for (t, want) in expect {
        let got = share(t);
        assert!(
            (got - want).abs() < want * 0.2,
            "{t}: {got:.4} vs {want} ({by_type:?})"
        );
    }
}

#[test]
fn a_ticket_share_set_replaces_the_mix_and_usage_takes_up_the_rest() {
    let start = parse_rfc3339(DEFAULT_SIMULATED_START).unwrap();
    let mut c = cfg(42, 0.0);
    c.ticket_share = 0.001;
    let (appends, _) = generate(c, 400_000, 1000.0, start);
    let (mut tickets, mut usage, mut total) = (0u64, 0u64, 0u64);
    for e in appends.iter().flat_map(|a| &a.events) {
        total += 1;
        match e.event_type.as_str() {
            "ticket.opened" => tickets += 1,
            "usage.recorded" => usage += 1,
            _ => {}
        }
    }
    let (tickets, usage) = (tickets as f64 / total as f64, usage as f64 / total as f64);
    assert!((tickets - 0.001).abs() < 0.0003, "tickets {tickets:.5}");
    let want_usage = MIX[0].1 + TICKET_SHARE - 0.001;
    assert!((usage - want_usage).abs() < 0.01, "usage {usage:.4}");
}

#[test]
fn population_is_capped_by_customers() {
    let mut c = cfg(1, 0.0);
    c.customers = 50;
    let start = parse_rfc3339(DEFAULT_SIMULATED_START).unwrap();
    let (appends, _) = generate(c, 50_000, 1000.0, start);
    let mut active: i64 = 0;
    let mut max_active = 0;
    for a in &appends {
        for e in &a.events {
            match e.event_type.as_str() {
                "subscription.activated" => active += 1,
                "subscription.cancelled" => active -= 1,
                _ => {}
            }
            max_active = max_active.max(active);
        }
    }
    assert!(
        max_active <= 50,
        "{max_active} active customers with --customers 50"
    );
    assert!(max_active >= 45);
}

#[test]
fn same_seed_same_events_different_seed_different() {
    let a = serde_json::to_string(&gen(42, 20_000, 0.02)).unwrap();
    let b = serde_json::to_string(&gen(42, 20_000, 0.02)).unwrap();
    let c = serde_json::to_string(&gen(43, 20_000, 0.02)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn another_run_id_gives_the_same_traffic_under_other_ids() {
    let start = parse_rfc3339(DEFAULT_SIMULATED_START).unwrap();
    let mut other = cfg(42, 0.0);
    other.run_id = "t2".into();
    let (a, _) = generate(cfg(42, 0.0), 5_000, 1000.0, start);
    let (b, _) = generate(other, 5_000, 1000.0, start);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.stream_id.replace("-t1-", "-t2-"), y.stream_id);
        for (e, f) in x.events.iter().zip(&y.events) {
            assert_eq!(e.event_type, f.event_type);
            assert_ne!(e.event_id, f.event_id);
        }
    }
}

#[test]
fn event_ids_are_unique_and_charges_have_cents() {
    let (appends, _) = gen(5, 50_000, 0.01);
    let mut ids = HashSet::new();
    for a in &appends {
        for e in &a.events {
            assert!(ids.insert(e.event_id), "duplicate event id");
            for field in ["charge", "amount", "monthly_fee"] {
                if let Some(v) = e.data.get(field).and_then(|v| v.as_f64()) {
                    assert!(
                        ((v * 100.0).round() - v * 100.0).abs() < 1e-6,
                        "{field} {v}"
                    );
                }
            }
        }
    }
}

#[test]
fn anomaly_labels_reference_events_of_the_right_kind() {
    let (appends, labels) = gen(11, 300_000, 0.01);
    let events: HashMap<Uuid, &bss_loadgen::simulator::Event> = appends
        .iter()
        .flat_map(|a| a.events.iter())
        .map(|e| (e.event_id, e))
        .collect();
    let kinds: HashSet<AnomalyKind> = labels.iter().map(|l| l.kind).collect();
    for k in [
        AnomalyKind::UsageSpike,
        AnomalyKind::FraudDataSession,
        AnomalyKind::FraudPremiumVoice,
        AnomalyKind::PaymentDrop,
        AnomalyKind::CellDrop,
    ] {
        assert!(kinds.contains(&k), "no {k:?} among {} labels", labels.len());
    }
    let mut anomalous = 0;
    for l in &labels {
        assert!(l.start <= l.end, "{l:?}");
        for id in &l.event_ids {
            let e = events
                .get(id)
                .unwrap_or_else(|| panic!("label {} names unknown event {id}", l.id));
            assert_eq!(e.event_type, "usage.recorded");
            assert_eq!(e.data["msisdn"], l.key.as_str(), "label {} key", l.id);
            assert!(
                e.time >= l.start && e.time <= l.end,
                "label {} window",
                l.id
            );
        }
        anomalous += l.event_ids.len();
        match l.kind {
            AnomalyKind::UsageSpike => assert!(l.event_ids.len() >= 10),
            AnomalyKind::FraudDataSession => {
                let e = events[&l.event_ids[0]];
                assert!(e.data.pointer("/bytes").unwrap().as_u64().unwrap() > 50_000_000_000);
                assert_eq!(l.field.as_deref(), Some("/bytes"));
            }
            AnomalyKind::FraudPremiumVoice => {
                let e = events[&l.event_ids[0]];
                assert_eq!(e.data["rate_class"], "premium");
                assert!(e.data.pointer("/charge").unwrap().as_f64().unwrap() >= 50.0);
                assert_eq!(l.field.as_deref(), Some("/charge"));
            }
            AnomalyKind::PaymentDrop => {
                assert!(l.event_ids.is_empty());
                let in_window = events.values().any(|e| {
                    e.event_type.starts_with("payment.")
                        && e.time.as_str() > l.start.as_str()
                        && e.time.as_str() < l.end.as_str()
                });
                assert!(!in_window, "payment inside drop window {l:?}");
            }
            AnomalyKind::CellDrop => {
                let in_window = events.values().any(|e| {
                    e.data["cell_id"] == l.key.as_str()
                        && e.time.as_str() > l.start.as_str()
                        && e.time.as_str() < l.end.as_str()
                });
                assert!(!in_window, "usage from dropped cell inside window {l:?}");
            }
        }
    }
    let usage = events
        .values()
        .filter(|e| e.event_type == "usage.recorded")
        .count();
    let share = anomalous as f64 / usage as f64;
    assert!((0.005..0.02).contains(&share), "anomalous share {share}");
}

#[test]
fn no_anomalies_without_the_flag() {
    let (_, labels) = gen(11, 50_000, 0.0);
    assert!(labels.is_empty());
}
