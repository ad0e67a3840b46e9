//! A real write error (the file size limit, RLIMIT_FSIZE, gives EFBIG) fails
//! the log: the call that hit it and every later call return an error, none
//! reports success, and reopening without the limit recovers every record
//! that a successful `sync` acknowledged.
//!
//! The child is this same test binary, re-executed to run the ignored test
//! `io_failure_child` with `BSS_WAL_FAIL_DIR` set: the limit must only apply
//! to it. It prints one line per acknowledged seq, then what failed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use bss_wal::{Error, Log, Options, PREALLOCATE_BYTES};

const RECORD: usize = 1000;
/// The first preallocation step fits under the limit, the second does not.
const FILE_SIZE_LIMIT: u64 = PREALLOCATE_BYTES + PREALLOCATE_BYTES / 2;
/// Bounds the child's loop even if the limit never struck.
const MAX_RECORDS: u64 = 3 * PREALLOCATE_BYTES / RECORD as u64;

fn options() -> Options {
    Options {
        segment_size: 4 * PREALLOCATE_BYTES,
        ..Options::default()
    }
}

fn payload(seq: u64) -> Vec<u8> {
    (0..RECORD)
        .map(|i| (seq as u8).wrapping_mul(13).wrapping_add(i as u8))
        .collect()
}

#[test]
#[ignore = "run by write_error_fails_the_log as its child process"]
fn io_failure_child() {
    let Ok(dir) = std::env::var("BSS_WAL_FAIL_DIR") else {
        return;
    };
    // SAFETY: plain libc calls on this single-purpose child process, made
    // before any thread of the log exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit {
            rlim_cur: FILE_SIZE_LIMIT,
            rlim_max: FILE_SIZE_LIMIT,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
    let log = Log::open(&dir, options()).expect("child opens the log");
    for seq in 0..MAX_RECORDS {
        let r = log.append(&payload(seq)).and_then(|_| log.sync());
        match r {
            Ok(()) => println!("ack {seq}"),
            Err(e) => {
                println!("first_error {}", kind(&e));
                break;
            }
        }
    }
    println!("append {}", result_kind(log.append(b"x").map(drop)));
    println!("sync {}", result_kind(log.sync()));
    println!("iter {}", result_kind(log.iter_from(0).map(drop)));
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Io(_) => "io",
        Error::Failed(_) => "failed",
        _ => "other",
    }
}

fn result_kind(r: Result<(), Error>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(e) => kind(&e),
    }
}

#[test]
fn write_error_fails_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            "io_failure::io_failure_child",
            "--ignored",
            "--nocapture",
        ])
        .env("BSS_WAL_FAIL_DIR", dir.path())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let mut acked = Vec::new();
    let mut lines = Vec::new();
    for line in BufReader::new(&out.stdout[..]).lines() {
        let line = line.unwrap();
        match line.strip_prefix("ack ") {
            Some(seq) => acked.push(seq.parse::<u64>().unwrap()),
            None if !line.is_empty() && !line.starts_with("running") => lines.push(line),
            None => {}
        }
    }
    let facts: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| {
            ["first_error", "append", "sync", "iter"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(
        facts,
        [
            "first_error io",
            "append failed",
            "sync failed",
            "iter failed"
        ],
        "child output: {lines:?}"
    );
    // Records were acknowledged before the limit struck, in order from 0.
    assert!(!acked.is_empty());
    assert!(acked.iter().enumerate().all(|(i, s)| *s == i as u64));

    let log = Log::open(dir.path(), options()).unwrap();
    let back: Vec<_> = log.iter_from(0).unwrap().map(|r| r.unwrap()).collect();
    assert!(back.len() >= acked.len(), "acknowledged records lost");
    for r in &back {
        assert_eq!(r.payload(), &payload(r.seq())[..]);
    }
    let next = log.append(b"after").unwrap();
    assert_eq!(next, back.len() as u64);
    log.sync().unwrap();
}
