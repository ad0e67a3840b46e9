//! Owns the anomaly likelihood: a normalised score in [0, 1] over the
//! recent distribution of a series' raw scores, so that one threshold
//! serves series whose raw scores differ in unit and in spread (Ahmad,
//! Lavin, Purdy & Agha, "Unsupervised real-time anomaly detection for
//! streaming data", Neurocomputing 2017; Numenta's `anomaly_likelihood.py`).
//! Knows nothing of the model whose scores it reads; must never learn a
//! score before judging it.
//!
//! The short-term mean `m` of the last `short_window` raw scores is judged
//! against a Gaussian fitted to the short-term means of about the last
//! `window` observations: `likelihood = 1 − Q((m − μ) / σ)`, `Q` the upper
//! tail of the standard normal. As in Numenta's code the Gaussian is fitted
//! to short-term means rather than to raw scores, so that it describes the
//! statistic it judges. Where this differs from Numenta's, and why:
//! - the tail is one-sided: a short-term mean far *below* the usual is a
//!   series becoming more predictable, not an anomaly;
//! - μ and σ² are a running mean and variance, exact over the first
//!   `window` short-term means and exponentially weighted (α = 1/`window`)
//!   afterwards, not a buffer of `window` scores re-fitted every 100: a
//!   detector may track a million keys, and this keeps a key's likelihood
//!   at `short_window` + 3 numbers whatever `window`;
//! - a short-term mean is learned clipped to μ ± [`LEARNED_SIGMAS`]·σ: raw
//!   scores are not bounded as Numenta's are (a z-score can be thousands),
//!   and one such score would otherwise inflate σ for thousands of
//!   observations and hide whatever came next;
//! - σ is at least [`SIGMA_FLOOR`] (and as much times |μ|): a detector
//!   whose raw score has been exactly 0 on a flat series would otherwise
//!   give 1 for any score at all, like Numenta's variance floor of 0.0003;
//! - no "red zone" filtering of consecutive likelihoods: the episode does
//!   that job for every detector (`episode`);
//! - the default `short_window` is 5, not 10 (`series::AlarmParams`).
//!
//! The likelihood is 0.5 (no opinion, Numenta's value while it learns)
//! until [`ESTIMATION_SAMPLES`] short-term means (or `window`, if fewer)
//! have been fitted.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Short-term means fitted before the first likelihood (Numenta's
/// `estimationSamples`).
pub(crate) const ESTIMATION_SAMPLES: u64 = 100;

/// Short-term means are learned at most this many sigmas from the mean.
pub(crate) const LEARNED_SIGMAS: f64 = 5.0;

/// The least σ, in the raw score's unit and as a share of |μ|.
pub(crate) const SIGMA_FLOOR: f64 = 1e-3;

/// What the likelihood of one series remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnomalyLikelihood {
    /// The last `short_window` raw scores, oldest first.
    recent: VecDeque<f64>,
    /// Short-term means fitted (saturating).
    fitted: u64,
    /// Their running mean.
    mean: f64,
    /// Their running (population) variance.
    variance: f64,
}

impl AnomalyLikelihood {
    /// Judges raw `score` with the scores before it, then learns it.
    pub(crate) fn observe(&mut self, score: f64, short_window: usize, window: usize) -> f64 {
        if self.recent.len() >= short_window {
            self.recent.pop_front();
        }
        self.recent.push_back(score);
        // Summed afresh each time: a handful of additions, and no drift.
        let short_mean = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        let warm = self.fitted >= ESTIMATION_SAMPLES.min(window as u64);
        let sigma = self
            .variance
            .sqrt()
            .max(SIGMA_FLOOR)
            .max(SIGMA_FLOOR * self.mean.abs());
        let likelihood = if warm {
            standard_normal_cdf((short_mean - self.mean) / sigma)
        } else {
            0.5
        };
        let learned = if warm {
            short_mean.clamp(
                self.mean - LEARNED_SIGMAS * sigma,
                self.mean + LEARNED_SIGMAS * sigma,
            )
        } else {
            short_mean
        };
        self.fitted = self.fitted.saturating_add(1);
        // α = 1/n is the exact running mean and population variance (the
        // same recursion as Finch's weighted one); 1/window keeps it recent.
        let alpha = 1.0 / self.fitted.min(window as u64) as f64;
        let delta = learned - self.mean;
        self.mean += alpha * delta;
        self.variance = (1.0 - alpha) * (self.variance + alpha * delta * delta);
        likelihood
    }
}

