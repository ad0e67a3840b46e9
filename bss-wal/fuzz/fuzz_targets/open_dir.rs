//! Arbitrary directory contents: open, read, append and reopen must never
//! panic and never break the log's invariants (see bss_wal::fuzzing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tmpfs when there is one: the target fsyncs, and that should be free.
    let base = std::path::Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .expect("temporary directory");
    bss_wal::fuzzing::open_arbitrary_dir(dir.path(), data);
});
