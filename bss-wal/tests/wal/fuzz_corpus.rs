//! Replays the cargo-fuzz corpus of the `open_dir` target (bss-wal/fuzz)
//! through the same entry point, so `make test` checks every input the
//! fuzzer kept. Fuzzing itself runs by hand (README: "Fuzzing bss-wal").
//!
//! `seed_corpus` (ignored) writes the hand-made seeds the fuzzer starts from:
//! real logs in several states, encoded as fuzz inputs.

use std::path::{Path, PathBuf};

use bss_wal::fuzzing::{encode_files, open_arbitrary_dir, options, OTHER_FILE};
use bss_wal::{parse_segment_file_name, Log};

/// The corpus must not silently shrink to nothing.
const MIN_CORPUS_FILES: usize = 20;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/open_dir")
}

#[test]
fn corpus_replays_without_breaking_invariants() {
    let mut inputs: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("fuzz corpus directory")
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= MIN_CORPUS_FILES,
        "only {} corpus files",
        inputs.len()
    );
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = std::panic::catch_unwind(|| open_arbitrary_dir(dir.path(), &data));
        assert!(
            r.is_ok(),
            "corpus input {} broke an invariant",
            input.display()
        );
    }
}

/// Encodes a log directory as one fuzz input.
fn encode_dir(dir: &Path) -> Vec<u8> {
    let mut files: Vec<(u8, Vec<u8>)> = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if let Some(seq) = parse_segment_file_name(&name) {
            files.push((seq as u8, std::fs::read(e.path()).unwrap()));
        }
    }
    files.sort();
    let refs: Vec<(u8, &[u8])> = files.iter().map(|(n, c)| (*n, &c[..])).collect();
    encode_files(&refs)
}

fn build_log(records: u64, len: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), options()).unwrap();
    for s in 0..records {
        let p: Vec<u8> = (0..len).map(|i| (s as usize * 7 + i) as u8).collect();
        log.append(&p).unwrap();
    }
    log.sync().unwrap();
    dir
}

#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn seed_corpus() {
    let out = corpus_dir();
    std::fs::create_dir_all(&out).unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        (
            "other_file".into(),
            encode_files(&[(OTHER_FILE, b"not a segment")]),
        ),
    ];
    for (records, len) in [(1, 0), (3, 5), (10, 20), (40, 9), (25, 100)] {
        let dir = build_log(records, len);
        let data = encode_dir(dir.path());
        seeds.push((format!("log_{records}x{len}"), data.clone()));
        // Torn and damaged variants of the same log.
        for cut in [1, 7, 16, 40] {
            if data.len() > cut {
                seeds.push((
                    format!("log_{records}x{len}_cut{cut}"),
                    data[..data.len() - cut].to_vec(),
                ));
            }
        }
        let mut flipped = data.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x10;
        seeds.push((format!("log_{records}x{len}_flip"), flipped));
    }
    for (name, data) in seeds {
        std::fs::write(out.join(format!("seed_{name}")), data).unwrap();
    }
}
