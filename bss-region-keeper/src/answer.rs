//! Owns the heartbeat's answer: the jsonb `bss.region_heartbeat` returns in
//! each region asked, as the keeper reads it. Must never guess at a field
//! it cannot read: an answer that does not parse is no answer.
//!
//! The format (one JSON object):
//!
//! ```json
//! {"region": "us",
//!  "now": "2026-12-08T03:00:00.123456+00:00",
//!  "epochs": [["eu", 1, "us"], ["us", 2, "us"]],
//!  "owners": {"eu": "us", "us": "us", "wt": "wt"},
//!  "contacts": {"eu": {"silent_ms": 412, "witness": false},
//!               "wt": {"silent_ms": 950, "witness": true}}}
//! ```
//!
//! - `region`: the region that answered.
//! - `now`: its `clock_timestamp()` as PostgreSQL prints a timestamptz; the
//!   keeper hands it back to PostgreSQL untouched (a lease ends at it plus
//!   the lease's length), so it is kept as text.
//! - `epochs`: its `bss.region_epochs` as `[region, epoch, decided_in]`, a set.
//! - `owners`: per home region known there, the region serving it now.
//! - `contacts`: per region whose keeper ever called the heartbeat there,
//!   how long ago the last call was (ms, at that region's clock) and the
//!   witness flag that keeper gave.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

/// One region's heartbeat answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Answer {
    pub region: String,
    pub now: String,
    pub epochs: BTreeSet<Epoch>,
    pub owners: BTreeMap<String, String>,
    pub contacts: BTreeMap<String, Contact>,
    /// Why the answering region may not append to its own streams now
    /// (`bss.region_fence()`), None while it holds a lease or is not fenced.
    #[serde(default)]
    pub fenced: Option<String>,
}

/// A row of `bss.region_epochs`: `[region, epoch, decided_in]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct Epoch(pub String, pub i64, pub String);

/// The last heartbeat call a region's keeper made where the answer comes from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Contact {
    /// Milliseconds since that call; a float, so that a fractional or an
    /// integral number from SQL both read.
    pub silent_ms: f64,
    pub witness: bool,
}

impl Answer {
    pub fn parse(text: &str) -> Result<Answer, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}, {}]", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_answer_parses() {
        let a = Answer::parse(
            r#"{"region": "us", "now": "2026-12-08T03:00:00.123456+00:00",
                "epochs": [["eu", 1, "us"], ["us", 2, "us"]],
                "owners": {"eu": "us", "us": "us", "wt": "wt"},
                "contacts": {"eu": {"silent_ms": 412, "witness": false},
                             "wt": {"silent_ms": 950.5, "witness": true}}}"#,
        )
        .unwrap();
        assert_eq!(a.region, "us");
        assert!(a.epochs.contains(&Epoch("eu".into(), 1, "us".into())));
        assert_eq!(a.owners["eu"], "us");
        assert_eq!(a.contacts["eu"].silent_ms, 412.0);
        assert!(a.contacts["wt"].witness);
    }

    #[test]
    fn an_answer_missing_a_field_does_not_parse() {
        assert!(
            Answer::parse(r#"{"region": "us", "now": "x", "epochs": [], "owners": {}}"#).is_err()
        );
        assert!(Answer::parse(
            r#"{"region": "us", "now": "x", "epochs": [["eu", 1]], "owners": {}, "contacts": {}}"#
        )
        .is_err());
    }
}
