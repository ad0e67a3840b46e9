//! Running this crate's detectors over the NAB corpus: each file's values,
//! in order, through a [`SeriesDetector`] built from one configuration
//! for every file (one setting for all series, as NAB asks), into the two
//! scores NAB can judge: the anomaly likelihood of every row (swept for the
//! corpus's best threshold, as NAB does for every published detector) and
//! the alarms an operator would get (1 on a reported row, else 0: judged at
//! a fixed threshold, nothing tuned). Must never look at the labels: what
//! it produces for a row depends only on the rows before it and itself.

use crate::config::algorithm_from_table;
use crate::series::SeriesDetector;

use super::{score_at_threshold, AnomalyScores, Corpus, Profile};

/// The alarm score's threshold: a reported row scores 1, the rest 0.
pub const ALARM_THRESHOLD: f64 = 0.5;

/// What one configuration gives on the corpus.
pub struct DetectorRun {
    /// Each row's anomaly likelihood.
    pub likelihood: AnomalyScores,
    /// 1 on each row the detector reported, else 0.
    pub alarms: AnomalyScores,
}

/// Runs the detector configured by `table` (a `[[detector]]` table's
/// algorithm and alarm keys, as JSON) over every file of `corpus`, a fresh
/// detector per file, seeded with `seed`.
pub fn run_detector(
    corpus: &Corpus,
    table: &serde_json::Map<String, serde_json::Value>,
    seed: u64,
) -> Result<DetectorRun, String> {
    let (algorithm, alarm) = algorithm_from_table(table)?;
    let mut likelihood = AnomalyScores::new();
    let mut alarms = AnomalyScores::new();
    for file in corpus.files() {
        let mut detector = SeriesDetector::new(&algorithm, &alarm, seed);
        let mut l = Vec::with_capacity(file.rows());
        let mut a = Vec::with_capacity(file.rows());
        for &value in &file.values {
            let v = detector.observe(&[value]);
            l.push(v.likelihood);
            a.push(if v.alarm { 1.0 } else { 0.0 });
        }
        likelihood.insert(file.name.clone(), l);
        alarms.insert(file.name.clone(), a);
    }
    Ok(DetectorRun { likelihood, alarms })
}

/// The normalised score in each of `profiles` of the alarms of the
/// detector configured by `table` (as [`run_detector`]).
pub fn alarm_scores(
    corpus: &Corpus,
    profiles: &[Profile],
    table: &serde_json::Map<String, serde_json::Value>,
    seed: u64,
) -> Result<Vec<f64>, String> {
    let run = run_detector(corpus, table, seed)?;
    profiles
        .iter()
        .map(|p| {
            score_at_threshold(corpus, &run.alarms, p, ALARM_THRESHOLD)
                .map(|s| s.normalised)
                .map_err(|e| e.to_string())
        })
        .collect()
}
