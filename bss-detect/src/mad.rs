//! Owns the MAD detector: Iglewicz and Hoaglin's modified z-score over a
//! sliding window, `0.6745·|x − median| / MAD`. Median and MAD ignore the
//! tails, so outliers the window has learned barely move them: a burst is
//! flagged whole where a z-score would start to mask its tail.

use serde::{Deserialize, Serialize};

use crate::sorted_window::SortedWindow;
use crate::spread::{
    check_min_spread, check_min_spread_ratio, Resolution, SpreadFloor, DEFAULT_MIN_SPREAD_RATIO,
};
use crate::{check_at_least_two, check_min_samples, check_positive, Detector, Direction, Verdict};

/// The MAD of a standard normal distribution (its 75th percentile): scaling
/// by it makes the modified z-score read as sigmas for Gaussian data.
const MAD_OF_STANDARD_NORMAL: f64 = 0.6745;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MadParams {
    /// How many of the latest values the median and MAD are taken over.
    pub window: usize,
    /// Anomalous when the modified z-score is over this (Iglewicz and
    /// Hoaglin suggest 3.5).
    pub threshold: f64,
    /// Which side of the median is anomalous.
    pub direction: Direction,
    /// Values learned before any is judged.
    pub min_samples: usize,
    /// The least MAD a value is measured against, in the series' own unit:
    /// smaller wobbles are not worth a score.
    pub min_spread: f64,
    /// The least MAD as a share of the median (`spread`).
    pub min_spread_ratio: f64,
}

impl Default for MadParams {
    fn default() -> Self {
        MadParams {
            window: 101,
            threshold: 3.5,
            direction: Direction::Both,
            min_samples: 20,
            min_spread: 0.0,
            min_spread_ratio: DEFAULT_MIN_SPREAD_RATIO,
        }
    }
}

impl MadParams {
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

/// A modified z-score over the last `window` values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mad {
    params: MadParams,
    window: SortedWindow,
    resolution: Resolution,
    seen: u64,
}

impl Mad {
    /// A detector that has learned nothing; `params` should have passed
    /// [`MadParams::validate`].
    pub fn new(params: &MadParams) -> Self {
        Mad {
            params: params.clone(),
            window: SortedWindow::new(params.window),
            resolution: Resolution::default(),
            seen: 0,
        }
    }
}

/// Scores `x` against `window`, of a series that steps by `resolution`.
fn judge(params: &MadParams, window: &SortedWindow, resolution: f64, x: f64) -> Verdict {
    let median = window.median();
    let mad = params.floor().apply(window.mad(), median, x, resolution);
    Verdict::of_deviation(
        MAD_OF_STANDARD_NORMAL * (x - median) / mad,
        params.threshold,
        params.direction,
    )
}

impl Detector for Mad {
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

    fn mad(direction: Direction) -> Mad {
        Mad::new(&MadParams {
            direction,
            ..MadParams::default()
        })
    }

    /// The default threshold, 3.5, is Iglewicz and Hoaglin's rule for
    /// labelling potential outliers; at a window of 101 the MAD's own
    /// sampling noise makes it flag about 0.2% of Gaussian noise (13 of 5949
    /// clean points, averaged over 40 seeds of the synthetic series), which
    /// is the whole false-alarm budget. 4.5 flags 0.01% and still finds every
    /// injected anomaly, each 20 sds out.
    fn mad_at_4_5(direction: Direction) -> Mad {
        Mad::new(&MadParams {
            direction,
            threshold: 4.5,
            ..MadParams::default()
        })
    }

    #[test]
    fn finds_spikes_drops_and_bursts_on_a_seasonal_series() {
        let series = Series::new(1, true);
        Found::by(&mut mad_at_4_5(Direction::Both), &series).assert_found_all_but(&[]);
    }

    #[test]
    fn a_burst_of_five_in_a_window_of_101_is_flagged_whole() {
        assert_flags_a_burst_whole(mad(Direction::Both), 5);
    }

    #[test]
    fn a_burst_that_masks_a_zscore_is_flagged_whole() {
        assert_flags_a_burst_whole(mad(Direction::Both), BURST_THAT_MASKS_A_ZSCORE);
    }

    #[test]
    fn high_ignores_drops_and_low_ignores_spikes() {
        assert_direction_only_filters(mad_at_4_5, &Series::new(2, true));
    }

    #[test]
    fn judges_nothing_until_min_samples_are_learned() {
        assert_judges_nothing_until(mad(Direction::Both), 20);
    }

    #[test]
    fn values_that_are_not_finite_are_skipped() {
        assert_skips_non_finite(mad(Direction::Both));
    }

    #[test]
    fn scores_are_modified_z_scores() {
        let mut d = mad(Direction::Both);
        // 0, 1, …, 100: median 50, MAD 25.
        for i in 0..=100 {
            d.observe(&[i as f64]);
        }
        let probe = |x: f64| d.clone().observe(&[x]);
        assert_eq!(probe(50.0).score, 0.0);
        assert!((probe(100.0).score - 0.6745 * 2.0).abs() < 1e-12);
        assert!((probe(-50.0).score - 0.6745 * 4.0).abs() < 1e-12);
        let at_threshold = 50.0 + 3.5 * 25.0 / 0.6745;
        assert!(!probe(at_threshold - 0.01).anomalous);
        assert!(probe(at_threshold + 0.01).anomalous);
    }

    #[test]
    fn a_restored_detector_gives_the_same_verdicts() {
        assert_restores_to_the_same_verdicts(mad(Direction::Both), &Series::new(3, true));
    }

    #[test]
    fn a_constant_series_scores_zero_until_it_changes() {
        assert_constant_series_stays_normal_until_it_changes(mad(Direction::Both));
    }

    #[test]
    fn min_spread_keeps_small_wobbles_normal() {
        let d = Mad::new(&MadParams {
            min_spread: 1.0,
            ..MadParams::default()
        });
        // With the MAD floored at 1 the limit is 3.5 / 0.6745 ≈ 5.19 away.
        assert_min_spread_keeps_small_wobbles_normal(d, 105.0, 105.5);
    }

    #[test]
    fn params_from_config_take_defaults_and_reject_unknown_fields() {
        assert_params_parse(
            r#"{"threshold": 5, "min_samples": 30}"#,
            MadParams {
                threshold: 5.0,
                min_samples: 30,
                ..MadParams::default()
            },
            r#"{"k": 3}"#,
        );
    }

    #[test]
    fn rejects_params_that_make_no_sense() {
        assert_rejects_each_spoiled(
            MadParams::validate,
            &[
                (|p| p.window = 1, "`window`"),
                (|p| p.min_samples = 1, "`min_samples`"),
                (|p| p.min_samples = 102, "`min_samples`"),
                (|p| p.threshold = -3.5, "`threshold`"),
                (|p| p.threshold = f64::NAN, "`threshold`"),
                (|p| p.min_spread = -1.0, "`min_spread`"),
                (|p| p.min_spread = f64::NAN, "`min_spread`"),
            ],
        );
    }
}
