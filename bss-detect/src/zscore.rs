//! Owns the rolling z-score: how many sample standard deviations a value
//! lies from the mean of the last `window` values. Cheap and exact, but not
//! robust: outliers it learns inflate the deviation later values are measured
//! against, so a burst can hide its own tail (`iqr` and `mad` are not fooled).
//!
//! Mean and variance are kept by Welford's update, and once the window is
//! full by its exact counterpart for replacing the oldest value with the
//! newest. Each replacement rounds a little; rather than let that drift for
//! the life of a key, both are recomputed from the window every
//! `RESYNC_WINDOWS` windows' worth of replacements, which costs 1/64 of an
//! addition per observation.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::spread::{
    check_min_spread, check_min_spread_ratio, Resolution, SpreadFloor, DEFAULT_MIN_SPREAD_RATIO,
};
use crate::{check_at_least_two, check_min_samples, check_positive, Detector, Direction, Verdict};

/// Windows' worth of replacements between recomputations of mean and variance.
const RESYNC_WINDOWS: u64 = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZScoreParams {
    /// How many of the latest values the mean and deviation are taken over.
    pub window: usize,
    /// Anomalous when |z| is over this.
    pub threshold: f64,
    /// Which side of the mean is anomalous.
    pub direction: Direction,
    /// Values learned before any is judged.
    pub min_samples: usize,
    /// The least standard deviation a value is measured against, in the
    /// series' own unit: smaller wobbles are not worth a z-score.
    pub min_spread: f64,
    /// The least standard deviation as a share of the mean (`spread`).
    pub min_spread_ratio: f64,
}

impl Default for ZScoreParams {
    fn default() -> Self {
        ZScoreParams {
            window: 60,
            threshold: 4.0,
            direction: Direction::Both,
            min_samples: 10,
            min_spread: 0.0,
            min_spread_ratio: DEFAULT_MIN_SPREAD_RATIO,
        }
    }
}

impl ZScoreParams {
    pub fn validate(&self) -> Result<(), String> {
        check_at_least_two("window", self.window, "a deviation needs two values")?;
        check_min_samples(self.min_samples, self.window)?;
        check_positive("threshold", self.threshold)?;
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

/// A rolling z-score over the last `window` values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZScore {
    params: ZScoreParams,
    /// The last `window` values learned, oldest first.
    ring: VecDeque<f64>,
    /// Mean of `ring`.
    mean: f64,
    /// Sum of squared deviations of `ring` from `mean` (Welford's M2).
    m2: f64,
    /// Replacements since `mean` and `m2` were recomputed from `ring`.
    since_resync: u64,
    resolution: Resolution,
    seen: u64,
}

impl ZScore {
    /// A detector that has learned nothing; `params` should have passed
    /// [`ZScoreParams::validate`].
    pub fn new(params: &ZScoreParams) -> Self {
        ZScore {
            params: params.clone(),
            ring: VecDeque::with_capacity(params.window),
            mean: 0.0,
            m2: 0.0,
            since_resync: 0,
            resolution: Resolution::default(),
            seen: 0,
        }
    }

    fn judge(&self, x: f64) -> Verdict {
        let n = self.ring.len();
        let variance = if n > 1 { self.m2 / (n - 1) as f64 } else { 0.0 };
        let sd = self
            .params
            .floor()
            .apply(variance.sqrt(), self.mean, x, self.resolution.step());
        Verdict::of_deviation(
            (x - self.mean) / sd,
            self.params.threshold,
            self.params.direction,
        )
    }

    fn learn(&mut self, x: f64) {
        self.seen = self.seen.saturating_add(1);
        self.resolution.learn(x);
        if self.ring.len() < self.params.window {
            self.ring.push_back(x);
            let d = x - self.mean;
            self.mean += d / self.ring.len() as f64;
            self.m2 += d * (x - self.mean);
            return;
        }
        let Some(old) = self.ring.pop_front() else {
            return;
        };
        self.ring.push_back(x);
        let mean = self.mean + (x - old) / self.ring.len() as f64;
        self.m2 = (self.m2 + (x - old) * (x - mean + old - self.mean)).max(0.0);
        self.mean = mean;
        self.since_resync += 1;
        if self.since_resync >= RESYNC_WINDOWS * self.params.window as u64 {
            self.resync();
        }
    }

    /// Mean and M2 recomputed from the window, in two passes.
    fn resync(&mut self) {
        let n = self.ring.len() as f64;
        self.mean = self.ring.iter().sum::<f64>() / n;
        self.m2 = self.ring.iter().map(|v| (v - self.mean).powi(2)).sum();
        self.since_resync = 0;
    }
}

impl Detector for ZScore {
    /// A value that is not a finite number is neither judged nor learned.
    fn observe(&mut self, x: &[f64]) -> Verdict {
        let x = x[0];
        if !x.is_finite() {
            return Verdict::WARMING_UP;
        }
        let verdict = if self.seen < self.params.min_samples as u64 {
            Verdict::WARMING_UP
        } else {
            self.judge(x)
        };
        self.learn(x);
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
        assert_skips_non_finite, flags_in_burst, Found, Series, BURST_THAT_MASKS_A_ZSCORE,
    };

