//! Owns the IQR detector: Tukey's fences over a sliding window. A value is
//! scored by how far it lies beyond the nearer quartile, in interquartile
//! ranges; inside the quartiles it scores 0. Quartiles ignore the tails, so
//! outliers the window has learned do not widen the fences much: a burst of
//! them is flagged whole where a z-score would start to mask its tail.

use serde::{Deserialize, Serialize};

use crate::sorted_window::SortedWindow;
use crate::spread::{
    check_min_spread, check_min_spread_ratio, Resolution, SpreadFloor, DEFAULT_MIN_SPREAD_RATIO,
};
use crate::{check_at_least_two, check_min_samples, check_positive, Detector, Direction, Verdict};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IqrParams {
    /// How many of the latest values the quartiles are taken over.
    pub window: usize,
    /// Anomalous when the value is more than this many IQRs past a quartile
    /// (Tukey's 1.5 is "outlier", 3 is "far out").
    pub k: f64,
    /// Which fence is watched.
    pub direction: Direction,
    /// Values learned before any is judged.
    pub min_samples: usize,
    /// The least IQR a value is measured against, in the series' own unit:
    /// smaller wobbles are not worth a score.
    pub min_spread: f64,
    /// The least IQR as a share of the median (`spread`).
    pub min_spread_ratio: f64,
}

impl Default for IqrParams {
    fn default() -> Self {
        IqrParams {
            window: 101,
            k: 3.0,
            direction: Direction::Both,
            min_samples: 20,
            min_spread: 0.0,
            min_spread_ratio: DEFAULT_MIN_SPREAD_RATIO,
        }
    }
}

impl IqrParams {
    pub fn validate(&self) -> Result<(), String> {
        check_at_least_two("window", self.window, "quartiles need two values")?;
        check_min_samples(self.min_samples, self.window)?;
        check_positive("k", self.k)?;
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

/// Tukey's fences over the last `window` values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iqr {
    params: IqrParams,
    window: SortedWindow,
    resolution: Resolution,
    seen: u64,
}

impl Iqr {
    /// A detector that has learned nothing; `params` should have passed
    /// [`IqrParams::validate`].
    pub fn new(params: &IqrParams) -> Self {
        Iqr {
            params: params.clone(),
            window: SortedWindow::new(params.window),
            resolution: Resolution::default(),
            seen: 0,
        }
    }
}

/// Scores `x` against `window`, of a series that steps by `resolution`.
fn judge(params: &IqrParams, window: &SortedWindow, resolution: f64, x: f64) -> Verdict {
    let q1 = window.quantile(0.25);
    let q3 = window.quantile(0.75);
    let iqr = params
        .floor()
        .apply(q3 - q1, window.median(), x, resolution);
    // Signed distance past the nearer quartile: + above q3, − below q1.
    let beyond = if x > q3 {
        x - q3
    } else if x < q1 {
        x - q1
    } else {
        0.0
    };
    Verdict::of_deviation(beyond / iqr, params.k, params.direction)
}

impl Detector for Iqr {
    /// A value that is not a finite number is neither judged nor learned.
    fn observe(&mut self, x: &[f64]) -> Verdict {
        let (x, params) = (x[0], &self.params);
        let resolution = self.resolution.step();
        let verdict = self
            .window
            .judge_then_learn(x, params.min_samples, &mut self.seen, |w| {
                judge(params, w, resolution, x)
            });
        if x.is_finite() {
            self.resolution.learn(x);
        }
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
        assert_flags_a_burst_whole, assert_judges_nothing_until,
        assert_min_spread_keeps_small_wobbles_normal, assert_params_parse,
        assert_rejects_each_spoiled, assert_restores_to_the_same_verdicts, assert_skips_non_finite,
        Found, Series, BURST_THAT_MASKS_A_ZSCORE,
    };

    fn iqr(direction: Direction) -> Iqr {
        Iqr::new(&IqrParams {
            direction,
            ..IqrParams::default()
        })
    }

    #[test]
    fn finds_spikes_drops_and_bursts_on_a_seasonal_series() {
        let series = Series::new(1, true);
        Found::by(&mut iqr(Direction::Both), &series).assert_found_all_but(&[]);
    }

    #[test]
    fn a_burst_of_five_in_a_window_of_101_is_flagged_whole() {
        assert_flags_a_burst_whole(iqr(Direction::Both), 5);
    }

    #[test]
    fn a_burst_that_masks_a_zscore_is_flagged_whole() {
        assert_flags_a_burst_whole(iqr(Direction::Both), BURST_THAT_MASKS_A_ZSCORE);
    }

    #[test]
    fn high_ignores_drops_and_low_ignores_spikes() {
        assert_direction_only_filters(iqr, &Series::new(2, true));
    }

    #[test]
    fn judges_nothing_until_min_samples_are_learned() {
        assert_judges_nothing_until(iqr(Direction::Both), 20);
    }

    #[test]
    fn values_that_are_not_finite_are_skipped() {
        assert_skips_non_finite(iqr(Direction::Both));
    }

    #[test]
    fn scores_in_iqrs_past_the_nearer_quartile() {
        let mut d = iqr(Direction::Both);
        // Quartiles of 0, 1, …, 100 are 25 and 75: an IQR of 50.
        for i in 0..=100 {
            d.observe(&[i as f64]);
        }
        let probe = |x: f64| d.clone().observe(&[x]);
        assert_eq!(probe(50.0).score, 0.0);
        assert_eq!(probe(75.0).score, 0.0);
        assert_eq!(probe(100.0).score, 0.5);
        assert_eq!(probe(-50.0).score, 1.5);
        assert!(
            !probe(225.0).anomalous,
            "exactly k IQRs out is a fence, not past it"
        );
        assert!(probe(226.0).anomalous);
    }

    #[test]
    fn a_restored_detector_gives_the_same_verdicts() {
        assert_restores_to_the_same_verdicts(iqr(Direction::Both), &Series::new(3, true));
    }

    #[test]
    fn a_constant_series_scores_zero_until_it_changes() {
        assert_constant_series_stays_normal_until_it_changes(iqr(Direction::Both));
    }

    #[test]
    fn min_spread_keeps_small_wobbles_normal() {
        let d = Iqr::new(&IqrParams {
            min_spread: 1.0,
            ..IqrParams::default()
        });
        // 2.5 past q3 is under k = 3 IQRs floored at 1, 3.5 over.
        assert_min_spread_keeps_small_wobbles_normal(d, 102.5, 103.5);
    }

    #[test]
    fn params_from_config_take_defaults_and_reject_unknown_fields() {
        assert_params_parse(
            r#"{"k": 1.5, "window": 51}"#,
            IqrParams {
                k: 1.5,
                window: 51,
                ..IqrParams::default()
            },
            r#"{"threshold": 3}"#,
        );
    }

    #[test]
    fn rejects_params_that_make_no_sense() {
        assert_rejects_each_spoiled(
            IqrParams::validate,
            &[
                (|p| p.window = 0, "`window`"),
                (|p| p.min_samples = 0, "`min_samples`"),
                (|p| p.min_samples = 102, "`min_samples`"),
                (|p| p.k = 0.0, "`k`"),
                (|p| p.k = f64::NAN, "`k`"),
                (|p| p.min_spread = -1.0, "`min_spread`"),
                (|p| p.min_spread = f64::INFINITY, "`min_spread`"),
            ],
        );
    }
}
