//! Owns derived features: turning each observation of a series into the
//! observation followed by its differences to the observations `lag`
//! steps earlier, one block of `features` numbers per configured lag (1:
//! the step from the last observation; 288: the change since the same time
//! yesterday, at 5-minute data), so that a detector of points (isolation
//! forest) judges a value by how it moved as well as by where it is: a
//! step to an ordinary level, or a level ordinary in itself but not at
//! this time of day, stands out in the differences. The differences come
//! before shingling (`shingle`), which then shingles derived observations.
//! Must not learn an observation it cannot use, and gives nothing until
//! the longest lag has an observation to be differenced against.
//!
//! Kept: the last `longest lag` observations (288 numbers a feature for a
//! lag of a day at 5-minute data), saved with the detector's state.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::shingle::MAX_DIMENSIONS;

/// The longest lag, in observations (a week at one a minute).
pub const MAX_LAG: usize = 10_080;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Differences {
    /// The lags, increasing; none: observations pass through unchanged.
    lags: Vec<usize>,
    /// Numbers per observation.
    features: usize,
    /// The last observations, up to the longest lag, oldest first, one
    /// after another.
    recent: VecDeque<f64>,
}

impl Differences {
    /// `lags` and `features` must have passed [`check_differences`].
    pub(crate) fn new(lags: &[usize], features: usize) -> Self {
        Differences {
            lags: lags.to_vec(),
            features,
            recent: VecDeque::with_capacity(lags.last().map_or(0, |l| l * features)),
        }
    }

    /// Numbers per derived observation.
    pub(crate) fn dimensions(&self) -> usize {
        self.features * (1 + self.lags.len())
    }

    /// Whether `x` is an observation it can use: `features` finite numbers.
    pub(crate) fn accepts(&self, x: &[f64]) -> bool {
        crate::is_observation(x, self.features)
    }

    /// Learns an accepted observation and gives it derived, once the
    /// longest lag has an observation before it.
    pub(crate) fn push<'a>(&mut self, x: &'a [f64]) -> Option<Cow<'a, [f64]>> {
        debug_assert!(self.accepts(x));
        let Some(&longest) = self.lags.last() else {
            return Some(Cow::Borrowed(x));
        };
        let d = self.features;
        let held = self.recent.len() / d;
        let derived = (held == longest).then(|| {
            let mut out = Vec::with_capacity(self.dimensions());
            out.extend_from_slice(x);
            for &lag in &self.lags {
                let then = (held - lag) * d;
                out.extend((0..d).map(|q| x[q] - self.recent[then + q]));
            }
            Cow::Owned(out)
        });
        if held == longest {
            self.recent.drain(..d);
        }
        self.recent.extend(x.iter().copied());
        derived
    }

    /// Whether it could have been made by [`Differences::new`] and
    /// [`Differences::push`] with `lags` and `features`.
    pub(crate) fn fits(&self, lags: &[usize], features: usize) -> bool {
        self.lags == lags
            && self.features == features
            && self.recent.len().is_multiple_of(features)
            && self.recent.len() <= lags.last().map_or(0, |l| l * features)
            && self.recent.iter().all(|v| v.is_finite())
    }
}

/// `differences` are increasing lags in 1..=[`MAX_LAG`], and points of
/// `features` × (1 + lags) × `shingle` numbers fit in [`MAX_DIMENSIONS`].
pub(crate) fn check_differences(
    differences: &[usize],
    features: usize,
    shingle: usize,
) -> Result<(), String> {
    for &lag in differences {
        crate::check_within("differences", lag, 1..=MAX_LAG)?;
    }
    if !differences.windows(2).all(|w| w[0] < w[1]) {
        return Err(format!(
            "`differences` = {differences:?} are not increasing lags, each once"
        ));
    }
    let numbers = features * (1 + differences.len()) * shingle;
    if numbers > MAX_DIMENSIONS {
        return Err(format!(
            "`features` = {features} with {} `differences`, times `shingle` = {shingle}, makes points of {numbers} numbers, over {MAX_DIMENSIONS}",
            differences.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lag_adds_the_change_since_that_many_observations_ago() {
        let mut d = Differences::new(&[1, 3], 2);
        assert_eq!(d.dimensions(), 6);
        for x in [[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]] {
            assert_eq!(d.push(&x), None, "the lag of 3 has nothing yet");
        }
        let got = d.push(&[8.0, 80.0]).unwrap();
        assert_eq!(&got[..], &[8.0, 80.0, 4.0, 40.0, 7.0, 70.0]);
        let got = d.push(&[9.0, 90.0]).unwrap();
        assert_eq!(&got[..], &[9.0, 90.0, 1.0, 10.0, 7.0, 70.0]);
        assert!(d.fits(&[1, 3], 2));
        assert!(!d.fits(&[1, 2], 2));
        assert!(!d.accepts(&[1.0]) && !d.accepts(&[1.0, f64::NAN]));
    }

    #[test]
    fn without_lags_observations_pass_through() {
        let mut d = Differences::new(&[], 1);
        assert_eq!(d.dimensions(), 1);
        assert_eq!(d.push(&[5.0]).as_deref(), Some(&[5.0][..]));
        assert!(d.recent.is_empty());
    }

    #[test]
    fn lags_that_make_no_sense_are_refused_naming_the_setting() {
        assert_eq!(check_differences(&[1, 288], 1, 4), Ok(()));
        assert!(check_differences(&[0], 1, 1)
            .unwrap_err()
            .contains("`differences`"));
        assert!(check_differences(&[10_081], 1, 1)
            .unwrap_err()
            .contains("`differences`"));
        assert!(check_differences(&[2, 1], 1, 1)
            .unwrap_err()
            .contains("increasing"));
        assert!(check_differences(&[1, 1], 1, 1)
            .unwrap_err()
            .contains("increasing"));
        assert!(check_differences(&[1, 2], 1, 32)
            .unwrap_err()
            .contains("96 numbers"));
    }
}
