//! The Numenta Anomaly Benchmark (NAB, github.com/numenta/NAB) as a yardstick
//! for this crate's detectors. Owns scoring anomaly scores against NAB's
//! labelled windows exactly as NAB's own Python does (`nab/sweeper.py`,
//! `nab/optimizer.py`, `nab/scorer.py`, `Runner.normalize`), and the subset
//! of NAB's data committed under `data/nab` (see its README.md for source,
//! licence and checksums), and running a configured detector over it
//! ([`run`]). It must never tune a detector: the scorer is given one
//! anomaly score in [0, 1] per row and judges them, with one threshold for
//! the whole corpus per profile, and a detector sees the rows in order,
//! never a label.
//!
//! Faithfulness is pinned by tests: hand-made cases derived from NAB's
//! formulas, and, given a NAB checkout in `NAB_DIR`, NAB's published
//! per-file and corpus scores reproduced from its result files.

pub mod corpus;
mod csv;
pub mod error;
pub mod normalise;
pub mod profile;
pub mod published_on_subset;
pub mod results;
pub mod run;
pub mod scorer;
pub mod sweep;
pub mod timestamp;

#[cfg(test)]
mod checkout;
#[cfg(test)]
mod reproduction;

use std::collections::BTreeMap;

pub use corpus::{Corpus, LabelledFile, Window};
pub use error::NabError;
pub use profile::{CostMatrix, Profile};
pub use sweep::{Counts, ThresholdScore, NO_DETECTION_THRESHOLD};

use scorer::{row_scores, RowRole};
use sweep::{at_threshold, best, scores_by_threshold, SweepRow};

/// A detector's output on a corpus: NAB file name (`realKnownCause/nyc_taxi.csv`)
/// to one anomaly score per data row. NAB expects scores in [0, 1] but
/// enforces nothing (EXPoSE's published scores reach −0.008 and 1.011);
/// neither does this, beyond refusing NaN and infinities.
pub type AnomalyScores = BTreeMap<String, Vec<f64>>;

/// One file's score at a threshold (a line of NAB's `*_scores.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct FileScore {
    pub file: String,
    pub score: f64,
    pub counts: Counts,
}

/// A detector's result on a corpus for one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileScore {
    pub profile: String,
    /// Rows scoring at or above it are detections.
    pub threshold: f64,
    /// NAB's published figure: 0 for the null detector, 100 for the perfect one.
    pub normalised: f64,
    /// Sum of the files' scores (the `Totals` line of NAB's `*_scores.csv`).
    pub raw: f64,
    /// Raw score of detecting nothing.
    pub null: f64,
    /// Raw score of detecting every window at its first row.
    pub perfect: f64,
    pub counts: Counts,
    /// In corpus (name) order.
    pub files: Vec<FileScore>,
}

/// For each profile, the one threshold over the whole corpus that maximises
/// the raw score (NAB's optimiser), and the scores it gives (NAB's scorer and
/// normalisation): what NAB's `run.py --optimize --score --normalize` prints.
///
/// The optimiser is NAB's current one (since 2019), which tries every
/// threshold. Most published thresholds came from its earlier hill climb
/// (`twiddle`), so on their result files this can find a better threshold
/// than NAB published; [`score_at_threshold`] reproduces the published one.
pub fn evaluate(
    corpus: &Corpus,
    scores: &AnomalyScores,
    profiles: &[Profile],
) -> Result<Vec<ProfileScore>, NabError> {
    profiles
        .iter()
        .map(|p| {
            let chosen = optimise_threshold(corpus, scores, p)?;
            score_at_threshold(corpus, scores, p, chosen.threshold)
        })
        .collect()
}

/// The best threshold for `profile` over the whole corpus and its raw score
/// (NAB's `optimizeThreshold`).
pub fn optimise_threshold(
    corpus: &Corpus,
    scores: &AnomalyScores,
    profile: &Profile,
) -> Result<ThresholdScore, NabError> {
    Ok(best(&corpus_sweep(corpus, scores, profile)?))
}

