//! Owns shingling: turning a series of observations into points of the
//! last `size` observations, oldest first, so that a detector of points
//! (isolation forest, one-class SVM) judges a value with the ones before it
//! (a spike is far, but so is a level that is ordinary in itself and
//! unusual after what preceded it). Half-Space Trees take observations as
//! they come; `size` 1, the default of the detectors that shingle, does the
//! same. Must not learn an observation it cannot use.

use serde::{Deserialize, Serialize};

/// The most observations a point is made of.
pub const MAX_SHINGLE: usize = 64;
/// The most numbers a point may have (`features` × `shingle`).
pub const MAX_DIMENSIONS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Shingle {
    /// Observations per point.
    size: usize,
    /// Numbers per observation.
    features: usize,
    /// The last observations, up to `size`, oldest first, one after another.
    recent: Vec<f64>,
}

impl Shingle {
    pub(crate) fn new(size: usize, features: usize) -> Self {
        Shingle {
            size,
            features,
            recent: Vec::with_capacity(size * features),
        }
    }

    /// Numbers per point.
    pub(crate) fn dimensions(&self) -> usize {
        self.size * self.features
    }

    /// Whether `x` is an observation it can use: `features` finite numbers.
    pub(crate) fn accepts(&self, x: &[f64]) -> bool {
        crate::is_observation(x, self.features)
    }

    /// Adds an accepted observation.
    pub(crate) fn push(&mut self, x: &[f64]) {
        debug_assert!(self.accepts(x));
        if self.recent.len() == self.dimensions() {
            self.recent.drain(..self.features);
        }
        self.recent.extend_from_slice(x);
    }

    /// The point of the last `size` observations, once there are as many.
    pub(crate) fn point(&self) -> Option<&[f64]> {
        (self.recent.len() == self.dimensions()).then_some(&self.recent)
    }

    /// Whether it could have been made by [`Shingle::new`] and [`Shingle::push`].
    pub(crate) fn is_consistent(&self) -> bool {
        self.size >= 1
            && self.features >= 1
            && self.recent.len() <= self.dimensions()
            && self.recent.len().is_multiple_of(self.features)
            && self.recent.iter().all(|v| v.is_finite())
    }
}

/// `shingle` is in 1..=[`MAX_SHINGLE`], and points of `features` ×
/// `shingle` numbers fit in [`MAX_DIMENSIONS`].
pub(crate) fn check_shingle(shingle: usize, features: usize) -> Result<(), String> {
    crate::check_within("shingle", shingle, 1..=MAX_SHINGLE)?;
    crate::check_within("features", features, 1..=MAX_DIMENSIONS)?;
    if shingle * features > MAX_DIMENSIONS {
        return Err(format!(
            "`features` = {features} times `shingle` = {shingle} makes points of {} numbers, over {MAX_DIMENSIONS}",
            shingle * features
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_the_last_observations_oldest_first() {
        let mut s = Shingle::new(3, 2);
        s.push(&[1.0, 10.0]);
        s.push(&[2.0, 20.0]);
        assert_eq!(s.point(), None);
        s.push(&[3.0, 30.0]);
        assert_eq!(s.point(), Some(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0][..]));
        s.push(&[4.0, 40.0]);
        assert_eq!(s.point(), Some(&[2.0, 20.0, 3.0, 30.0, 4.0, 40.0][..]));
        assert!(s.is_consistent());
        assert!(!s.accepts(&[1.0]));
        assert!(!s.accepts(&[1.0, f64::NAN]));
    }

    #[test]
    fn shingles_too_large_are_refused_naming_the_setting() {
        assert_eq!(check_shingle(1, 1), Ok(()));
        assert!(check_shingle(0, 1).unwrap_err().contains("`shingle`"));
        assert!(check_shingle(65, 1).unwrap_err().contains("`shingle`"));
        assert!(check_shingle(40, 2).unwrap_err().contains("80 numbers"));
    }
}
