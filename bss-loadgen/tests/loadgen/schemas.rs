//! Every generated event, anomalies included, passes its type's JSON
//! Schema, and every schema rejects a hand-made bad example.

use std::collections::HashMap;

use bss_loadgen::clock::{parse_rfc3339, DEFAULT_SIMULATED_START};
use bss_loadgen::schemas::{parse, schema_for, SCHEMAS};
use bss_loadgen::simulator::{generate, SimConfig};
use serde_json::{json, Value};

fn validators() -> HashMap<&'static str, jsonschema::Validator> {
    SCHEMAS
        .iter()
        .map(|s| {
            let schema = parse(s).unwrap_or_else(|e| panic!("{} is not JSON: {e}", s.event_type));
            let v = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", s.event_type));
            (s.event_type, v)
        })
        .collect()
}

#[test]
fn every_generated_event_passes_its_schema() {
    let v = validators();
    let start = parse_rfc3339(DEFAULT_SIMULATED_START).unwrap();
    let cfg = SimConfig {
        seed: 9,
        customers: 2000,
        batch_size: 10,
        run_id: "s1".into(),
        anomaly_rate: 0.02,
        ticket_share: bss_loadgen::simulator::TICKET_SHARE,
    };
    let (appends, labels) = generate(cfg, 150_000, 1000.0, start);
    assert!(!labels.is_empty());
    let mut seen = HashMap::new();
    for a in &appends {
        for e in &a.events {
            let validator = v
                .get(e.event_type.as_str())
                .unwrap_or_else(|| panic!("no schema for {}", e.event_type));
            if let Err(err) = validator.validate(&e.data) {
                panic!(
                    "{} {} fails its schema: {err}\n{}",
                    e.event_type, e.event_id, e.data
                );
            }
            *seen.entry(e.event_type.clone()).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), SCHEMAS.len(), "every type occurs: {seen:?}");
}

fn good(event_type: &str) -> Value {
    match event_type {
        "customer.created" => {
            json!({"customer_id": "customer-r1-1", "name": "Ada de Vries", "segment": "consumer",
            "msisdn": "31610007919", "email": "ada@example.nl", "country": "NL"})
        }
        "subscription.activated" => {
            json!({"customer_id": "customer-r1-1", "plan": "postpaid-m", "monthly_fee": 25.0,
            "currency": "EUR", "msisdn": "31610007919", "activated_at": "2026-01-01T00:00:00.000Z"})
        }
        "subscription.cancelled" => {
            json!({"customer_id": "customer-r1-1", "plan": "postpaid-m", "reason": "price",
            "cancelled_at": "2026-01-01T00:00:00.000Z"})
        }
        "invoice.issued" => {
            json!({"invoice_id": "INV-r1-1", "customer_id": "customer-r1-1", "period": "2026-01",
            "amount": 31.5, "currency": "EUR", "due_date": "2026-01-15"})
        }
        "payment.received" => {
            json!({"payment_id": "PAY-r1-1", "invoice_id": "INV-r1-1", "customer_id": "customer-r1-1",
            "amount": 31.5, "currency": "EUR", "method": "card", "attempt": 1})
        }
        "payment.failed" => {
            json!({"payment_id": "PAY-r1-1", "invoice_id": "INV-r1-1", "customer_id": "customer-r1-1",
            "amount": 31.5, "currency": "EUR", "method": "card", "attempt": 1, "reason": "timeout", "will_retry": true})
        }
        "usage.recorded" => {
            json!({"customer_id": "customer-r1-1", "msisdn": "31610007919", "kind": "voice",
            "cell_id": "NL-AMS-001", "started_at": "2026-01-01T00:00:00.000Z", "charge": 0.12, "rate_class": "domestic",
            "seconds": 60, "destination": "31612345678"})
        }
        "ticket.opened" => {
            json!({"ticket_id": "ticket-r1-1", "customer_id": "customer-r1-1", "channel": "chat",
            "category": "network", "priority": "high", "text": "No signal"})
        }
        other => panic!("no example for {other}"),
    }
}

/// Hand-made bad examples: a required field missing, a wrong type, a value
/// out of range, a bad pattern or format.
fn bad(event_type: &str) -> Vec<(&'static str, Value)> {
    let mut g = good(event_type);
    let mut out = Vec::new();
    let mut with = |why: &'static str, f: &dyn Fn(&mut Value)| {
        let mut v = g.clone();
        f(&mut v);
        out.push((why, v));
    };
    with("customer_id missing", &|v| {
        v.as_object_mut().unwrap().remove("customer_id");
    });
    with("unknown field", &|v| v["surprise"] = json!(1));
    with("customer_id not a stream id", &|v| {
        v["customer_id"] = json!("42")
    });
    match event_type {
        "customer.created" => {
            with("msisdn pattern", &|v| v["msisdn"] = json!("0612345678"));
            with("segment enum", &|v| v["segment"] = json!("vip"));
        }
        "subscription.activated" => {
            with("plan enum", &|v| v["plan"] = json!("gold"));
            with("fee negative", &|v| v["monthly_fee"] = json!(-1));
            with("fee a string", &|v| v["monthly_fee"] = json!("25"));
            with("activated_at format", &|v| {
                v["activated_at"] = json!("yesterday")
            });
        }
        "subscription.cancelled" => with("reason enum", &|v| v["reason"] = json!("bored")),
        "invoice.issued" => {
            with("period pattern", &|v| v["period"] = json!("2026-13"));
            with("currency const", &|v| v["currency"] = json!("USD"));
            with("amount negative", &|v| v["amount"] = json!(-5));
        }
        "payment.received" => {
            with("attempt zero", &|v| v["attempt"] = json!(0));
            with("attempt fractional", &|v| v["attempt"] = json!(1.5));
        }
        "payment.failed" => {
            with("will_retry missing", &|v| {
                v.as_object_mut().unwrap().remove("will_retry");
            });
            with("reason enum", &|v| v["reason"] = json!("sunspots"));
        }
        "usage.recorded" => {
            with("voice without seconds", &|v| {
                v.as_object_mut().unwrap().remove("seconds");
            });
            with("voice with bytes", &|v| v["bytes"] = json!(100));
            with("data with seconds", &|v| {
                v["kind"] = json!("data");
                v.as_object_mut().unwrap().remove("destination");
            });
            with("cell pattern", &|v| v["cell_id"] = json!("AMS-1"));
            with("charge negative", &|v| v["charge"] = json!(-0.01));
            with("msisdn pattern", &|v| v["msisdn"] = json!("316100079190"));
            with("kind enum", &|v| v["kind"] = json!("mms"));
        }
        "ticket.opened" => {
            with("empty text", &|v| v["text"] = json!(""));
            with("channel enum", &|v| v["channel"] = json!("pigeon"));
        }
        _ => {}
    }
    g = json!(null);
    out.push(("not an object", g));
    out
}

#[test]
fn every_schema_rejects_bad_examples_and_accepts_a_good_one() {
    let v = validators();
    for s in SCHEMAS {
        let validator = &v[s.event_type];
        let ok = good(s.event_type);
        assert!(
            validator.is_valid(&ok),
            "{} rejects its good example: {:?}",
            s.event_type,
            validator.validate(&ok).err()
        );
        for (why, example) in bad(s.event_type) {
            assert!(
                !validator.is_valid(&example),
                "{} accepts a bad example ({why}): {example}",
                s.event_type
            );
        }
    }
    assert!(schema_for("usage.recorded").is_some());
    assert!(schema_for("nope").is_none());
}
