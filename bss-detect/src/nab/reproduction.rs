//! Owns the proof that this scorer is NAB's: on NAB's full corpus (58 files,
//! from a checkout named by `NAB_DIR`), the published detectors' result files
//! scored here must give NAB's own per-file scores and counts
//! (`results/<detector>/<detector>_<profile>_scores.csv`), its corpus totals,
//! its normalised scoreboard (`results/final_results.json`), and the
//! threshold NAB's sweep optimiser chose for the one detector it was run for
//! (ARTime). It must never be weakened to pass: a published figure that is
//! not reproduced is either a named, explained exception or a failure.

use std::collections::BTreeMap;
use std::path::Path;

use super::checkout::nab_checkout;
use super::csv::CsvFile;
use super::profile::load_profiles;
use super::results::{load_detector_scores, read_column, result_path};
use super::scorer::row_scores;
use super::{optimise_threshold, score_at_threshold, Corpus, Counts};

/// A line of NAB's `<detector>_<profile>_scores.csv`.
struct PublishedLine {
    file: String,
    score: f64,
    counts: Counts,
}

fn read_published_scores(path: &Path) -> (Vec<PublishedLine>, PublishedLine) {
    let csv = CsvFile::read(path).expect("published scores csv");
    let col = |name: &str| csv.column(name).expect("column");
    let (file, score) = (col("File"), col("Score"));
    let (tp, tn, fp, fn_) = (col("TP"), col("TN"), col("FP"), col("FN"));
    let detector = col("Detector");
    let num = |s: &str| s.parse::<f64>().expect("number");
    let count = |s: &str| num(s) as u64;
    let mut lines: Vec<PublishedLine> = csv
        .rows()
        .expect("rows")
        .into_iter()
        .map(|(_, f)| PublishedLine {
            file: if f[detector] == "Totals" {
                "Totals".into()
            } else {
                f[file].to_string()
            },
            score: num(f[score]),
            counts: Counts {
                true_positives: count(f[tp]),
                true_negatives: count(f[tn]),
                false_positives: count(f[fp]),
                false_negatives: count(f[fn_]),
            },
        })
        .collect();
    let totals = lines.pop().expect("a Totals line");
    assert_eq!(totals.file, "Totals", "{}", path.display());
    (lines, totals)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read json")).expect("parse json")
}

#[derive(serde::Deserialize)]
struct ThresholdEntry {
    threshold: f64,
    score: f64,
}

/// Detectors whose `*_scores.csv` is stale: `random`'s lists 32 of the 58
/// files and 5 of them score otherwise than its result files do (another
/// seed's run); its final_results.json figures are reproduced from the
/// result files all the same.
const STALE_SCORE_FILES: &[&str] = &["random"];

/// The README's scoreboard (and "additional scores" table), one decimal:
/// detector, standard, reward_low_FP_rate, reward_low_FN_rate. Left out:
/// Numenta HTM (70.5-69.7 etc. is a range over NuPIC 1.0 seeds; the results
/// folder holds the NuPIC 0.5.6 run, listed under "additional scores" as
/// 70.1 / 63.1 / 74.3, which is checked), Random (11.0 / 1.2 / 19.5, a mean
/// over seeds) and HTM Java (56.8 / 50.7 / 61.4: its results folder gives
/// 65.5 / 53.3 / 70.4, as final_results.json says).
const README_SCOREBOARD: &[(&str, [f64; 3])] = &[
    ("ARTime", [74.9, 65.1, 80.4]),
    ("numenta", [70.1, 63.1, 74.3]),
    ("contextOSE", [69.9, 67.0, 73.2]),
    ("earthgeckoSkyline", [58.2, 46.2, 63.9]),
    ("knncad", [58.0, 43.4, 64.8]),
    ("relativeEntropy", [54.6, 47.6, 58.8]),
    ("randomCutForest", [51.7, 38.4, 59.7]),
    ("twitterADVec", [47.1, 33.6, 53.5]),
    ("windowedGaussian", [39.6, 20.9, 47.4]),
    ("skyline", [35.7, 27.1, 44.5]),
    ("bayesChangePt", [17.7, 3.2, 32.2]),
    ("expose", [16.4, 3.2, 26.9]),
    ("numentaTM", [64.6, 56.7, 69.2]),
];

