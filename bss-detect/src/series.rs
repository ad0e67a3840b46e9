//! Owns judging one series (one key of one configured detector): the
//! model its algorithm builds, and what every detector adds around the
//! model whatever its algorithm: the anomaly likelihood of its raw scores
//! (`likelihood`), the choice to alarm on the model's own threshold or on
//! the likelihood, and one alarm per episode (`episode`). The pipeline runs
//! one per key; a caller with a plain series of numbers (a benchmark) runs
//! one directly, with the same verdicts. Must not know where the values
//! come from.
//!
//! ```
//! use bss_detect::model::Algorithm;
//! use bss_detect::series::{AlarmParams, SeriesDetector};
//!
//! let algorithm: Algorithm = serde_json::from_str(r#"{"algorithm": "zscore"}"#).unwrap();
//! let alarm = AlarmParams { likelihood_threshold: Some(0.9999), ..AlarmParams::default() };
//! let mut detector = SeriesDetector::new(&algorithm, &alarm, 7);
//! for t in 0..500 {
//!     let v = detector.observe(&[100.0 + (t % 7) as f64]);
//!     // v.score (raw), v.likelihood (in [0, 1]), v.anomalous, v.alarm
//!     assert!(!v.alarm);
//! }
//! assert!(detector.observe(&[400.0]).alarm);
//! ```

use serde::{Deserialize, Serialize};

use crate::episode::Episode;
use crate::likelihood::AnomalyLikelihood;
use crate::model::{Algorithm, Model};
use crate::{check_between_0_and_1, check_within, Detector, Verdict};

/// The default `normal_to_end_episode`.
pub const DEFAULT_NORMAL_TO_END_EPISODE: u32 = 3;
/// The longest short-term window of the likelihood (kept per key).
pub const MAX_LIKELIHOOD_SHORT_WINDOW: usize = 100;
/// The longest likelihood window.
pub const MAX_LIKELIHOOD_WINDOW: usize = 10_000_000;

/// The settings every detector has whatever its algorithm: when a series
/// alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlarmParams {
    /// Anomalous when the likelihood is over this (e.g. 0.9999: a
    /// short-term mean of raw scores this series shows once in ten thousand
    /// observations, were they Gaussian); unset: when the model's own
    /// threshold is crossed. It suits the algorithms whose raw score grows
    /// without bound with the deviation (zscore, ewma, iqr, mad); the
    /// scores of half_space_trees, isolation_forest and one_class_svm are
    /// bounded, so a spike cannot stand out of their spread once averaged:
    /// alarm those on their own threshold (the measured figures are in this
    /// module's tests).
    pub likelihood_threshold: Option<f64>,
    /// Raw scores averaged into the short-term mean the likelihood judges.
    /// Numenta's 10 suits HTM, whose anomalies last; a spike is one
    /// observation, and averaging it over 10 dilutes it tenfold: on the
    /// synthetic series 5 finds 98% to 100% of the anomalies that zscore,
    /// ewma, iqr and mad find on their own thresholds, 10 only 78% to 99%,
    /// and 1 or 3 let the raw scores' heavy tail through as false alarms.
    pub likelihood_short_window: usize,
    /// Observations whose short-term means the likelihood's Gaussian is
    /// fitted to.
    pub likelihood_window: usize,
    /// Normal observations in a row that end an anomaly episode: until
    /// then, further anomalous observations of the key are the same
    /// anomaly and are not reported again.
    pub normal_to_end_episode: u32,
}

impl Default for AlarmParams {
    fn default() -> Self {
        AlarmParams {
            likelihood_threshold: None,
            likelihood_short_window: 5,
            likelihood_window: 1_000,
            normal_to_end_episode: DEFAULT_NORMAL_TO_END_EPISODE,
        }
    }
}

impl AlarmParams {
    /// Its settings as they are written in a `[[detector]]` table.
    pub const KEYS: &'static [&'static str] = &[
        "likelihood_threshold",
        "likelihood_short_window",
        "likelihood_window",
        "normal_to_end_episode",
    ];

    pub fn validate(&self) -> Result<(), String> {
        if let Some(t) = self.likelihood_threshold {
            check_between_0_and_1("likelihood_threshold", t, "likelihoods are in [0, 1]")?;
        }
        check_within(
            "likelihood_short_window",
            self.likelihood_short_window,
            1..=MAX_LIKELIHOOD_SHORT_WINDOW,
        )?;
        check_within(
            "likelihood_window",
            self.likelihood_window,
            self.likelihood_short_window..=MAX_LIKELIHOOD_WINDOW,
        )?;
        check_within(
            "normal_to_end_episode",
            self.normal_to_end_episode as usize,
            1..=u32::MAX as usize,
        )
    }
}

/// One series' detector: a model, its likelihood and its episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDetector {
    alarm: AlarmParams,
    model: Model,
    likelihood: AnomalyLikelihood,
    episode: Episode,
}

