//! The streams the clients work on: `la-<run id>-<k>`, `streams` of them
//! active at once. A stream is retired after `APPENDS_PER_STREAM` appends
//! were invoked on it and the next k takes its place, as Elle retires a
//! key after a bounded number of writes: a read returns the whole list, so
//! without this every read, and the history that keeps it, would grow
//! with the run's length. Owns the names and the rotation; it must never
//! touch the database.

use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::Rng;

/// Appends invoked on a stream before it is retired. Reads stay a few
/// kilobytes each, and a 30 s run at a few thousand operations a second
/// ends with a few hundred streams to read back.
pub const APPENDS_PER_STREAM: u64 = 128;

/// The stream `k` of run `run_id`.
pub fn stream_name(run_id: &str, k: u64) -> String {
    format!("la-{run_id}-{k}")
}

pub struct StreamPool {
    run_id: String,
    state: Mutex<PoolState>,
}

struct PoolState {
    /// Each active stream's k and the appends invoked on it.
    active: Vec<(u64, u64)>,
    /// The k the next new stream gets: every k below it was handed out.
    next: u64,
}

impl StreamPool {
    /// `streams` active streams (at least one), k = 0..streams.
    pub fn new(run_id: &str, streams: usize) -> Self {
        let streams = streams.max(1) as u64;
        StreamPool {
            run_id: run_id.to_string(),
            state: Mutex::new(PoolState {
                active: (0..streams).map(|k| (k, 0)).collect(),
                next: streams,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        // The state is two counters, consistent after any panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An active stream to read, drawn by `rng`.
    pub fn pick(&self, rng: &mut impl Rng) -> String {
        let state = self.state();
        let (k, _) = state.active[rng.random_range(0..state.active.len())];
        stream_name(&self.run_id, k)
    }

    /// An active stream to append to, drawn by `rng`; counts the append,
    /// and retires the stream when it reaches `APPENDS_PER_STREAM`.
    pub fn pick_for_append(&self, rng: &mut impl Rng) -> String {
        let mut state = self.state();
        let slot = rng.random_range(0..state.active.len());
        let next = state.next;
        let (k, appends) = &mut state.active[slot];
        let stream = stream_name(&self.run_id, *k);
        *appends += 1;
        if *appends >= APPENDS_PER_STREAM {
            state.active[slot] = (next, 0);
            state.next += 1;
        }
        stream
    }

    /// Every stream handed out so far, retired or active.
    pub fn all_streams(&self) -> Vec<String> {
        let next = self.state().next;
        (0..next).map(|k| stream_name(&self.run_id, k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;

    #[test]
    fn a_stream_gets_at_most_its_share_of_appends_then_a_new_one_takes_its_place() {
        let pool = StreamPool::new("r", 2);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut appends: HashMap<String, u64> = HashMap::new();
        for _ in 0..10 * APPENDS_PER_STREAM {
            *appends.entry(pool.pick_for_append(&mut rng)).or_default() += 1;
        }
        assert!(appends.values().all(|&n| n <= APPENDS_PER_STREAM));
        let all = pool.all_streams();
        assert!(all.len() >= 10, "{}", all.len());
        assert!(appends.keys().all(|s| all.contains(s)));
        assert_eq!(all[0], "la-r-0");
    }

    #[test]
    fn reads_draw_only_active_streams() {
        let pool = StreamPool::new("r", 3);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..100 {
            let s = pool.pick(&mut rng);
            assert!(["la-r-0", "la-r-1", "la-r-2"].contains(&s.as_str()), "{s}");
        }
    }
}
