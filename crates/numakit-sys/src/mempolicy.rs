//! NUMA memory policy and page migration: `set_mempolicy`, `get_mempolicy`,
//! `mbind`, `move_pages`, `migrate_pages`, `set_mempolicy_home_node`.
//!
//! Node masks are `&[u64]` bitmaps, least significant word first. Each
//! wrapper passes `maxnode = 64 * words + 1`: the kernel's `get_nodes()`
//! decrements `maxnode` before reading, so a mask of `bits` bits needs
//! `bits + 1` (libnuma does the same). An empty slice is passed as a null
//! pointer with `maxnode = 0`.
//!
//! # References
//! - [`set_mempolicy(2)`](https://man7.org/linux/man-pages/man2/set_mempolicy.2.html)
//! - [`get_mempolicy(2)`](https://man7.org/linux/man-pages/man2/get_mempolicy.2.html)
//! - [`mbind(2)`](https://man7.org/linux/man-pages/man2/mbind.2.html)
//! - [`move_pages(2)`](https://man7.org/linux/man-pages/man2/move_pages.2.html)
//! - [`migrate_pages(2)`](https://man7.org/linux/man-pages/man2/migrate_pages.2.html)
//! - `include/uapi/linux/mempolicy.h`

use std::ffi::{c_int, c_long, c_ulong, c_void};

use bitflags::bitflags;

use crate::{Errno, Result, nr, ret};

/// A memory policy mode (`MPOL_*`), the low bits of the `mode` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum MpolMode {
    /// `MPOL_DEFAULT`: fall back to the process policy, or local allocation.
    Default = 0,
    /// `MPOL_PREFERRED`: try one node first, fall back to others.
    Preferred = 1,
    /// `MPOL_BIND`: allocate only from these nodes.
    Bind = 2,
    /// `MPOL_INTERLEAVE`: round-robin page by page over these nodes.
    Interleave = 3,
    /// `MPOL_LOCAL`: the node of the CPU that allocates (Linux 3.8).
    Local = 4,
    /// `MPOL_PREFERRED_MANY`: prefer any of these nodes (Linux 5.15).
    PreferredMany = 5,
    /// `MPOL_WEIGHTED_INTERLEAVE`: interleave by the weights in
    /// `/sys/kernel/mm/mempolicy/weighted_interleave/` (Linux 6.9).
    WeightedInterleave = 6,
}

impl MpolMode {
    /// Every mode, by value.
    pub const ALL: [MpolMode; 7] = [
        MpolMode::Default,
        MpolMode::Preferred,
        MpolMode::Bind,
        MpolMode::Interleave,
        MpolMode::Local,
        MpolMode::PreferredMany,
        MpolMode::WeightedInterleave,
    ];

    /// The kernel's value.
    pub const fn raw(self) -> i32 {
        self as i32
    }

    /// The mode with this value (flags already removed).
    pub fn from_raw(v: i32) -> Option<MpolMode> {
        MpolMode::ALL.into_iter().find(|m| m.raw() == v)
    }

    /// The C name (`MPOL_BIND`).
    pub const fn c_name(self) -> &'static str {
        match self {
            MpolMode::Default => "MPOL_DEFAULT",
            MpolMode::Preferred => "MPOL_PREFERRED",
            MpolMode::Bind => "MPOL_BIND",
            MpolMode::Interleave => "MPOL_INTERLEAVE",
            MpolMode::Local => "MPOL_LOCAL",
            MpolMode::PreferredMany => "MPOL_PREFERRED_MANY",
            MpolMode::WeightedInterleave => "MPOL_WEIGHTED_INTERLEAVE",
        }
    }
}

bitflags! {
    /// Mode flags (`MPOL_F_*`), or-ed into the `mode` argument of
    /// `set_mempolicy` and `mbind`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MpolFlags: u32 {
        /// `MPOL_F_STATIC_NODES`: the nodes are physical and not remapped
        /// when the cpuset changes.
        const STATIC_NODES = 1 << 15;
        /// `MPOL_F_RELATIVE_NODES`: the nodes are relative to the allowed set.
        const RELATIVE_NODES = 1 << 14;
        /// `MPOL_F_NUMA_BALANCING`: let automatic NUMA balancing migrate pages
        /// within a bind policy (Linux 5.12 with `MPOL_BIND`; 6.7 with
        /// `MPOL_PREFERRED_MANY`).
        const NUMA_BALANCING = 1 << 13;
    }
}

