//! `NAB_DIR=/path/to/NAB cargo run --release -p bss-detect --example nab_tune`:
//! chooses one setting of isolation_forest (and of one_class_svm) WITHOUT
//! looking at the committed subset, then scores that one setting on it once.
//!
//! The tuning set is every file of the NAB checkout's
//! `labels/combined_windows.json` that is not in the committed subset
//! (`bss-detect/data/nab/combined_windows.json`): real and artificial
//! alike. Each setting's alarms (one per episode) are scored by NAB's rules
//! at `bss_detect::nab::run::ALARM_THRESHOLD`; the grid is searched in two
//! stages (for isolation_forest: the window, shingle, derived differences
//! and threshold at an episode of 30; then, at the best window, shingle and
//! differences, the episode length and the threshold again; narrowed to
//! what did well on the tuning set in wider runs of `NAB_SETTINGS`), and
//! the setting best on the tuning set in the
//! standard profile is the one run on the committed subset, in all three
//! profiles, beside the defaults. Nothing here sees the subset's labels
//! before the choice is made.
//!
//! `NAB_TUNE=isolation_forest` (or `one_class_svm`) runs one algorithm only.
//!
//! `NAB_SETTINGS='[{"algorithm": "isolation_forest", ...}, ...]'` scores
//! the given settings on the tuning set only (never on the subset): for
//! trying out a design before it goes into the grid. With `NAB_CORPUS=full`
//! it scores them on NAB's whole corpus instead (every file of
//! `labels/combined_windows.json`, the subset's included), the corpus NAB's
//! published scoreboard (`results/final_results.json`) is scored on, where
//! each detector's threshold is the one best on that corpus: given one
//! setting at several thresholds, the best row per profile is the like
//! for like figure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bss_detect::nab::corpus::committed_subset_dir;
use bss_detect::nab::profile::load_committed_profiles;
use bss_detect::nab::run::alarm_scores;
use bss_detect::nab::{Corpus, Profile};
use serde_json::{json, Map, Value};

const SEED: u64 = 7;

/// A stage of the search: what every setting has, and the values of each
/// key tried (every combination).
struct Stage {
    axes: Vec<(&'static str, Vec<Value>)>,
}

/// One algorithm's search: the first stage's axes, and the keys of the
/// first stage that the second keeps at their best values, and its axes.
struct Search {
    algorithm: &'static str,
    first: Stage,
    keep: &'static [&'static str],
    second: Stage,
}

fn searches() -> Vec<Search> {
    let values = |v: &[f64]| v.iter().map(|&x| json!(x)).collect::<Vec<_>>();
    let counts = |v: &[u64]| v.iter().map(|&x| json!(x)).collect::<Vec<_>>();
    vec![
        Search {
            algorithm: "isolation_forest",
            first: Stage {
                axes: vec![
                    ("window", counts(&[1024, 4096])),
                    ("shingle", counts(&[1, 2])),
                    // None, a day ago at 5-minute data, and both a step
                    // and a day ago.
                    (
                        "differences",
                        vec![json!([]), json!([288]), json!([1, 288])],
                    ),
                    ("normal_to_end_episode", counts(&[30])),
                    ("threshold", values(&[0.86, 0.88, 0.9, 0.92])),
                ],
            },
            keep: &["window", "shingle", "differences"],
            second: Stage {
                axes: vec![
                    ("normal_to_end_episode", counts(&[3, 10, 30, 100])),
                    ("threshold", values(&[0.86, 0.88, 0.9, 0.92])),
                ],
            },
        },
        Search {
            algorithm: "one_class_svm",
            first: Stage {
                axes: vec![
                    ("window", counts(&[256, 512])),
                    ("shingle", counts(&[1, 2])),
                    ("nu", values(&[0.05, 0.1])),
                    ("threshold", values(&[0.8, 0.9, 0.95, 0.99])),
                ],
            },
            keep: &["window", "shingle", "nu"],
            second: Stage {
                axes: vec![
                    ("gamma", values(&[0.1, 0.5, 2.0])),
                    ("normal_to_end_episode", counts(&[3, 30])),
                    ("threshold", values(&[0.9, 0.95, 0.99])),
                ],
            },
        },
    ]
}

/// Every combination of `axes`' values, over `base`.
fn combinations(base: &Map<String, Value>, axes: &[(&str, Vec<Value>)]) -> Vec<Map<String, Value>> {
    let mut out = vec![base.clone()];
    for (key, values) in axes {
        out = out
            .into_iter()
            .flat_map(|t| {
                values.iter().map(move |v| {
                    let mut t = t.clone();
                    t.insert((*key).to_string(), v.clone());
                    t
                })
            })
            .collect();
    }
    out
}

/// The setting, without its algorithm, as it would be written.
fn setting(table: &Map<String, Value>) -> String {
    let parts: Vec<String> = table
        .iter()
        .filter(|(k, _)| *k != "algorithm")
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if parts.is_empty() {
        "defaults".into()
    } else {
        parts.join(", ")
    }
}

