//! bss-loadgen against the devdb (`make test-loadgen` starts it): a short
//! scenario's report must count exactly what `bss.events` holds, with the
//! shipped schemas registered in the real extension, and every generated
//! event (anomalies included) must pass `bss.validate_event`.

use std::collections::BTreeMap;
use std::process::Command;

use bss_tests::{database_url, session, unique};
use serde_json::Value;

fn loadgen(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_bss-loadgen"))
        .args(args)
        .output()
        .expect("bss-loadgen runs");
    assert!(
        out.status.success(),
        "bss-loadgen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `bss-loadgen run` against the devdb as run `run`, offering `stages`, with
/// `more` arguments.
fn run_load(run: &str, stages: &str, more: &[&str]) {
    let url = database_url();
    let mut args = vec![
        "run",
        "--database-url",
        &url,
        "--run-id",
        run,
        "--stages",
        stages,
        "--no-progress",
    ];
    args.extend_from_slice(more);
    loadgen(&args);
}

/// Removes the shipped schemas again, however the test ends: other tests on
/// the devdb append these types with other data.
struct Unregister;

impl Drop for Unregister {
    fn drop(&mut self) {
        loadgen_schema_types().iter().for_each(|t| {
            let _ = session().execute("SELECT bss.register_schema($1, NULL)", &[t]);
        });
    }
}

fn loadgen_schema_types() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_bss-loadgen"))
        .arg("schemas")
        .output()
        .expect("bss-loadgen runs");
    let v: Value = serde_json::from_slice(&out.stdout).expect("schemas prints JSON");
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn a_run_puts_bss_schemas_back_as_it_was() {
    let mut db = session();
    let _unregister = Unregister;
    db.execute(
        "SELECT bss.register_schema('payment.received', '{\"type\": \"object\"}')",
        &[],
    )
    .unwrap();
    db.execute("SELECT bss.register_schema('usage.recorded', NULL)", &[])
        .unwrap();
    let run = unique("s");
    run_load(&run, "1s:100", &[]);
    let after: Vec<(String, Value)> = db
        .query("SELECT type, schema FROM bss.schemas WHERE type IN ('payment.received', 'usage.recorded')", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        after,
        vec![(
            "payment.received".to_string(),
            serde_json::json!({"type": "object"})
        )]
    );
}

#[test]
fn a_short_run_reports_exactly_what_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let chart_path = dir.path().join("chart.svg");
    let run = unique("t");
    let _unregister = Unregister;
    run_load(
        &run,
        "1s:400,3s:400",
        &[
            "--connections",
            "4",
            "--keep-schemas",
            "--report",
            report_path.to_str().unwrap(),
            "--chart",
            chart_path.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    let acked = report["acknowledged"].as_u64().unwrap();
    // 1 s ramp to 400/s, 3 s at 400/s: about 1,400 events.
    assert!(acked >= 1_000, "only {acked} events acknowledged: {report}");
    assert_eq!(report["failed"], 0, "{}", report["error_samples"]);
    assert_eq!(report["not_sent"], 0);
    assert_eq!(report["offered"].as_u64(), Some(acked));
    assert!(report["append_ms"]["p95"].as_f64().unwrap() > 0.0);
    assert!(std::fs::metadata(&chart_path).unwrap().len() > 1000);

    let mut db = session();
    let pattern = format!("%-{run}-%");
    let stored: BTreeMap<String, u64> = db
        .query(
            "SELECT type, count(*) FROM bss.events WHERE stream_id LIKE $1 GROUP BY type",
            &[&pattern],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
        .collect();
    let reported: BTreeMap<String, u64> =
        serde_json::from_value(report["acknowledged_by_type"].clone()).unwrap();
    assert_eq!(reported, stored);
    assert_eq!(stored.values().sum::<u64>(), acked);

    // The shipped schemas are what the extension checked the run against.
    let registered: i64 = db
        .query_one(
            "SELECT count(*) FROM bss.schemas WHERE type IN ('usage.recorded', 'customer.created', 'payment.received')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(registered, 3);

    // Lifecycles as stored: no usage for a customer before its activation.
    let early: i64 = db
        .query_one(
            "SELECT count(*) FROM bss.events u
             WHERE u.stream_id LIKE $1 AND u.type = 'usage.recorded'
               AND NOT EXISTS (SELECT 1 FROM bss.events a
                               WHERE a.stream_id = 'customer-' || split_part(u.stream_id, '-', 2) || '-' || split_part(u.stream_id, '-', 3)
                                 AND a.type = 'subscription.activated' AND a.global_position < u.global_position)",
            &[&format!("usage-{run}-%")],
        )
        .unwrap()
        .get(0);
    assert_eq!(early, 0, "usage stored before its customer's activation");
}

#[test]
fn a_backlog_is_committed_several_appends_a_transaction_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let run = unique("g");
    // One connection offered about 2,000 appends a second: more than one
    // synchronous commit after another can take, so appends queue up and a
    // free connection takes up to --max-group of them into one transaction.
    run_load(
        &run,
        "1s:12000,1s:12000",
        &[
            "--connections",
            "1",
            "--max-group",
            "16",
            "--drain-timeout",
            "120s",
            "--no-register-schemas",
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["failed"], 0, "{}", report["error_samples"]);
    assert_eq!(report["not_sent"], 0);
    let appends = report["appends_acknowledged"].as_u64().unwrap();
    let transactions = report["transactions"].as_u64().unwrap();
    assert!(
        transactions > 0 && transactions < appends,
        "{transactions} transactions for {appends} appends: no append shared a commit"
    );
    assert!(
        appends <= 16 * transactions,
        "a transaction held more than --max-group appends"
    );

    let mut db = session();
    let stored: i64 = db
        .query_one(
            "SELECT count(*) FROM bss.events WHERE stream_id LIKE $1",
            &[&format!("%-{run}-%")],
        )
        .unwrap()
        .get(0);
    assert_eq!(stored as u64, report["acknowledged"].as_u64().unwrap());
    // Versions are dense per stream: no append was stored twice or half.
    let gaps: i64 = db
        .query_one(
            "SELECT count(*) FROM (SELECT stream_id, max(stream_version) AS v, count(*) AS n
                                   FROM bss.events WHERE stream_id LIKE $1 GROUP BY stream_id) s
             WHERE v <> n",
            &[&format!("%-{run}-%")],
        )
        .unwrap()
        .get(0);
    assert_eq!(gaps, 0);
}

#[test]
fn every_generated_event_passes_validate_event_in_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.jsonl");
    let out = loadgen(&[
        "generate",
        "--count",
        "20000",
        "--anomalies",
        "0.02",
        "--seed",
        "7",
        "--labels",
        labels.to_str().unwrap(),
    ]);
    let mut db = session();
    let schemas: Value = serde_json::from_slice(&loadgen(&["schemas"]).stdout).unwrap();
    let schemas = schemas.as_object().expect("schemas prints an object");
    assert!(schemas.len() >= 6);
    let mut tx = db.transaction().unwrap();
    for (type_, schema) in schemas {
        tx.execute("SELECT bss.register_schema($1, $2)", &[type_, schema])
            .unwrap();
    }
    let mut checked = 0usize;
    let mut events = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let append: Value = serde_json::from_str(line).unwrap();
        for e in append["events"].as_array().unwrap() {
            events.push(e.clone());
        }
    }
    // Checked in the database in chunks of 1,000.
    for chunk in events.chunks(1000) {
        let batch = Value::Array(chunk.to_vec());
        let rows = tx
            .query(
                "SELECT e.ord, p.rule, p.message FROM jsonb_array_elements($1) WITH ORDINALITY AS e(ev, ord),
                 LATERAL bss.validate_event(e.ev) AS p",
                &[&batch],
            )
            .unwrap();
        assert!(
            rows.is_empty(),
            "{} generated events break rules, first: {} {}: {}",
            rows.len(),
            rows[0].get::<_, String>(1),
            rows[0].get::<_, String>(2),
            chunk[(rows[0].get::<_, i64>(0) - 1) as usize]
        );
        checked += chunk.len();
    }
    assert!(checked >= 20_000);
    let labelled = std::fs::read_to_string(&labels).unwrap().lines().count();
    assert!(labelled > 0, "no anomalies were injected");
    // The registrations are rolled back with the transaction.
    tx.rollback().unwrap();
}

/// The ids of every event stored in the streams of run `run`.
fn stored_event_ids(run: &str) -> std::collections::BTreeSet<String> {
    session()
        .query(
            "SELECT event_id::text FROM bss.events WHERE stream_id LIKE $1",
            &[&format!("%-{run}-%")],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn the_history_names_every_offered_event_once_and_the_acknowledged_ones_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    let report_path = dir.path().join("report.json");
    let run = unique("h");
    run_load(
        &run,
        "1s:300,1s:300",
        &[
            "--connections",
            "2",
            "--no-register-schemas",
            "--history",
            history.to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&history).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (end, appends) = lines.split_last().expect("the history has lines");
    assert_eq!(end["end"], true, "the last line is not the end line: {end}");
    let mut seen = std::collections::HashSet::new();
    let mut acknowledged = std::collections::BTreeSet::new();
    for a in appends {
        assert!(a.get("end").is_none(), "an end line before the last");
        let ids = a["event_ids"].as_array().unwrap();
        assert_eq!(ids.len(), a["types"].as_array().unwrap().len());
        assert!(a["done_unix"].as_f64().unwrap() >= a["intended_unix"].as_f64().unwrap() - 1e-3);
        for id in ids {
            let id = id.as_str().unwrap().to_owned();
            assert!(seen.insert(id.clone()), "event {id} named twice");
            if a["outcome"] == "acknowledged" {
                acknowledged.insert(id);
            }
        }
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(end["offered"].as_u64(), report["offered"].as_u64());
    assert_eq!(end["appends"].as_u64(), Some(appends.len() as u64));
    assert_eq!(seen.len() as u64, report["offered"].as_u64().unwrap());
    assert_eq!(
        acknowledged.len() as u64,
        report["acknowledged"].as_u64().unwrap()
    );
    assert!(
        acknowledged.len() > 300,
        "only {} acknowledged",
        acknowledged.len()
    );

    let stored = stored_event_ids(&run);
    assert_eq!(stored, acknowledged);
}

#[test]
fn appends_cut_off_by_terminated_sessions_are_stored_exactly_as_the_history_says() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    let run = unique("k");
    let app = format!("loadgen-{run}");
    // Only this run's sessions are terminated: they carry its application_name.
    let sep = if database_url().contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!("{}{sep}application_name={app}", database_url());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (stop, app) = (stop.clone(), app.clone());
        std::thread::spawn(move || {
            let mut db = session();
            let mut terminated = 0i64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(300));
                terminated += db
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                        &[&app],
                    )
                    .map(|r| r.get::<_, i64>(0))
                    .unwrap_or(0);
            }
            terminated
        })
    };
    let out = Command::new(env!("CARGO_BIN_EXE_bss-loadgen"))
        .args(["run", "--database-url", &url, "--run-id", &run])
        .args([
            "--stages",
            "1s:600,3s:600",
            "--connections",
            "4",
            "--max-group",
            "8",
        ])
        .args(["--no-register-schemas", "--no-progress", "--history"])
        .arg(&history)
        .output()
        .expect("bss-loadgen runs");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let terminated = killer.join().unwrap();
    assert!(terminated > 0, "no session was terminated");
    // Acknowledged appends may all be cut off; the run then fails, but its
    // history still has to be exact.
    let _ = out;

    let stored = stored_event_ids(&run);
    let text = std::fs::read_to_string(&history).unwrap();
    let mut outcomes = BTreeMap::new();
    for line in text.lines() {
        let a: Value = serde_json::from_str(line).unwrap();
        let Some(outcome) = a["outcome"].as_str() else {
            assert_eq!(a["end"], true);
            continue;
        };
        *outcomes.entry(outcome.to_owned()).or_insert(0u64) += 1;
        let ids: Vec<&str> = a["event_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap())
            .collect();
        let n = ids.iter().filter(|id| stored.contains(**id)).count();
        match outcome {
            "acknowledged" => assert_eq!(n, ids.len(), "acknowledged but not stored: {a}"),
            "failed" | "not_sent" => assert_eq!(n, 0, "{outcome} but stored: {a}"),
            "unknown" => assert!(n == 0 || n == ids.len(), "stored in part: {a}"),
            other => panic!("unknown outcome {other}"),
        }
    }
    eprintln!("appends by outcome: {outcomes:?}");
    assert!(
        outcomes.get("acknowledged").copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    assert!(
        outcomes.get("failed").copied().unwrap_or(0) > 0,
        "no append failed: {outcomes:?}"
    );
}