bitflags! {
    /// Flags of `get_mempolicy`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct GetMempolicyFlags: u32 {
        /// `MPOL_F_NODE`: return a node (with `ADDR`: the node holding the
        /// page at the address) instead of the mode.
        const NODE = 1 << 0;
        /// `MPOL_F_ADDR`: the policy of the mapping at the address.
        const ADDR = 1 << 1;
        /// `MPOL_F_MEMS_ALLOWED`: the nodes this thread may use.
        const MEMS_ALLOWED = 1 << 2;
    }
}

bitflags! {
    /// Flags of `mbind`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MbindFlags: u32 {
        /// `MPOL_MF_STRICT`: fail with `EIO` when existing pages break the policy.
        const STRICT = 1 << 0;
        /// `MPOL_MF_MOVE`: move this process's pages to obey the policy.
        const MOVE = 1 << 1;
        /// `MPOL_MF_MOVE_ALL`: move shared pages too (needs `CAP_SYS_NICE`).
        const MOVE_ALL = 1 << 2;
    }
}

bitflags! {
    /// Flags of `move_pages`.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MovePagesFlags: u32 {
        /// `MPOL_MF_MOVE`: move only pages mapped by this process alone.
        const MOVE = 1 << 1;
        /// `MPOL_MF_MOVE_ALL`: move shared pages too (needs `CAP_SYS_NICE`).
        const MOVE_ALL = 1 << 2;
    }
}

/// Splits the `mode` value `get_mempolicy` returns into mode and flags.
/// Unknown mode values give `None`.
pub fn split_mode(raw: i32) -> (Option<MpolMode>, MpolFlags) {
    let flags = MpolFlags::from_bits_truncate(raw as u32);
    (MpolMode::from_raw(raw & !(flags.bits() as i32)), flags)
}

/// The largest mask `get_mempolicy` grows to: one page of bits (the kernel
/// refuses more).
const MAX_MASK_BITS: usize = 4096 * 8;

/// `(pointer, maxnode)` for a mask: `maxnode` is one more than its bits.
fn mask_arg(nodes: &[u64]) -> (*const c_ulong, c_ulong) {
    if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        (nodes.as_ptr().cast(), (nodes.len() * 64 + 1) as c_ulong)
    }
}

/// `set_mempolicy(mode | flags, nodes, maxnode)`: sets the calling thread's
/// memory policy. Threads created later inherit it, and so does a program
/// started with `exec`.
///
/// # Errors
/// `EINVAL` for a bad mode, flag or mask (also a mode the kernel does not
/// know), `EPERM` from a seccomp filter, `EFAULT` for a bad pointer.
#[doc(alias = "MPOL_BIND")]
pub fn set_mempolicy(mode: MpolMode, flags: MpolFlags, nodes: &[u64]) -> Result<()> {
    let (ptr, maxnode) = mask_arg(nodes);
    let m = mode.raw() | flags.bits() as c_int;
    // SAFETY: `ptr` is null with maxnode 0, or points at `nodes`, which holds
    // `maxnode - 1` readable bits; the kernel only reads it.
    let r = unsafe { libc::syscall(nr::SET_MEMPOLICY, m as c_long, ptr, maxnode) };
    ret(r).map(drop)
}

/// `get_mempolicy(&mode, mask, maxnode, addr, flags)`.
///
/// Returns the `mode` value (with `GetMempolicyFlags::NODE`, a node number;
/// otherwise a mode or-ed with [`MpolFlags`], see [`split_mode`]) and the node
/// mask, as many words as the kernel needed. `addr` is required with
/// `GetMempolicyFlags::ADDR` and ignored otherwise.
///
/// The mask buffer starts at 1024 bits and doubles on `EINVAL` (the kernel
/// refuses a buffer smaller than its node count) up to one page of bits.
pub fn get_mempolicy(addr: Option<usize>, flags: GetMempolicyFlags) -> Result<(i32, Vec<u64>)> {
    let mut words = 1024 / 64;
    loop {
        let mut mode: c_int = 0;
        let mut mask = vec![0u64; words];
        let (_, maxnode) = mask_arg(&mask);
        // SAFETY: `mode` is a valid `int`; `mask` holds `maxnode - 1`
        // writable bits and the kernel writes at most that many
        // (`copy_nodes_to_user` copies ALIGN(maxnode - 1, 64) / 8 bytes).
        // `addr` is only looked up in the page tables, never dereferenced.
        let r = unsafe {
            libc::syscall(
                nr::GET_MEMPOLICY,
                &mut mode as *mut c_int,
                mask.as_mut_ptr(),
                maxnode,
                addr.unwrap_or(0) as c_ulong,
                flags.bits() as c_ulong,
            )
        };
        match ret(r) {
            Ok(_) => {
                while mask.len() > 1 && mask.last() == Some(&0) {
                    mask.pop();
                }
                return Ok((mode, mask));
            }
            Err(Errno::EINVAL) if words * 64 < MAX_MASK_BITS => words *= 2,
            Err(e) => return Err(e),
        }
    }
}

