//! Owns NAB's normalisation (`Runner.normalize` in `nab/runner.py`): a raw
//! corpus score is put on a scale where the null detector (no detections)
//! scores 0 and the perfect one 100. It must never compute a raw score.

/// The perfect raw score: every window found at its first row, each earning
/// the true positive weight (NAB counts the windows of its labels file).
pub fn perfect_score(window_count: usize, tp_weight: f64) -> f64 {
    window_count as f64 * tp_weight
}

/// `100 · (raw − null) / (perfect − null)`.
pub fn normalised_score(raw: f64, null: f64, perfect: f64) -> f64 {
    100.0 * (raw - null) / (perfect - null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_is_0_perfect_is_100_and_the_scale_is_linear() {
        // NAB's corpus: 116 windows; the null detector's standard raw score
        // is -116 (every window missed).
        let perfect = perfect_score(116, 1.0);
        assert_eq!(normalised_score(-116.0, -116.0, perfect), 0.0);
        assert_eq!(normalised_score(116.0, -116.0, perfect), 100.0);
        assert_eq!(normalised_score(0.0, -116.0, perfect), 50.0);
        // NAB's numenta detector, standard profile: raw 46.6344501971 is
        // 70.1010561194 in results/final_results.json.
        let numenta = normalised_score(46.6344501971, -116.0, perfect);
        assert!((numenta - 70.1010561194).abs() < 1e-9, "{numenta}");
        // reward_low_FN_rate: fnWeight 2, null -232.
        let numenta_fn = normalised_score(26.6344501971, -232.0, perfect);
        assert!((numenta_fn - 74.3202443095).abs() < 1e-9, "{numenta_fn}");
    }
}