/// The score at every threshold the corpus's anomaly scores offer, highest
/// threshold first (NAB's `calcScoreByThreshold` over all files at once).
pub fn corpus_sweep(
    corpus: &Corpus,
    scores: &AnomalyScores,
    profile: &Profile,
) -> Result<Vec<ThresholdScore>, NabError> {
    check_scores(corpus, scores)?;
    let mut rows = Vec::with_capacity(corpus.row_count());
    let mut first_window = 0;
    for file in corpus.files() {
        rows.extend(sweep_rows(file, &scores[&file.name], profile, first_window));
        first_window += file.windows.len();
    }
    Ok(scores_by_threshold(rows, profile.cost.fn_weight))
}

/// The scores of detecting, in every file, the rows at or above `threshold`
/// (NAB's `scoreCorpus`, file by file, then normalised).
pub fn score_at_threshold(
    corpus: &Corpus,
    scores: &AnomalyScores,
    profile: &Profile,
    threshold: f64,
) -> Result<ProfileScore, NabError> {
    check_scores(corpus, scores)?;
    let files: Vec<FileScore> = corpus
        .files()
        .iter()
        .map(|f| file_score(f, &scores[&f.name], profile, threshold))
        .collect();
    let raw = files.iter().fold(0.0, |s, f| s + f.score);
    let mut counts = Counts::default();
    files.iter().for_each(|f| counts.add(&f.counts));
    let null = null_score(corpus, profile);
    let perfect = normalise::perfect_score(corpus.window_count(), profile.cost.tp_weight);
    Ok(ProfileScore {
        profile: profile.name.clone(),
        threshold,
        normalised: normalise::normalised_score(raw, null, perfect),
        raw,
        null,
        perfect,
        counts,
        files,
    })
}

/// The raw score of NAB's null detector, which detects nothing: the corpus
/// scored at [`NO_DETECTION_THRESHOLD`] (every window that has a row after
/// the probationary period costs its false negative weight).
pub fn null_score(corpus: &Corpus, profile: &Profile) -> f64 {
    corpus
        .files()
        .iter()
        .map(|f| file_score(f, &vec![0.0; f.rows()], profile, NO_DETECTION_THRESHOLD).score)
        .fold(0.0, |s, x| s + x)
}

/// One file at a threshold (NAB's `scoreDataSet`): the file swept alone, and
/// the swept threshold that detects the same rows.
pub fn file_score(
    file: &LabelledFile,
    anomaly_scores: &[f64],
    profile: &Profile,
    threshold: f64,
) -> FileScore {
    let rows = sweep_rows(file, anomaly_scores, profile, 0).collect();
    let chosen = at_threshold(
        &scores_by_threshold(rows, profile.cost.fn_weight),
        threshold,
    );
    FileScore {
        file: file.name.clone(),
        score: chosen.score,
        counts: chosen.counts,
    }
}

/// The rows of a file the sweep counts (all but the probationary period),
/// its windows numbered from `first_window`.
fn sweep_rows<'a>(
    file: &'a LabelledFile,
    anomaly_scores: &'a [f64],
    profile: &Profile,
    first_window: usize,
) -> impl Iterator<Item = SweepRow> + 'a {
    row_scores(file, anomaly_scores, &profile.cost)
        .into_iter()
        .filter_map(move |r| {
            let window = match r.role {
                RowRole::Probationary => return None,
                RowRole::Window(k) => Some(first_window + k),
                RowRole::Outside => None,
            };
            Some(SweepRow {
                anomaly_score: r.anomaly_score,
                weighted: r.weighted,
                window,
            })
        })
}