/// `mbind(addr, len, mode | flags, nodes, maxnode, mbind_flags)`: sets the
/// policy of the mappings in `[addr, addr + len)`; with `MOVE`, moves pages
/// that break it. Page contents are kept.
///
/// # Errors
/// `EFAULT` when part of the range is not mapped, `EINVAL` for a bad range
/// (unaligned `addr`), mode, flag or mask, `EIO` with `STRICT` when pages
/// could not be moved, `ENOMEM` when the kernel ran out of memory, `EPERM`
/// for `MOVE_ALL` without `CAP_SYS_NICE`.
pub fn mbind(
    addr: usize,
    len: usize,
    mode: MpolMode,
    flags: MpolFlags,
    nodes: &[u64],
    mbind_flags: MbindFlags,
) -> Result<()> {
    let (ptr, maxnode) = mask_arg(nodes);
    let m = mode.raw() | flags.bits() as c_int;
    // SAFETY: `ptr` is null with maxnode 0, or points at `nodes` holding
    // `maxnode - 1` readable bits. The range is only looked up in this
    // process's mappings; moving pages keeps their contents, so no Rust
    // reference into the range can observe a change.
    let r = unsafe {
        libc::syscall(
            nr::MBIND,
            addr as c_ulong,
            len as c_ulong,
            m as c_ulong,
            ptr,
            maxnode,
            mbind_flags.bits() as c_ulong,
        )
    };
    ret(r).map(drop)
}

/// `move_pages(pid, count, pages, nodes, status, flags)`.
///
/// With `nodes: None` it only asks where each page is: `status[i]` becomes
/// the node of `pages[i]` or a negative errno (`-ENOENT`: not present,
/// `-EFAULT`: not mapped). With `nodes: Some(n)` it moves `pages[i]` to
/// `n[i]` and `status[i]` becomes the node it is on afterwards or a negative
/// errno. `pid` 0 means the calling process. Returns the number of pages
/// that were not moved (0 for a query).
///
/// # Panics
/// When `status` (or `nodes`) is not as long as `pages`.
///
/// # Errors
/// `ESRCH` no such process, `EPERM` another user's process without
/// `CAP_SYS_NICE` (or a seccomp filter), `EACCES` a target node outside the
/// process's cpuset, `ENODEV` a target node that is not online, `E2BIG` too
/// many pages.
pub fn move_pages(
    pid: i32,
    pages: &[usize],
    nodes: Option<&[i32]>,
    status: &mut [i32],
    flags: MovePagesFlags,
) -> Result<usize> {
    assert_eq!(pages.len(), status.len(), "one status per page");
    if let Some(n) = nodes {
        assert_eq!(pages.len(), n.len(), "one target node per page");
    }
    let nodes_ptr = nodes.map_or(std::ptr::null(), |n| n.as_ptr());
    // SAFETY: `pages` holds `count` pointer-sized addresses that the kernel
    // reads and only looks up in the target's page tables; `nodes` is null
    // or holds `count` ints; `status` holds `count` writable ints. Moving a
    // page keeps its contents.
    let r = unsafe {
        libc::syscall(
            nr::MOVE_PAGES,
            pid as c_long,
            pages.len() as c_ulong,
            pages.as_ptr().cast::<*const c_void>(),
            nodes_ptr,
            status.as_mut_ptr(),
            flags.bits() as c_long,
        )
    };
    ret(r).map(|n| n as usize)
}

