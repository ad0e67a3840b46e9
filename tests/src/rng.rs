//! Owns the small deterministic generator test schedules draw from, so a
//! failing run repeats with the seed it prints. Not for anything that
//! needs real randomness.

/// xorshift64*.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // xorshift never leaves 0.
        Rng(seed.max(1))
    }

    /// The next number below `n` (below 1 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        // xorshift64*'s low bits are its weakest: scale the high ones.
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((u128::from(x) * u128::from(n.max(1))) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_numbers_below_the_bound() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
    }

    #[test]
    fn a_zero_seed_still_draws_more_than_one_number() {
        let mut r = Rng::new(0);
        let drawn: std::collections::HashSet<u64> = (0..100).map(|_| r.below(1000)).collect();
        assert!(drawn.len() > 1);
    }
}