impl SeriesDetector {
    /// A detector that has learned nothing; `seed` makes a randomised
    /// model reproducible. Both settings must have passed `validate`.
    pub fn new(algorithm: &Algorithm, alarm: &AlarmParams, seed: u64) -> Self {
        SeriesDetector {
            alarm: alarm.clone(),
            model: algorithm.build(seed),
            likelihood: AnomalyLikelihood::default(),
            episode: Episode::default(),
        }
    }

    /// Judges `x` (one number per feature) then learns it: the model's raw
    /// score, the likelihood, whether it is anomalous by the configured
    /// limit and whether it is reported (the first of an episode).
    pub fn observe(&mut self, x: &[f64]) -> Verdict {
        let raw = self.model.observe(x);
        if !raw.judged {
            return raw;
        }
        let a = &self.alarm;
        let likelihood =
            self.likelihood
                .observe(raw.score, a.likelihood_short_window, a.likelihood_window);
        let anomalous = match a.likelihood_threshold {
            None => raw.anomalous,
            Some(t) => likelihood > t,
        };
        Verdict {
            score: raw.score,
            likelihood,
            anomalous,
            alarm: self.episode.alarm(anomalous, a.normal_to_end_episode),
            judged: true,
        }
    }
}

impl Detector for SeriesDetector {
    fn observe(&mut self, x: &[f64]) -> Verdict {
        SeriesDetector::observe(self, x)
    }

    fn seen(&self) -> u64 {
        self.model.seen()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{every_algorithm, Reported, Series};
    use crate::zscore::ZScoreParams;
    use crate::Direction;

    fn on_likelihood(threshold: f64) -> AlarmParams {
        AlarmParams {
            likelihood_threshold: Some(threshold),
            ..AlarmParams::default()
        }
    }

    /// Reports of anomalies (single points and bursts of 5, one report an
    /// episode) on the synthetic series, averaged over 8 seeds: each
    /// algorithm by its own threshold, then every one by the same
    /// likelihood threshold, 0.9999. Floors are the measured figures
    /// rounded down. The unbounded scores do as well or better on the one
    /// threshold (zscore 0.954 → 0.992, ewma 0.887 → 1.000, iqr 0.995 →
    /// 0.979, mad 0.979 → 0.981); the bounded ones do not (isolation_forest
    /// 0.924 → 0.394, one_class_svm 0.971 → 0.414).
    #[test]
    fn one_likelihood_threshold_serves_every_algorithm() {
        let floors = [
            ("zscore", 0.95, 0.99),
            ("ewma", 0.88, 0.99),
            ("iqr", 0.99, 0.97),
            ("mad", 0.97, 0.98),
            // Bounded scores: see `likelihood_threshold`.
            ("half_space_trees", 0.06, 0.01),
            ("isolation_forest", 0.92, 0.39),
            ("isolation_forest", 0.34, 0.05),
            ("one_class_svm", 0.97, 0.41),
        ];
        let mut under = Vec::new();
        for (algorithm, (name, own, likelihood)) in every_algorithm().iter().zip(floors) {
            assert_eq!(algorithm.name(), name);
            for (alarm, floor) in [
                (AlarmParams::default(), own),
                (on_likelihood(0.9999), likelihood),
            ] {
                let mut f1 = 0.0;
                for seed in 1..=8 {
                    let series = Series::new(seed, true);
                    let mut d = SeriesDetector::new(algorithm, &alarm, seed);
                    f1 += Reported::by(&mut d, &series).f1() / 8.0;
                }
                let by = alarm
                    .likelihood_threshold
                    .map_or("its threshold".to_owned(), |t| format!("likelihood {t}"));
                eprintln!("{name:>16} by {by:>17}: F1 of reports {f1:.3}");
                if f1 < floor {
                    under.push(format!("{name} by {by}: F1 {f1:.3} under {floor}"));
                }
            }
        }
        assert!(under.is_empty(), "{under:#?}");
    }

    #[test]
    fn flat_and_quantized_series_raise_no_alarm_flood() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let random_quanta: Vec<f64> = (0..5_000)
            .map(|_| if rng.random_bool(0.25) { 11.0 } else { 10.0 })
            .collect();
        type Values = Box<dyn Fn(usize) -> f64>;
        let series: [(&str, Values); 5] = [
            ("flat at 0", Box::new(|_| 0.0)),
            ("flat at 10", Box::new(|_| 10.0)),
            ("flat at 1e9", Box::new(|_| 1e9)),
            (
                "10, 10, 10, 11",
                Box::new(|t| if t % 4 == 3 { 11.0 } else { 10.0 }),
            ),
            ("10 or 11 at random", Box::new(move |t| random_quanta[t])),
        ];
        for algorithm in every_algorithm() {
            for alarm in [AlarmParams::default(), on_likelihood(0.9999)] {
                for (name, value) in &series {
                    let mut d = SeriesDetector::new(&algorithm, &alarm, 1);
                    let mut alarms = 0;
                    for t in 0..5_000 {
                        let v = d.observe(&[value(t)]);
                        assert!(
                            v.score.abs() < 1e6 && (0.0..=1.0).contains(&v.likelihood),
                            "{} on {name}: {v:?}",
                            algorithm.name()
                        );
                        alarms += usize::from(v.alarm);
                    }
                    // A run of 11s is as rare at random as the likelihood
                    // threshold says (the binomial's tail is heavier than
                    // the Gaussian's): a few in 5 000 is calibration, not a flood.
                    let most = if name.contains("random") { 5 } else { 0 };
                    assert!(
                        alarms <= most,
                        "{} on {name}, likelihood {:?}: {alarms} alarms",
                        algorithm.name(),
                        alarm.likelihood_threshold
                    );
                }
            }
        }
    }

