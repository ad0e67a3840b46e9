//! Owns NAB's value of one row of one file were it a detection (NAB's
//! `Sweeper.calcSweepScore` in `nab/sweeper.py`): inside a window, the scaled
//! sigmoid of how early in the window it is, weighted by the profile's true
//! positive weight; outside, the scaled sigmoid of how far it is past the
//! preceding window, weighted by the false positive weight; rows of the
//! probationary period are marked so that nothing counts them. It must never
//! decide what is detected (the sweep does) nor sum anything.

use super::corpus::LabelledFile;
use super::profile::CostMatrix;

/// The part of each file that is never scored, NAB's `probationaryPercent`.
pub const PROBATIONARY_FRACTION: f64 = 0.15;

/// The probationary period never exceeds this fraction of this many rows
/// (NAB's `probationPercent * 5000`, 750 rows).
pub const PROBATIONARY_CAP_BASE_ROWS: f64 = 5000.0;

/// Rows at the start of a file of `rows` rows whose detections do not count:
/// `min(floor(0.15 * rows), 0.15 * 5000)`, NAB's `_getProbationaryLength`,
/// compared with a row index as a float, as NAB does.
pub fn probationary_length(rows: usize) -> f64 {
    (PROBATIONARY_FRACTION * rows as f64)
        .floor()
        .min(PROBATIONARY_FRACTION * PROBATIONARY_CAP_BASE_ROWS)
}

/// The standard logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// NAB's `scaledSigmoid`: 2·sigmoid(−5·p) − 1 of a relative position `p`
/// (−1 the left edge of a window, 0 its right edge, 1 one window width
/// past it), and −1 beyond 3.
pub fn scaled_sigmoid(relative_position: f64) -> f64 {
    if relative_position > 3.0 {
        -1.0
    } else {
        2.0 * sigmoid(-5.0 * relative_position) - 1.0
    }
}

/// Where a row stands for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRole {
    /// In the probationary period: never counted, whatever it is.
    Probationary,
    /// In the file's window of this index: a detection is a true positive.
    Window(usize),
    /// Outside every window: a detection is a false positive.
    Outside,
}

/// One row as the sweep sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowScore {
    pub anomaly_score: f64,
    /// What detecting this row is worth (NAB's `sweepScore`, the `S(t)_*`
    /// columns of its result files): positive in a window, negative outside.
    pub weighted: f64,
    pub role: RowRole,
}

