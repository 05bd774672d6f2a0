//! xorshift64*, the deterministic pseudo-random generator of the unit tests: reproducible
//! splits, damage and noise without a dependency. (The integration tests, which cannot see it,
//! and the lab's generator have their own.)

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next number; the state must not be 0.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
