//! `run --history`: a run that fails before its load still ends its
//! history, so a checker waiting for the end line is not left waiting.

use std::process::Command;

#[test]
fn a_run_that_cannot_connect_still_writes_the_end_of_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    let port = bss_tests::process::free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_bss-loadgen"))
        .args([
            "run",
            "--database-url",
            &format!("postgresql://postgres@127.0.0.1:{port}/bss"),
        ])
        .args(["--stages", "1s:10", "--no-progress", "--history"])
        .arg(&history)
        .output()
        .expect("bss-loadgen runs");
    assert!(!out.status.success(), "a run without a database succeeded");
    let text = std::fs::read_to_string(&history).unwrap();
    let end: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(
        end,
        serde_json::json!({"end": true, "offered": 0, "appends": 0})
    );
}