fn cells(s: &[f64]) -> String {
    s.iter()
        .map(|x| format!("{x:.1}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The tuning corpus: NAB's files that are not in the committed subset.
fn tuning_corpus(nab: &Path) -> Result<Corpus, Box<dyn std::error::Error>> {
    let read = |p: &Path| -> Result<BTreeMap<String, Value>, Box<dyn std::error::Error>> {
        let text =
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let all = read(&nab.join("labels/combined_windows.json"))?;
    let subset = read(&committed_subset_dir().join("combined_windows.json"))?;
    for name in subset.keys() {
        if !all.contains_key(name) {
            return Err(
                format!("{name} of the committed subset is not in {}", nab.display()).into(),
            );
        }
    }
    let tuning: BTreeMap<&String, &Value> = all
        .iter()
        .filter(|(n, _)| !subset.contains_key(*n))
        .collect();
    let path: PathBuf = std::env::temp_dir().join("nab_tune_windows.json");
    std::fs::write(&path, serde_json::to_string_pretty(&tuning)?)?;
    Ok(Corpus::load(&nab.join("data"), &path)?)
}

/// A setting and its score in each profile.
type Scored = (Vec<f64>, Map<String, Value>);

/// Runs every setting of `tables` on the tuning corpus, prints them by
/// standard score, and returns them, best first.
fn run_stage(
    corpus: &Corpus,
    profiles: &[Profile],
    standard: usize,
    tables: Vec<Map<String, Value>>,
) -> Result<Vec<Scored>, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut got = Vec::with_capacity(tables.len());
    for t in tables {
        let s = alarm_scores(corpus, profiles, &t, SEED)?;
        eprintln!(
            "  {:>6.1}  {}  ({:.0}s)",
            s[standard],
            setting(&t),
            started.elapsed().as_secs_f64()
        );
        got.push((s, t));
    }
    // Stable: of equal scores the first in grid order wins.
    got.sort_by(|a, b| b.0[standard].total_cmp(&a.0[standard]));
    for (s, t) in &got {
        println!("| {} | {} |", setting(t), cells(s));
    }
    println!(
        "\n{} settings in {:.0}s\n",
        got.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(got)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nab = std::env::var_os("NAB_DIR")
        .map(PathBuf::from)
        .ok_or("NAB_DIR is not set: point it at a checkout of github.com/numenta/NAB (its data/ and labels/)")?;
    let only = std::env::var("NAB_TUNE").ok();
    let started = Instant::now();
    let tuning = tuning_corpus(&nab)?;
    if let Ok(settings) = std::env::var("NAB_SETTINGS") {
        let tables: Vec<Map<String, Value>> = serde_json::from_str(&settings)
            .map_err(|e| format!("NAB_SETTINGS is not a JSON array of tables: {e}"))?;
        let profiles = load_committed_profiles()?;
        let standard = profiles
            .iter()
            .position(|p| p.name == "standard")
            .ok_or("no standard profile")?;
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        let full = std::env::var("NAB_CORPUS").is_ok_and(|c| c == "full");
        let (corpus, scope) = if full {
            let all = nab.join("labels/combined_windows.json");
            (Corpus::load(&nab.join("data"), &all)?, "NAB's whole corpus")
        } else {
            (tuning, "the tuning set only")
        };
        println!(
            "On {scope} ({} files)\n\n| setting | {} |",
            corpus.files().len(),
            names.join(" | ")
        );
        run_stage(&corpus, &profiles, standard, tables)?;
        return Ok(());
    }
    let subset = Corpus::load_committed_subset()?;
    let profiles = load_committed_profiles()?;
    let names: Vec<String> = profiles.iter().map(|p| p.name.clone()).collect();
    let standard = names
        .iter()
        .position(|n| n == "standard")
        .ok_or("no standard profile")?;
    let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
    for f in tuning.files() {
        *categories
            .entry(f.name.split('/').next().unwrap_or(""))
            .or_default() += 1;
    }
    println!(
        "Tuning set (NAB's files not in the committed subset): {} files, {} rows, {} windows; {:?}\n",
        tuning.files().len(),
        tuning.row_count(),
        tuning.window_count(),
        categories
    );
    let header = format!(
        "| setting | {} |\n|---|{}",
        names.join(" | "),
        "---:|".repeat(names.len())
    );
    for search in searches() {
        if only.as_deref().is_some_and(|o| o != search.algorithm) {
            continue;
        }
        let mut base = Map::new();
        base.insert("algorithm".into(), json!(search.algorithm));
        println!("## {} on the tuning set\n", search.algorithm);
        println!("{header}");
        println!(
            "| defaults | {} |\n",
            cells(&alarm_scores(&tuning, &profiles, &base, SEED)?)
        );
        println!("Stage 1\n\n{header}");
        let first = run_stage(
            &tuning,
            &profiles,
            standard,
            combinations(&base, &search.first.axes),
        )?;
        let mut kept = base.clone();
        for k in search.keep {
            kept.insert((*k).to_string(), first[0].1[*k].clone());
        }
        println!("Stage 2 (at {})\n\n{header}", setting(&kept));
        let second = run_stage(
            &tuning,
            &profiles,
            standard,
            combinations(&kept, &search.second.axes),
        )?;
        let chosen = if second[0].0[standard] >= first[0].0[standard] {
            &second[0]
        } else {
            &first[0]
        };
        println!(
            "Chosen on the tuning set: {} ({:.1} standard)\n",
            setting(&chosen.1),
            chosen.0[standard]
        );
        println!(
            "## {} on the committed subset (run once)\n",
            search.algorithm
        );
        println!("{header}");
        println!(
            "| defaults | {} |",
            cells(&alarm_scores(&subset, &profiles, &base, SEED)?)
        );
        println!(
            "| {} (tuned on NAB's other files) | {} |\n",
            setting(&chosen.1),
            cells(&alarm_scores(&subset, &profiles, &chosen.1, SEED)?)
        );
    }
    println!("{:.0}s in all", started.elapsed().as_secs_f64());
    Ok(())
}
