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
//!
//! What every detector shares whatever its algorithm lives in one place
//! each: the spread floor (`spread`, applied by each model that divides by
//! a spread), and around each model, in [`series::SeriesDetector`], the
//! anomaly likelihood (`likelihood`), the choice of alarming on it, and one
//! alarm per episode (`episode`). The pipeline runs a `SeriesDetector` per
//! key; a caller with a plain series of numbers can run one directly.

pub mod config;
mod differences;
mod episode;
pub mod ewma;
pub mod hst;
pub mod iforest;
pub mod iqr;
mod likelihood;
pub mod mad;
pub mod model;
pub mod nab;
pub mod ocsvm;
pub mod pipeline;
pub mod series;
mod shingle;
mod sorted_window;
pub mod spread;
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
///
/// A model alone ([`model::Model`] and the detectors it holds) fills
/// `score` and `anomalous` by its own threshold, leaves `likelihood` at 0.5
/// and alarms on every anomalous observation; [`series::SeriesDetector`],
/// which the pipeline runs for every key, adds the likelihood, may judge
/// `anomalous` by it instead, and alarms once per episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// How unusual the observation is, higher the more, in the detector's
    /// own unit (|z| for the z-score, fence distances in IQRs, −f/ρ for the
    /// one-class SVM, negative inside its boundary, ...; 0 on a side its
    /// `direction` does not watch); always finite, 0 for an observation
    /// seen during warm-up.
    pub score: f64,
    /// The anomaly likelihood of the recent raw scores, in [0, 1]: how
    /// surely the short-term mean of the raw scores is above what this
    /// series' scores have been (`likelihood` module); 0.5, no opinion,
    /// until there are enough scores to say.
    pub likelihood: f64,
    /// Whether the observation crossed the configured limit: the
    /// detector's threshold on a watched side, or `likelihood_threshold`.
    pub anomalous: bool,
    /// Whether this observation is reported: the first anomalous one of an
    /// episode.
    pub alarm: bool,
    /// Whether the observation was judged at all (false during warm-up
    /// and for a value that is not a finite number).
    pub judged: bool,
}

impl Verdict {
    /// The verdict on an observation that cannot be judged yet (warm-up).
    pub const WARMING_UP: Verdict = Verdict {
        score: 0.0,
        likelihood: 0.5,
        anomalous: false,
        alarm: false,
        judged: false,
    };

    /// A model's verdict: its raw score and whether that crossed its threshold.
    pub(crate) fn of(score: f64, anomalous: bool) -> Verdict {
        Verdict {
            score,
            likelihood: 0.5,
            anomalous,
            alarm: anomalous,
            judged: true,
        }
    }

    /// The verdict on a value `deviation` spreads from normal (signed, +
    /// above): scored |deviation| on a watched side and 0 on the other, so
    /// that what is not watched does not feed the likelihood either;
    /// anomalous past `limit`.
    pub(crate) fn of_deviation(deviation: f64, limit: f64, direction: Direction) -> Verdict {
        let score = if direction.watches(deviation) {
            finite(deviation.abs())
        } else {
            0.0
        };
        Verdict::of(score, score > limit)
    }
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

/// Whether `x` is an observation of `features` finite numbers, the only
/// kind a multi-feature detector learns.
pub(crate) fn is_observation(x: &[f64], features: usize) -> bool {
    x.len() == features && x.iter().all(|v| v.is_finite())
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

/// `value` of the parameter `name` is in `range`.
pub(crate) fn check_within(
    name: &str,
    value: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<(), String> {
    if !range.contains(&value) {
        return Err(format!(
            "`{name}` = {value} is not in {}..={}",
            range.start(),
            range.end()
        ));
    }
    Ok(())
}

/// `value` of the parameter `name` is strictly between 0 and 1; `why`
/// says why it must be.
pub(crate) fn check_between_0_and_1(name: &str, value: f64, why: &str) -> Result<(), String> {
    if !(value > 0.0 && value < 1.0) {
        return Err(format!("`{name}` = {value} is not between 0 and 1 ({why})"));
    }
    Ok(())
}
