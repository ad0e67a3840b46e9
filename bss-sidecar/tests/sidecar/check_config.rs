//! `bss-sidecar --check-config FILE`: the configuration is checked as at
//! start, without connecting to anything.

use std::path::Path;
use std::process::{Command, Output};

fn check(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bss-sidecar"))
        .arg("--check-config")
        .arg(file)
        // Only the file: nothing from this shell's BSS_* settings.
        .env_remove("BSS_DATABASE_URL")
        .env_remove("BSS_SPOOL_DIR")
        .env_remove("BSS_KAFKA_BROKERS")
        .env_remove("BSS_REDIS_URL")
        .env_remove("BSS_CONFIG")
        .output()
        .expect("running bss-sidecar")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_config_accepts_the_example_file_with_a_one_line_summary() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("sidecar.example.toml");
    let out = check(&file);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("is valid")
            && stdout.contains("kafka on")
            && stdout.contains("1 detectors"),
        "{stdout}"
    );
}

#[test]
fn check_config_rejects_a_misspelt_key_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sidecar.example.toml"))
            .unwrap();
    for (from, to, names) in [
        ("spool_dir", "spool_dri", vec!["spool_dri"]),
        (
            "topic_prefix",
            "topic_prefx",
            vec!["[kafka]", "topic_prefx"],
        ),
    ] {
        assert!(example.contains(from), "the example has {from}");
        let file = dir.path().join(format!("{to}.toml"));
        std::fs::write(&file, example.replacen(from, to, 1)).unwrap();
        let out = check(&file);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        for name in names {
            assert!(stderr.contains(name), "{name} not named in: {stderr}");
        }
    }
}
