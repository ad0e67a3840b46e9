//! kill -9 at random moments: every record whose append was followed by a
//! completed `sync` (an "acknowledged" record) must be there after reopening,
//! in order and intact.
//!
//! The child is this same test binary, re-executed to run the ignored test
//! `crash_child_writer` with `BSS_WAL_CRASH_DIR` set. Its threads append, sync,
//! and print the acknowledged sequence numbers to stdout (a pipe to the parent).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bss_wal::{Log, Options};

const KILLS: u64 = 25;
const CHILD_THREADS: u64 = 4;
/// The child stops by itself after this long, killed or not.
const CHILD_MAX_RUN: Duration = Duration::from_secs(20);

/// The payload for a sequence number: its own seq first, then a pattern, of varying length.
fn payload(seq: u64) -> Vec<u8> {
    let mut p = vec![0u8; 24 + (seq % 300) as usize];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(8) {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    p
}

fn options() -> Options {
    Options {
        segment_size: 64 * 1024,
        ..Options::default()
    }
}

/// A small deterministic generator (xorshift64*).
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
#[ignore = "run by crash_recovery_keeps_every_acknowledged_record as its child process"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var("BSS_WAL_CRASH_DIR") else {
        return;
    };
    let log = Arc::new(Log::open(&dir, options()).expect("child opens the log"));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let start = Instant::now();
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|t| {
            let (log, out) = (log.clone(), out.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                while start.elapsed() < CHILD_MAX_RUN {
                    let mut acked = Vec::new();
                    for _ in 0..1 + next(&mut rng) % 8 {
                        // The payload depends on the seq, which append assigns: reserve by
                        // appending under the log's own ordering, then check in the parent.
                        let seq = log.next_seq();
                        let got = log.append(&payload(seq));
                        match got {
                            Ok(s) if s == seq => acked.push(s),
                            // Another thread took this seq first: our record carries the
                            // wrong content, so it is not acknowledged as "intact".
                            Ok(_) => {}
                            Err(e) => panic!("append failed: {e}"),
                        }
                    }
                    log.sync().expect("sync");
                    let mut out = out.lock().unwrap();
                    for s in acked {
                        writeln!(out, "{s}").unwrap();
                    }
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn crash_recovery_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0xDEAD_BEEF_u64;
    let mut acked_total = 0usize;
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_child_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("BSS_WAL_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.trim().parse::<u64>().ok())
                .collect::<Vec<u64>>()
        });
        std::thread::sleep(Duration::from_millis(20 + next(&mut rng) % 200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        acked_total += acked.len();

        let log = Log::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let records: Vec<(u64, Vec<u8>)> = log
            .iter_from(0)
            .unwrap()
            .map(|r| r.map(|r| (r.seq(), r.payload().to_vec())))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("round {round}: reading back failed: {e}"));
        for (i, (seq, _)) in records.iter().enumerate() {
            assert_eq!(
                *seq, i as u64,
                "round {round}: sequence numbers are contiguous from 0"
            );
        }
        assert_eq!(log.next_seq(), records.len() as u64, "round {round}");
        for s in &acked {
            let (_, p) = records.get(*s as usize).unwrap_or_else(|| {
                panic!(
                    "round {round}: acknowledged record {s} lost ({} records)",
                    records.len()
                )
            });
            assert_eq!(
                p,
                &payload(*s),
                "round {round}: acknowledged record {s} intact"
            );
        }
    }
    assert!(acked_total > 0, "the children acknowledged records");
}
