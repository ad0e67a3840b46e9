//! `bss-chaos-check account` against the devdb (BSS_DATABASE_URL; `make
//! test-chaos` starts it): the store's rows are read by stream, an append
//! that failed yet is stored is caught (exit 1), unknown appends are
//! resolved against what is stored, and a clean account exits 0 with its
//! report and chart written.

use std::path::Path;
use std::process::Command;

use bss_tests::{database_url, session, unique};
use serde_json::{json, Value};

/// Appends `ids` (as one call) to `stream` and returns their versions.
fn store(stream: &str, ids: &[String]) -> Vec<i64> {
    let events: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"type": "chaos.check.tested", "data": {}, "event_id": id,
                   "source": "/bss-chaos-check/test", "time": "2026-01-01T00:00:00Z"})
        })
        .collect();
    let mut db = session();
    db.execute(
        "SELECT bss.append_events($1, $2::jsonb)",
        &[&stream, &Value::Array(events)],
    )
    .unwrap();
    db.query(
        "SELECT stream_version FROM bss.events
             WHERE stream_id = $1 AND event_id::text = ANY($2) ORDER BY stream_version",
        &[&stream, &ids],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn uuid(run: u128, n: u128) -> String {
    format!(
        "{:08x}-0000-7000-8000-{:012x}",
        (run & 0xffff_ffff) as u32,
        n
    )
}

fn line(stream: &str, ids: &[String], outcome: &str, intended: f64) -> String {
    let types: Vec<&str> = ids.iter().map(|_| "chaos.check.tested").collect();
    json!({"stream_id": stream, "event_ids": ids, "types": types, "outcome": outcome,
           "sqlstate": if outcome == "failed" { json!("XB001") } else { Value::Null },
           "intended_unix": intended, "done_unix": intended + 0.01, "latency_ms": 10.0})
    .to_string()
}

fn arrivals_of(stream: &str, ids: &[String], versions: &[i64], base_offset: i64) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (id, v)) in ids.iter().zip(versions).enumerate() {
        let at = 1000.5 + i as f64;
        out.push(json!({"sink": "kafka", "ce_id": id, "stream_id": stream, "version": v,
                        "topic": "bss.chaos", "partition": 0, "offset": base_offset + i as i64, "at_unix": at}).to_string());
        out.push(json!({"sink": "redis", "ce_id": id, "stream_id": stream, "version": v,
                        "key": "bss:events:chaos", "entry_id": format!("{}-0", base_offset + i as i64 + 1), "at_unix": at}).to_string());
    }
    out.push(json!({"sink": "redis_aggregate", "stream_id": stream, "version": versions.last(), "at_unix": 1100.0}).to_string());
    out
}

fn account(dir: &Path, history: &[String], arrivals: &[String]) -> (i32, Value) {
    let (h, a) = (dir.join("history.jsonl"), dir.join("arrivals.jsonl"));
    let appends = history.len();
    let offered: usize = history
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_ids"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    let mut text: String = history.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(&format!(
        "{{\"end\":true,\"offered\":{offered},\"appends\":{appends}}}\n"
    ));
    std::fs::write(&h, text).unwrap();
    let mut text: String = arrivals.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("{\"end\":true,\"reason\":\"settled\",\"at_unix\":1100.0}\n");
    std::fs::write(&a, text).unwrap();
    let report = dir.join("out/report.json");
    let chart = dir.join("out/chart.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_bss-chaos-check"))
        .args(["account", "--scenario", "devdb", "--fault", "none"])
        .arg("--history")
        .arg(&h)
        .arg("--arrivals")
        .arg(&a)
        .args(["--database-url", &database_url()])
        .args(["--fault-start", "1010", "--fault-end", "1020"])
        .arg("--out")
        .arg(&report)
        .arg("--chart")
        .arg(&chart)
        .output()
        .expect("bss-chaos-check runs");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("devdb "),
        "no summary line: {summary:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&chart).unwrap().len() > 1000);
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (out.status.code().unwrap_or(-1), report)
}

#[test]
fn account_reads_the_store_and_fails_on_a_failed_append_that_is_stored() {
    let run = unique("cc");
    let n: u128 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (a, b, c, d) = (
        format!("chaos-{run}-a"),
        format!("chaos-{run}-b"),
        format!("chaos-{run}-c"),
        format!("chaos-{run}-d"),
    );
    let ids: Vec<String> = (1..=7).map(|i| uuid(n, i)).collect();
    // a: two acknowledged appends; c: unknown, stored; d: unknown, absent.
    let va = [store(&a, &ids[0..1]), store(&a, &ids[1..2])].concat();
    let vc = store(&c, &ids[3..5]);
    assert_eq!((va.clone(), vc.clone()), (vec![1, 2], vec![1, 2]));
    let mut history = vec![
        line(&a, &ids[0..1], "acknowledged", 1005.0),
        line(&a, &ids[1..2], "acknowledged", 1015.0),
        line(&c, &ids[3..5], "unknown", 1016.0),
        line(&d, &ids[5..7], "unknown", 1017.0),
    ];
    let arrivals = [
        arrivals_of(&a, &ids[0..2], &va, 10),
        arrivals_of(&c, &ids[3..5], &vc, 20),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    let (code, r) = account(dir.path(), &history, &arrivals);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["ok"], true);
    assert_eq!(
        (r["acknowledged"].as_u64(), r["unknown"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(
        (r["unknown_stored"].as_u64(), r["unknown_absent"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(r["lost"], 0);
    assert_eq!(r["recovery_seconds"].as_f64(), Some(0.0));

    // b: an append the load generator counted failed, but it is stored.
    store(&b, &ids[2..3]);
    history.push(line(&b, &ids[2..3], "failed", 1018.0));
    let (code, r) = account(dir.path(), &history, &arrivals);
    assert_eq!(code, 1, "{r:#}");
    assert_eq!(r["ok"], false);
    assert_eq!(r["failed_but_stored"], 1);
    assert_eq!(r["violations"][0]["kind"], "failed_but_stored");
    assert_eq!(r["violations"][0]["event_id"], ids[2]);
    assert_eq!(r["violations"][0]["stream_id"], b);
    assert_eq!(r["violations"][0]["version"], 1);
}
