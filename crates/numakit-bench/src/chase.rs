//! The pointer chase: a random cyclic permutation of the cache lines of a
//! buffer, written into the lines themselves, and the loop of dependent
//! loads that follows it.
//!
//! Each line's first word holds the index (in 64-bit words) of the next
//! line to load. The permutation is one cycle through every line (Sattolo's
//! algorithm), so the chase visits every line before it repeats, and its
//! order is random, so neither the prefetchers nor the open DRAM pages help:
//! each load waits for the one before it and for memory.

/// The bytes of a cache line the chase steps by.
pub const LINE: usize = 64;
const WORDS_PER_LINE: usize = LINE / 8;

/// SplitMix64: a small, fast, reproducible generator (Steele, Lea and
/// Flood, 2014); good enough to shuffle, not for anything secret.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (`n > 0`), by multiply-shift (bias below 2^-32
    /// for the sizes used here).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// A random cyclic permutation of `0..n`: `next[i]` is the element after
/// `i`, and following `next` from any element visits all `n` before it
/// comes back (Sattolo's algorithm).
pub fn cyclic_permutation(n: usize, seed: u64) -> Vec<u32> {
    assert!(n <= u32::MAX as usize, "at most 2^32 lines");
    let mut next: Vec<u32> = (0..n as u32).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = rng.below(i);
        next.swap(i, j);
    }
    next
}

/// Writes the chase into `words` (a buffer of whole cache lines seen as
/// 64-bit words): the first word of line `i` becomes the word index of
/// line `next[i]`. Returns the number of lines.
pub fn write_chase(words: &mut [u64], seed: u64) -> usize {
    let lines = words.len() / WORDS_PER_LINE;
    let next = cyclic_permutation(lines, seed);
    for (line, n) in words.chunks_exact_mut(WORDS_PER_LINE).zip(&next) {
        line[0] = *n as u64 * WORDS_PER_LINE as u64;
    }
    lines
}

/// Follows the chase for `loads` dependent loads from word `start`;
/// returns where it stopped (to keep the loads from being optimised away,
/// and to start the next run there).
#[inline(never)]
pub fn chase(words: &[u64], start: usize, loads: u64) -> usize {
    let mut i = start;
    // Unrolled by 4: the bounds checks are not on the dependency chain
    // (the branch is predicted), so the loop costs one load latency each.
    for _ in 0..loads / 4 {
        i = words[i] as usize;
        i = words[i] as usize;
        i = words[i] as usize;
        i = words[i] as usize;
    }
    for _ in 0..loads % 4 {
        i = words[i] as usize;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One cycle through every line, for sizes around the edges.
    #[test]
    fn permutation_is_one_cycle_through_every_line() {
        for n in [1usize, 2, 3, 7, 64, 1000, 4097] {
            for seed in [0, 1, 42] {
                let next = cyclic_permutation(n, seed);
                let mut seen = vec![false; n];
                let mut i = 0usize;
                for _ in 0..n {
                    assert!(!seen[i], "n={n} seed={seed}: {i} visited twice");
                    seen[i] = true;
                    i = next[i] as usize;
                }
                assert_eq!(i, 0, "n={n}: the cycle closes after n steps");
                assert!(seen.iter().all(|s| *s));
            }
        }
    }

    #[test]
    fn permutation_is_random_and_reproducible() {
        let a = cyclic_permutation(1 << 12, 7);
        assert_eq!(a, cyclic_permutation(1 << 12, 7));
        assert_ne!(a, cyclic_permutation(1 << 12, 8));
        // not a stride: few lines go to their neighbour
        let neighbours = a
            .iter()
            .enumerate()
            .filter(|(i, n)| **n as usize == i + 1)
            .count();
        assert!(neighbours < 10, "{neighbours}");
    }

    #[test]
    fn chase_visits_every_line_of_the_buffer() {
        let mut words = vec![0u64; 8 * 100];
        assert_eq!(write_chase(&mut words, 3), 100);
        let mut seen = std::collections::BTreeSet::new();
        let mut i = 0;
        for _ in 0..100 {
            assert_eq!(i % 8, 0, "every hop lands on a line start");
            seen.insert(i);
            i = chase(&words, i, 1);
        }
        assert_eq!(seen.len(), 100);
        assert_eq!(i, 0);
        assert_eq!(chase(&words, 0, 100), 0);
        assert_eq!(chase(&words, 0, 203), chase(&words, 0, 3));
    }

    proptest::proptest! {
        #[test]
        fn below_stays_in_range(seed: u64, n in 1usize..1_000_000) {
            let mut r = SplitMix64::new(seed);
            for _ in 0..10 {
                proptest::prop_assert!(r.below(n) < n);
            }
        }
    }
}