/// Every file of the corpus has one finite score per row, and no other file
/// has scores.
fn check_scores(corpus: &Corpus, scores: &AnomalyScores) -> Result<(), NabError> {
    let err = |file: &str, message: String| NabError::Scores {
        file: file.to_string(),
        message,
    };
    for file in corpus.files() {
        let s = scores
            .get(&file.name)
            .ok_or_else(|| err(&file.name, "missing".into()))?;
        if s.len() != file.rows() {
            return Err(err(
                &file.name,
                format!("{} scores for {} rows", s.len(), file.rows()),
            ));
        }
        if let Some(row) = s.iter().position(|x| !x.is_finite()) {
            return Err(err(&file.name, format!("row {row} scores {}", s[row])));
        }
    }
    if let Some(extra) = scores.keys().find(|k| corpus.file(k).is_none()) {
        return Err(err(extra, "not a file of the corpus".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> Profile {
        Profile {
            name: "standard".into(),
            cost: CostMatrix {
                tp_weight: 1.0,
                fp_weight: 0.11,
                fn_weight: 1.0,
                tn_weight: 1.0,
            },
        }
    }

    fn committed() -> (Corpus, Vec<Profile>) {
        (
            Corpus::load_committed_subset().expect("committed subset"),
            profile::load_committed_profiles().expect("committed profiles"),
        )
    }

    /// Scores of 1 from each window's first row after the probationary
    /// period to its end, 0 elsewhere.
    fn perfect_scores(corpus: &Corpus) -> AnomalyScores {
        corpus
            .files()
            .iter()
            .map(|f| {
                let mut s = vec![0.0; f.rows()];
                let probation = scorer::probationary_length(f.rows());
                for w in &f.windows {
                    for (i, x) in s
                        .iter_mut()
                        .enumerate()
                        .take(w.end_row + 1)
                        .skip(w.start_row)
                    {
                        if (i as f64) >= probation {
                            *x = 1.0;
                        }
                    }
                }
                (f.name.clone(), s)
            })
            .collect()
    }

    #[test]
    fn a_perfect_detector_scores_100_and_a_silent_one_0_on_the_committed_subset() {
        let (corpus, profiles) = committed();
        let perfect = evaluate(&corpus, &perfect_scores(&corpus), &profiles).expect("scores");
        let silent: AnomalyScores = corpus
            .files()
            .iter()
            .map(|f| (f.name.clone(), vec![0.0; f.rows()]))
            .collect();
        let null = evaluate(&corpus, &silent, &profiles).expect("scores");
        for (p, n) in perfect.iter().zip(&null) {
            // No window of the subset starts in a probationary period, so the
            // perfect detector earns exactly the perfect score.
            assert!((p.normalised - 100.0).abs() < 1e-9, "{p:?}");
            assert_eq!(p.counts.false_positives, 0);
            assert_eq!(p.counts.false_negatives, 0);
            assert_eq!(n.normalised, 0.0, "{}", n.profile);
            assert_eq!(n.threshold, NO_DETECTION_THRESHOLD);
            assert_eq!(
                n.raw,
                -(42.0
                    * profiles
                        .iter()
                        .find(|q| q.name == n.profile)
                        .map_or(0.0, |q| q.cost.fn_weight))
            );
        }
    }

    /// Three files, hand-valued: the optimiser's threshold is the one that
    /// maximises the corpus total, and scoring there gives the same total.
    #[test]
    fn the_sweep_picks_the_threshold_that_maximises_the_corpus_score() {
        let file = |name: &str, start_row, end_row| LabelledFile {
            name: name.into(),
            timestamps_us: (0..40).collect(),
            values: vec![0.0; 40],
            windows: vec![Window { start_row, end_row }],
        };
        let corpus = Corpus::from_files(vec![
            file("a.csv", 10, 19),
            file("b.csv", 20, 29),
            file("c.csv", 30, 39),
        ])
        .expect("corpus");
        let mut scores = AnomalyScores::new();
        // a: found at 0.8 at the window's start. b: found only at 0.4, late.
        // c: a false positive at 0.6 long before its window, never found.
        let mut a = vec![0.1; 40];
        a[10] = 0.8;
        let mut b = vec![0.1; 40];
        b[28] = 0.4;
        let mut c = vec![0.1; 40];
        c[8] = 0.6;
        scores.insert("a.csv".into(), a);
        scores.insert("b.csv".into(), b);
        scores.insert("c.csv".into(), c);
        let p = standard();
        let sweep = corpus_sweep(&corpus, &scores, &p).expect("sweep");
        // By hand: b's row 28 is at position -(29-28+1)/10 = -0.2.
        let b_tp = scorer::scaled_sigmoid(-0.2) / scorer::scaled_sigmoid(-1.0);
        let expect = [
            (1.1, -3.0),
            (0.8, 1.0 - 2.0),
            (0.6, 1.0 - 0.11 - 2.0),
            (0.4, 1.0 - 0.11 + b_tp - 1.0),
        ];
        for (got, (t, s)) in sweep.iter().zip(expect) {
            assert_eq!(got.threshold, t);
            assert!((got.score - s).abs() < 1e-12, "{got:?} vs {s}");
        }
        // At 0.1 every row is detected: many false positives, worse.
        assert!(sweep[4].score < sweep[3].score);
        let chosen = optimise_threshold(&corpus, &scores, &p).expect("optimise");
        assert_eq!(chosen.threshold, 0.4);
        let scored = score_at_threshold(&corpus, &scores, &p, chosen.threshold).expect("score");
        assert!((scored.raw - chosen.score).abs() < 1e-12);
        assert_eq!(scored.null, -3.0);
        assert_eq!(scored.perfect, 3.0);
        assert!((scored.normalised - 100.0 * (chosen.score + 3.0) / 6.0).abs() < 1e-12);
    }

    #[test]
    fn detections_in_the_probationary_period_count_for_nothing() {
        let corpus = Corpus::from_files(vec![LabelledFile {
            name: "a.csv".into(),
            timestamps_us: (0..100).collect(),
            values: vec![0.0; 100],
            windows: vec![Window {
                start_row: 50,
                end_row: 59,
            }],
        }])
        .expect("corpus");
        let p = standard();
        let score_with = |rows: &[usize]| {
            let mut s = vec![0.0; 100];
            rows.iter().for_each(|&r| s[r] = 1.0);
            let scores = AnomalyScores::from([("a.csv".to_string(), s)]);
            score_at_threshold(&corpus, &scores, &p, 0.5)
                .expect("score")
                .raw
        };
        // Probation is floor(0.15*100) = 15 rows: detections at 0..=14 are
        // ignored, one at 15 is a false positive (no window before: -fpWeight).
        assert_eq!(score_with(&[]), -1.0);
        assert_eq!(score_with(&[0, 7, 14]), -1.0);
        assert!((score_with(&[15]) - (-1.0 - 0.11)).abs() < 1e-12);
        assert!((score_with(&[14, 50]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn scores_that_do_not_fit_the_corpus_are_refused() {
        let (corpus, profiles) = committed();
        let p = &profiles[0];
        let mut scores: AnomalyScores = corpus
            .files()
            .iter()
            .map(|f| (f.name.clone(), vec![0.5; f.rows()]))
            .collect();
        scores.insert("realTweets/Twitter_volume_AAPL.csv".into(), vec![0.0; 3]);
        let e = optimise_threshold(&corpus, &scores, p).expect_err("extra file");
        assert!(
            e.to_string()
                .contains("Twitter_volume_AAPL.csv: not a file"),
            "{e}"
        );
        scores.remove("realTweets/Twitter_volume_AAPL.csv");
        scores.get_mut("realKnownCause/nyc_taxi.csv").expect("taxi")[7] = f64::NAN;
        let e = optimise_threshold(&corpus, &scores, p).expect_err("NaN");
        assert!(e.to_string().contains("row 7 scores NaN"), "{e}");
        scores
            .get_mut("realKnownCause/nyc_taxi.csv")
            .expect("taxi")
            .pop();
        let e = optimise_threshold(&corpus, &scores, p).expect_err("short");
        assert!(e.to_string().contains("10319 scores for 10320 rows"), "{e}");
    }
}
