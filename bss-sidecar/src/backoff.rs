//! Owns the one retry policy of the sidecar: how long the replication
//! source, the sink runner and the anomaly stage wait before trying again.
//! Exponential with decorrelated jitter ("Exponential Backoff And Jitter",
//! AWS Architecture Blog, 2015): each wait is drawn uniformly between the
//! first wait and three times the previous one, capped, so that the sinks
//! and the stage retrying against the same host after an outage spread out
//! instead of knocking together. Must never wait less than the first wait
//! nor more than the cap, and must never fail.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The first wait and the cap of a retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub first: Duration,
    pub max: Duration,
}

/// Delivery to a sink and appends of the anomaly stage: the first retry
/// soon (a broker that moved its leader answers again within tens of ms),
/// then at most every 5 s so a long outage costs little.
pub const DELIVERY: Policy = Policy {
    first: Duration::from_millis(50),
    max: Duration::from_secs(5),
};

/// Reconnecting the replication source: each attempt opens two connections
/// to PostgreSQL, so the first wait is longer than a delivery's.
pub const REPLICATION: Policy = Policy {
    first: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// The waits of one retry loop; [`Backoff::reset`] after a success.
#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    previous: Duration,
    random: Random,
}

impl Backoff {
    pub fn new(policy: Policy) -> Backoff {
        assert!(
            !policy.first.is_zero() && policy.first <= policy.max,
            "a backoff waits at least something and its first wait is within its cap"
        );
        Backoff {
            policy,
            previous: policy.first,
            random: Random::new(),
        }
    }

    /// The wait before the next attempt: uniform in [first, 3 × previous],
    /// at most the policy's cap.
    pub fn next_wait(&mut self) -> Duration {
        let first = self.policy.first.as_nanos() as u64;
        let high = (self.previous.as_nanos() as u64)
            .saturating_mul(3)
            .max(first);
        let drawn = first + self.random.below(high - first + 1);
        let wait = Duration::from_nanos(drawn).min(self.policy.max);
        self.previous = wait;
        debug_assert!(self.policy.first <= wait && wait <= self.policy.max);
        wait
    }

    /// Starts over from the first wait.
    pub fn reset(&mut self) {
        self.previous = self.policy.first;
    }
}

/// A small pseudo-random generator (xorshift64*), seeded from the hasher
/// keys std draws at random for each process: jitter needs no more, and no
/// dependency.
#[derive(Debug)]
struct Random(u64);

impl Random {
    fn new() -> Random {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9E37_79B9_7F4A_7C15);
        // xorshift never leaves 0.
        Random(h.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in [0, n) for n ≥ 1 (the modulo bias is below 2^-20
    /// for the nanosecond ranges used here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wait_is_between_the_first_wait_and_the_cap() {
        for policy in [DELIVERY, REPLICATION] {
            let mut b = Backoff::new(policy);
            for _ in 0..10_000 {
                let w = b.next_wait();
                assert!(policy.first <= w && w <= policy.max, "{w:?} for {policy:?}");
            }
        }
    }

    #[test]
    fn waits_grow_to_the_cap_and_reset_starts_over() {
        let mut b = Backoff::new(DELIVERY);
        let waits: Vec<Duration> = (0..200).map(|_| b.next_wait()).collect();
        // From 50 ms, growing by up to 3x a step, the cap of 5 s is within
        // reach after a handful of steps, and jitter keeps the mean below it.
        assert!(
            waits.iter().any(|w| *w >= Duration::from_secs(4)),
            "{waits:?}"
        );
        let late: Duration = waits[100..].iter().sum::<Duration>() / 100;
        assert!(
            late > Duration::from_secs(1) && late < DELIVERY.max,
            "mean of the later waits {late:?}"
        );
        b.reset();
        assert!(
            b.next_wait() <= DELIVERY.first * 3,
            "reset starts from the first wait"
        );
    }

    #[test]
    fn two_backoffs_do_not_wait_in_step() {
        let mut a = Backoff::new(DELIVERY);
        let mut b = Backoff::new(DELIVERY);
        // Waits at the cap are equal by design; below it they are spread.
        let same = (0..50)
            .map(|_| (a.next_wait(), b.next_wait()))
            .filter(|(x, y)| x == y && *x < DELIVERY.max)
            .count();
        assert_eq!(same, 0, "uncapped waits were equal");
    }

    #[test]
    fn a_policy_whose_first_wait_is_its_cap_always_waits_that() {
        let p = Policy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(1),
        };
        let mut b = Backoff::new(p);
        assert!((0..100).all(|_| b.next_wait() == p.max));
    }
}
