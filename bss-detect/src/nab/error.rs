//! Owns what can go wrong reading NAB's files or scoring with them. Every
//! error names the file (and line, or NAB file name) it is about and ends
//! with what to do; none is ever turned into a score.

use std::fmt;
use std::path::PathBuf;

/// Why a NAB corpus, profile file, result file or score set was refused.
#[derive(Debug)]
pub enum NabError {
    /// A file could not be read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A JSON file (windows, profiles, references) is not what NAB writes.
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A line of a CSV file is not what NAB writes.
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A window does not fit its data file (NAB refuses these too).
    Window { file: String, message: String },
    /// The anomaly scores given for a corpus do not fit it.
    Scores { file: String, message: String },
}

impl fmt::Display for NabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NabError::Io { path, source } => write!(
                f,
                "cannot read {}: {source}\nHINT: the NAB subset lives in bss-detect/data/nab; \
                 the full corpus is a checkout of github.com/numenta/NAB",
                path.display()
            ),
            NabError::Json { path, source } => write!(
                f,
                "{} is not a NAB JSON file: {source}\nHINT: compare it with NAB's \
                 labels/combined_windows.json or config/profiles.json",
                path.display()
            ),
            NabError::Csv {
                path,
                line,
                message,
            } => write!(
                f,
                "{}:{line}: {message}\nHINT: NAB's CSV files have a header and plain, \
                 unquoted comma-separated fields",
                path.display()
            ),
            NabError::Window { file, message } => write!(
                f,
                "window of {file}: {message}\nHINT: window bounds must be timestamps that occur \
                 exactly once in the data file, in order and not overlapping"
            ),
            NabError::Scores { file, message } => write!(
                f,
                "anomaly scores for {file}: {message}\nHINT: give one finite score per data row \
                 for every file of the corpus, and none for other files"
            ),
        }
    }
}

impl std::error::Error for NabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NabError::Io { source, .. } => Some(source),
            NabError::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}
