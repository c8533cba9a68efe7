//! The frame checksum and the test pattern a producer fills frames with.
//!
//! The checksum is Fletcher-like over little-endian 64-bit words: a running
//! sum and a sum of running sums, so that a word in the wrong place changes
//! it. It is a serial chain (one add per word per accumulator), computed the
//! same way over a mapped buffer (volatile loads) and over bytes received
//! through a socket, so both pipelines do the same work per byte.

/// A checksum being computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    a: u64,
    b: u64,
}

impl Checksum {
    /// Adds one word.
    #[inline]
    pub fn word(mut self, word: u64) -> Checksum {
        self.a = self.a.wrapping_add(word);
        self.b = self.b.wrapping_add(self.a);
        self
    }

    /// The value.
    pub fn value(self) -> u64 {
        self.a ^ self.b.rotate_left(32)
    }
}

/// The checksum of `bytes` (a last partial word is zero-padded).
pub fn checksum_bytes(bytes: &[u8]) -> u64 {
    let mut c = Checksum::default();
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        c = c.word(u64::from_le_bytes(a));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut a = [0u8; 8];
        a[..rest.len()].copy_from_slice(rest);
        c = c.word(u64::from_le_bytes(a));
    }
    c.value()
}

/// Word `i` of the test pattern of frame `seq`: different in every word
/// and every frame.
#[inline]
pub fn pattern_word(seq: u64, i: usize) -> u64 {
    let x = (seq << 40) ^ (i as u64);
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (x >> 29)
}

/// Fills `out` with the pattern of frame `seq` (whole words) and returns
/// its checksum.
pub fn fill_pattern(out: &mut [u8], seq: u64) -> u64 {
    let mut c = Checksum::default();
    for (i, w) in out.chunks_exact_mut(8).enumerate() {
        let v = pattern_word(seq, i);
        w.copy_from_slice(&v.to_le_bytes());
        c = c.word(v);
    }
    c.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matters() {
        let a = [1u8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
        let b = [2u8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        assert_ne!(checksum_bytes(&a), checksum_bytes(&b));
    }

    #[test]
    fn pattern_checksum_matches_bytes() {
        let mut v = vec![0u8; 4096];
        let c = fill_pattern(&mut v, 7);
        assert_eq!(checksum_bytes(&v), c);
        let mut w = vec![0u8; 4096];
        assert_ne!(fill_pattern(&mut w, 8), c, "frames differ");
    }

    /// Any single flipped bit of a frame changes the checksum (every bit
    /// of 512 bytes, for a few frames).
    #[test]
    fn a_flipped_bit_is_seen() {
        for seq in [0, 1, 77] {
            let mut v = vec![0u8; 512];
            let c = fill_pattern(&mut v, seq);
            for bit in 0..512 * 8 {
                v[bit / 8] ^= 1 << (bit % 8);
                assert_ne!(checksum_bytes(&v), c, "frame {seq}, bit {bit}");
                v[bit / 8] ^= 1 << (bit % 8);
            }
        }
    }
}
