//! Faulting pages in without changing them: what libnuma's
//! `numa_police_memory` does, safe.

/// Writes every page of `buf` that holds one of its bytes, each with the
/// value it already has (a volatile read, then a volatile write of the same
/// byte), so that the kernel allocates the page now, under the memory policy
/// in force for it, and the contents stay as they were. `page` is the page
/// size (a value of 0 is taken as 1). Returns the number of pages written.
///
/// # Example
/// ```
/// use numakit_sys::{mm::page_size, touch::fault_in_writable};
/// let mut v = vec![7u8; 3 * page_size()];
/// let pages = fault_in_writable(&mut v[1..], page_size());
/// assert!(pages >= 3);
/// assert!(v.iter().all(|b| *b == 7));
/// ```
pub fn fault_in_writable(buf: &mut [u8], page: usize) -> usize {
    let page = page.max(1);
    let base = buf.as_ptr() as usize;
    let mut i = 0;
    let mut n = 0;
    while i < buf.len() {
        let p: *mut u8 = &mut buf[i];
        // SAFETY: `p` comes from a live `&mut u8` into `buf`, which this
        // function borrows exclusively: reading and writing it back is a
        // plain access to initialised memory, volatile so that the compiler
        // keeps the store.
        unsafe { p.write_volatile(p.read_volatile()) };
        n += 1;
        // the next page boundary after this byte
        i = (base + i) / page * page + page - base;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::fault_in_writable;

    #[test]
    fn one_write_per_page_and_nothing_changes() {
        let mut v: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let before = v.clone();
        let base = v.as_ptr() as usize;
        let want = (base + v.len() - 1) / 4096 - base / 4096 + 1;
        assert_eq!(fault_in_writable(&mut v, 4096), want);
        assert_eq!(v, before);
        assert_eq!(fault_in_writable(&mut [], 4096), 0);
        assert_eq!(fault_in_writable(&mut [1, 2, 3], 0), 3);
    }
}
