//! What the checker can find wrong with a history, one kind per property it
//! checks. Owns the names the report uses; it must never decide anything.

use std::fmt;

use serde::Serialize;

/// One kind of anomaly. The names are those of the report's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// An acknowledged append's value is not in its stream.
    LostAppend,
    /// A value is stored more than once, or a read returned it more than once.
    DuplicateValue,
    /// An acknowledged append's value is stored at another version than the
    /// one the append returned.
    MisplacedAppend,
    /// An acknowledged append with expected version v got a version other than v+1.
    ExpectedVersionViolated,
    /// An append that failed (the server said nothing was stored) is stored.
    FailedAppendStored,
    /// A stored value that no append of this stream carried.
    UnexpectedValue,
    /// A stream's versions are not 1..n: a gap, a repeat, or out of order.
    BrokenVersionSequence,
    /// A read returned the value of an append that failed (Adya's G1a).
    AbortedRead,
    /// A read returned a value the stream does not hold in the end: an
    /// append it saw was never committed, or was lost after the read.
    UncommittedRead,
    /// A read is not a prefix of the stream: its values are in another
    /// order, or at other versions.
    ReorderedRead,
    /// A read missed an acknowledged append that completed before it began.
    StaleRead,
    /// A read returned a value whose append was invoked only after the
    /// read had completed.
    FutureRead,
    /// A read returned fewer events than a read of the same stream that
    /// completed before it began.
    NonMonotonicReads,
}

impl AnomalyKind {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::LostAppend => "lost-append",
            AnomalyKind::DuplicateValue => "duplicate-value",
            AnomalyKind::MisplacedAppend => "misplaced-append",
            AnomalyKind::ExpectedVersionViolated => "expected-version-violated",
            AnomalyKind::FailedAppendStored => "failed-append-stored",
            AnomalyKind::UnexpectedValue => "unexpected-value",
            AnomalyKind::BrokenVersionSequence => "broken-version-sequence",
            AnomalyKind::AbortedRead => "aborted-read",
            AnomalyKind::UncommittedRead => "uncommitted-read",
            AnomalyKind::ReorderedRead => "reordered-read",
            AnomalyKind::StaleRead => "stale-read",
            AnomalyKind::FutureRead => "future-read",
            AnomalyKind::NonMonotonicReads => "non-monotonic-reads",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One anomaly found, with the stream it is on and what exactly happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub stream: String,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_named_the_same_in_display_and_in_json() {
        for kind in [
            AnomalyKind::LostAppend,
            AnomalyKind::ExpectedVersionViolated,
            AnomalyKind::NonMonotonicReads,
        ] {
            let json = serde_json::to_value(kind).expect("serializes");
            assert_eq!(json, kind.name());
            assert_eq!(kind.to_string(), kind.name());
        }
    }
}
