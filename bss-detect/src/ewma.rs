//! Owns the EWMA detector: an exponentially weighted moving average used as
//! a one-step forecast, with a limit on its errors. It needs no window, so
//! its state is four numbers whatever `alpha`, and it follows a slow drift
//! (a season, growth) that a fixed window would take for a shift.
//!
//! The formulation: with level `ℓ` and residual `e = x − ℓ` (the value
//! against the forecast made before it), the value is anomalous when
//! `|e| > L·σ`, where `σ` is Finch's exponentially weighted standard
//! deviation of past residuals ("Incremental calculation of weighted mean and
//! variance", 2009): `ℓ += α·e`, `σ² = (1 − α)(σ² + α·e²)`. That is a
//! Shewhart limit on the forecast errors, in sigmas of the series (for white
//! noise `σ` tends to `σ_x·√(2(1−α)/(2−α))`, within 3% of `σ_x` at the
//! default `α`). It is not the classic Roberts chart, which puts limits
//! `L·σ·√(α/(2−α))` on the smoothed statistic around a fixed target: that
//! finds small sustained shifts but needs a known in-control mean, and after
//! one spike it keeps signalling for as long as the spike weighs on the
//! average, which is not what a stream of events wants.

use serde::{Deserialize, Serialize};

use crate::spread::{
    check_min_spread, check_min_spread_ratio, Resolution, SpreadFloor, DEFAULT_MIN_SPREAD_RATIO,
};
use crate::{check_at_least_two, check_positive, Detector, Direction, Verdict};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EwmaParams {
    /// The weight of the newest value in the level and the variance, in
    /// (0, 1]: small is smooth and slow. At 1 the variance stays 0 and only
    /// `min_spread` gives the limit a scale.
    pub alpha: f64,
    /// Anomalous when the residual is over this many sigmas (L).
    pub limit: f64,
    /// Which side of the forecast is anomalous.
    pub direction: Direction,
    /// Values learned before any is judged.
    pub min_samples: usize,
    /// The least sigma a residual is measured against, in the series' own
    /// unit: smaller wobbles are not worth a score.
    pub min_spread: f64,
    /// The least sigma as a share of the level (`spread`).
    pub min_spread_ratio: f64,
}

impl Default for EwmaParams {
    fn default() -> Self {
        EwmaParams {
            alpha: 0.1,
            limit: 4.0,
            direction: Direction::Both,
            min_samples: 10,
            min_spread: 0.0,
            min_spread_ratio: DEFAULT_MIN_SPREAD_RATIO,
        }
    }
}

impl EwmaParams {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(format!("`alpha` = {} is not in (0, 1]", self.alpha));
        }
        check_positive("limit", self.limit)?;
        check_at_least_two(
            "min_samples",
            self.min_samples,
            "a deviation needs two values",
        )?;
        check_min_spread(self.min_spread)?;
        check_min_spread_ratio(self.min_spread_ratio)
    }

    fn floor(&self) -> SpreadFloor {
        SpreadFloor {
            min_spread: self.min_spread,
            min_spread_ratio: self.min_spread_ratio,
        }
    }
}

/// An EWMA forecast with a limit on its errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    params: EwmaParams,
    /// The smoothed level: the forecast of the next value.
    level: f64,
    /// Finch's exponentially weighted variance of the residuals.
    variance: f64,
    /// `(1 − α)^updates`: the share of its full weight `variance` still
    /// lacks, having started at 0. Dividing by `1 − unfilled` removes that
    /// bias, so sigma is not too small for the first values after warm-up.
    unfilled: f64,
    resolution: Resolution,
    seen: u64,
}

impl Ewma {
    /// A detector that has learned nothing; `params` should have passed
    /// [`EwmaParams::validate`].
    pub fn new(params: &EwmaParams) -> Self {
        Ewma {
            params: params.clone(),
            level: 0.0,
            variance: 0.0,
            unfilled: 1.0,
            resolution: Resolution::default(),
            seen: 0,
        }
    }

    fn judge(&self, x: f64, residual: f64) -> Verdict {
        let filled = 1.0 - self.unfilled;
        let variance = if filled > 0.0 {
            self.variance / filled
        } else {
            0.0
        };
        let sigma =
            self.params
                .floor()
                .apply(variance.sqrt(), self.level, x, self.resolution.step());
        Verdict::of_deviation(residual / sigma, self.params.limit, self.params.direction)
    }

    fn learn(&mut self, x: f64, residual: f64) {
        self.resolution.learn(x);
        let alpha = self.params.alpha;
        let step = alpha * residual;
        self.level += step;
        self.variance = (1.0 - alpha) * (self.variance + residual * step);
        // Under epsilon it no longer changes `1 − unfilled`; flushed, it stays
        // out of the subnormals, where it would stick (the least subnormal
        // times 1 − α rounds back to itself) and slow every update tenfold.
        self.unfilled = if self.unfilled < f64::EPSILON {
            0.0
        } else {
            self.unfilled * (1.0 - alpha)
        };
        self.seen = self.seen.saturating_add(1);
    }
}

