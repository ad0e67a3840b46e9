//! Owns the anomaly episode of one series: consecutive anomalous
//! observations are one anomaly, reported once, at its first observation;
//! the episode ends after `normal_to_end` normal observations in a row, so
//! that an anomaly flickering across the limit is not reported at every
//! crossing. Used alike for count and field detectors. Must not decide what
//! is anomalous, only what of it is reported.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Episode {
    /// An episode is open: an anomaly was reported and has not ended.
    open: bool,
    /// Normal observations in a row since the last anomalous one.
    normal_run: u32,
}

impl Episode {
    /// Whether a judged observation, `anomalous` or not, is reported.
    pub(crate) fn alarm(&mut self, anomalous: bool, normal_to_end: u32) -> bool {
        if anomalous {
            let first = !self.open;
            self.open = true;
            self.normal_run = 0;
            return first;
        }
        if self.open {
            self.normal_run = self.normal_run.saturating_add(1);
            if self.normal_run >= normal_to_end {
                self.open = false;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reported observations of a run of verdicts (`x` anomalous, `.` normal).
    fn reported(run: &str, normal_to_end: u32) -> String {
        let mut e = Episode::default();
        run.chars()
            .map(|c| {
                if e.alarm(c == 'x', normal_to_end) {
                    'A'
                } else {
                    c
                }
            })
            .collect()
    }

    #[test]
    fn an_episode_is_reported_once_and_ends_after_enough_normal_observations() {
        assert_eq!(reported("..xxx..x.x", 1), "..Axx..A.A");
        assert_eq!(reported("..xxx..x.x", 2), "..Axx..A.x");
        assert_eq!(reported("..xxx..x...x", 3), "..Axx..x...A");
    }
}
