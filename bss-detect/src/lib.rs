//! bss-detect: streaming anomaly detectors for BSS events, and the pipeline
//! that feeds them. Owns turning events into numeric observations per key
//! (a field of `data`, or a count over a sliding window), scoring them, and
//! naming the anomalies; knows nothing of PostgreSQL, the spool or Kafka
//! (the sidecar's anomaly stage wires it in).
//!
//! Every detector implements [`Detector`]: it scores an observation against
//! what it has seen, then learns it. All state derives serde, so a stage can
//! save it with its spool cursor and restore it after a restart. Detectors
//! are deterministic: the same state and input give the same verdicts, which
//! is what lets a restarted stage redo a batch without reporting anything
//! new or twice.

pub mod config;
pub mod ewma;
pub mod hst;
pub mod iqr;
pub mod mad;
pub mod model;
pub mod nab;
pub mod pipeline;
mod sorted_window;
#[cfg(test)]
mod synthetic;
pub mod threshold;
pub mod time;
pub mod zscore;

use serde::{Deserialize, Serialize};

/// Which side of normal is anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Only values above normal (spikes).
    High,
    /// Only values below normal (drops).
    Low,
    /// Both.
    #[default]
    Both,
}

impl Direction {
    /// Whether a signed deviation (value minus normal) is on a watched side.
    pub fn watches(self, deviation: f64) -> bool {
        match self {
            Direction::High => deviation > 0.0,
            Direction::Low => deviation < 0.0,
            Direction::Both => deviation != 0.0,
        }
    }
}

/// A detector's judgement of one observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// How unusual the observation is, in the detector's own unit (|z| for
    /// the z-score, fence distances in IQRs, ...); always finite, 0 for an
    /// observation seen during warm-up.
    pub score: f64,
    /// Whether the score crossed the detector's threshold on a watched side.
    pub anomalous: bool,
}

impl Verdict {
    /// The verdict on an observation that cannot be judged yet (warm-up).
    pub const WARMING_UP: Verdict = Verdict {
        score: 0.0,
        anomalous: false,
    };
}

/// A streaming detector of one series (one key of one configured detector).
pub trait Detector {
    /// Scores `x` against what the detector has learned so far, then learns
    /// it. Univariate detectors read `x[0]`; multi-feature ones all of `x`.
    /// `x` is never empty.
    fn observe(&mut self, x: &[f64]) -> Verdict;

    /// How many observations it has learned (saturating).
    fn seen(&self) -> u64;
}

/// A scale that is never zero: `spread` floored at `min_spread`, and at a
/// tiny fraction of `level` so that a constant series still gives finite scores.
pub(crate) fn floor_spread(spread: f64, min_spread: f64, level: f64) -> f64 {
    spread
        .max(min_spread)
        .max(level.abs() * 1e-9)
        .max(f64::MIN_POSITIVE)
}

/// A score capped so that it stays finite and printable as JSON.
pub(crate) fn finite(score: f64) -> f64 {
    if score.is_nan() {
        0.0
    } else {
        score.clamp(-1e12, 1e12)
    }
}

// Parameter checks shared by the detectors' `validate`, so that the same
// mistake gets the same message whichever detector it is made in.

/// `value` of the parameter `name` is at least 2; `why` says what needs two.
pub(crate) fn check_at_least_two(name: &str, value: usize, why: &str) -> Result<(), String> {
    if value < 2 {
        return Err(format!("`{name}` = {value} is under 2: {why}"));
    }
    Ok(())
}

/// `min_samples` is between 2 and `window`: enough to judge by, and no more
/// than the window holds.
pub(crate) fn check_min_samples(min_samples: usize, window: usize) -> Result<(), String> {
    if !(2..=window).contains(&min_samples) {
        return Err(format!(
            "`min_samples` = {min_samples} is not between 2 and `window` = {window}"
        ));
    }
    Ok(())
}

/// `value` of the parameter `name` (a threshold) is positive and finite.
pub(crate) fn check_positive(name: &str, value: f64) -> Result<(), String> {
    if !(value.is_finite() && value > 0.0) {
        return Err(format!(
            "`{name}` = {value} is not a positive finite number"
        ));
    }
    Ok(())
}

/// `min_spread` is finite and at least 0.
pub(crate) fn check_min_spread(min_spread: f64) -> Result<(), String> {
    if !(min_spread.is_finite() && min_spread >= 0.0) {
        return Err(format!(
            "`min_spread` = {min_spread} is not a finite number of at least 0"
        ));
    }
    Ok(())
}
