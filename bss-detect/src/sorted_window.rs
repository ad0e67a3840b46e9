//! Owns the sliding window the robust detectors (IQR, MAD) take their
//! quantiles from: the last `capacity` values in arrival order, and the same
//! values sorted, so that a quantile is two reads and the median absolute
//! deviation a pair of binary searches. It never holds NaN: callers skip
//! values that are not finite before pushing them.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::Verdict;

/// The last `capacity` values, oldest first, with a sorted copy.
///
/// Order is `f64::total_cmp`, so the sorted copy is a function of the values
/// alone (even `-0.0` and `0.0` have fixed places): a deserialised window
/// rebuilds it bit for bit instead of saving it twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SavedWindow", into = "SavedWindow")]
pub(crate) struct SortedWindow {
    capacity: usize,
    ring: VecDeque<f64>,
    sorted: Vec<f64>,
}

/// What is saved of a window; the sorted copy is rebuilt from `values`.
#[derive(Serialize, Deserialize)]
struct SavedWindow {
    capacity: usize,
    values: VecDeque<f64>,
}

impl From<SortedWindow> for SavedWindow {
    fn from(window: SortedWindow) -> Self {
        SavedWindow {
            capacity: window.capacity,
            values: window.ring,
        }
    }
}

impl TryFrom<SavedWindow> for SortedWindow {
    type Error = String;

    fn try_from(saved: SavedWindow) -> Result<Self, String> {
        if saved.capacity == 0 {
            return Err("a saved sorted window has capacity 0".into());
        }
        if saved.values.len() > saved.capacity {
            return Err(format!(
                "a saved sorted window of capacity {} holds {} values",
                saved.capacity,
                saved.values.len()
            ));
        }
        if saved.values.iter().any(|v| v.is_nan()) {
            return Err("a saved sorted window holds NaN".into());
        }
        let mut sorted: Vec<f64> = saved.values.iter().copied().collect();
        // Under total_cmp equal values are identical bits: stability is moot.
        sorted.sort_unstable_by(f64::total_cmp);
        Ok(SortedWindow {
            capacity: saved.capacity,
            ring: saved.values,
            sorted,
        })
    }
}

/// Linear interpolation from `a` (at `t = 0`) to `b` (at `t = 1`).
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + t * (b - a)
}

impl SortedWindow {
    /// What a window detector's `observe` does: a value that is not finite
    /// is neither judged nor learned; before `min_samples` values nothing is
    /// judged; otherwise `judge` scores against the window as it is. Then
    /// the value is learned and counted in `seen`.
    pub(crate) fn judge_then_learn(
        &mut self,
        x: f64,
        min_samples: usize,
        seen: &mut u64,
        judge: impl FnOnce(&SortedWindow) -> Verdict,
    ) -> Verdict {
        if !x.is_finite() {
            return Verdict::WARMING_UP;
        }
        let verdict = if self.len() < min_samples {
            Verdict::WARMING_UP
        } else {
            judge(self)
        };
        self.push(x);
        *seen = seen.saturating_add(1);
        verdict
    }

