//! Test support for the detectors: the series they are judged on, a
//! daily-like sine (amplitude 10 around 100, one period every 1440 points,
//! as minutes of a day) with Gaussian noise of sd 2 and anomalies injected
//! at known indices; the tally of what a detector flagged in it point by
//! point ([`Found`]) and of what it reported, anomaly by anomaly
//! ([`Reported`]); every algorithm as the comparisons judge it; and the
//! checks every statistical detector must pass (warm-up, non-finite
//! values, direction, restore, constant series, `min_spread`, bursts,
//! parameters), each called by a test of its own in each detector's file so
//! that a failure names the detector. Never part of the library.

use std::fmt::Debug;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ewma::EwmaParams;
use crate::hst::HstParams;
use crate::iforest::IsolationForestParams;
use crate::iqr::IqrParams;
use crate::mad::MadParams;
use crate::model::Algorithm;
use crate::ocsvm::OneClassSvmParams;
use crate::zscore::ZScoreParams;
use crate::{Detector, Direction, Verdict};

/// Points in a series: a little over four days.
const LEN: usize = 6_000;
/// Points per seasonal period.
const PERIOD: f64 = 1_440.0;
/// No anomaly is injected before this index, so every detector is warm.
const FIRST_ANOMALY: usize = 400;
/// Points between injections, more than any test window: each anomaly is
/// judged against a window that holds no other.
const SPACING: usize = 250;
/// Outliers in a burst.
const BURST: usize = 5;
/// The size of a spike (`+`) or drop (`-`), 20 noise sds.
const JUMP: f64 = 40.0;

/// A series with the indices of what was injected into it.
pub(crate) struct Series {
    pub(crate) values: Vec<f64>,
    /// Injected indices with the offset added there (`+JUMP` or `-JUMP`).
    pub(crate) injected: Vec<(usize, f64)>,
}

impl Series {
    /// Spikes and drops in turn, each a single point; with `bursts`, every
    /// third injection is instead `BURST` consecutive outliers.
    pub(crate) fn new(seed: u64, bursts: bool) -> Series {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut values: Vec<f64> = (0..LEN)
            .map(|t| {
                let season = 10.0 * (std::f64::consts::TAU * t as f64 / PERIOD).sin();
                // Box-Muller; 1 - u keeps the logarithm's argument off zero.
                let (u, v): (f64, f64) = (rng.random(), rng.random());
                let noise = (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                100.0 + season + 2.0 * noise
            })
            .collect();
        let mut injected = Vec::new();
        for (slot, at) in (FIRST_ANOMALY..LEN - BURST).step_by(SPACING).enumerate() {
            let offset = if slot % 2 == 0 { JUMP } else { -JUMP };
            let run = if bursts && slot % 3 == 2 { BURST } else { 1 };
            for (i, value) in values.iter_mut().enumerate().skip(at).take(run) {
                *value += offset;
                injected.push((i, offset));
            }
        }
        Series { values, injected }
    }

    /// Indices of the injected values whose offset has the sign of `side`.
    fn injected_on(&self, side: f64) -> Vec<usize> {
        let on_side = |&&(_, offset): &&(usize, f64)| offset.signum() == side;
        self.injected
            .iter()
            .filter(on_side)
            .map(|&(i, _)| i)
            .collect()
    }
}

/// What a detector flagged in a series.
#[derive(Debug)]
pub(crate) struct Found {
    /// Injected indices it did not flag.
    pub(crate) missed: Vec<usize>,
    /// Clean indices it flagged.
    pub(crate) false_alarms: Vec<usize>,
    injected: usize,
    clean: usize,
}

impl Found {
    /// Feeds the whole series to `detector`.
    pub(crate) fn by(detector: &mut impl Detector, series: &Series) -> Found {
        let mut injected = series.injected.iter().map(|&(i, _)| i).peekable();
        let mut found = Found {
            missed: Vec::new(),
            false_alarms: Vec::new(),
            injected: series.injected.len(),
            clean: 0,
        };
        for (i, &x) in series.values.iter().enumerate() {
            let verdict = detector.observe(&[x]);
            let is_injected = injected.next_if_eq(&i).is_some();
            match (is_injected, verdict.anomalous) {
                (true, false) => found.missed.push(i),
                (false, true) => found.false_alarms.push(i),
                (false, false) => found.clean += 1,
                (true, true) => {}
            }
        }
        found.clean += found.false_alarms.len();
        found
    }

    /// Flagged injected points over all flagged points (1 when none is flagged).
    pub(crate) fn precision(&self) -> f64 {
        let caught = self.injected - self.missed.len();
        let flagged = caught + self.false_alarms.len();
        if flagged == 0 {
            1.0
        } else {
            caught as f64 / flagged as f64
        }
    }

    /// Flagged injected points over injected points.
    pub(crate) fn recall(&self) -> f64 {
        1.0 - self.missed.len() as f64 / self.injected as f64
    }

