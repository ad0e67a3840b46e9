//! The history of a run: every operation a client invoked, when it was
//! invoked and completed, and how it ended. Owns the types only; it must
//! never decide whether a history is valid (the checker does) or talk to
//! the database (the client does).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One event of a stream as a read returned it: its version and the unique
/// value its append carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    pub version: i64,
    pub value: i64,
}

/// A stream's events in version order, as one read returned them.
pub type List = Vec<Element>;

/// A moment on both clocks: the monotonic one orders operations (real-time
/// order), the wall clock lines them up with the fault schedule's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    /// Nanoseconds since the run's start, from a monotonic clock.
    pub monotonic_ns: u64,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

/// The run's start, which every client's timestamps count from.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> Timestamp {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Timestamp {
            monotonic_ns: u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            unix_ms,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Outcome<T> {
    /// It took effect, with this result.
    Ok { result: T },
    /// It certainly did not take effect: the server said so.
    Fail { sqlstate: String, message: String },
    /// Nobody knows: the connection was lost or the client gave up while the
    /// statement was out. `sqlstate` is None when the server never answered.
    Info {
        sqlstate: Option<String>,
        message: String,
    },
}

impl<T> Outcome<T> {
    /// "ok", "fail" or "info", as the report counts it.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok { .. } => "ok",
            Outcome::Fail { .. } => "fail",
            Outcome::Info { .. } => "info",
        }
    }
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum Action {
    /// Append one event carrying `value` (unique in the run), with
    /// `expected_version` (None: any version); ok carries the version the
    /// append returned.
    Append {
        value: i64,
        expected_version: Option<i64>,
        outcome: Outcome<i64>,
    },
    /// Read the whole stream; ok carries its list.
    Read { outcome: Outcome<List> },
}

impl Action {
    /// "append" or "read", as the report counts it.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Append { .. } => "append",
            Action::Read { .. } => "read",
        }
    }

    /// True when nobody knows whether it took effect.
    pub fn is_unknown(&self) -> bool {
        matches!(
            self,
            Action::Append {
                outcome: Outcome::Info { .. },
                ..
            } | Action::Read {
                outcome: Outcome::Info { .. }
            }
        )
    }

    /// "ok", "fail" or "info".
    pub fn outcome_label(&self) -> &'static str {
        match self {
            Action::Append { outcome, .. } => outcome.label(),
            Action::Read { outcome } => outcome.label(),
        }
    }
}

/// One operation of one client on one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub client: u32,
    pub stream: String,
    pub invoked: Timestamp,
    pub completed: Timestamp,
    #[serde(flatten)]
    pub action: Action,
}

impl Operation {
    /// True when `self` completed before `later` was invoked: the two did
    /// not overlap, and real time orders them.
    pub fn precedes(&self, later: &Operation) -> bool {
        self.completed.monotonic_ns < later.invoked.monotonic_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_serializes_with_its_kind_and_outcome_inline() {
        let op = Operation {
            client: 1,
            stream: "la-r-0".into(),
            invoked: Timestamp {
                monotonic_ns: 1,
                unix_ms: 2,
            },
            completed: Timestamp {
                monotonic_ns: 3,
                unix_ms: 4,
            },
            action: Action::Append {
                value: 1_000_000_001,
                expected_version: Some(0),
                outcome: Outcome::Ok { result: 1 },
            },
        };
        let json = serde_json::to_value(&op).expect("serializes");
        assert_eq!(json["f"], "append");
        assert_eq!(json["outcome"]["type"], "ok");
        assert_eq!(json["outcome"]["result"], 1);
        let back: Operation = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, op);
    }

    #[test]
    fn only_an_operation_completed_before_another_was_invoked_precedes_it() {
        let at = |i, c| Operation {
            client: 0,
            stream: "s".into(),
            invoked: Timestamp {
                monotonic_ns: i,
                unix_ms: 0,
            },
            completed: Timestamp {
                monotonic_ns: c,
                unix_ms: 0,
            },
            action: Action::Read {
                outcome: Outcome::Ok { result: vec![] },
            },
        };
        assert!(at(0, 5).precedes(&at(6, 7)));
        assert!(!at(0, 6).precedes(&at(6, 7)));
        assert!(!at(0, 8).precedes(&at(6, 7)));
    }
}
