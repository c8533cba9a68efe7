//! The bandwidth kernels (read, write, copy, triad, and the streaming-store
//! variants) over STREAM's three arrays, and how many bytes each moves.
//!
//! Bytes are counted as STREAM counts them: each array element read or
//! written once is 8 bytes; the read a regular store makes to bring its
//! line into the cache (write-allocate) is not counted. That is why the
//! streaming-store variants, which skip that read, can show more GB/s for
//! the same count.

use std::hint::black_box;

use serde::Serialize;

/// The scalar of the triad. 0.5 keeps repeated triads bounded (`a` tends
/// to 4), so no run ever computes with infinities.
pub const SCALAR: f64 = 0.5;

/// A bandwidth kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kernel {
    /// `sum += a[i]`: reads only.
    Read,
    /// `a[i] = x`: writes only, regular stores.
    Write,
    /// `c[i] = a[i]`.
    Copy,
    /// `a[i] = b[i] + s * c[i]` (STREAM's triad).
    Triad,
    /// `a[i] = x` with streaming stores.
    WriteNt,
    /// `c[i] = a[i]` with streaming stores.
    CopyNt,
    /// The triad with streaming stores.
    TriadNt,
}

impl Kernel {
    /// Every kernel, regular ones first.
    pub const ALL: [Kernel; 7] = [
        Kernel::Read,
        Kernel::Write,
        Kernel::Copy,
        Kernel::Triad,
        Kernel::WriteNt,
        Kernel::CopyNt,
        Kernel::TriadNt,
    ];

    /// Its name (`triad`, `copy-nt`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Read => "read",
            Kernel::Write => "write",
            Kernel::Copy => "copy",
            Kernel::Triad => "triad",
            Kernel::WriteNt => "write-nt",
            Kernel::CopyNt => "copy-nt",
            Kernel::TriadNt => "triad-nt",
        }
    }

    /// The kernel with this name.
    pub fn from_name(s: &str) -> Option<Kernel> {
        Kernel::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether it uses streaming stores.
    pub fn non_temporal(self) -> bool {
        matches!(self, Kernel::WriteNt | Kernel::CopyNt | Kernel::TriadNt)
    }

    /// Arrays read and written per element, as STREAM counts them.
    pub fn arrays_touched(self) -> u64 {
        match self {
            Kernel::Read | Kernel::Write | Kernel::WriteNt => 1,
            Kernel::Copy | Kernel::CopyNt => 2,
            Kernel::Triad | Kernel::TriadNt => 3,
        }
    }

    /// Bytes one pass over arrays of `elements` doubles moves.
    ///
    /// ```
    /// use numakit_bench::Kernel;
    /// assert_eq!(Kernel::Triad.bytes(1_000_000), 24_000_000);
    /// assert_eq!(Kernel::Copy.bytes(10), 160);
    /// ```
    pub fn bytes(self, elements: u64) -> u64 {
        self.arrays_touched() * 8 * elements
    }

    /// One pass over one thread's part of the arrays. Returns a value
    /// derived from what was read, for `black_box`.
    pub fn run(self, a: &mut [f64], b: &[f64], c: &mut [f64]) -> u64 {
        match self {
            Kernel::Read => return read(a),
            Kernel::Write => write(a, SCALAR),
            Kernel::Copy => copy(c, a),
            Kernel::Triad => triad(a, b, c),
            Kernel::WriteNt => numakit_sys::stream::fill(a, SCALAR),
            Kernel::CopyNt => numakit_sys::stream::copy(c, a),
            Kernel::TriadNt => numakit_sys::stream::triad(a, b, c, SCALAR),
        }
        // the stores must happen: something outside looks at the arrays
        black_box((a, c));
        0
    }
}

/// Sums the bits of every element, in eight independent lanes so that the
/// compiler vectorises it and no add waits for the one before.
fn read(a: &[f64]) -> u64 {
    let mut acc = [0u64; 8];
    let mut it = a.chunks_exact(8);
    for ch in &mut it {
        for (s, x) in acc.iter_mut().zip(ch) {
            *s = s.wrapping_add(x.to_bits());
        }
    }
    let tail = it
        .remainder()
        .iter()
        .fold(0u64, |s, x| s.wrapping_add(x.to_bits()));
    black_box(acc.iter().fold(tail, |s, x| s.wrapping_add(*x)))
}

fn write(a: &mut [f64], x: f64) {
    // a value whose bytes differ, so the loop stays a loop of stores and
    // is not turned into `memset` (which may stream large fills)
    for e in a.iter_mut() {
        *e = x;
    }
}

fn copy(dst: &mut [f64], src: &[f64]) {
    // `+ 0.0` is not the identity for floats (-0.0 + 0.0 is +0.0), so the
    // compiler keeps an element loop with regular stores instead of
    // calling `memcpy`, which streams large copies; one add per element
    // costs nothing next to the memory traffic.
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s + 0.0;
    }
}

fn triad(a: &mut [f64], b: &[f64], c: &[f64]) {
    for ((x, y), z) in a.iter_mut().zip(b).zip(c) {
        *x = y + SCALAR * z;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// STREAM's accounting: 8 bytes per element per array touched.
    #[test]
    fn byte_accounting() {
        let n = 1 << 20;
        let want = [
            (Kernel::Read, 8),
            (Kernel::Write, 8),
            (Kernel::Copy, 16),
            (Kernel::Triad, 24),
            (Kernel::WriteNt, 8),
            (Kernel::CopyNt, 16),
            (Kernel::TriadNt, 24),
        ];
        for (k, per) in want {
            assert_eq!(k.bytes(n), per * n, "{}", k.name());
            assert_eq!(Kernel::from_name(k.name()), Some(k));
        }
        assert_eq!(Kernel::from_name("scale"), None);
    }

    #[test]
    fn kernels_compute_what_they_say() {
        for k in Kernel::ALL {
            let mut a = vec![1.0; 37];
            let b = vec![2.0; 37];
            let mut c = vec![0.0; 37];
            let v = k.run(&mut a, &b, &mut c);
            match k {
                Kernel::Read => assert_eq!(v, 37u64.wrapping_mul(1f64.to_bits())),
                Kernel::Write | Kernel::WriteNt => assert!(a.iter().all(|x| *x == SCALAR)),
                Kernel::Copy | Kernel::CopyNt => assert!(c.iter().all(|x| *x == 1.0)),
                Kernel::Triad | Kernel::TriadNt => assert!(a.iter().all(|x| *x == 2.0)),
            }
        }
    }
}
