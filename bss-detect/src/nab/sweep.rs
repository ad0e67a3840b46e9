//! Owns NAB's threshold sweep (`Sweeper.calcScoreByThreshold`,
//! `scoreDataSet` and the optimiser in `nab/sweeper.py`, `nab/optimizer.py`):
//! rows sorted by anomaly score, highest first, each distinct score a
//! threshold; a row at or above it is a detection. A window counts once, by
//! its best (earliest) detection, or −fnWeight when none; every false
//! positive adds its (negative) value. It must never look at files or
//! profiles: it is given valued rows and the false negative weight.

use std::cmp::Ordering;
use std::collections::HashMap;

/// The sweep's first threshold, above every anomaly score: nothing is
/// detected (NAB starts at 1.1 "so that all points are skipped").
pub const NO_DETECTION_THRESHOLD: f64 = 1.1;

/// Rows by what a threshold made of them (NAB counts rows, not windows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Detected rows in a window.
    pub true_positives: u64,
    /// Undetected rows outside every window.
    pub true_negatives: u64,
    /// Detected rows outside every window.
    pub false_positives: u64,
    /// Undetected rows in a window.
    pub false_negatives: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.true_positives + self.true_negatives + self.false_positives + self.false_negatives
    }

    pub fn add(&mut self, other: &Counts) {
        self.true_positives += other.true_positives;
        self.true_negatives += other.true_negatives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
    }
}

/// The score that detecting every row at or above `threshold` gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    pub threshold: f64,
    pub score: f64,
    pub counts: Counts,
}

/// A row outside the probationary period, valued by the scorer. `window`
/// identifies its window among all the windows of the sweep (across files).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepRow {
    pub anomaly_score: f64,
    pub weighted: f64,
    pub window: Option<usize>,
}

/// The score at every threshold, from [`NO_DETECTION_THRESHOLD`] down to the
/// lowest anomaly score, thresholds strictly decreasing. Anomaly scores must
/// not be NaN (the caller checks).
pub fn scores_by_threshold(mut rows: Vec<SweepRow>, fn_weight: f64) -> Vec<ThresholdScore> {
    // Stable, as Python's sorted(reverse=True): ties keep their row order.
    rows.sort_by(|a, b| {
        b.anomaly_score
            .partial_cmp(&a.anomaly_score)
            .unwrap_or(Ordering::Equal)
    });
    // NAB's scoreParts: false positives first, then each window, in the order
    // the sorted rows first meet it, each starting as a miss. The score is
    // their sum in that order (as Python's sum over the dict).
    let mut slot_of: HashMap<usize, usize> = HashMap::new();
    let mut windows: Vec<f64> = Vec::new();
    for w in rows.iter().filter_map(|r| r.window) {
        slot_of.entry(w).or_insert_with(|| {
            windows.push(-fn_weight);
            windows.len() - 1
        });
    }
    let mut false_positive_sum = 0.0;
    let total = |fp: f64, windows: &[f64]| windows.iter().fold(fp, |s, w| s + w);

    let mut counts = Counts::default();
    for r in &rows {
        match r.window {
            Some(_) => counts.false_negatives += 1,
            None => counts.true_negatives += 1,
        }
    }
    let mut out = Vec::new();
    let mut threshold = NO_DETECTION_THRESHOLD;
    for r in &rows {
        if r.anomaly_score != threshold {
            out.push(ThresholdScore {
                threshold,
                score: total(false_positive_sum, &windows),
                counts,
            });
            threshold = r.anomaly_score;
        }
        match r.window {
            Some(w) => {
                counts.true_positives += 1;
                counts.false_negatives -= 1;
                let slot = &mut windows[slot_of[&w]];
                *slot = slot.max(r.weighted);
            }
            None => {
                counts.false_positives += 1;
                counts.true_negatives -= 1;
                false_positive_sum += r.weighted;
            }
        }
    }
    out.push(ThresholdScore {
        threshold,
        score: total(false_positive_sum, &windows),
        counts,
    });
    out
}

/// The threshold of the highest score, the highest threshold among equals
/// (NAB's optimiser: a stable sort by score, descending, then the first).
pub fn best(scores: &[ThresholdScore]) -> ThresholdScore {
    scores
        .iter()
        .copied()
        .reduce(|best, s| if s.score > best.score { s } else { best })
        .unwrap_or(ThresholdScore {
            threshold: NO_DETECTION_THRESHOLD,
            score: 0.0,
            counts: Counts::default(),
        })
}

