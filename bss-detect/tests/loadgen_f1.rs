//! How well `detectors.toml` finds the anomalies bss-loadgen injects: the
//! simulator generates traffic at a fixed seed with labelled anomalies,
//! every event goes through a [`Pipeline`] built from the file, and the
//! detections are scored against the labels per family (spikes, drops,
//! fraud) as precision, recall and F1. Run with `--nocapture` for the table.
//!
//! A count detection matches a label when it has the label's key (the
//! same JSON pointer and value; for a label keyed by event type, a detector
//! without key that watches those types) and its time falls within
//! `[start - every, end + window + every]`: a count is sampled at the end
//! of the step after the event, and a drop stays visible until the window
//! has refilled. A detection of one event matches the label naming that
//! event. The first minutes are warm-up (the simulated population grows
//! from nothing and detectors learn their normal): labels starting in them
//! are not scored, nor detections made in them or matching those labels.
//!
//! Beside detectors.toml, the same simulation feeds [`ALTERNATIVES`]: the
//! premium-rate voice detector with `isolation_forest` and `one_class_svm`
//! in place of Half-Space Trees, scored detector by detector against the
//! labels of the kind each is meant to find (as every detector of the file
//! is, in a second table), never in the families detectors.toml is held to.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bss_detect::config::{from_tables, DetectorConfig, Measure};
use bss_detect::pipeline::{Anomaly, Input, Pipeline};
use bss_detect::time::parse_rfc3339_us;
use bss_loadgen::anomalies::{AnomalyKind, AnomalyLabel};
use bss_loadgen::clock::{parse_rfc3339, DEFAULT_SIMULATED_START};
use bss_loadgen::simulator::{SimConfig, Simulator};
use serde_json::Value;

const SEED: u64 = 1;
/// Many customers, so that a cell's home population (and with it its
/// traffic) changes slowly against the cell detector's 10 min of history:
/// customers live `CUSTOMERS / (0.005 · RATE)` s in the simulator.
const CUSTOMERS: u64 = 40_000;
/// bss-loadgen's default CDRs per usage append.
const BATCH_SIZE: usize = 10;
/// Simulated events per second: each of the 900 cells then carries about
/// 4.7 CDRs/s.
const RATE: f64 = 5_000.0;
/// 1,500 simulated seconds: about ten drops (one at most every 90 to
/// 120 s) after the warm-up.
const EVENTS: u64 = 7_500_000;
/// Enough for spikes and drops after the warm-up.
const BLIND_EVENTS: u64 = 3_000_000;
const ANOMALY_RATE: f64 = 0.005;
/// The population is complete after `CUSTOMERS / (0.02 · RATE)` = 400 s.
const WARM_UP_US: i64 = 450_000_000;
/// The floor the detectors must reach in every family.
const F1_FLOOR: f64 = 0.8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    Spikes,
    Drops,
    Fraud,
}

const FAMILIES: [Family; 3] = [Family::Spikes, Family::Drops, Family::Fraud];

/// The kind of label each detector is meant to find (its family is that
/// kind's); None for business rules the simulator does not inject.
const KIND_OF_DETECTOR: &[(&str, Option<AnomalyKind>)] = &[
    ("usage-spike", Some(AnomalyKind::UsageSpike)),
    ("payment-drop", Some(AnomalyKind::PaymentDrop)),
    ("cell-drop", Some(AnomalyKind::CellDrop)),
    (
        "data-session-over-50gb",
        Some(AnomalyKind::FraudDataSession),
    ),
    ("premium-voice", Some(AnomalyKind::FraudPremiumVoice)),
    ("failed-payments", None),
    (
        "premium-voice-iforest",
        Some(AnomalyKind::FraudPremiumVoice),
    ),
    ("premium-voice-ocsvm", Some(AnomalyKind::FraudPremiumVoice)),
];

/// Detectors fed beside detectors.toml and scored alone: premium-rate voice
/// fraud by the two detectors of points that learn their own scale, where
/// Half-Space Trees are given the calls' ranges. Call durations are
/// exponential and international calls cost ten times more, so in a
/// window's own scale ordinary calls have far tails; with their defaults the
/// two flag them by the thousand (isolation_forest at 0.88: 1 055
/// detections for 107 frauds found; one_class_svm with γ "scale", 0.5: 7 211
/// for 106). The forest is judged at 0.97 (ordinary calls reach 0.93 once
/// in 10 000, frauds score over 0.99) with 50 trees; the SVM's kernel is
/// widened to γ = 0.001, so that a long call is still within reach of the
/// support vectors while a fraud, 15 sds out in duration and 75 in charge,
/// is not. Both refit less often than by default: two million calls would
/// grow the forest 16 000 times at 128.
const ALTERNATIVES: &str = r#"
[[detector]]
name = "premium-voice-iforest"
event_type = "usage.recorded"
fields = ["/seconds", "/charge"]
match = { "/kind" = "voice" }
algorithm = "isolation_forest"
features = 2
trees = 50
refit_every = 1024
threshold = 0.97