impl Detector for Ewma {
    /// A value that is not a finite number is neither judged nor learned.
    fn observe(&mut self, x: &[f64]) -> Verdict {
        let x = x[0];
        if !x.is_finite() {
            return Verdict::WARMING_UP;
        }
        if self.seen == 0 {
            // The first value is the first forecast; there is no residual yet.
            self.level = x;
            self.resolution.learn(x);
            self.seen = 1;
            return Verdict::WARMING_UP;
        }
        let residual = x - self.level;
        let verdict = if self.seen < self.params.min_samples as u64 {
            Verdict::WARMING_UP
        } else {
            self.judge(x, residual)
        };
        self.learn(x, residual);
        verdict
    }

    fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{
        assert_constant_series_stays_normal_until_it_changes, assert_direction_only_filters,
        assert_judges_nothing_until, assert_min_spread_keeps_small_wobbles_normal,
        assert_params_parse, assert_rejects_each_spoiled, assert_restores_to_the_same_verdicts,
        assert_skips_non_finite, Found, Series,
    };

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn ewma(direction: Direction) -> Ewma {
        Ewma::new(&EwmaParams {
            direction,
            ..EwmaParams::default()
        })
    }

    #[test]
    fn finds_spikes_and_drops_on_a_seasonal_series() {
        let series = Series::new(1, false);
        Found::by(&mut ewma(Direction::Both), &series).assert_found_all_but(&[]);
    }

    #[test]
    fn high_ignores_drops_and_low_ignores_spikes() {
        assert_direction_only_filters(ewma, &Series::new(2, false));
    }

    #[test]
    fn judges_nothing_until_min_samples_are_learned() {
        assert_judges_nothing_until(ewma(Direction::Both), 10);
    }

    #[test]
    fn values_that_are_not_finite_are_skipped() {
        assert_skips_non_finite(ewma(Direction::Both));
    }

    #[test]
    fn sigma_tends_to_the_sd_of_white_noise() {
        // Uniform noise of sd 2: sigma tends to 2·√(2(1−α)/(2−α)), so the
        // limit is in sigmas of the series.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let half_width = 2.0 * 3.0_f64.sqrt();
        let mut e = ewma(Direction::Both);
        let mut variances = 0.0;
        let n = 20_000;
        for _ in 0..n {
            e.observe(&[50.0 + half_width * (2.0 * rng.random::<f64>() - 1.0)]);
            if e.seen() > 1 {
                variances += e.variance / (1.0 - e.unfilled);
            }
        }
        let sigma = (variances / (n - 1) as f64).sqrt();
        let expected = 2.0 * (2.0 * 0.9 / 1.9_f64).sqrt();
        assert!(
            (sigma / expected - 1.0).abs() < 0.03,
            "sigma {sigma}, expected {expected}"
        );
    }

    #[test]
    fn the_warm_up_correction_settles_at_zero() {
        let mut e = ewma(Direction::Both);
        for i in 0..10_000 {
            e.observe(&[i as f64 % 7.0]);
        }
        assert_eq!(e.unfilled, 0.0, "not stuck in the subnormals");
    }

    #[test]
    fn a_restored_detector_gives_the_same_verdicts() {
        assert_restores_to_the_same_verdicts(ewma(Direction::Both), &Series::new(3, false));
    }

    #[test]
    fn a_constant_series_scores_zero_until_it_changes() {
        assert_constant_series_stays_normal_until_it_changes(ewma(Direction::Both));
    }

    #[test]
    fn min_spread_keeps_small_wobbles_normal() {
        let e = Ewma::new(&EwmaParams {
            min_spread: 1.0,
            ..EwmaParams::default()
        });
        // 3 is under 4 sigmas of 1, 6 over.
        assert_min_spread_keeps_small_wobbles_normal(e, 103.0, 106.0);
    }

    #[test]
    fn params_from_config_take_defaults_and_reject_unknown_fields() {
        assert_params_parse(
            r#"{"alpha": 0.3, "direction": "low"}"#,
            EwmaParams {
                alpha: 0.3,
                direction: Direction::Low,
                ..EwmaParams::default()
            },
            r#"{"window": 30}"#,
        );
    }

    #[test]
    fn rejects_params_that_make_no_sense() {
        let no_smoothing = EwmaParams {
            alpha: 1.0,
            ..EwmaParams::default()
        };
        assert_eq!(no_smoothing.validate(), Ok(()));
        assert_rejects_each_spoiled(
            EwmaParams::validate,
            &[
                (|p| p.alpha = 0.0, "`alpha`"),
                (|p| p.alpha = 1.5, "`alpha`"),
                (|p| p.alpha = f64::NAN, "`alpha`"),
                (|p| p.limit = -1.0, "`limit`"),
                (|p| p.limit = f64::INFINITY, "`limit`"),
                (|p| p.min_samples = 1, "`min_samples`"),
                (|p| p.min_spread = -0.5, "`min_spread`"),
            ],
        );
    }
}