/// Every row of `file` with `anomaly_scores` (one per row; the caller has
/// checked the length) valued under `cost`.
pub fn row_scores(file: &LabelledFile, anomaly_scores: &[f64], cost: &CostMatrix) -> Vec<RowScore> {
    debug_assert_eq!(file.rows(), anomaly_scores.len());
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probationary_length(file.rows());
    let mut next_window = 0;
    let mut current: Option<usize> = None;
    let mut previous: Option<usize> = None;
    let mut out = Vec::with_capacity(file.rows());
    for (i, &anomaly_score) in anomaly_scores.iter().enumerate() {
        if file
            .windows
            .get(next_window)
            .is_some_and(|w| w.start_row == i)
        {
            current = Some(next_window);
            next_window += 1;
        }
        let weighted = match current {
            Some(k) => {
                let w = &file.windows[k];
                let position = -((w.end_row - i + 1) as f64) / w.width() as f64;
                scaled_sigmoid(position) * cost.tp_weight / max_tp
            }
            None => {
                let unweighted = match previous {
                    // No window before: as if very far past one.
                    None => -1.0,
                    Some(k) => {
                        let w = &file.windows[k];
                        let position = (i - w.end_row) as f64 / (w.width() as f64 - 1.0);
                        scaled_sigmoid(position)
                    }
                };
                unweighted * cost.fp_weight
            }
        };
        let role = if (i as f64) < probation {
            RowRole::Probationary
        } else {
            current.map_or(RowRole::Outside, RowRole::Window)
        };
        out.push(RowScore {
            anomaly_score,
            weighted,
            role,
        });
        if let Some(k) = current {
            if file.windows[k].end_row == i {
                previous = current.take();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nab::corpus::Window;

    const STANDARD: CostMatrix = CostMatrix {
        tp_weight: 1.0,
        fp_weight: 0.11,
        fn_weight: 1.0,
        tn_weight: 1.0,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn scaled_sigmoid_has_the_values_nab_documents() {
        // sweeper.py's docstring: -1 -> 0.98661, -0.5 -> 0.84828, 0 -> 0,
        // 1 -> -0.98661; beyond 3 -> -1.
        assert!((scaled_sigmoid(-1.0) - 0.98661).abs() < 5e-6);
        assert!((scaled_sigmoid(-0.5) - 0.84828).abs() < 5e-6);
        assert_eq!(scaled_sigmoid(0.0), 0.0);
        assert!((scaled_sigmoid(1.0) + 0.98661).abs() < 5e-6);
        assert!(close(scaled_sigmoid(3.0), 2.0 / (1.0 + 15f64.exp()) - 1.0));
        assert_eq!(scaled_sigmoid(3.000001), -1.0);
        // Exactly: 2/(1+e^-5) - 1 = tanh(2.5).
        assert!(close(scaled_sigmoid(-1.0), 2.5f64.tanh()));
    }

    #[test]
    fn probationary_period_is_15_percent_capped_at_750_rows() {
        assert_eq!(probationary_length(100), 15.0);
        assert_eq!(probationary_length(4032), 604.0); // floor(604.8)
        assert_eq!(probationary_length(1624), 243.0); // floor(243.6)
        assert_eq!(probationary_length(5000), 750.0);
        assert_eq!(probationary_length(22_695), 750.0);
    }

    /// 20 rows, probation floor(0.15*20) = 3 rows, one window at rows 8..=11
    /// (width 4). Values by hand from sweeper.py.
    #[test]
    fn rows_are_valued_by_their_place_relative_to_the_windows() {
        let file = LabelledFile {
            name: "t.csv".into(),
            timestamps_us: (0..20).collect(),
            values: vec![0.0; 20],
            windows: vec![Window {
                start_row: 8,
                end_row: 11,
            }],
        };
        let rows = row_scores(&file, &[0.0; 20], &STANDARD);
        let max_tp = 2.5f64.tanh();
        // Before any window: -1 * fpWeight, probationary or not.
        assert_eq!(rows[0].role, RowRole::Probationary);
        assert!(close(rows[0].weighted, -0.11));
        assert_eq!(rows[2].role, RowRole::Probationary);
        assert_eq!(rows[3].role, RowRole::Outside);
        assert!(close(rows[7].weighted, -0.11));
        // In the window: position -(11 - i + 1)/4.
        assert_eq!(rows[8].role, RowRole::Window(0));
        assert!(close(rows[8].weighted, 1.0)); // position -1: the full tpWeight
        let at = |p: f64| (2.0 * sigmoid(-5.0 * p) - 1.0) / max_tp;
        assert!(close(rows[9].weighted, at(-0.75)));
        assert!(close(rows[10].weighted, at(-0.5)));
        assert!(close(rows[11].weighted, at(-0.25)));
        // After it: position (i - 11)/(4 - 1), times fpWeight.
        assert_eq!(rows[12].role, RowRole::Outside);
        assert!(close(
            rows[12].weighted,
            0.11 * (2.0 * sigmoid(-5.0 / 3.0) - 1.0)
        ));
        assert!(close(rows[14].weighted, 0.11 * (2.0 * sigmoid(-5.0) - 1.0)));
        // (20 - 1 - 11)/3 = 2.67 <= 3: still on the sigmoid, not -1.
        assert!(close(
            rows[19].weighted,
            0.11 * (2.0 * sigmoid(-5.0 * 8.0 / 3.0) - 1.0)
        ));
        assert!(rows[19].weighted > -0.11);
    }

    #[test]
    fn a_window_inside_the_probationary_period_is_marked_probationary() {
        let file = LabelledFile {
            name: "t.csv".into(),
            timestamps_us: (0..100).collect(),
            values: vec![0.0; 100],
            windows: vec![Window {
                start_row: 10,
                end_row: 20,
            }],
        };
        let rows = row_scores(&file, &[0.0; 100], &STANDARD);
        // probation = 15 rows: 10..=14 probationary, 15..=20 in the window.
        assert_eq!(rows[14].role, RowRole::Probationary);
        assert_eq!(rows[15].role, RowRole::Window(0));
        assert_eq!(rows[21].role, RowRole::Outside);
    }
}
