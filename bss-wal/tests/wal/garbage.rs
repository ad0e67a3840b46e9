//! Arbitrary file content never panics: open and iteration return Ok or Err.

use bss_wal::format::encode_header;
use bss_wal::{segment_file_name, Log, Options};
use proptest::prelude::*;

const CASES: u32 = 64;
const MAX_GARBAGE: usize = 2048;

fn opts() -> Options {
    Options {
        segment_size: 1024,
        max_record_size: 4096,
    }
}

fn exercise(dir: &std::path::Path) {
    if let Ok(log) = Log::open(dir, opts()) {
        for r in log.iter_from(0).unwrap() {
            let _ = r;
        }
        let _ = log.append(b"after");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn garbage_active_segment(body in proptest::collection::vec(any::<u8>(), 0..MAX_GARBAGE), header in any::<bool>()) {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = if header { encode_header(5).to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&body);
        std::fs::write(d.path().join(segment_file_name(5)), bytes).unwrap();
        exercise(d.path());
    }

    #[test]
    fn garbage_sealed_segment(body in proptest::collection::vec(any::<u8>(), 0..MAX_GARBAGE)) {
        let d = tempfile::tempdir().unwrap();
        let mut bytes = encode_header(0).to_vec();
        bytes.extend_from_slice(&body);
        std::fs::write(d.path().join(segment_file_name(0)), bytes).unwrap();
        std::fs::write(d.path().join(segment_file_name(3)), encode_header(3)).unwrap();
        exercise(d.path());
    }
}
