//! Owns the reference this crate's detectors are compared with: the scores
//! of NAB's published detectors on the committed subset
//! (`data/nab/published_on_subset.json`), computed by this scorer from
//! NAB's result files. It must never be edited by hand: a test regenerates
//! it from a NAB checkout (`NAB_DIR`) and fails when it differs.
//!
//! File format (JSON object):
//! - `nab_commit`: the NAB commit the data and result files come from;
//! - `files`: the subset's files, NAB names, in order;
//! - `detectors`: detector (NAB's results folder name) → profile →
//!   - `score`: normalised NAB score on the subset, with the one threshold
//!     that is best on the subset (what [`super::evaluate`] gives any detector);
//!   - `threshold`: that threshold;
//!   - `score_at_nab_threshold`: normalised score on the subset at the
//!     threshold NAB chose on all 58 files (`config/thresholds.json`);
//!   - `nab_threshold`: that threshold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::NabError;

/// The NAB commit the committed subset and the reference come from.
pub const NAB_COMMIT: &str = "ea702d75cc2258d9d7dd35ca8e5e2539d71f3140";

/// The committed reference file.
pub fn committed_path() -> PathBuf {
    super::corpus::committed_subset_dir().join("published_on_subset.json")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedOnSubset {
    pub nab_commit: String,
    pub files: Vec<String>,
    pub detectors: BTreeMap<String, BTreeMap<String, SubsetScore>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsetScore {
    pub score: f64,
    pub threshold: f64,
    pub score_at_nab_threshold: f64,
    pub nab_threshold: f64,
}

impl PublishedOnSubset {
    pub fn load(path: &Path) -> Result<PublishedOnSubset, NabError> {
        let text = std::fs::read_to_string(path).map_err(|source| NabError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| NabError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load_committed() -> Result<PublishedOnSubset, NabError> {
        PublishedOnSubset::load(&committed_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nab::checkout::nab_checkout;
    use crate::nab::corpus::{committed_subset_dir, Corpus};
    use crate::nab::profile::load_committed_profiles;
    use crate::nab::results::load_detector_scores;
    use crate::nab::{evaluate, score_at_threshold};

    /// Set to 1 (with `NAB_DIR`) to rewrite the committed reference.
    const WRITE_VAR: &str = "NAB_WRITE_PUBLISHED_ON_SUBSET";

    #[derive(Deserialize)]
    struct ThresholdEntry {
        threshold: f64,
    }

    #[test]
    fn committed_reference_covers_the_subset_every_detector_and_profile() {
        let reference = PublishedOnSubset::load_committed().expect("reference loads");
        let corpus = Corpus::load_committed_subset().expect("subset");
        let profiles = load_committed_profiles().expect("profiles");
        assert_eq!(reference.nab_commit, NAB_COMMIT);
        let names: Vec<&str> = corpus.files().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(reference.files, names);
        assert_eq!(reference.detectors.len(), 16);
        for (detector, by_profile) in &reference.detectors {
            let got: Vec<&String> = by_profile.keys().collect();
            let want: Vec<&String> = profiles.iter().map(|p| &p.name).collect();
            assert_eq!(got, want, "{detector}");
            for (profile, s) in by_profile {
                // The subset's best threshold is at least as good as NAB's.
                assert!(
                    s.score >= s.score_at_nab_threshold - 1e-9,
                    "{detector}/{profile}: {s:?}"
                );
                assert!(s.score <= 100.0, "{detector}/{profile}: {s:?}");
            }
        }
        // NAB's null detector (0.5 everywhere) is the zero of the scale.
        for s in reference.detectors["null"].values() {
            assert_eq!(s.score, 0.0);
            assert_eq!(s.score_at_nab_threshold, 0.0);
        }
    }

    /// The committed data, windows, profiles and licence are NAB's, byte for
    /// byte, and the reference is what this scorer makes of NAB's result
    /// files for the subset.
    #[test]
    fn committed_subset_and_reference_are_regenerated_from_nab() {
        let Some(nab) = nab_checkout("committed_subset_and_reference_are_regenerated_from_nab")
        else {
            return;
        };
        let here = committed_subset_dir();
        let corpus = Corpus::load_committed_subset().expect("subset");
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for f in corpus.files() {
            let name = &f.name;
            assert!(
                read(&here.join("data").join(name)) == read(&nab.join("data").join(name)),
                "data/{name} differs from NAB's"
            );
        }
        assert!(read(&here.join("profiles.json")) == read(&nab.join("config/profiles.json")));
        assert!(read(&here.join("LICENSE.txt")) == read(&nab.join("LICENSE.txt")));
        let windows = |p: &Path| -> BTreeMap<String, serde_json::Value> {
            serde_json::from_slice(&read(p)).expect("windows json")
        };
        let mut nab_windows = windows(&nab.join("labels/combined_windows.json"));
        nab_windows.retain(|k, _| corpus.file(k).is_some());
        assert_eq!(windows(&here.join("combined_windows.json")), nab_windows);

        let profiles = load_committed_profiles().expect("profiles");
        let nab_thresholds: BTreeMap<String, BTreeMap<String, ThresholdEntry>> =
            serde_json::from_slice(&read(&nab.join("config/thresholds.json"))).expect("thresholds");
        let results = nab.join("results");
        let mut detectors = BTreeMap::new();
        for detector in nab_thresholds.keys() {
            let scores = load_detector_scores(&results, detector, &corpus).expect("results");
            let best = evaluate(&corpus, &scores, &profiles).expect("evaluate");
            let mut by_profile = BTreeMap::new();
            for (p, b) in profiles.iter().zip(best) {
                let nab_threshold = nab_thresholds[detector][&p.name].threshold;
                let at_nab = score_at_threshold(&corpus, &scores, p, nab_threshold).expect("score");
                by_profile.insert(
                    p.name.clone(),
                    SubsetScore {
                        score: b.normalised,
                        threshold: b.threshold,
                        score_at_nab_threshold: at_nab.normalised,
                        nab_threshold,
                    },
                );
            }
            detectors.insert(detector.clone(), by_profile);
        }
        let computed = PublishedOnSubset {
            nab_commit: NAB_COMMIT.to_string(),
            files: corpus.files().iter().map(|f| f.name.clone()).collect(),
            detectors,
        };
        for (d, by_profile) in &computed.detectors {
            for (p, s) in by_profile {
                println!(
                    "{d:<18} {p:<19} subset-best {:>8.3} (thr {:.6})  at NAB's thr {:>8.3} (thr {:.6})",
                    s.score, s.threshold, s.score_at_nab_threshold, s.nab_threshold
                );
            }
        }
        if std::env::var(WRITE_VAR).as_deref() == Ok("1") {
            let text = serde_json::to_string_pretty(&computed).expect("json") + "\n";
            std::fs::write(committed_path(), text).expect("write reference");
            println!("wrote {}", committed_path().display());
            return;
        }
        let committed = PublishedOnSubset::load_committed()
            .unwrap_or_else(|e| panic!("{e}\n(regenerate with {WRITE_VAR}=1 and NAB_DIR set)"));
        assert_eq!(committed.files, computed.files);
        assert_eq!(
            committed.detectors.keys().collect::<Vec<_>>(),
            computed.detectors.keys().collect::<Vec<_>>()
        );
        for (d, by_profile) in &computed.detectors {
            for (p, s) in by_profile {
                let c = committed.detectors[d][p];
                let same = |a: f64, b: f64| (a - b).abs() <= 1e-9;
                assert!(
                    same(c.score, s.score)
                        && same(c.threshold, s.threshold)
                        && same(c.score_at_nab_threshold, s.score_at_nab_threshold)
                        && same(c.nab_threshold, s.nab_threshold),
                    "{d}/{p}: committed {c:?}, computed {s:?}"
                );
            }
        }
    }
}
