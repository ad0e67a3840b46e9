//! Owns the fuzzing entry point shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/open_dir.rs`) and the corpus replay test: arbitrary
//! bytes become a log directory, which is then opened, read, appended to and
//! reopened. Must panic only when an invariant of the log is broken, never
//! because of the input itself.

use std::path::Path;

use crate::error::Error;
use crate::limits::{MAX_RECORD_BYTES_LIMIT, MIN_SEGMENT_BYTES};
use crate::log::{Log, Options};
use crate::segment::segment_file_name;

/// Segment size the target opens with: small, so short inputs span segments.
const FUZZ_SEGMENT_BYTES: u64 = 256;
/// Largest record the target accepts: larger than a segment, so inputs
/// also reach the rule that an empty segment takes an oversized record.
const FUZZ_MAX_RECORD_BYTES: u32 = 1024;

// The fuzz options are valid ones.
const _: () = assert!(FUZZ_SEGMENT_BYTES >= MIN_SEGMENT_BYTES);
const _: () = assert!(FUZZ_MAX_RECORD_BYTES <= MAX_RECORD_BYTES_LIMIT);

/// Options the target opens with.
pub fn options() -> Options {
    Options {
        segment_size: FUZZ_SEGMENT_BYTES,
        max_record_size: FUZZ_MAX_RECORD_BYTES,
    }
}

/// Name byte that makes a file that is not a segment.
pub const OTHER_FILE: u8 = 0xff;

/// Splits `data` into files: each entry is a name byte (segment first_seq,
/// or [`OTHER_FILE`]), a u16 LE length, then that many content bytes (fewer
/// if the input ends). Later entries with the same name replace earlier ones.
pub fn decode_files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rest = data;
    while let [name, l0, l1, tail @ ..] = rest {
        let len = (u16::from_le_bytes([*l0, *l1]) as usize).min(tail.len());
        let (content, after) = tail.split_at(len);
        let name = match *name {
            OTHER_FILE => "other.tmp".to_string(),
            seq => segment_file_name(seq as u64),
        };
        files.retain(|(n, _)| *n != name);
        files.push((name, content.to_vec()));
        rest = after;
    }
    files
}

/// The inverse of [`decode_files`], for building seed inputs.
pub fn encode_files(files: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content) in files {
        let len = content.len().min(u16::MAX as usize);
        out.push(*name);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&content[..len]);
    }
    out
}

/// Writes `data` as a directory under `dir` and exercises the log on it.
///
/// Invariants checked (a panic means a bug in the log):
/// - open either fails with `Corrupt` or `Io`, or succeeds;
/// - an opened log reads back without error (open validated every frame),
///   with contiguous seqs ending at `next_seq`;
/// - after a successful open, an appended and synced record survives a
///   reopen, and so does every record read before it.
pub fn open_arbitrary_dir(dir: &Path, data: &[u8]) {
    for (name, content) in decode_files(data) {
        std::fs::write(dir.join(name), content).expect("write fuzz input file");
    }
    let log = match Log::open(dir, options()) {
        Ok(log) => log,
        Err(Error::Corrupt { .. } | Error::Io(_)) => return,
        Err(e) => panic!("open failed with an unexpected error: {e}"),
    };
    let before = read_all(&log);
    let next = log.next_seq();
    if let Some((last, _)) = before.last() {
        assert_eq!(last + 1, next, "records must end at next_seq");
    }
    let seq = log.append(b"fuzz").expect("append after open");
    assert_eq!(seq, next);
    log.sync().expect("sync after open");
    drop(log);
    let log = Log::open(dir, options()).expect("a log this process wrote must reopen");
    let after = read_all(&log);
    assert_eq!(
        after.len(),
        before.len() + 1,
        "reopen lost or added records"
    );
    assert_eq!(after[..before.len()], before[..], "reopen changed records");
    assert_eq!(after[before.len()], (seq, b"fuzz".to_vec()));
}

/// Every record as (seq, payload).
fn read_all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    for r in log.iter_from(0).expect("iter_from on an open log") {
        let r = r.unwrap_or_else(|e| panic!("reading a log that opened failed: {e}"));
        if let Some((prev, _)) = out.last() {
            assert_eq!(r.seq(), prev + 1, "seqs must be contiguous");
        }
        out.push((r.seq(), r.payload().to_vec()));
    }
    out
}
