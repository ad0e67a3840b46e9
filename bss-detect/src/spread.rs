//! Owns the spread floor: the least spread (standard deviation, MAD, IQR,
//! EWMA sigma, a feature's scale) a value is measured against, shared by
//! every detector that divides by a spread so that the same series gets the
//! same floor whichever detector judges it. Must never return zero, nor a
//! spread so small that a flat or quantized series turns its first wobble
//! into an infinite score and its every step into an alarm.
//!
//! The floor is the largest of:
//! - `min_spread`, in the series' own unit, as configured;
//! - `min_spread_ratio` of the larger of |level| and |value| (default
//!   [`DEFAULT_MIN_SPREAD_RATIO`]): on a flat series at 10 000 a change of
//!   1 is not worth a score of thousands, and with the value in it a series
//!   flat at zero still has a scale, so that no score exceeds
//!   `2 / min_spread_ratio` when the floor binds;
//! - the series' resolution ([`Resolution`]), the smallest step between its
//!   values lately: counts move by 1, prices by a cent, and a spread under
//!   one step is an artefact of the window holding one value most of the
//!   time (values in {10, 10, 10, 11} have a MAD of 0);
//! - a billionth of the level, and the least positive number, so that it is
//!   never zero even with both parameters at 0.

use serde::{Deserialize, Serialize};

/// The default `min_spread_ratio`: a spread of at least 0.1% of the level.
/// At the default limits (3 to 4.5 spreads) a step of under 0.3% to 0.45%
/// of the level is then never flagged on a flat series, while one of 2%
/// still is (which the detectors' tests pin). 1% would hide steps of up to
/// 4.5% of the level, 45 payments in a count of 1 000, which is an outage
/// of a payment provider on a quiet night; anything coarser is a choice of
/// `min_spread` for that series.
pub const DEFAULT_MIN_SPREAD_RATIO: f64 = 0.001;

/// Observations per block of [`Resolution`]: the resolution is the
/// smallest non-zero step of the last one to two blocks. On continuous data
/// the smallest of 256 steps is about a hundredth of its standard deviation
/// and so never binds; a series that becomes finer is seen within two blocks.
const RESOLUTION_BLOCK: u32 = 256;

/// The configured floor of one detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SpreadFloor {
    /// The least spread, in the series' own unit.
    pub(crate) min_spread: f64,
    /// The least spread, as a share of |level| (or |value|, if larger).
    pub(crate) min_spread_ratio: f64,
}

impl SpreadFloor {
    /// No floor but the one that keeps a spread from being zero.
    pub(crate) const NONE: SpreadFloor = SpreadFloor {
        min_spread: 0.0,
        min_spread_ratio: 0.0,
    };

    /// `spread` floored (module doc) for judging `x` against a series at
    /// `level` whose values step by `resolution` (0 when unknown).
    pub(crate) fn apply(self, spread: f64, level: f64, x: f64, resolution: f64) -> f64 {
        spread
            .max(self.min_spread)
            .max(self.min_spread_ratio * level.abs().max(x.abs()))
            .max(resolution)
            .max(level.abs() * 1e-9)
            .max(f64::MIN_POSITIVE)
    }
}

/// The smallest non-zero step between consecutive values of a series over
/// the last one to two blocks of [`RESOLUTION_BLOCK`] values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Resolution {
    /// The value learned last.
    last: Option<f64>,
    /// The smallest non-zero step of the block being filled.
    block: Option<f64>,
    /// That of the block before.
    previous: Option<f64>,
    /// Values in the block being filled.
    in_block: u32,
}

impl Resolution {
    /// Learns `x`, a finite value.
    pub(crate) fn learn(&mut self, x: f64) {
        if let Some(last) = self.last {
            let step = (x - last).abs();
            if step > 0.0 && step.is_finite() {
                self.block = Some(self.block.map_or(step, |b| b.min(step)));
            }
        }
        self.last = Some(x);
        self.in_block += 1;
        if self.in_block >= RESOLUTION_BLOCK {
            self.previous = self.block.take();
            self.in_block = 0;
        }
    }

    /// The resolution; 0 while no value has differed from the one before.
    pub(crate) fn step(&self) -> f64 {
        match (self.block, self.previous) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => 0.0,
        }
    }
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

/// `min_spread_ratio` is at least 0 and under 1.
pub(crate) fn check_min_spread_ratio(ratio: f64) -> Result<(), String> {
    if !(0.0..1.0).contains(&ratio) {
        return Err(format!(
            "`min_spread_ratio` = {ratio} is not at least 0 and under 1 (a share of the level)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_largest_of_its_parts_and_never_zero() {
        let f = SpreadFloor {
            min_spread: 2.0,
            min_spread_ratio: 0.01,
        };
        assert_eq!(
            f.apply(5.0, 100.0, 100.0, 0.0),
            5.0,
            "a spread over every floor"
        );
        assert_eq!(f.apply(0.0, 100.0, 100.0, 0.0), 2.0, "min_spread");
        assert_eq!(
            f.apply(0.0, 1_000.0, 0.0, 0.0),
            10.0,
            "a share of the level"
        );
        assert_eq!(f.apply(0.0, 0.0, 1_000.0, 0.0), 10.0, "or of the value");
        assert_eq!(f.apply(0.0, 100.0, 100.0, 3.0), 3.0, "the resolution");
        assert!((SpreadFloor::NONE.apply(0.0, 1e12, 0.0, 0.0) - 1e3).abs() < 1e-9);
        assert_eq!(
            SpreadFloor::NONE.apply(0.0, 0.0, 0.0, 0.0),
            f64::MIN_POSITIVE
        );
    }

    #[test]
    fn the_resolution_is_the_smallest_step_lately() {
        let mut r = Resolution::default();
        for x in [10.0, 10.0, 10.0] {
            r.learn(x);
        }
        assert_eq!(r.step(), 0.0, "no step yet");
        for i in 0..100 {
            r.learn(10.0 + f64::from(i % 4 == 3) * 1.0);
        }
        assert_eq!(r.step(), 1.0);
        r.learn(10.25);
        assert_eq!(r.step(), 0.75);
        // Two blocks of whole steps later the quarter is forgotten.
        for i in 0..2 * RESOLUTION_BLOCK {
            r.learn(f64::from(i % 3));
        }
        assert_eq!(r.step(), 1.0);
    }

    #[test]
    fn parameters_out_of_range_are_named() {
        assert!(check_min_spread(-1.0).unwrap_err().contains("`min_spread`"));
        assert!(check_min_spread(f64::NAN).is_err());
        assert!(check_min_spread_ratio(1.0)
            .unwrap_err()
            .contains("`min_spread_ratio`"));
        assert!(check_min_spread_ratio(-0.1).is_err());
        assert!(check_min_spread_ratio(f64::NAN).is_err());
        assert_eq!(check_min_spread_ratio(0.0), Ok(()));
    }
}
