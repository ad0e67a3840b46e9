//! The detectors on public labelled data (make test-detect): NAB's real
//! series committed in bss-detect/data/nab, one setting for every series,
//! the alarms (one per episode) scored by NAB's rules. Floors just under
//! what was measured (make detect-nab prints every algorithm and setting
//! beside the published detectors), so that a change that makes a
//! detector worse on real data fails here.

use bss_detect::nab::profile::load_committed_profiles;
use bss_detect::nab::run::alarm_scores;
use bss_detect::nab::Corpus;
use serde_json::{json, Map, Value};

/// The NAB standard profile's score of `table`'s alarms on the subset.
fn standard_score(table: Value) -> f64 {
    let corpus = Corpus::load_committed_subset().unwrap();
    let standard = load_committed_profiles()
        .unwrap()
        .into_iter()
        .find(|p| p.name == "standard")
        .unwrap();
    let table: Map<String, Value> = serde_json::from_value(table).unwrap();
    alarm_scores(&corpus, &[standard], &table, 7).unwrap()[0]
}

#[test]
fn isolation_forest_at_its_defaults() {
    // Measured 60.7 (2026-12-07); Random Cut Forest's published results
    // score 55.1 here at NAB's threshold, 66.8 at the subset's best.
    let s = standard_score(json!({ "algorithm": "isolation_forest" }));
    assert!(s >= 60.0, "isolation_forest: NAB standard score {s:.1}");
}

#[test]
fn one_class_svm_at_its_defaults() {
    // Measured 52.8.
    let s = standard_score(json!({ "algorithm": "one_class_svm" }));
    assert!(s >= 52.0, "one_class_svm: NAB standard score {s:.1}");
}

#[test]
fn the_likelihood_makes_one_threshold_serve_every_series() {
    // On their own thresholds at their defaults the z-score and the IQR
    // flood some series (40.2, -157.4); on the likelihood at 0.9999, one
    // setting for all: measured 56.6 and 58.1.
    let z = standard_score(json!({ "algorithm": "zscore", "likelihood_threshold": 0.9999 }));
    assert!(
        z >= 56.0,
        "zscore on the likelihood: NAB standard score {z:.1}"
    );
    let iqr = standard_score(json!({ "algorithm": "iqr", "likelihood_threshold": 0.9999 }));
    assert!(
        iqr >= 57.5,
        "iqr on the likelihood: NAB standard score {iqr:.1}"
    );
}