/// The score of detecting the rows at or above `threshold`: the lowest
/// swept threshold that is still at or above it (NAB's `scoreDataSet`).
/// Where NAB fails (a threshold above 1.1 or below every anomaly score of a
/// file) this gives what those thresholds mean: nothing detected, or all.
pub fn at_threshold(scores: &[ThresholdScore], threshold: f64) -> ThresholdScore {
    let mut chosen = scores[0];
    for s in scores {
        if s.threshold >= threshold {
            chosen = *s;
        } else {
            break;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(anomaly_score: f64, weighted: f64, window: Option<usize>) -> SweepRow {
        SweepRow {
            anomaly_score,
            weighted,
            window,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Two windows (0 and 1) and three rows outside; values as the scorer
    /// would give them.
    fn example() -> Vec<SweepRow> {
        vec![
            row(0.2, -0.11, None),
            row(0.9, 0.95, Some(0)), // early in window 0
            row(0.6, 0.40, Some(0)), // late in window 0
            row(0.6, -0.05, None),
            row(0.3, 0.80, Some(1)),
            row(0.7, -0.02, None),
        ]
    }

    #[test]
    fn each_distinct_score_is_a_threshold_and_only_a_windows_best_detection_counts() {
        let s = scores_by_threshold(example(), 1.0);
        let thresholds: Vec<f64> = s.iter().map(|t| t.threshold).collect();
        assert_eq!(thresholds, vec![1.1, 0.9, 0.7, 0.6, 0.3, 0.2]);
        // Nothing detected: both windows missed.
        assert!(close(s[0].score, -2.0));
        // >= 0.9: window 0 by its early row.
        assert!(close(s[1].score, 0.95 - 1.0));
        // >= 0.7: plus a false positive.
        assert!(close(s[2].score, -0.02 + 0.95 - 1.0));
        // >= 0.6: the late row of window 0 does not add; another FP does.
        assert!(close(s[3].score, -0.07 + 0.95 - 1.0));
        // >= 0.3: window 1 found.
        assert!(close(s[4].score, -0.07 + 0.95 + 0.80));
        // >= 0.2: the last FP.
        assert!(close(s[5].score, -0.18 + 0.95 + 0.80));
        assert_eq!(
            s[3].counts,
            Counts {
                true_positives: 2,
                true_negatives: 1,
                false_positives: 2,
                false_negatives: 1,
            }
        );
        assert!(s.iter().all(|t| t.counts.total() == 6));
    }

    #[test]
    fn the_optimiser_picks_the_threshold_of_the_highest_score() {
        let s = scores_by_threshold(example(), 1.0);
        let b = best(&s);
        assert_eq!(b.threshold, 0.3);
        assert!(close(b.score, 1.68));
        // With a heavy false-positive weight, detecting less wins.
        let heavy: Vec<SweepRow> = example()
            .into_iter()
            .map(|r| SweepRow {
                weighted: if r.window.is_none() {
                    r.weighted * 100.0
                } else {
                    r.weighted
                },
                ..r
            })
            .collect();
        assert_eq!(best(&scores_by_threshold(heavy, 1.0)).threshold, 0.9);
    }

    #[test]
    fn among_equal_scores_the_optimiser_keeps_the_highest_threshold() {
        // The FP at 0.5 is worth 0: thresholds 0.8 and 0.5 score the same.
        let rows = vec![row(0.8, 1.0, Some(0)), row(0.5, 0.0, None)];
        let s = scores_by_threshold(rows, 1.0);
        assert_eq!(s[1].score, s[2].score);
        assert_eq!(best(&s).threshold, 0.8);
    }

    #[test]
    fn a_fixed_threshold_detects_the_scores_at_or_above_it() {
        let s = scores_by_threshold(example(), 1.0);
        assert_eq!(at_threshold(&s, 0.9).threshold, 0.9);
        assert_eq!(at_threshold(&s, 0.65).threshold, 0.7);
        assert_eq!(at_threshold(&s, 0.95).threshold, 1.1);
        assert_eq!(at_threshold(&s, 5.0).threshold, 1.1);
        assert_eq!(at_threshold(&s, 0.0).threshold, 0.2);
        assert_eq!(at_threshold(&s, 0.6), s[3]);
    }

    #[test]
    fn a_missed_window_costs_the_false_negative_weight() {
        let rows = vec![row(0.1, 0.9, Some(0)), row(0.1, 0.8, Some(1))];
        assert!(close(scores_by_threshold(rows, 2.0)[0].score, -4.0));
    }
}