    /// The harmonic mean of precision and recall, point by point.
    pub(crate) fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Pins what was missed (`missed`, usually none), and holds recall to at
    /// least 95% and false alarms to at most 0.2% of the clean points.
    pub(crate) fn assert_found_all_but(&self, missed: &[usize]) {
        assert_eq!(self.missed, missed, "{self:?}");
        let recall = 1.0 - self.missed.len() as f64 / self.injected as f64;
        assert!(recall >= 0.95, "recall {recall}: {self:?}");
        let false_alarm_rate = self.false_alarms.len() as f64 / self.clean as f64;
        assert!(
            false_alarm_rate <= 0.002,
            "false alarm rate {false_alarm_rate}: {self:?}"
        );
    }
}

/// What a detector reported (its alarms) of the anomalies injected into a
/// series, an anomaly being a single point or a burst.
#[derive(Debug)]
pub(crate) struct Reported {
    anomalies: usize,
    /// Anomalies with an alarm on one of their points.
    pub(crate) found: usize,
    pub(crate) alarms: usize,
    /// Alarms on an injected point.
    pub(crate) true_alarms: usize,
}

impl Reported {
    /// Feeds the whole series to `detector`.
    pub(crate) fn by(detector: &mut impl Detector, series: &Series) -> Reported {
        // Runs of consecutive injected indices: (first, last).
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &(i, _) in &series.injected {
            match runs.last_mut() {
                Some(run) if run.1 + 1 == i => run.1 = i,
                _ => runs.push((i, i)),
            }
        }
        let mut reported = Reported {
            anomalies: runs.len(),
            found: 0,
            alarms: 0,
            true_alarms: 0,
        };
        let mut found = vec![false; runs.len()];
        for (i, &x) in series.values.iter().enumerate() {
            if !detector.observe(&[x]).alarm {
                continue;
            }
            reported.alarms += 1;
            if let Some(r) = runs.iter().position(|&(a, b)| (a..=b).contains(&i)) {
                reported.true_alarms += 1;
                found[r] = true;
            }
        }
        reported.found = found.iter().filter(|&&f| f).count();
        reported
    }

    /// The F1 of alarms (precision) and anomalies found (recall).
    pub(crate) fn f1(&self) -> f64 {
        let precision = if self.alarms == 0 {
            1.0
        } else {
            self.true_alarms as f64 / self.alarms as f64
        };
        let recall = self.found as f64 / self.anomalies as f64;
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    }
}

/// Every algorithm but the business rule, as the comparisons judge them:
/// defaults, `mad` at 4.5 (see its tests), and the isolation forest also
/// without its range penalty (at 0.7, the best threshold it has without).
pub(crate) fn every_algorithm() -> Vec<Algorithm> {
    vec![
        Algorithm::Zscore(ZScoreParams::default()),
        Algorithm::Ewma(EwmaParams::default()),
        Algorithm::Iqr(IqrParams::default()),
        Algorithm::Mad(MadParams {
            threshold: 4.5,
            ..MadParams::default()
        }),
        Algorithm::HalfSpaceTrees(HstParams::default()),
        Algorithm::IsolationForest(IsolationForestParams::default()),
        Algorithm::IsolationForest(IsolationForestParams {
            range_penalty: false,
            threshold: 0.7,
            ..IsolationForestParams::default()
        }),
        Algorithm::OneClassSvm(OneClassSvmParams::default()),
    ]
}

/// Direction only filters: the detector watching one side misses exactly
/// the injections on the other, and the false alarms of the two sides are
/// those of `Both`, split.
pub(crate) fn assert_direction_only_filters<D: Detector>(
    detector: impl Fn(Direction) -> D,
    series: &Series,
) {
    let both = Found::by(&mut detector(Direction::Both), series);
    let high = Found::by(&mut detector(Direction::High), series);
    let low = Found::by(&mut detector(Direction::Low), series);
    assert_eq!(high.missed, series.injected_on(-1.0), "{high:?}");
    assert_eq!(low.missed, series.injected_on(1.0), "{low:?}");
    let mut split = [high.false_alarms, low.false_alarms].concat();
    split.sort_unstable();
    assert_eq!(split, both.false_alarms);
}

/// Warm-up: the first `min_samples` values are learned, not judged, the
/// last of them however far out; the one after is judged.
#[track_caller]
pub(crate) fn assert_judges_nothing_until(mut detector: impl Detector, min_samples: usize) {
    for i in 1..min_samples {
        let verdict = detector.observe(&[(i % 4) as f64]);
        assert_eq!(verdict, Verdict::WARMING_UP, "value {i}");
    }
    assert_eq!(
        detector.observe(&[1e6]),
        Verdict::WARMING_UP,
        "value {min_samples} is learned, not judged"
    );
    let next = min_samples + 1;
    assert!(detector.observe(&[1e9]).anomalous, "value {next} is judged");
    assert_eq!(detector.seen(), next as u64);
}

/// A value that is not a finite number is neither judged nor learned, once
/// the detector is warm.
#[track_caller]
pub(crate) fn assert_skips_non_finite<D>(mut detector: D)
where
    D: Detector + Clone + PartialEq + Debug,
{
    for i in 0..30 {
        detector.observe(&[(i % 3) as f64]);
    }
    let before = detector.clone();
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(detector.observe(&[x]), Verdict::WARMING_UP, "{x}");
    }
    assert_eq!(detector, before, "nothing learned");
}