    /// An empty window of the last `capacity` values; a capacity of 0 is
    /// taken as 1 (the detectors' params reject windows under 2 anyway).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        SortedWindow {
            capacity,
            ring: VecDeque::with_capacity(capacity),
            sorted: Vec::with_capacity(capacity),
        }
    }

    /// Adds `x`, evicting and returning the oldest value if the window was full.
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        debug_assert!(!x.is_nan(), "NaN has no place in a sorted window");
        let evicted = if self.is_full() {
            self.ring.pop_front()
        } else {
            None
        };
        if let Some(old) = evicted {
            let at = self.position(old);
            debug_assert_eq!(self.sorted[at].to_bits(), old.to_bits());
            self.sorted.remove(at);
        }
        let at = self.position(x);
        self.sorted.insert(at, x);
        self.ring.push_back(x);
        evicted
    }

    /// Where `x` is, or would go, in the sorted copy.
    fn position(&self, x: f64) -> usize {
        self.sorted.partition_point(|v| v.total_cmp(&x).is_lt())
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.ring.len() >= self.capacity
    }

    /// The `q`-quantile (`q` in 0..=1), interpolating linearly between the
    /// two nearest ranks (Hyndman-Fan type 7, numpy's default); NaN when empty.
    pub(crate) fn quantile(&self, q: f64) -> f64 {
        debug_assert!((0.0..=1.0).contains(&q), "quantile {q} is not in 0..=1");
        let Some(last) = self.sorted.len().checked_sub(1) else {
            return f64::NAN;
        };
        let rank = last as f64 * q;
        let below = (rank.floor() as usize).min(last);
        let above = (below + 1).min(last);
        lerp(self.sorted[below], self.sorted[above], rank - below as f64)
    }

    /// The median; NaN when empty.
    pub(crate) fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// The median absolute deviation from the median; NaN when empty.
    ///
    /// The deviations of the values under the median, read leftwards from
    /// it, rise; so do those of the values from the median rightwards. The
    /// median of all deviations is then a k-th smallest of two sorted runs,
    /// found by binary search without allocating.
    pub(crate) fn mad(&self) -> f64 {
        let n = self.sorted.len();
        if n == 0 {
            return f64::NAN;
        }
        let median = self.median();
        let (under, over) = self
            .sorted
            .split_at(self.sorted.partition_point(|&v| v < median));
        let runs = Deviations {
            under,
            over,
            median,
        };
        if n % 2 == 1 {
            runs.kth_smallest(n / 2)
        } else {
            lerp(runs.kth_smallest(n / 2 - 1), runs.kth_smallest(n / 2), 0.5)
        }
    }
}

/// The absolute deviations from `median` of a sorted slice split at it:
/// `under` holds the values below the median, `over` the rest.
struct Deviations<'a> {
    under: &'a [f64],
    over: &'a [f64],
    median: f64,
}