/// README figures that are neither the rounded nor the truncated value of
/// NAB's own final_results.json: earthgecko Skyline, reward_low_FN_rate, is
/// 63.9 in the README and 63.80 in final_results.json (and here).
const README_TYPOS: &[(&str, &str)] = &[("earthgeckoSkyline", "reward_low_FN_rate")];

/// The README gives one decimal, mostly rounded, sometimes cut (ARTime's
/// 65.154 is 65.1, Bayesian Changepoint's 32.257 is 32.2).
fn readme_agrees(figure: f64, normalised: f64) -> bool {
    let rounded = (normalised * 10.0).round() / 10.0;
    let cut = (normalised * 10.0).trunc() / 10.0;
    (figure - rounded).abs() < 1e-9 || (figure - cut).abs() < 1e-9
}

fn readme_figure(detector: &str, profile: &str) -> Option<f64> {
    let column = ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
        .iter()
        .position(|p| *p == profile)?;
    README_SCOREBOARD
        .iter()
        .find(|(d, _)| *d == detector)
        .map(|(_, figures)| figures[column])
}

#[test]
fn nab_published_scores_are_reproduced_on_the_full_corpus() {
    let Some(nab) = nab_checkout("nab_published_scores_are_reproduced_on_the_full_corpus") else {
        return;
    };
    let corpus = Corpus::load(&nab.join("data"), &nab.join("labels/combined_windows.json"))
        .expect("NAB corpus");
    assert_eq!(corpus.files().len(), 58);
    assert_eq!(corpus.window_count(), 116);
    let profiles = load_profiles(&nab.join("config/profiles.json")).expect("profiles");
    let thresholds: BTreeMap<String, BTreeMap<String, ThresholdEntry>> =
        read_json(&nab.join("config/thresholds.json"));
    let finals: BTreeMap<String, BTreeMap<String, f64>> =
        read_json(&nab.join("results/final_results.json"));
    let results = nab.join("results");
    let mut detectors: Vec<String> = std::fs::read_dir(&results)
        .expect("results dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    detectors.sort();

    let mut failures: Vec<String> = Vec::new();
    println!(
        "{:<18} {:<19} {:>10} {:>6} {:>8} {:>10} {:>14} {:>14} {:>9} {:>9} {:>6} {:>10} {:>14}",
        "detector",
        "profile",
        "threshold",
        "files",
        "counts",
        "max|dfile|",
        "raw (ours)",
        "raw (NAB)",
        "norm",
        "NAB final",
        "README",
        "sweep thr",
        "sweep raw"
    );
    for detector in &detectors {
        let scores = load_detector_scores(&results, detector, &corpus).expect("result files");
        for profile in &profiles {
            let threshold = thresholds[detector][&profile.name].threshold;
            let ours = score_at_threshold(&corpus, &scores, profile, threshold).expect("score");
            let (lines, totals) = read_published_scores(
                &results
                    .join(detector)
                    .join(format!("{detector}_{}_scores.csv", profile.name)),
            );
            let stale = STALE_SCORE_FILES.contains(&detector.as_str());
            let mut max_diff: f64 = 0.0;
            let mut count_mismatches = 0;
            for line in &lines {
                let mine = ours
                    .files
                    .iter()
                    .find(|f| f.file == line.file)
                    .expect("published file is in the corpus");
                let diff = (mine.score - line.score).abs();
                max_diff = max_diff.max(diff);
                // NAB printed 12 significant digits until 2019, full precision since.
                if diff > 1e-10 * line.score.abs().max(1.0) && !stale {
                    failures.push(format!(
                        "{detector}/{}: {} scores {} here, {} in NAB",
                        profile.name, line.file, mine.score, line.score
                    ));
                }
                if mine.counts != line.counts {
                    count_mismatches += 1;
                }
                if mine.counts != line.counts && !stale {
                    failures.push(format!(
                        "{detector}/{}: {} counts {:?} here, {:?} in NAB",
                        profile.name, line.file, mine.counts, line.counts
                    ));
                }
            }
            let complete = lines.len() == corpus.files().len();
            let final_figure = finals
                .get(detector)
                .and_then(|f| f.get(&profile.name))
                .copied();
            if complete {
                if (ours.raw - totals.score).abs() > 1e-9 * totals.score.abs().max(1.0) {
                    failures.push(format!(
                        "{detector}/{}: total {} here, {} in NAB",
                        profile.name, ours.raw, totals.score
                    ));
                }
                if ours.counts != totals.counts {
                    failures.push(format!("{detector}/{}: total counts differ", profile.name));
                }
            } else if !stale {
                failures.push(format!(
                    "{detector}/{}: NAB's scores file has {} of 58 files",
                    profile.name,
                    lines.len()
                ));
            }
            if let Some(f) = final_figure {
                if (ours.normalised - f).abs() > 1e-8 {
                    failures.push(format!(
                        "{detector}/{}: normalised {} here, {f} in final_results.json",
                        profile.name, ours.normalised
                    ));
                }
            }
            if let Some(r) = readme_figure(detector, &profile.name) {
                let typo = README_TYPOS.contains(&(detector.as_str(), profile.name.as_str()));
                if !readme_agrees(r, ours.normalised) && !typo {
                    failures.push(format!(
                        "{detector}/{}: normalised {} here, {r} in NAB's README",
                        profile.name, ours.normalised
                    ));
                }
            }
            // The sweep tries every threshold; NAB's older optimiser (a
            // hill climb) some: the sweep's best is never worse.
            let swept = optimise_threshold(&corpus, &scores, profile).expect("optimise");
            if swept.score < ours.raw - 1e-9 {
                failures.push(format!(
                    "{detector}/{}: the sweep's best {} is below NAB's {}",
                    profile.name, swept.score, ours.raw
                ));
            }
            if detector == "ARTime" {
                // The only published detector optimised by NAB's sweep.
                let published = &thresholds[detector][&profile.name];
                if swept.threshold != published.threshold
                    || (swept.score - published.score).abs() > 1e-9
                {
                    failures.push(format!(
                        "ARTime/{}: the sweep chose {} ({}), NAB's {} ({})",
                        profile.name,
                        swept.threshold,
                        swept.score,
                        published.threshold,
                        published.score
                    ));
                }
            }
            println!(
                "{:<18} {:<19} {:>10.6} {:>6} {:>8} {:>10.1e} {:>14.10} {:>14.10} {:>9.4} {:>9} {:>6} {:>10.6} {:>14.10}",
                detector,
                profile.name,
                threshold,
                format!("{}/58", lines.len()),
                if count_mismatches == 0 { "same".to_string() } else { format!("{count_mismatches} diff") },
                max_diff,
                ours.raw,
                totals.score,
                ours.normalised,
                final_figure.map_or("-".into(), |f| format!("{f:.4}")),
                readme_figure(detector, &profile.name).map_or("-".into(), |r| format!("{r:.1}")),
                swept.threshold,
                swept.score,
            );
        }
    }
    for f in &failures {
        println!("FAILED: {f}");
    }
    assert!(
        failures.is_empty(),
        "{} published figures not reproduced",
        failures.len()
    );
}

/// ARTime's result files were written by NAB's current scorer (2022), whose
/// per-row values are the `S(t)_<profile>` columns: every row must match.
#[test]
fn nab_per_row_values_of_artime_are_reproduced() {
    let Some(nab) = nab_checkout("nab_per_row_values_of_artime_are_reproduced") else {
        return;
    };
    let corpus = Corpus::load(&nab.join("data"), &nab.join("labels/combined_windows.json"))
        .expect("NAB corpus");
    let profiles = load_profiles(&nab.join("config/profiles.json")).expect("profiles");
    let results = nab.join("results");
    let scores = load_detector_scores(&results, "ARTime", &corpus).expect("ARTime results");
    let mut rows = 0;
    let mut max_diff: f64 = 0.0;
    for file in corpus.files() {
        let path = result_path(&results, "ARTime", &file.name);
        for profile in &profiles {
            let published =
                read_column(&path, &format!("S(t)_{}", profile.name), file).expect("S(t) column");
            let ours = row_scores(file, &scores[&file.name], &profile.cost);
            for (o, p) in ours.iter().zip(&published) {
                max_diff = max_diff.max((o.weighted - p).abs());
                rows += 1;
            }
        }
    }
    println!("ARTime S(t): {rows} row values, largest difference {max_diff:e}");
    assert!(max_diff < 1e-12, "largest difference {max_diff}");
}