/// A constant series, at zero or at a level large or small, gives finite
/// scores and no anomaly, and the first change from it is flagged: the
/// spread floor keeps a zero spread from dividing by zero.
#[track_caller]
pub(crate) fn assert_constant_series_stays_normal_until_it_changes(fresh: impl Detector + Clone) {
    for level in [0.0, 100.0, -3e9] {
        let mut detector = fresh.clone();
        for _ in 0..200 {
            let v = detector.observe(&[level]);
            assert!(v.score.is_finite() && !v.anomalous, "{level}: {v:?}");
        }
        let v = detector.observe(&[level + 1.0 + level.abs() * 0.01]);
        assert!(v.anomalous && v.score.is_finite(), "{level}: {v:?}");
    }
}

/// After wobbles of 0.01 around 100, a detector whose `min_spread` is 1
/// does not flag `normal` and flags `anomalous` (both a few units out).
#[track_caller]
pub(crate) fn assert_min_spread_keeps_small_wobbles_normal(
    mut detector: impl Detector,
    normal: f64,
    anomalous: f64,
) {
    for i in 0..200 {
        detector.observe(&[100.0 + (i % 2) as f64 * 0.01]);
    }
    assert!(!detector.observe(&[normal]).anomalous, "{normal}");
    assert!(detector.observe(&[anomalous]).anomalous, "{anomalous}");
}

/// A detector saved half-way through `series` and restored gives, on the
/// rest, bit for bit the verdicts of the one that carried on.
pub(crate) fn assert_restores_to_the_same_verdicts<D>(mut original: D, series: &Series)
where
    D: Detector + Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (head, tail) = series.values.split_at(series.values.len() / 2);
    for &x in head {
        original.observe(&[x]);
    }
    let bytes = rmp_serde::to_vec(&original).expect("state serialises");
    let mut restored: D = rmp_serde::from_slice(&bytes).expect("and deserialises");
    assert_eq!(restored, original);
    for &x in tail {
        let (a, b) = (original.observe(&[x]), restored.observe(&[x]));
        assert_eq!(
            (a.score.to_bits(), a.anomalous),
            (b.score.to_bits(), b.anomalous)
        );
    }
}

/// Outliers in a burst that a z-score over 101 values (the default window of
/// `iqr` and `mad`) masks from the 7th on: `zscore` pins that, and the
/// robust detectors must flag the burst whole.
pub(crate) const BURST_THAT_MASKS_A_ZSCORE: usize = 10;

/// Every one of `run` consecutive outliers is flagged (see [`flags_in_burst`]).
#[track_caller]
pub(crate) fn assert_flags_a_burst_whole(mut detector: impl Detector, run: usize) {
    let flags = flags_in_burst(&mut detector, run);
    assert_eq!(flags, vec![true; run]);
}

/// Whether each of `run` consecutive values of 140 is flagged, after 300
/// values of uniform noise of sd 2 around 100.
pub(crate) fn flags_in_burst(detector: &mut impl Detector, run: usize) -> Vec<bool> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let half_width = 2.0 * 3.0_f64.sqrt();
    for _ in 0..300 {
        detector.observe(&[100.0 + half_width * (2.0 * rng.random::<f64>() - 1.0)]);
    }
    (0..run)
        .map(|_| detector.observe(&[100.0 + JUMP]).anomalous)
        .collect()
}

/// Parameters as configured: `known` parses to `expected`, the fields it
/// leaves out taking their defaults, and `unknown`, which names a field the
/// detector does not have, is refused.
#[track_caller]
pub(crate) fn assert_params_parse<P>(known: &str, expected: P, unknown: &str)
where
    P: DeserializeOwned + PartialEq + Debug,
{
    let parsed: P = serde_json::from_str(known).expect("known fields parse");
    assert_eq!(parsed, expected);
    assert!(serde_json::from_str::<P>(unknown).is_err(), "{unknown}");
}

/// Spoils one field of the defaults; names the field the error must name.
pub(crate) type Spoil<P> = (fn(&mut P), &'static str);

/// The default parameters pass `validate`, and each spoiled copy of them
/// fails it with an error that names the spoiled field.
#[track_caller]
pub(crate) fn assert_rejects_each_spoiled<P>(
    validate: fn(&P) -> Result<(), String>,
    cases: &[Spoil<P>],
) where
    P: Default + Debug,
{
    assert_eq!(validate(&P::default()), Ok(()));
    for (spoil, field) in cases {
        let mut p = P::default();
        spoil(&mut p);
        let err = validate(&p).expect_err("spoiled parameters are rejected");
        assert!(err.contains(field), "{p:?}: {err}");
    }
}