[[detector]]
name = "premium-voice-ocsvm"
event_type = "usage.recorded"
fields = ["/seconds", "/charge"]
match = { "/kind" = "voice" }
algorithm = "one_class_svm"
features = 2
gamma = 0.001
refit_every = 256
"#;

/// The F1 each of [`ALTERNATIVES`] reaches on its kind of label, measured
/// (0.952: 108 of 108 found, 11 ordinary calls flagged; 0.931: 94 of 108,
/// none flagged, the misses frauds close enough in time that the one before
/// is a support vector of the window) and rounded down.
const ALTERNATIVE_F1: &[(&str, f64)] = &[
    ("premium-voice-iforest", 0.95),
    ("premium-voice-ocsvm", 0.93),
];

/// The parameter of each algorithm that says how far from normal is anomalous.
const LIMIT_OF_ALGORITHM: &[(&str, &str)] = &[
    ("zscore", "threshold"),
    ("ewma", "limit"),
    ("iqr", "k"),
    ("mad", "threshold"),
    ("threshold", "above"),
];

fn family_of_label(kind: AnomalyKind) -> Family {
    match kind {
        AnomalyKind::UsageSpike => Family::Spikes,
        AnomalyKind::PaymentDrop | AnomalyKind::CellDrop => Family::Drops,
        AnomalyKind::FraudDataSession | AnomalyKind::FraudPremiumVoice => Family::Fraud,
    }
}

fn kind_of_detector(name: &str) -> Option<AnomalyKind> {
    match KIND_OF_DETECTOR.iter().find(|(n, _)| *n == name) {
        Some((_, kind)) => *kind,
        None => panic!("detector {name} has no kind in KIND_OF_DETECTOR"),
    }
}

/// The kinds of label of `family`.
fn kinds_of(family: Family) -> Vec<AnomalyKind> {
    [
        AnomalyKind::UsageSpike,
        AnomalyKind::PaymentDrop,
        AnomalyKind::CellDrop,
        AnomalyKind::FraudDataSession,
        AnomalyKind::FraudPremiumVoice,
    ]
    .into_iter()
    .filter(|k| family_of_label(*k) == family)
    .collect()
}

/// The `[[detector]]` tables of a TOML text, as the sidecar reads them.
fn tables_of(text: &str) -> Vec<Value> {
    let file: toml::Table = toml::from_str(text).expect("detectors are TOML");
    file["detector"]
        .as_array()
        .expect("there are [[detector]] tables")
        .iter()
        .map(|t| serde_json::to_value(t).expect("a TOML table converts to JSON"))
        .collect()
}

/// The `[[detector]]` tables of detectors.toml.
fn detector_tables() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/detectors.toml");
    tables_of(&std::fs::read_to_string(path).expect("detectors.toml is readable"))
}

/// The names of the detectors of `tables`.
fn names(tables: &[Value]) -> Vec<String> {
    tables
        .iter()
        .map(|t| {
            t["name"]
                .as_str()
                .expect("a detector has a name")
                .to_owned()
        })
        .collect()
}

/// The tables with every limit a thousand times further from normal.
fn blinded(mut tables: Vec<Value>) -> Vec<Value> {
    for t in &mut tables {
        let algorithm = t["algorithm"].as_str().unwrap_or_default().to_owned();
        if let Some((_, limit)) = LIMIT_OF_ALGORITHM.iter().find(|(a, _)| *a == algorithm) {
            let v = t[limit]
                .as_f64()
                .unwrap_or_else(|| panic!("{t}: no {limit}"));
            t[limit] = Value::from(v * 1000.0);
        }
    }
    tables
}

/// A label with its window on the pipeline's clock.
struct Labelled {
    label: AnomalyLabel,
    start_us: i64,
    end_us: i64,
    event_ids: HashSet<String>,
}

/// What one simulation gave the pipeline, and what it found.
struct Run {
    configs: Vec<DetectorConfig>,
    labels: Vec<Labelled>,
    anomalies: Vec<Anomaly>,
    first_us: i64,
}

