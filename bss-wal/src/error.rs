//! Owns the crate's error type. Must never hide an IO error or turn
//! corruption into a panic: every failure is a value.

use std::path::PathBuf;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt log file {}: offset {offset}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("record of {len} bytes exceeds max_record_size {max}")]
    RecordTooLarge { len: usize, max: u32 },
    #[error("log failed after an IO error ({0}); reopen it to recover what is on disk")]
    Failed(String),
    #[error("log directory {} is locked by another open log", .0.display())]
    Locked(PathBuf),
    #[error("sequence number space exhausted")]
    SeqExhausted,
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    #[error("encode error: {0}")]
    Encode(String),
    #[error("decode error at seq {seq}: {reason}")]
    Decode { seq: u64, reason: String },
}

impl Error {
    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}
