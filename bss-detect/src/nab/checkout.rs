//! Owns finding the full NAB checkout that some tests compare against
//! (`NAB_DIR`: a work tree of github.com/numenta/NAB with `data/`,
//! `labels/`, `config/` and `results/`). CI cannot reach GitHub, so without
//! it those tests are skipped, and say so on the terminal; it must never let
//! such a test pass in silence, nor skip when `NAB_DIR` is set but wrong.

use std::io::Write;
use std::path::PathBuf;

/// The environment variable naming the NAB checkout.
pub(crate) const NAB_DIR_VAR: &str = "NAB_DIR";

/// The checkout, or `None` after telling the terminal that `test` is skipped.
/// Panics when `NAB_DIR` is set to something that is not a NAB work tree.
pub(crate) fn nab_checkout(test: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os(NAB_DIR_VAR).map(PathBuf::from) else {
        // Straight to the process's stderr: the test harness captures
        // eprintln!, and a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {NAB_DIR_VAR} is not set. Set it to a work tree of \
             github.com/numenta/NAB at commit {} (e.g. `git archive` of it) to run it.",
            super::published_on_subset::NAB_COMMIT
        );
        return None;
    };
    for part in [
        "data",
        "labels/combined_windows.json",
        "config/profiles.json",
        "results",
    ] {
        assert!(
            dir.join(part).exists(),
            "{NAB_DIR_VAR}={} has no {part}: it must be a NAB work tree",
            dir.display()
        );
    }
    Some(dir)
}
