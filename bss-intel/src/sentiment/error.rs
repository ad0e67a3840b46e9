//! Owns the sentiment module's error type: what can go wrong loading the
//! lexicons. Must never leave out which file it was, nor, when a file is
//! missing, the command that fetches it.

use std::path::PathBuf;

/// Why the VADER lexicons could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LexiconError {
    #[error(
        "VADER lexicon {} not found (HINT: run scripts/intel_data.sh in the pg_bss repository; \
         it fetches vaderSentiment 3.3.2's lexicons from PyPI into target/intel/vader)",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot read VADER lexicon {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("VADER lexicon {file}, line {line}: {reason}")]
    Malformed {
        file: String,
        line: usize,
        reason: String,
    },
}
