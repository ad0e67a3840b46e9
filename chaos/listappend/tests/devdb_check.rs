//! bss-listappend against a real pg_bss (the devdb, or BSS_DATABASE_URL):
//! a short run is clean, its report counts what the store holds, and a run
//! whose connections are killed under it stays clean, with the appends it
//! lost track of resolved; the checker finds what is taken from a real
//! run's final lists. Needs the database running (`make devdb`).

use std::path::Path;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use bss_listappend::checker::{check, AnomalyKind, Verdict};
use bss_listappend::run::{run, RunConfig};
use bss_tests::{database_url, session, unique};
use serde_json::Value;

fn listappend(run_id: &str, duration: &str, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bss-listappend"));
    cmd.args(["--database-url", &database_url(), "--run-id", run_id])
        .args(["--streams", "4", "--clients", "4", "--duration", duration])
        .arg("--out")
        .arg(out);
    cmd
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out).expect("the report is written");
    serde_json::from_str(&text).expect("the report is JSON")
}

fn assert_clean(output: &Output, report: &Value) {
    assert!(
        output.status.success(),
        "bss-listappend exited {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["anomalies"], serde_json::json!({}), "{report:#}");
}

fn count(report: &Value, kind: &str, outcome: &str) -> u64 {
    report["operations"][kind][outcome].as_u64().unwrap_or(0)
}

/// Every operation the report counts, of each kind and outcome.
fn total_operations(report: &Value) -> u64 {
    ["append", "read"]
        .iter()
        .flat_map(|k| ["ok", "fail", "info"].map(|o| count(report, k, o)))
        .sum()
}

#[test]
fn a_short_run_is_clean_and_its_report_counts_what_the_store_holds() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("report.json");
    let run = unique("la");
    let output = listappend(&run, "3s", &out)
        .output()
        .expect("bss-listappend runs");
    let report = report(&out);
    assert_clean(&output, &report);
    assert!(count(&report, "append", "ok") > 0, "{report:#}");
    assert!(count(&report, "read", "ok") > 0, "{report:#}");
    // Without faults every failure is a conflict on the expected version.
    let sqlstates: Vec<&String> = report["fail_sqlstates"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert!(sqlstates.iter().all(|s| *s == "XB001"), "{sqlstates:?}");
    assert!(
        count(&report, "append", "fail") > 0,
        "no conflicts: {report:#}"
    );
    let mut db = session();
    let streams = report["streams"].as_u64().expect("streams");
    let mut stored = 0;
    for k in 0..streams {
        let version: i64 = db
            .query_one("SELECT bss.stream_version($1)", &[&format!("la-{run}-{k}")])
            .expect("stream_version")
            .get(0);
        stored += version as u64;
    }
    assert_eq!(Some(stored), report["events"].as_u64(), "{report:#}");
    assert_eq!(stored, count(&report, "append", "ok"));
    let history = std::fs::read_to_string(dir.path().join("report.history.jsonl"))
        .expect("the history is written beside the report");
    let ops: Vec<Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).expect("a history line is JSON"))
        .collect();
    let ok_appends = |expected: bool| {
        ops.iter()
            .filter(|op| op["f"] == "append" && op["outcome"]["type"] == "ok")
            .filter(|op| op["expected_version"].is_null() != expected)
            .count()
    };
    assert!(
        ok_appends(true) > 0,
        "no append with an expected version succeeded"
    );
    assert!(ok_appends(false) > 0, "no append without one succeeded");
    assert_eq!(ops.len() as u64, total_operations(&report));
}

/// `--rate` bounds the operations started: 20 a second over 4 clients for
/// 3 s is at most 60 plus one per client (each starts its first at once).
#[test]
fn a_rate_bounds_the_operations_a_run_starts() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("report.json");
    let output = listappend(&unique("la"), "3s", &out)
        .args(["--rate", "20"])
        .output()
        .expect("bss-listappend runs");
    let report = report(&out);
    assert_clean(&output, &report);
    let ops = total_operations(&report);
    assert!(
        (1..=64).contains(&ops),
        "{ops} operations at --rate 20 for 3 s: {report:#}"
    );
}

#[test]
fn connections_killed_under_a_run_leave_it_clean_with_unknown_outcomes_resolved() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("report.json");
    let run = unique("la");
    let child = listappend(&run, "6s", &out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bss-listappend starts");
    let mut db = session();
    let started = Instant::now();
    let mut killed = 0;
    while started.elapsed() < Duration::from_secs(6) {
        sleep(Duration::from_millis(250));
        // Only this run's sessions: others share the database.
        let row = db
            .query_one(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1",
                &[&format!("bss-listappend-{run}")],
            )
            .expect("terminating the run's sessions");
        killed += row.get::<_, i64>(0);
    }
    let output = child.wait_with_output().expect("bss-listappend ends");
    let report = report(&out);
    assert_clean(&output, &report);
    assert!(killed > 0, "no session was terminated");
    let unknown = count(&report, "append", "info") + count(&report, "read", "info");
    assert!(unknown > 0, "no operation was cut off: {report:#}");
    let info = &report["info_appends"];
    assert_eq!(
        info["present"].as_u64().unwrap_or(0) + info["absent"].as_u64().unwrap_or(0),
        count(&report, "append", "info"),
        "{report:#}"
    );
    assert!(count(&report, "append", "ok") > 0, "{report:#}");
}

/// The checker on a real history finds what is taken away from, or
/// swapped in, the final lists: the clean verdicts above are not for lack
/// of looking.
#[test]
fn a_real_history_against_tampered_final_lists_is_not_clean() {
    let config = RunConfig {
        database_url: database_url(),
        run_id: unique("la"),
        streams: 2,
        clients: 2,
        duration: Duration::from_secs(2),
        seed: 7,
        rate: 0,
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let done = runtime.block_on(run(&config)).expect("the run completes");
    assert!(check(&done.history, &done.finals).is_clean());
    let (stream, list) = done
        .finals
        .iter()
        .find(|(_, list)| list.len() >= 2)
        .expect("a stream with two events");

    let mut lost = done.finals.clone();
    lost.insert(stream.clone(), list[..list.len() - 1].to_vec());
    let found = kinds(&check(&done.history, &lost));
    assert!(found.contains(&AnomalyKind::LostAppend), "{found:?}");

    let mut swapped = done.finals.clone();
    let mut reordered = list.clone();
    let (a, b) = (reordered[0].value, reordered[1].value);
    reordered[0].value = b;
    reordered[1].value = a;
    swapped.insert(stream.clone(), reordered);
    let found = kinds(&check(&done.history, &swapped));
    assert!(found.contains(&AnomalyKind::MisplacedAppend), "{found:?}");
}

fn kinds(verdict: &Verdict) -> Vec<AnomalyKind> {
    verdict.anomalies.iter().map(|a| a.kind).collect()
}
