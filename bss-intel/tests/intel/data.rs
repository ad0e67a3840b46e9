//! What the tests share: the repository's root, the gate on the data
//! `scripts/intel_data.sh` fetches (skip with a message, or fail under
//! BSS_INTEL_REQUIRE_DATA=1, as `make test-intel` sets), and reporting.

use std::io::Write;
use std::path::{Path, PathBuf};

pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bss-intel is a folder of the repository")
        .to_owned()
}

/// The folder `relative` (to the repository's root) holding `what`, or None
/// (after saying so) when it is absent and BSS_INTEL_REQUIRE_DATA is not 1.
pub fn dir_or_skip(test: &str, relative: &str, what: &str) -> Option<PathBuf> {
    let dir = repository_root().join(relative);
    if dir.exists() {
        return Some(dir);
    }
    let why = format!(
        "{test}: {} is absent; run scripts/intel_data.sh to fetch {what}",
        dir.display()
    );
    if std::env::var("BSS_INTEL_REQUIRE_DATA").as_deref() == Ok("1") {
        panic!("{why} (BSS_INTEL_REQUIRE_DATA=1: not skipping)");
    }
    report(&format!("SKIPPED {why}"));
    None
}

/// Written to stderr directly: the test harness captures `println!` and
/// `eprintln!` of passing tests, and the count (or the skip) must be seen.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