/// `migrate_pages(pid, maxnode, old_nodes, new_nodes)`: moves every page of
/// process `pid` (0: the caller) that is on `old` to `new`, keeping relative
/// positions. Returns the number of pages that could not be moved.
///
/// # Errors
/// `ESRCH` no such process, `EPERM` another user's process without
/// `CAP_SYS_NICE`, `EINVAL` a bad mask, `ENODEV`/`EINVAL` nodes that are not
/// online or not allowed.
pub fn migrate_pages(pid: i32, old: &[u64], new: &[u64]) -> Result<usize> {
    let words = old.len().max(new.len()).max(1);
    let mut a = old.to_vec();
    let mut b = new.to_vec();
    a.resize(words, 0);
    b.resize(words, 0);
    let maxnode = (words * 64 + 1) as c_ulong;
    // SAFETY: both masks hold `maxnode - 1` readable bits; the kernel only
    // reads them. Migration keeps page contents.
    let r = unsafe {
        libc::syscall(
            nr::MIGRATE_PAGES,
            pid as c_long,
            maxnode,
            a.as_ptr(),
            b.as_ptr(),
        )
    };
    ret(r).map(|n| n as usize)
}

/// `set_mempolicy_home_node(start, len, home_node, 0)` (Linux 5.17): for a
/// range bound with `MPOL_BIND` or `MPOL_PREFERRED_MANY`, allocate from
/// `home_node` first.
///
/// # Errors
/// `ENOSYS` on kernels before 5.17, `EINVAL` when the node is invalid or the
/// range has another policy mode, `EFAULT` for an unmapped range.
pub fn set_mempolicy_home_node(addr: usize, len: usize, home_node: u32) -> Result<()> {
    // SAFETY: the range is only looked up in this process's mappings; no
    // memory is read or written through it.
    let r = unsafe {
        libc::syscall(
            nr::SET_MEMPOLICY_HOME_NODE,
            addr as c_ulong,
            len as c_ulong,
            home_node as c_ulong,
            0 as c_ulong,
        )
    };
    ret(r).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `include/uapi/linux/mempolicy.h`.
    #[test]
    fn mode_values() {
        let v: Vec<i32> = MpolMode::ALL.iter().map(|m| m.raw()).collect();
        assert_eq!(v, [0, 1, 2, 3, 4, 5, 6]);
        for m in MpolMode::ALL {
            assert_eq!(MpolMode::from_raw(m.raw()), Some(m));
        }
        assert_eq!(MpolMode::from_raw(7), None);
        assert_eq!(MpolMode::from_raw(-1), None);
    }

    #[test]
    fn flag_values() {
        assert_eq!(MpolFlags::STATIC_NODES.bits(), 0x8000);
        assert_eq!(MpolFlags::RELATIVE_NODES.bits(), 0x4000);
        assert_eq!(MpolFlags::NUMA_BALANCING.bits(), 0x2000);
        assert_eq!(GetMempolicyFlags::NODE.bits(), 1);
        assert_eq!(GetMempolicyFlags::ADDR.bits(), 2);
        assert_eq!(GetMempolicyFlags::MEMS_ALLOWED.bits(), 4);
        assert_eq!(MbindFlags::STRICT.bits(), 1);
        assert_eq!(MbindFlags::MOVE.bits(), 2);
        assert_eq!(MbindFlags::MOVE_ALL.bits(), 4);
        assert_eq!(MovePagesFlags::MOVE.bits(), 2);
        assert_eq!(MovePagesFlags::MOVE_ALL.bits(), 4);
    }

    #[test]
    fn split_mode_separates_flags() {
        assert_eq!(
            split_mode(2 | 0x8000),
            (Some(MpolMode::Bind), MpolFlags::STATIC_NODES)
        );
        assert_eq!(
            split_mode(2 | 0x2000),
            (Some(MpolMode::Bind), MpolFlags::NUMA_BALANCING)
        );
        assert_eq!(
            split_mode(3),
            (Some(MpolMode::Interleave), MpolFlags::empty())
        );
        assert_eq!(split_mode(42).0, None);
    }

    #[test]
    fn maxnode_is_bits_plus_one() {
        let m = [1u64, 0];
        assert_eq!(mask_arg(&m).1, 129);
        assert!(mask_arg(&[]).0.is_null());
        assert_eq!(mask_arg(&[]).1, 0);
    }
}
