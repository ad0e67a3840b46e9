//! Owns the anomaly stage's per-detector metrics: anomalies found,
//! observations judged, events it could not judge, keys tracked, from the
//! detectors' own statistics. Must make every detector's series exist at
//! zero from the start.

use std::collections::BTreeMap;

use bss_detect::pipeline::{Anomaly, Pipeline, Stats};

use crate::metrics::{DetectorLabel, Metrics};

/// Turns the detectors' statistics into counter increments.
pub struct Reported {
    last: BTreeMap<String, Stats>,
}

impl Reported {
    /// Also makes every detector's metrics exist (at 0) from the start.
    pub fn new(pipeline: &Pipeline, metrics: &Metrics) -> Reported {
        for (name, _) in pipeline.stats() {
            let label = DetectorLabel::new(name);
            let _ = metrics.anomalies.get_or_create(&label);
            let _ = metrics.detector_observations.get_or_create(&label);
            let _ = metrics.detector_unjudged.get_or_create(&label);
        }
        Reported {
            last: pipeline
                .stats()
                .map(|(n, s)| (n.to_owned(), s.clone()))
                .collect(),
        }
    }

    pub fn publish(&mut self, pipeline: &Pipeline, found: &[Anomaly], metrics: &Metrics) {
        for a in found {
            metrics
                .anomalies
                .get_or_create(&DetectorLabel::new(&a.detector))
                .inc();
        }
        for (name, stats) in pipeline.stats() {
            let before = self.last.entry(name.to_owned()).or_default();
            let label = DetectorLabel::new(name);
            metrics
                .detector_observations
                .get_or_create(&label)
                .inc_by(stats.observations.saturating_sub(before.observations));
            let unjudged = |s: &Stats| s.skipped + s.late + s.refused;
            metrics
                .detector_unjudged
                .get_or_create(&label)
                .inc_by(unjudged(stats).saturating_sub(unjudged(before)));
            *before = stats.clone();
        }
        for (name, keys) in pipeline.keys() {
            metrics
                .detector_keys
                .get_or_create(&DetectorLabel::new(name))
                .set(keys as i64);
        }
    }
}