/// Simulates `events` events at `SEED` and feeds each through a pipeline
/// of `tables`. Appends are consumed as they are made (the loop of
/// `simulator::generate`, which would hold millions of events at once).
fn simulate(tables: &[Value], events: u64) -> Run {
    let configs = from_tables(tables).expect("detectors.toml is a valid detector configuration");
    let mut pipeline = Pipeline::new(configs.clone());
    let mut sim = Simulator::new(SimConfig {
        seed: SEED,
        customers: CUSTOMERS,
        batch_size: BATCH_SIZE,
        run_id: "f1".into(),
        anomaly_rate: ANOMALY_RATE,
        ticket_share: bss_loadgen::simulator::TICKET_SHARE,
    });
    let start = parse_rfc3339(DEFAULT_SIMULATED_START).expect("the default start parses");
    let mut anomalies = Vec::new();
    let mut first_us = None;
    let mut sent = 0u64;
    while sent < events {
        let now = start + time::Duration::seconds_f64(sent as f64 / RATE);
        let append = sim.next_append(now);
        sent += append.events.len() as u64;
        for e in &append.events {
            let time_us = parse_rfc3339_us(&e.time).expect("event time is RFC 3339");
            first_us.get_or_insert(time_us);
            let id = e.event_id.to_string();
            let wants = pipeline.wants_data(&e.event_type);
            pipeline.observe(
                &Input {
                    event_id: &id,
                    event_type: &e.event_type,
                    time_us,
                    data: wants.then_some(&e.data),
                },
                &mut anomalies,
            );
        }
    }
    let labels = sim
        .finish()
        .into_iter()
        .map(|label| Labelled {
            start_us: parse_rfc3339_us(&label.start).expect("label start is RFC 3339"),
            end_us: parse_rfc3339_us(&label.end).expect("label end is RFC 3339"),
            event_ids: label.event_ids.iter().map(|u| u.to_string()).collect(),
            label,
        })
        .collect();
    Run {
        configs,
        labels,
        anomalies,
        first_us: first_us.expect("the simulation made events"),
    }
}

