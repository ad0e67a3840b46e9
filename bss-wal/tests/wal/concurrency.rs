//! Many threads appending and syncing at once: every seq 0..N appears exactly
//! once with its payload intact, before and after reopening.

use std::collections::HashSet;
use std::sync::Arc;

use bss_wal::{Log, Options};

const THREADS: u64 = 8;
const PER_THREAD: u64 = 500;
/// Syncing threads call sync this often.
const SYNC_EVERY: u64 = 25;
const SEGMENT_SIZE: u64 = 64 * 1024;

fn payload(thread: u64, i: u64) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&thread.to_le_bytes());
    p.extend_from_slice(&i.to_le_bytes());
    p.extend(std::iter::repeat_n(
        (thread * 31 + i) as u8,
        (i % 64) as usize,
    ));
    p
}

fn check(log: &Log) {
    let mut seen = HashSet::new();
    let mut next = 0u64;
    for r in log.iter_from(0).unwrap() {
        let r = r.unwrap();
        assert_eq!(r.seq(), next);
        next += 1;
        let p = r.payload();
        let t = u64::from_le_bytes(p[0..8].try_into().unwrap());
        let i = u64::from_le_bytes(p[8..16].try_into().unwrap());
        assert_eq!(p, &payload(t, i)[..]);
        assert!(seen.insert((t, i)), "duplicate {t}/{i}");
    }
    assert_eq!(next, THREADS * PER_THREAD);
    assert_eq!(seen.len() as u64, THREADS * PER_THREAD);
}

#[test]
fn concurrent_appends_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        segment_size: SEGMENT_SIZE,
        ..Options::default()
    };
    let log = Arc::new(Log::open(dir.path(), opts.clone()).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let seq = log.append(&payload(t, i)).unwrap();
                    assert!(seq < THREADS * PER_THREAD);
                    if t % 2 == 0 && i % SYNC_EVERY == 0 {
                        log.sync().unwrap();
                        assert!(log.next_seq() > seq);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(log.next_seq(), THREADS * PER_THREAD);
    log.sync().unwrap();
    check(&log);
    drop(log);
    let log = Log::open(dir.path(), opts).unwrap();
    check(&log);
}
