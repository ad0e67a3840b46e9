//! Model test: random appends, syncs, reopens, truncations and reads against
//! a Vec. Drop flushes and fsyncs, so after a reopen every appended record
//! is expected to be present (not only synced ones).

use bss_wal::{Log, Options};
use proptest::prelude::*;

/// Small so that the random workloads roll over many segments.
const SEGMENT_SIZE: u64 = 1024;
const MAX_PAYLOAD: usize = 300;
const MAX_OPS: usize = 60;
const CASES: u32 = 64;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<u8>),
    Sync,
    Reopen,
    /// Fraction (out of u16::MAX) of next_seq to truncate below.
    TruncateBefore(u16),
    /// Fraction (out of u16::MAX) of next_seq to start reading at.
    IterFrom(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..MAX_PAYLOAD).prop_map(Op::Append),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
        1 => any::<u16>().prop_map(Op::TruncateBefore),
        2 => any::<u16>().prop_map(Op::IterFrom),
    ]
}

fn scale(frac: u16, n: usize) -> u64 {
    // Reach n itself too, so reading at/after the end is exercised.
    frac as u64 * (n as u64 + 1) / (u16::MAX as u64 + 1)
}

fn opts() -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        ..Options::default()
    }
}

/// iter_from(k) must return a contiguous run ending at the model's end,
/// starting at some s0 with k <= s0 <= max(k, floor), where floor is the
/// highest truncate_before so far (whole segments only are dropped), and
/// every payload must equal the model's.
fn check_iter(log: &Log, model: &[Vec<u8>], k: u64, floor: u64) -> Result<(), TestCaseError> {
    let got: Vec<_> = log
        .iter_from(k)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .collect();
    let n = model.len() as u64;
    let first = got
        .first()
        .map(|r| r.as_ref().map(|r| r.seq()).unwrap_or(u64::MAX));
    let expect_first = if k >= n { None } else { Some(k) };
    match (first, expect_first) {
        (None, None) => {}
        (Some(s0), Some(_)) => {
            prop_assert!(
                s0 >= k && s0 <= k.max(floor),
                "first seq {} for k {} floor {}",
                s0,
                k,
                floor
            );
            prop_assert_eq!(got.len() as u64, n - s0);
        }
        (a, b) => prop_assert!(false, "first {:?} expected {:?}", a, b),
    }
    for r in got {
        let r = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.payload(), &model[r.seq() as usize][..]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_vec_model(ops in proptest::collection::vec(op(), 1..MAX_OPS)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Some(Log::open(dir.path(), opts()).unwrap());
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut floor = 0u64;
        for op in ops {
            let l = log.as_ref().unwrap();
            match op {
                Op::Append(p) => {
                    prop_assert_eq!(l.append(&p).unwrap(), model.len() as u64);
                    model.push(p);
                }
                Op::Sync => l.sync().unwrap(),
                Op::Reopen => {
                    drop(log.take());
                    let l = Log::open(dir.path(), opts()).unwrap();
                    prop_assert_eq!(l.next_seq(), model.len() as u64);
                    log = Some(l);
                }
                Op::TruncateBefore(f) => {
                    let s = scale(f, model.len());
                    l.truncate_before(s).unwrap();
                    floor = floor.max(s);
                }
                Op::IterFrom(f) => {
                    let k = scale(f, model.len());
                    check_iter(l, &model, k, floor)?;
                }
            }
            prop_assert_eq!(log.as_ref().unwrap().next_seq(), model.len() as u64);
        }
        let l = log.take().unwrap();
        check_iter(&l, &model, floor, floor)?;
        drop(l);
        let l = Log::open(dir.path(), opts()).unwrap();
        check_iter(&l, &model, floor, floor)?;
    }
}