/// Whether detection `a` of detector `cfg` is the anomaly `l` labels.
fn matches(cfg: &DetectorConfig, a: &Anomaly, l: &Labelled) -> bool {
    match cfg.measure {
        Measure::Fields(_) => l.event_ids.contains(&a.source_event_id),
        Measure::Count {
            window_us,
            every_us,
        } => {
            let right_key = match (&cfg.key, &l.label.key_field) {
                (Some(pointer), Some(field)) => {
                    pointer == field && a.key.as_deref() == Some(l.label.key.as_str())
                }
                (None, None) => l
                    .label
                    .event_types
                    .iter()
                    .all(|t| cfg.event_types.contains(t)),
                _ => false,
            };
            right_key
                && a.time_us >= l.start_us - every_us
                && a.time_us <= l.end_us + window_us + every_us
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Score {
    labels: usize,
    found: usize,
    detections: usize,
    true_detections: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        ratio(self.true_detections, self.detections)
    }
    fn recall(&self) -> f64 {
        ratio(self.found, self.labels)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Precision, recall and F1 of the detections of `detectors` against the
/// labels of `kinds`, and per kind its (labels, labels found).
fn score_of(
    run: &Run,
    detectors: &[&str],
    kinds: &[AnomalyKind],
) -> (Score, HashMap<AnomalyKind, (usize, usize)>) {
    let warm_end = run.first_us + WARM_UP_US;
    let config: HashMap<&str, &DetectorConfig> =
        run.configs.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut score = Score::default();
    let mut found = HashSet::new();
    for a in run
        .anomalies
        .iter()
        .filter(|a| a.time_us >= warm_end && detectors.contains(&a.detector.as_str()))
    {
        let cfg = config[a.detector.as_str()];
        let hits: Vec<usize> = (0..run.labels.len())
            .filter(|&i| {
                let l = &run.labels[i];
                kinds.contains(&l.label.kind) && matches(cfg, a, l)
            })
            .collect();
        if hits.iter().any(|&i| run.labels[i].start_us < warm_end) {
            continue;
        }
        score.detections += 1;
        if !hits.is_empty() {
            score.true_detections += 1;
            found.extend(hits);
        }
    }
    let mut by_kind: HashMap<AnomalyKind, (usize, usize)> = HashMap::new();
    for (i, l) in run
        .labels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.start_us >= warm_end && kinds.contains(&l.label.kind))
    {
        score.labels += 1;
        let k = by_kind.entry(l.label.kind).or_default();
        k.0 += 1;
        if found.contains(&i) {
            score.found += 1;
            k.1 += 1;
        }
    }
    (score, by_kind)
}

/// Precision, recall and F1 per family of the detectors named `among`
/// (those of detectors.toml), and per kind of label its (labels, labels found).
fn score(
    run: &Run,
    among: &[String],
) -> (HashMap<Family, Score>, HashMap<AnomalyKind, (usize, usize)>) {
    let mut families = HashMap::new();
    let mut kinds = HashMap::new();
    for family in FAMILIES {
        let detectors: Vec<&str> = among
            .iter()
            .map(String::as_str)
            .filter(|d| kind_of_detector(d).map(family_of_label) == Some(family))
            .collect();
        let (s, k) = score_of(run, &detectors, &kinds_of(family));
        families.insert(family, s);
        kinds.extend(k);
    }
    (families, kinds)
}

/// Each detector scored alone against the labels of its kind.
fn print_detector_table(run: &Run) -> HashMap<String, Score> {
    eprintln!("\nEach detector against the labels of its kind");
    eprintln!(
        "| detector | algorithm | kind | labels | detections | TP | precision | recall | F1 |"
    );
    eprintln!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    let mut scores = HashMap::new();
    for cfg in &run.configs {
        let Some(kind) = kind_of_detector(&cfg.name) else {
            continue;
        };
        let (s, _) = score_of(run, &[cfg.name.as_str()], &[kind]);
        eprintln!(
            "| {} | {} | {kind:?} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            cfg.name,
            cfg.algorithm.name(),
            s.labels,
            s.detections,
            s.true_detections,
            s.precision(),
            s.recall(),
            s.f1()
        );
        scores.insert(cfg.name.clone(), s);
    }
    scores
}

fn print_table(
    title: &str,
    families: &HashMap<Family, Score>,
    kinds: &HashMap<AnomalyKind, (usize, usize)>,
) {
    eprintln!("\n{title}");
    eprintln!("| family | labels | detections | TP | precision | recall | F1 |");
    eprintln!("|---|---:|---:|---:|---:|---:|---:|");
    for f in FAMILIES {
        let s = families[&f];
        eprintln!(
            "| {f:?} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            s.labels,
            s.detections,
            s.true_detections,
            s.precision(),
            s.recall(),
            s.f1()
        );
    }
    let mut kinds: Vec<_> = kinds.iter().collect();
    kinds.sort_by_key(|(k, _)| format!("{k:?}"));
    let found: Vec<String> = kinds
        .iter()
        .map(|(k, (n, f))| format!("{k:?} {f}/{n}"))
        .collect();
    eprintln!("labels found by kind: {}", found.join(", "));
}

#[test]
fn detectors_toml_finds_the_injected_anomalies_with_an_f1_of_at_least_0_8_per_family() {
    let clock = Instant::now();
    let file = detector_tables();
    let alternatives = tables_of(ALTERNATIVES);
    let run = simulate(&[file.clone(), alternatives.clone()].concat(), EVENTS);
    let (families, kinds) = score(&run, &names(&file));
    print_table(
        &format!(
            "detectors.toml on seed {SEED}: {EVENTS} events at {RATE} events/s, {CUSTOMERS} customers, \
             batches of {BATCH_SIZE}, anomaly rate {ANOMALY_RATE}, first {} s not scored ({:.1?})",
            WARM_UP_US / 1_000_000,
            clock.elapsed()
        ),
        &families,
        &kinds,
    );
    for (family, least) in [
        (Family::Spikes, 10),
        (Family::Drops, 6),
        (Family::Fraud, 10),
    ] {
        let s = families[&family];
        assert!(
            s.labels >= least,
            "{family:?}: {} labels, too few for an F1 to mean anything",
            s.labels
        );
        assert!(
            s.f1() >= F1_FLOOR,
            "{family:?}: F1 {:.3} under {F1_FLOOR}: {s:?}",
            s.f1()
        );
    }
    let by_detector = print_detector_table(&run);
    for name in names(&alternatives) {
        let s = by_detector[&name];
        let floor = ALTERNATIVE_F1.iter().find(|(n, _)| *n == name).map_or_else(
            || panic!("{name} has no floor in ALTERNATIVE_F1"),
            |(_, f)| *f,
        );
        assert!(s.labels >= 10, "{name}: {} labels", s.labels);
        assert!(
            s.f1() >= floor,
            "{name}: F1 {:.3} under {floor}: {s:?}",
            s.f1()
        );
    }
}

/// The scoring can fail: with limits no observation reaches, nothing is
/// found. Fraud is not asserted: a Half-Space Trees score cannot go past 1,
/// so premium-voice still fires.
#[test]
fn with_every_limit_far_too_high_spikes_and_drops_are_not_found() {
    let tables = blinded(detector_tables());
    let run = simulate(&tables, BLIND_EVENTS);
    let (families, kinds) = score(&run, &names(&tables));
    print_table("detectors.toml with every limit x1000", &families, &kinds);
    for family in [Family::Spikes, Family::Drops] {
        let s = families[&family];
        assert!(s.labels > 0, "{family:?}: no labels to miss");
        assert_eq!(s.found, 0, "{family:?}: found with limits x1000: {s:?}");
    }
}