/// P(Z ≤ z) for a standard normal Z; 0.5 for NaN.
fn standard_normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return 0.5;
    }
    (0.5 * erfc(-z / std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
}

/// The complementary error function, by the Chebyshev fit of Numerical
/// Recipes' `erfcc` (fractional error under 1.2e-7 everywhere, so a tail of
/// 1e-4 is known to a few parts in ten million); std has no `erfc`.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn the_normal_cdf_matches_known_values() {
        for (z, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746),
            (-1.0, 0.158_655_254),
            (3.719_016, 0.999_9),
            (-3.090_232, 0.001),
        ] {
            let got = standard_normal_cdf(z);
            assert!((got - p).abs() < 2e-7, "Φ({z}) = {got}, not {p}");
        }
        assert_eq!(standard_normal_cdf(f64::NAN), 0.5);
        assert_eq!(standard_normal_cdf(f64::INFINITY), 1.0);
        assert_eq!(standard_normal_cdf(f64::NEG_INFINITY), 0.0);
    }

    /// Raw scores like a z-score's on noise: |N(0, 1)|.
    fn noise_scores(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let (u, v): (f64, f64) = (rng.random(), rng.random());
                ((-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()).abs()
            })
            .collect()
    }

    #[test]
    fn no_opinion_until_enough_scores_then_a_far_score_is_near_1() {
        let mut l = AnomalyLikelihood::default();
        let scores = noise_scores(1, 2_000);
        for (n, &s) in scores.iter().enumerate() {
            let p = l.observe(s, 10, 1_000);
            if n < ESTIMATION_SAMPLES as usize {
                assert_eq!(p, 0.5, "score {n}");
            }
            assert!((0.0..=1.0).contains(&p));
        }
        assert!(
            l.clone().observe(0.8, 10, 1_000) < 0.99,
            "an ordinary score"
        );
        assert!(l.observe(20.0, 10, 1_000) > 0.9999, "a score of 20 sigmas");
    }

    #[test]
    fn the_same_likelihood_threshold_serves_scores_of_any_scale() {
        // Scores a thousand times larger (another unit) give the same likelihoods.
        let scores = noise_scores(2, 3_000);
        let (mut a, mut b) = (AnomalyLikelihood::default(), AnomalyLikelihood::default());
        for &s in &scores {
            let (pa, pb) = (a.observe(s, 10, 1_000), b.observe(1_000.0 * s, 10, 1_000));
            assert!((pa - pb).abs() < 1e-9, "{pa} vs {pb}");
        }
    }

    #[test]
    fn one_huge_score_does_not_blind_it_to_the_next_anomaly() {
        let mut l = AnomalyLikelihood::default();
        let scores = noise_scores(3, 3_000);
        for &s in &scores[..1_000] {
            l.observe(s, 10, 1_000);
        }
        assert!(l.observe(1e9, 10, 1_000) > 0.9999);
        for &s in &scores[1_000..1_200] {
            l.observe(s, 10, 1_000);
        }
        assert!(
            l.observe(20.0, 10, 1_000) > 0.9999,
            "200 scores after a score of 1e9, one of 20 is still far out"
        );
    }

    #[test]
    fn a_flat_series_of_zero_scores_has_a_finite_sigma() {
        let mut l = AnomalyLikelihood::default();
        for _ in 0..500 {
            assert!(l.observe(0.0, 10, 1_000) <= 0.5 + 1e-6);
        }
        // A score of a thousandth, averaged over 10, is a tenth of the least sigma.
        let p = l.observe(0.001, 10, 1_000);
        assert!(p < 0.9, "{p}");
    }
}
