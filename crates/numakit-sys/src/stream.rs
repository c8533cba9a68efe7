//! Non-temporal (streaming) stores: memory-bandwidth kernels that write
//! around the caches, as `movntpd` does on x86-64.
//!
//! A regular store first reads the line it writes into the cache (the
//! write-allocate read), so a kernel that writes N bytes moves 2N over the
//! memory bus. A non-temporal store goes to memory through write-combining
//! buffers without that read. These functions are the safe face of those
//! stores: they take slices, write every element, and end with an `sfence`
//! so that the stores are visible before they return.
//!
//! On x86-64 they use 256-bit AVX stores when the CPU has AVX (checked at
//! run time) and 128-bit SSE2 stores otherwise (every x86-64 CPU has SSE2).
//! On other architectures there is no portable streaming store in stable
//! Rust: [`kind`] answers `None` and the functions fall back to regular
//! stores, so callers can say what they measured.
//!
//! # Example
//! ```
//! use numakit_sys::stream;
//! let b = vec![1.0; 1000];
//! let c = vec![2.0; 1000];
//! let mut a = vec![0.0; 1000];
//! stream::triad(&mut a, &b, &c, 3.0);
//! assert!(a.iter().all(|x| *x == 7.0));
//! ```

/// The streaming stores the functions of this module use on this CPU:
/// `Some("avx")`, `Some("sse2")`, or `None` (regular stores).
pub fn kind() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            Some("avx")
        } else {
            Some("sse2")
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Splits `len` elements starting at `addr` into a head (up to the first
/// 32-byte boundary), a body of whole 32-byte blocks, and a tail.
fn split32(addr: usize, len: usize) -> (usize, usize) {
    let head = ((32 - addr % 32) % 32 / 8).min(len);
    let body = (len - head) / 4 * 4;
    (head, body)
}

/// `dst[i] = value` for every element, with streaming stores.
pub fn fill(dst: &mut [f64], value: f64) {
    let (head, body) = split32(dst.as_ptr() as usize, dst.len());
    let (h, rest) = dst.split_at_mut(head);
    let (b, t) = rest.split_at_mut(body);
    h.fill(value);
    imp::fill(b, value);
    t.fill(value);
    imp::fence();
}

/// `dst[i] = src[i]` with streaming stores (the lengths must match).
///
/// # Panics
/// When the lengths differ.
pub fn copy(dst: &mut [f64], src: &[f64]) {
    assert_eq!(dst.len(), src.len(), "stream::copy: lengths differ");
    let (head, body) = split32(dst.as_ptr() as usize, dst.len());
    let (h, rest) = dst.split_at_mut(head);
    let (b, t) = rest.split_at_mut(body);
    let (sh, srest) = src.split_at(head);
    let (sb, st) = srest.split_at(body);
    h.copy_from_slice(sh);
    imp::copy(b, sb);
    t.copy_from_slice(st);
    imp::fence();
}

/// STREAM's triad `a[i] = b[i] + scalar * c[i]` with streaming stores to
/// `a` (the lengths must match).
///
/// # Panics
/// When the lengths differ.
pub fn triad(a: &mut [f64], b: &[f64], c: &[f64], scalar: f64) {
    assert!(
        a.len() == b.len() && a.len() == c.len(),
        "stream::triad: lengths differ"
    );
    let plain = |a: &mut [f64], b: &[f64], c: &[f64]| {
        for ((x, y), z) in a.iter_mut().zip(b).zip(c) {
            *x = y + scalar * z;
        }
    };
    let (head, body) = split32(a.as_ptr() as usize, a.len());
    let end = head + body;
    plain(&mut a[..head], &b[..head], &c[..head]);
    imp::triad(&mut a[head..end], &b[head..end], &c[head..end], scalar);
    plain(&mut a[end..], &b[end..], &c[end..]);
    imp::fence();
}

#[cfg(target_arch = "x86_64")]
mod imp {
    //! The x86-64 streaming stores. Every `dst` here starts on a 32-byte
    //! boundary and holds a multiple of 4 elements (the callers split
    //! off the rest), which is what `movntpd` needs for 16 and 32 bytes.
    use std::arch::x86_64 as x;

    fn avx() -> bool {
        std::arch::is_x86_feature_detected!("avx")
    }

    pub(super) fn fence() {
        // SAFETY: `sfence` has no operands and no preconditions; SSE is
        // part of the x86-64 baseline.
        unsafe { x::_mm_sfence() }
    }

    pub(super) fn fill(dst: &mut [f64], v: f64) {
        debug_assert!(
            dst.is_empty()
                || ((dst.as_ptr() as usize).is_multiple_of(32) && dst.len().is_multiple_of(4))
        );
        if avx() {
            // SAFETY: AVX was detected on this CPU just above; `dst` is
            // 32-byte aligned with a length that is a multiple of 4.
            unsafe { fill_avx(dst, v) }
        } else {
            // SAFETY: SSE2 is part of the x86-64 baseline; `dst` is 32-byte
            // aligned (so 16-byte aligned) with an even length.
            unsafe { fill_sse2(dst, v) }
        }
    }

    pub(super) fn copy(dst: &mut [f64], src: &[f64]) {
        debug_assert!(dst.len() == src.len());
        if avx() {
            // SAFETY: AVX detected; `dst` aligned as above, `src` as long.
            unsafe { copy_avx(dst, src) }
        } else {
            // SAFETY: SSE2 is baseline; `dst` aligned as above.
            unsafe { copy_sse2(dst, src) }
        }
    }

    pub(super) fn triad(a: &mut [f64], b: &[f64], c: &[f64], s: f64) {
        debug_assert!(a.len() == b.len() && a.len() == c.len());
        if avx() {
            // SAFETY: AVX detected; `a` aligned as above, `b`/`c` as long.
            unsafe { triad_avx(a, b, c, s) }
        } else {
            // SAFETY: SSE2 is baseline; `a` aligned as above.
            unsafe { triad_sse2(a, b, c, s) }
        }
    }

    #[target_feature(enable = "avx")]
    unsafe fn fill_avx(dst: &mut [f64], v: f64) {
        let p = dst.as_mut_ptr();
        let vv = x::_mm256_set1_pd(v);
        let mut i = 0;
        while i < dst.len() {
            // SAFETY: i + 4 <= len (len is a multiple of 4) and p + i is
            // 32-byte aligned (p is, and i is a multiple of 4 elements).
            unsafe { x::_mm256_stream_pd(p.add(i), vv) };
            i += 4;
        }
    }

    #[target_feature(enable = "avx")]
    unsafe fn copy_avx(dst: &mut [f64], src: &[f64]) {
        let (p, q) = (dst.as_mut_ptr(), src.as_ptr());
        let mut i = 0;
        while i < dst.len() {
            // SAFETY: i + 4 <= len for both slices; the load is unaligned,
            // the store 32-byte aligned as in `fill_avx`.
            unsafe { x::_mm256_stream_pd(p.add(i), x::_mm256_loadu_pd(q.add(i))) };
            i += 4;
        }
    }

    #[target_feature(enable = "avx")]
    unsafe fn triad_avx(a: &mut [f64], b: &[f64], c: &[f64], s: f64) {
        let (p, pb, pc) = (a.as_mut_ptr(), b.as_ptr(), c.as_ptr());
        let vs = x::_mm256_set1_pd(s);
        let mut i = 0;
        while i < a.len() {
            // SAFETY: i + 4 <= len for all three slices; loads unaligned,
            // the store 32-byte aligned as in `fill_avx`.
            unsafe {
                let r = x::_mm256_add_pd(
                    x::_mm256_loadu_pd(pb.add(i)),
                    x::_mm256_mul_pd(vs, x::_mm256_loadu_pd(pc.add(i))),
                );
                x::_mm256_stream_pd(p.add(i), r);
            }
            i += 4;
        }
    }

    #[target_feature(enable = "sse2")]
    unsafe fn fill_sse2(dst: &mut [f64], v: f64) {
        let p = dst.as_mut_ptr();
        let vv = x::_mm_set1_pd(v);
        let mut i = 0;
        while i < dst.len() {
            // SAFETY: i + 2 <= len (len is even) and p + i is 16-byte
            // aligned (p is 32-byte aligned, i even).
            unsafe { x::_mm_stream_pd(p.add(i), vv) };
            i += 2;
        }
    }

    #[target_feature(enable = "sse2")]
    unsafe fn copy_sse2(dst: &mut [f64], src: &[f64]) {
        let (p, q) = (dst.as_mut_ptr(), src.as_ptr());
        let mut i = 0;
        while i < dst.len() {
            // SAFETY: i + 2 <= len for both; the store is 16-byte aligned.
            unsafe { x::_mm_stream_pd(p.add(i), x::_mm_loadu_pd(q.add(i))) };
            i += 2;
        }
    }

    #[target_feature(enable = "sse2")]
    unsafe fn triad_sse2(a: &mut [f64], b: &[f64], c: &[f64], s: f64) {
        let (p, pb, pc) = (a.as_mut_ptr(), b.as_ptr(), c.as_ptr());
        let vs = x::_mm_set1_pd(s);
        let mut i = 0;
        while i < a.len() {
            // SAFETY: i + 2 <= len for all three; the store is 16-byte aligned.
            unsafe {
                let r = x::_mm_add_pd(
                    x::_mm_loadu_pd(pb.add(i)),
                    x::_mm_mul_pd(vs, x::_mm_loadu_pd(pc.add(i))),
                );
                x::_mm_stream_pd(p.add(i), r);
            }
            i += 2;
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    //! No streaming stores in stable Rust here: regular stores, and
    //! [`super::kind`] says so.
    pub(super) fn fence() {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
    pub(super) fn fill(dst: &mut [f64], v: f64) {
        dst.fill(v);
    }
    pub(super) fn copy(dst: &mut [f64], src: &[f64]) {
        dst.copy_from_slice(src);
    }
    pub(super) fn triad(a: &mut [f64], b: &[f64], c: &[f64], s: f64) {
        for ((x, y), z) in a.iter_mut().zip(b).zip(c) {
            *x = y + s * z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!(split32(0x1000, 10), (0, 8));
        assert_eq!(split32(0x1008, 10), (3, 4));
        assert_eq!(split32(0x1010, 1), (1, 0));
        assert_eq!(split32(0x1018, 0), (0, 0));
        assert_eq!(split32(0x1018, 5), (1, 4));
    }

    /// Every offset and length around the 32-byte blocks: each element is
    /// written exactly as the plain loop would, and nothing outside.
    #[test]
    fn kernels_write_every_element() {
        let src: Vec<f64> = (0..64).map(|i| i as f64).collect();
        let c: Vec<f64> = (0..64).map(|i| (i * 3) as f64).collect();
        for off in 0..5 {
            for len in 0..20 {
                let mut buf = vec![-1.0; 64];
                fill(&mut buf[off..off + len], 2.5);
                for (i, x) in buf.iter().enumerate() {
                    let inside = i >= off && i < off + len;
                    assert_eq!(*x, if inside { 2.5 } else { -1.0 }, "fill {off} {len} {i}");
                }
                let mut buf = vec![-1.0; 64];
                copy(&mut buf[off..off + len], &src[7..7 + len]);
                assert_eq!(&buf[off..off + len], &src[7..7 + len]);
                assert!(buf[..off].iter().all(|x| *x == -1.0));
                assert!(buf[off + len..].iter().all(|x| *x == -1.0));
                let mut buf = vec![-1.0; 64];
                triad(
                    &mut buf[off..off + len],
                    &src[1..1 + len],
                    &c[2..2 + len],
                    0.5,
                );
                for i in 0..len {
                    assert_eq!(buf[off + i], src[1 + i] + 0.5 * c[2 + i]);
                }
                assert!(buf[off + len..].iter().all(|x| *x == -1.0));
            }
        }
    }

    #[test]
    fn kind_on_this_cpu() {
        #[cfg(target_arch = "x86_64")]
        assert!(matches!(kind(), Some("avx" | "sse2")));
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(kind(), None);
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn copy_lengths_must_match() {
        copy(&mut [0.0; 3], &[1.0; 4]);
    }
}
