//! Owns the forecast stage's counts: for each event type, how many events
//! committed in each bucket of time (5 minutes by default) over the last
//! days, by commit time. Buckets are closed by the clock as well as by
//! events, so quiet time counts as zeros. Must keep every type's series
//! aligned on the same newest bucket, and never hold more than `keep`.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Counts per type per bucket, the last `keep` buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    bucket_us: i64,
    keep: usize,
    /// Index (time / bucket) of the newest bucket; None before any.
    newest: Option<i64>,
    /// Per type, counts of the buckets up to `newest`, oldest first.
    series: BTreeMap<String, VecDeque<f64>>,
}

impl Counts {
    pub fn new(bucket_us: i64, keep: usize) -> Counts {
        Counts {
            bucket_us: bucket_us.max(1),
            keep: keep.max(2),
            newest: None,
            series: BTreeMap::new(),
        }
    }

    /// Whether the counts were kept with this bucket and length (a saved
    /// state of another configuration is not used).
    pub fn fits(&self, bucket_us: i64, keep: usize) -> bool {
        self.bucket_us == bucket_us && self.keep == keep.max(2)
    }

    fn bucket_of(&self, time_us: i64) -> i64 {
        time_us.div_euclid(self.bucket_us)
    }

    /// Moves the newest bucket on to the one holding `time_us` (if later),
    /// with zeros for the buckets in between.
    pub fn advance_to(&mut self, time_us: i64) {
        let b = self.bucket_of(time_us);
        let Some(newest) = self.newest else {
            self.newest = Some(b);
            return;
        };
        if b <= newest {
            return;
        }
        let gap = usize::try_from(b - newest)
            .unwrap_or(usize::MAX)
            .min(self.keep);
        for s in self.series.values_mut() {
            for _ in 0..gap {
                s.push_back(0.0);
            }
            while s.len() > self.keep {
                s.pop_front();
            }
        }
        self.newest = Some(b);
    }

    /// Counts one event of `event_type` committed at `time_us`. An event
    /// older than the buckets kept is not counted (false).
    pub fn add(&mut self, event_type: &str, time_us: i64) -> bool {
        self.advance_to(time_us);
        let newest = self.newest.expect("set by advance_to");
        let back = usize::try_from(newest - self.bucket_of(time_us)).unwrap_or(usize::MAX);
        if back >= self.keep {
            return false;
        }
        let s = match self.series.get_mut(event_type) {
            Some(s) => s,
            None => self
                .series
                .entry(event_type.to_owned())
                .or_insert_with(|| VecDeque::from([0.0])),
        };
        // A type first seen now has only the newest bucket; an older event
        // of it extends its series back with zeros.
        while s.len() <= back {
            s.push_front(0.0);
        }
        let at = s.len() - 1 - back;
        s[at] += 1.0;
        true
    }

    /// Each type's complete buckets (all but the newest, still filling),
    /// oldest first, after closing the buckets up to `now_us`.
    pub fn complete(&mut self, now_us: i64) -> Vec<(String, Vec<f64>)> {
        self.advance_to(now_us);
        self.series
            .iter()
            .map(|(t, s)| {
                let n = s.len().saturating_sub(1);
                (t.clone(), s.iter().take(n).copied().collect())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: i64 = 300_000_000; // 5 minutes

    #[test]
    fn events_land_in_their_buckets_quiet_time_is_zeros_and_old_buckets_go() {
        let mut c = Counts::new(B, 4);
        c.add("a", 10);
        c.add("a", B - 1);
        c.add("b", B + 5);
        c.add("a", 3 * B);
        // a: [2, 0, 0, 1]; b: [1, 0, 0] (first seen in bucket 1)
        assert_eq!(c.series["a"], [2.0, 0.0, 0.0, 1.0]);
        assert_eq!(c.series["b"], [1.0, 0.0, 0.0]);
        // Late, but within the buckets kept; and too late.
        assert!(c.add("b", 5));
        assert_eq!(c.series["b"], [1.0, 1.0, 0.0, 0.0]);
        c.add("a", 5 * B);
        assert!(!c.add("a", B), "older than the 4 buckets kept");
        assert_eq!(c.series["a"], [0.0, 1.0, 0.0, 1.0]);
        // Closing by the clock: buckets 4 to 6 complete, 7 filling.
        let complete = c.complete(7 * B + 1);
        assert_eq!(complete[0], ("a".to_owned(), vec![0.0, 1.0, 0.0]));
        assert_eq!(complete[1].1.len(), 3);
    }

    #[test]
    fn counts_survive_a_round_trip_and_refuse_another_bucket() {
        let mut c = Counts::new(B, 10);
        c.add("a", 42);
        let back: Counts = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(back.fits(B, 10));
        assert!(!back.fits(60_000_000, 10));
    }
}