impl Deviations<'_> {
    /// The `j`-th smallest deviation among those of `under`.
    fn under(&self, j: usize) -> f64 {
        self.median - self.under[self.under.len() - 1 - j]
    }

    /// The `j`-th smallest deviation among those of `over`.
    fn over(&self, j: usize) -> f64 {
        self.over[j] - self.median
    }

    /// The `k`-th smallest (from 0) of all deviations.
    fn kth_smallest(&self, k: usize) -> f64 {
        let (a, b) = (self.under.len(), self.over.len());
        debug_assert!(k < a + b);
        // How many of the k + 1 smallest come from `under`: the least `i`
        // for which taking one more from `under` would overtake `over`.
        let (mut lo, mut hi) = ((k + 1).saturating_sub(b), (k + 1).min(a));
        while lo < hi {
            let i = lo + (hi - lo) / 2;
            // i < hi <= a and i < hi <= k + 1, so both reads are in range.
            if self.under(i) < self.over(k - i) {
                lo = i + 1;
            } else {
                hi = i;
            }
        }
        let i = lo;
        let j = k + 1 - i;
        let from_under = if i > 0 { self.under(i - 1) } else { 0.0 };
        let from_over = if j > 0 { self.over(j - 1) } else { 0.0 };
        from_under.max(from_over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn window_of(capacity: usize, values: &[f64]) -> SortedWindow {
        let mut w = SortedWindow::new(capacity);
        for &v in values {
            w.push(v);
        }
        w
    }

    /// Sorts and interpolates afresh, as the definition says.
    fn naive_quantile(values: &[f64], q: f64) -> f64 {
        let mut s = values.to_vec();
        s.sort_by(f64::total_cmp);
        let rank = (s.len() - 1) as f64 * q;
        let below = rank.floor() as usize;
        let above = (below + 1).min(s.len() - 1);
        lerp(s[below], s[above], rank - below as f64)
    }

    fn naive_mad(values: &[f64]) -> f64 {
        let median = naive_quantile(values, 0.5);
        let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        naive_quantile(&deviations, 0.5)
    }

    #[test]
    fn quantiles_interpolate_between_ranks_like_numpy() {
        let w = window_of(10, &[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(w.quantile(0.0), 1.0);
        assert_eq!(w.quantile(0.25), 1.75);
        assert_eq!(w.median(), 2.5);
        assert_eq!(w.quantile(0.75), 3.25);
        assert_eq!(w.quantile(1.0), 4.0);
        assert_eq!(w.mad(), 1.0);

        let w = window_of(10, &[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]);
        assert_eq!(w.median(), 2.0);
        assert_eq!(w.mad(), 1.0);

        let w = window_of(1, &[7.0]);
        assert_eq!((w.quantile(0.3), w.median(), w.mad()), (7.0, 7.0, 0.0));
    }

    #[test]
    fn an_empty_window_has_no_quantiles() {
        let w = SortedWindow::new(5);
        assert!(w.quantile(0.25).is_nan());
        assert!(w.median().is_nan());
        assert!(w.mad().is_nan());
    }

    #[test]
    fn push_evicts_the_oldest_once_full() {
        let mut w = SortedWindow::new(3);
        assert_eq!(w.push(5.0), None);
        assert_eq!(w.push(1.0), None);
        assert!(!w.is_full());
        assert_eq!(w.push(3.0), None);
        assert!(w.is_full());
        assert_eq!(w.len(), 3);
        assert_eq!(w.push(2.0), Some(5.0));
        assert_eq!(w.push(2.0), Some(1.0));
        assert_eq!(w.len(), 3);
        assert_eq!(w.sorted, vec![2.0, 2.0, 3.0]);
        assert_eq!(w.ring, [3.0, 2.0, 2.0]);
    }

    #[test]
    fn matches_a_naive_window_on_random_data() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for capacity in [1, 2, 3, 4, 5, 8, 33, 101] {
            let mut w = SortedWindow::new(capacity);
            let mut naive: VecDeque<f64> = VecDeque::new();
            for step in 0..2_000 {
                // Ties (small integers, both zeros) as well as distinct values.
                let x = match rng.random_range(0..4) {
                    0 => rng.random_range(0..5) as f64,
                    1 => [0.0, -0.0][rng.random_range(0..2)],
                    _ => rng.random::<f64>() * 200.0 - 100.0,
                };
                let expected_eviction = if naive.len() == capacity {
                    naive.pop_front()
                } else {
                    None
                };
                naive.push_back(x);
                assert_eq!(
                    w.push(x).map(f64::to_bits),
                    expected_eviction.map(f64::to_bits)
                );
                let values: Vec<f64> = naive.iter().copied().collect();
                assert_eq!(w.len(), values.len());
                for q in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0] {
                    assert_eq!(
                        w.quantile(q),
                        naive_quantile(&values, q),
                        "capacity {capacity}, step {step}, q {q}"
                    );
                }
                assert_eq!(
                    w.mad(),
                    naive_mad(&values),
                    "capacity {capacity}, step {step}, window {values:?}"
                );
            }
        }
    }

    #[test]
    fn a_saved_window_restores_equal() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut w = SortedWindow::new(50);
        for _ in 0..120 {
            w.push(rng.random::<f64>() - 0.5);
        }
        w.push(-0.0);
        w.push(0.0);
        let bytes = rmp_serde::to_vec(&w).expect("a window serialises");
        let restored: SortedWindow = rmp_serde::from_slice(&bytes).expect("and deserialises");
        assert_eq!(restored, w);
        let bits = |s: &SortedWindow| s.sorted.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&restored),
            bits(&w),
            "the sorted copy is rebuilt bit for bit"
        );
    }

    #[test]
    fn a_saved_window_that_breaks_its_invariants_is_refused() {
        let overfull = SavedWindow {
            capacity: 2,
            values: VecDeque::from([1.0, 2.0, 3.0]),
        };
        let bytes = rmp_serde::to_vec(&overfull).expect("serialises");
        let err = rmp_serde::from_slice::<SortedWindow>(&bytes).unwrap_err();
        assert!(err.to_string().contains("capacity 2 holds 3"), "{err}");

        let nan = SavedWindow {
            capacity: 2,
            values: VecDeque::from([f64::NAN]),
        };
        let bytes = rmp_serde::to_vec(&nan).expect("serialises");
        assert!(rmp_serde::from_slice::<SortedWindow>(&bytes).is_err());
    }
}