    fn zscore(threshold: f64, direction: Direction) -> Algorithm {
        Algorithm::Zscore(ZScoreParams {
            threshold,
            direction,
            ..ZScoreParams::default()
        })
    }

    /// Uniform noise around 100 (sd about 2), from a fixed seed.
    fn noise(n: usize) -> Vec<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        (0..n)
            .map(|_| 100.0 + 7.0 * (rng.random::<f64>() - 0.5))
            .collect()
    }

    #[test]
    fn consecutive_anomalies_are_one_episode_reported_once() {
        let alarm = AlarmParams {
            normal_to_end_episode: 3,
            ..AlarmParams::default()
        };
        let mut d = SeriesDetector::new(&zscore(4.0, Direction::Both), &alarm, 1);
        for x in noise(300) {
            d.observe(&[x]);
        }
        // A burst, a normal value, more of the burst: one episode.
        let run = [140.0, 150.0, 145.0, 100.0, 150.0];
        let alarms: Vec<bool> = run.iter().map(|&x| d.observe(&[x]).alarm).collect();
        assert_eq!(alarms, [true, false, false, false, false]);
        let anomalous = d.observe(&[160.0]);
        assert!(
            anomalous.anomalous && !anomalous.alarm,
            "still the same episode"
        );
        for _ in 0..3 {
            assert!(!d.observe(&[100.0]).anomalous);
        }
        assert!(d.observe(&[170.0]).alarm, "three normal values ended it");
    }

    #[test]
    fn on_the_likelihood_the_models_own_threshold_does_not_count_but_its_direction_does() {
        // A z-score whose own threshold nothing reaches.
        let mut d = SeriesDetector::new(&zscore(1e6, Direction::High), &on_likelihood(0.9999), 1);
        let mut likelihoods = Vec::new();
        for x in noise(1_000) {
            let v = d.observe(&[x]);
            assert!(!v.alarm, "{v:?}");
            likelihoods.push(v.likelihood);
        }
        assert_eq!(likelihoods[0], 0.5, "no opinion while it learns");
        assert!(likelihoods[500..].iter().any(|&l| l != 0.5));
        let drop = d.clone().observe(&[40.0]);
        assert!(
            !drop.anomalous && drop.score == 0.0,
            "a drop is not watched: {drop:?}"
        );
        let spike = d.observe(&[160.0]);
        assert!(spike.alarm && spike.likelihood > 0.9999, "{spike:?}");
        assert!(spike.score < 1e6, "not by its own threshold");
    }

    #[test]
    fn observations_a_model_cannot_judge_pass_through_unjudged() {
        let mut d = SeriesDetector::new(&zscore(4.0, Direction::Both), &on_likelihood(0.9999), 1);
        for x in noise(5) {
            assert_eq!(d.observe(&[x]), Verdict::WARMING_UP);
        }
        let before = d.clone();
        assert_eq!(d.observe(&[f64::NAN]), Verdict::WARMING_UP);
        assert_eq!(d, before);
    }

    #[test]
    fn alarm_settings_out_of_range_are_named() {
        assert_eq!(AlarmParams::default().validate(), Ok(()));
        let spoil = |change: fn(&mut AlarmParams), naming: &str| {
            let mut p = AlarmParams::default();
            change(&mut p);
            let e = p.validate().unwrap_err();
            assert!(e.contains(naming), "{p:?}: {e}");
        };
        spoil(
            |p| p.likelihood_threshold = Some(1.0),
            "`likelihood_threshold`",
        );
        spoil(
            |p| p.likelihood_threshold = Some(f64::NAN),
            "`likelihood_threshold`",
        );
        spoil(
            |p| p.likelihood_short_window = 0,
            "`likelihood_short_window`",
        );
        spoil(
            |p| p.likelihood_short_window = 101,
            "`likelihood_short_window`",
        );
        spoil(|p| p.likelihood_window = 4, "`likelihood_window`");
        spoil(|p| p.normal_to_end_episode = 0, "`normal_to_end_episode`");
    }
}
