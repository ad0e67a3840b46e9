//! Crash recovery: torn tails are cut, garbage tails ignored, and bit flips
//! in sealed segments or mid-segment are refused as corruption.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use bss_wal::format::decode_frame_any;
use bss_wal::limits::{DEFAULT_MAX_RECORD_BYTES, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use bss_wal::{Error, Log, Options};

const SEGMENT_SIZE: u64 = 4096;
const RECORDS: u64 = 120;
/// The torn-tail test cuts at every byte of this many trailing records.
const TAIL_RECORDS: usize = 3;

fn opts() -> Options {
    Options {
        segment_size: SEGMENT_SIZE,
        ..Options::default()
    }
}

/// Never empty, so every frame has payload bytes to flip.
fn payload(seq: u64) -> Vec<u8> {
    let len = 1 + (seq * 29 % 90) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_mul(3).wrapping_add(i as u8))
        .collect()
}

fn build(dir: &Path) {
    let log = Log::open(dir, opts()).unwrap();
    for s in 0..RECORDS {
        log.append(&payload(s)).unwrap();
    }
    log.sync().unwrap();
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// (start offset, end offset, seq) of every frame in a segment file, up to
/// the zeros the active segment is preallocated with.
fn frames(path: &Path) -> Vec<(usize, usize, u64)> {
    let buf = std::fs::read(path).unwrap();
    let mut off = SEGMENT_HEADER_BYTES;
    let mut out = Vec::new();
    while off < buf.len() && buf[off..].iter().any(|&b| b != 0) {
        let f = decode_frame_any(&buf, off, DEFAULT_MAX_RECORD_BYTES).unwrap();
        out.push((off, f.end, f.seq));
        off = f.end;
    }
    out
}

fn copy_dir(src: &Path, dst: &Path) {
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

fn read_all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    log.iter_from(0)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.seq(), r.payload().to_vec())
        })
        .collect()
}

/// Opening must refuse, with `Error::Corrupt` naming `file`.
fn assert_corrupt(dir: &Path, file: &Path) {
    match Log::open(dir, opts()) {
        Err(Error::Corrupt { file: named, .. }) => assert_eq!(named, file),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a corrupt log"),
    }
}

fn assert_prefix(got: &[(u64, Vec<u8>)], n: u64) {
    assert_eq!(got.len() as u64, n);
    for (i, (s, p)) in got.iter().enumerate() {
        assert_eq!(*s, i as u64);
        assert_eq!(p, &payload(i as u64));
    }
}

fn flip_bit(path: &Path, offset: usize) {
    let mut buf = std::fs::read(path).unwrap();
    buf[offset] ^= 0x10;
    std::fs::write(path, buf).unwrap();
}

fn payload_offset(frame: (usize, usize, u64)) -> usize {
    frame.0 + FRAME_HEADER_BYTES
}

#[test]
fn torn_tail_at_every_byte_of_last_records() {
    let base = tempfile::tempdir().unwrap();
    build(base.path());
    let segs = segments(base.path());
    assert!(segs.len() > 1);
    let last_name = segs.last().unwrap().file_name().unwrap().to_owned();
    let fr = frames(segs.last().unwrap());
    assert!(fr.len() >= TAIL_RECORDS);
    let tail = &fr[fr.len() - TAIL_RECORDS..];
    let start = tail[0].0;
    let end = tail[TAIL_RECORDS - 1].1;
    for cut in start..end {
        let d = tempfile::tempdir().unwrap();
        copy_dir(base.path(), d.path());
        let seg = d.path().join(&last_name);
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(cut as u64)
            .unwrap();
        let whole = RECORDS - tail.iter().filter(|f| f.1 > cut).count() as u64;
        {
            let log = Log::open(d.path(), opts()).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            assert_eq!(log.next_seq(), whole, "cut {cut}");
            assert_prefix(&read_all(&log), whole);
            assert_eq!(log.append(b"after").unwrap(), whole);
            log.sync().unwrap();
        }
        let log = Log::open(d.path(), opts()).unwrap();
        let got = read_all(&log);
        assert_prefix(&got[..whole as usize], whole);
        assert_eq!(got.len() as u64, whole + 1);
        assert_eq!(got[whole as usize], (whole, b"after".to_vec()));
    }
}

fn extend_last(dir: &Path, bytes: &[u8]) {
    let segs = segments(dir);
    let mut f = OpenOptions::new()
        .append(true)
        .open(segs.last().unwrap())
        .unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn zero_filled_tail_is_ignored() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    extend_last(d.path(), &[0u8; 100]);
    let log = Log::open(d.path(), opts()).unwrap();
    assert_prefix(&read_all(&log), RECORDS);
}

#[test]
fn random_tail_is_ignored() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    // xorshift64 with a fixed seed: deterministic garbage.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let junk: Vec<u8> = (0..100)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    extend_last(d.path(), &junk);
    let log = Log::open(d.path(), opts()).unwrap();
    assert_prefix(&read_all(&log), RECORDS);
    log.append(b"next").unwrap();
}

#[test]
fn bit_flip_in_sealed_segment_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let segs = segments(d.path());
    let victim = &segs[1];
    let fr = frames(victim);
    flip_bit(victim, payload_offset(fr[fr.len() / 2]));
    assert_corrupt(d.path(), victim);
}

#[test]
fn bit_flip_in_sealed_header_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let victim = segments(d.path())[0].clone();
    flip_bit(&victim, 17);
    assert_corrupt(d.path(), &victim);
}

#[test]
fn bit_flip_in_last_record_of_active_segment_cuts_it() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let last = segments(d.path()).last().unwrap().clone();
    let fr = frames(&last);
    flip_bit(&last, payload_offset(*fr.last().unwrap()));
    let log = Log::open(d.path(), opts()).unwrap();
    assert_prefix(&read_all(&log), RECORDS - 1);
    assert_eq!(log.next_seq(), RECORDS - 1);
}

#[test]
fn bit_flip_mid_active_segment_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let last = segments(d.path()).last().unwrap().clone();
    let fr = frames(&last);
    assert!(fr.len() >= 3);
    flip_bit(&last, payload_offset(fr[fr.len() / 2]));
    assert_corrupt(d.path(), &last);
}

#[test]
fn bit_flip_in_length_mid_active_segment_is_corruption() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let last = segments(d.path()).last().unwrap().clone();
    let fr = frames(&last);
    flip_bit(&last, fr[1].0 + 3);
    assert_corrupt(d.path(), &last);
}

#[test]
fn torn_header_of_newest_segment_is_reset() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let next = {
        let log = Log::open(d.path(), opts()).unwrap();
        log.next_seq()
    };
    // Simulate a crash while creating the next segment: a zero-length file.
    let name = bss_wal::segment_file_name(next);
    std::fs::File::create(d.path().join(&name)).unwrap();
    let log = Log::open(d.path(), opts()).unwrap();
    assert_prefix(&read_all(&log), RECORDS);
    assert_eq!(log.append(b"x").unwrap(), RECORDS);
}

#[test]
fn iter_reports_corruption_instead_of_payload() {
    let d = tempfile::tempdir().unwrap();
    build(d.path());
    let log = Log::open(d.path(), opts()).unwrap();
    let victim = segments(d.path())[0].clone();
    let fr = frames(&victim);
    flip_bit(&victim, payload_offset(fr[2]));
    let mut it = log.iter_from(0).unwrap();
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_ok());
    assert!(matches!(it.next(), Some(Err(Error::Corrupt { .. }))));
    assert!(it.next().is_none());
}