    fn zscore(direction: Direction) -> ZScore {
        ZScore::new(&ZScoreParams {
            direction,
            ..ZScoreParams::default()
        })
    }

    #[test]
    fn finds_spikes_and_drops_on_a_seasonal_series() {
        let series = Series::new(1, false);
        Found::by(&mut zscore(Direction::Both), &series).assert_found_all_but(&[]);
    }

    #[test]
    fn high_ignores_drops_and_low_ignores_spikes() {
        assert_direction_only_filters(zscore, &Series::new(2, false));
    }

    #[test]
    fn judges_nothing_until_min_samples_are_learned() {
        assert_judges_nothing_until(zscore(Direction::Both), 10);
    }

    #[test]
    fn values_that_are_not_finite_are_skipped() {
        assert_skips_non_finite(zscore(Direction::Both));
    }

    #[test]
    fn a_restored_detector_gives_the_same_verdicts() {
        assert_restores_to_the_same_verdicts(zscore(Direction::Both), &Series::new(3, false));
    }

    #[test]
    fn a_burst_of_ten_masks_its_own_tail() {
        // A z-score over n values masks the (k+1)-th of a burst of large
        // outliers once √(n/k)·(1 − k/n) falls under its threshold: over 101
        // values at 4 that is from the 7th on, so a burst of 5 still shows
        // whole but one of 10 does not (`iqr` and `mad` flag it whole).
        let mut z = ZScore::new(&ZScoreParams {
            window: 101,
            ..ZScoreParams::default()
        });
        let flags = flags_in_burst(&mut z, BURST_THAT_MASKS_A_ZSCORE);
        assert_eq!(flags[..6], [true; 6], "{flags:?}");
        assert!(flags[6..].iter().all(|flagged| !flagged), "{flags:?}");
    }

    #[test]
    fn a_constant_series_scores_zero_until_it_changes() {
        assert_constant_series_stays_normal_until_it_changes(zscore(Direction::Both));
    }

    #[test]
    fn min_spread_keeps_small_wobbles_normal() {
        let z = ZScore::new(&ZScoreParams {
            min_spread: 1.0,
            ..ZScoreParams::default()
        });
        // 3 is under 4 spreads of 1, 5 over.
        assert_min_spread_keeps_small_wobbles_normal(z, 103.0, 105.0);
    }

    #[test]
    fn long_streams_do_not_drift() {
        let mut z = ZScore::new(&ZScoreParams {
            window: 10,
            ..ZScoreParams::default()
        });
        // Large values with a small spread are where an incremental update
        // loses digits. Without the resync, half a million replacements
        // leave the mean 5e-3 and M2 6e-4 (relative) off; with it, 1e-6 and 2e-7.
        let mut exact = VecDeque::new();
        for i in 0..500_003_u64 {
            let x = 1e9 + (i * 7919 % 13) as f64;
            z.observe(&[x]);
            exact.push_back(x);
            if exact.len() > 10 {
                exact.pop_front();
            }
        }
        let mean = exact.iter().sum::<f64>() / 10.0;
        let m2: f64 = exact.iter().map(|v| (v - mean).powi(2)).sum();
        assert!((z.mean - mean).abs() < 1e-4, "{} vs {mean}", z.mean);
        assert!((z.m2 - m2).abs() / m2 < 1e-5, "{} vs {m2}", z.m2);
    }

    #[test]
    fn params_from_config_take_defaults_and_reject_unknown_fields() {
        assert_params_parse(
            r#"{"window": 30, "direction": "high"}"#,
            ZScoreParams {
                window: 30,
                direction: Direction::High,
                ..ZScoreParams::default()
            },
            r#"{"windwo": 30}"#,
        );
    }

    #[test]
    fn rejects_params_that_make_no_sense() {
        assert_rejects_each_spoiled(
            ZScoreParams::validate,
            &[
                (|p| p.window = 1, "`window`"),
                (|p| p.min_samples = 1, "`min_samples`"),
                (|p| p.min_samples = 61, "`min_samples`"),
                (|p| p.threshold = 0.0, "`threshold`"),
                (|p| p.threshold = f64::NAN, "`threshold`"),
                (|p| p.threshold = f64::INFINITY, "`threshold`"),
                (|p| p.min_spread = -1.0, "`min_spread`"),
                (|p| p.min_spread = f64::NAN, "`min_spread`"),
            ],
        );
    }
}
