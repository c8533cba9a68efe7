//! CPU affinity: `sched_setaffinity` and `sched_getaffinity` with masks of
//! any size (glibc's `cpu_set_t` stops at 1024 CPUs; these do not).
//!
//! # References
//! - [`sched_setaffinity(2)`](https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html)

use std::ffi::{c_long, c_ulong};

use crate::{Errno, Result, nr, ret};

/// The largest mask `sched_getaffinity` grows to (bits).
const MAX_CPU_BITS: usize = 1 << 22;

/// `sched_setaffinity(pid, size, mask)`: restricts thread `pid` (0: the
/// calling thread) to the CPUs in `mask` (64-bit words, least significant
/// first). The kernel ignores bits beyond its CPU count and intersects the
/// mask with the cpuset.
///
/// # Errors
/// `EINVAL` when no CPU of the mask is online and allowed, `ESRCH` no such
/// thread, `EPERM` another user's thread without `CAP_SYS_NICE`.
pub fn sched_setaffinity(pid: i32, mask: &[u64]) -> Result<()> {
    let zero = [0u64];
    let m = if mask.is_empty() { &zero[..] } else { mask };
    // SAFETY: `m` holds `size` readable bytes; the kernel only reads them.
    let r = unsafe {
        libc::syscall(
            nr::SCHED_SETAFFINITY,
            pid as c_long,
            std::mem::size_of_val(m) as c_ulong,
            m.as_ptr(),
        )
    };
    ret(r).map(drop)
}

/// `sched_getaffinity(pid, size, mask)`: the CPUs thread `pid` (0: the
/// calling thread) may run on. Starts with 1024 bits and doubles the buffer
/// while the kernel answers `EINVAL` (buffer smaller than its CPU count).
pub fn sched_getaffinity(pid: i32) -> Result<Vec<u64>> {
    let mut words = 1024 / 64;
    loop {
        let mut mask = vec![0u64; words];
        // SAFETY: `mask` holds `size` writable bytes; the kernel writes at
        // most that many and returns how many it wrote.
        let r = unsafe {
            libc::syscall(
                nr::SCHED_GETAFFINITY,
                pid as c_long,
                (words * 8) as c_ulong,
                mask.as_mut_ptr(),
            )
        };
        match ret(r) {
            Ok(n) => {
                mask.truncate((n as usize).div_ceil(8));
                while mask.last() == Some(&0) {
                    mask.pop();
                }
                return Ok(mask);
            }
            Err(Errno::EINVAL) if words * 64 < MAX_CPU_BITS => words *= 2,
            Err(e) => return Err(e),
        }
    }
}

/// Where the calling thread ran last: its CPU and that CPU's node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuLocation {
    /// The CPU number.
    pub cpu: u32,
    /// The NUMA node of that CPU.
    pub node: u32,
}

/// `getcpu(&cpu, &node, NULL)`: the CPU the calling thread is running on
/// (or ran on last: it may have moved by the time the caller looks) and
/// its node.
///
/// # Errors
/// `EFAULT` only for bad pointers, which this wrapper never passes;
/// `ENOSYS` on kernels before 2.6.19.
pub fn getcpu() -> Result<CpuLocation> {
    let mut cpu: u32 = 0;
    let mut node: u32 = 0;
    // SAFETY: both pointers point at live `u32`s the kernel writes one
    // `unsigned int` into; the third argument (the unused cache) is null.
    let r = unsafe {
        libc::syscall(
            nr::GETCPU,
            &mut cpu as *mut u32,
            &mut node as *mut u32,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    ret(r).map(|_| CpuLocation { cpu, node })
}

#[cfg(test)]
mod tests {
    #[test]
    fn getcpu_names_a_cpu_this_thread_may_run_on() {
        let here = super::getcpu().unwrap();
        let mask = super::sched_getaffinity(0).unwrap();
        let word = mask.get(here.cpu as usize / 64).copied().unwrap_or(0);
        assert_ne!(word & (1 << (here.cpu % 64)), 0, "{here:?} not in {mask:?}");
    }
}
