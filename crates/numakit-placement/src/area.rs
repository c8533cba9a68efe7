//! Memory by address: the policy of a range (set and read), where its pages
//! are, moving them, its home node, and libnuma's range calls
//! (`numa_tonode_memory` and its kin) with their strict and bind-policy
//! switches. Every range is an [`AddrRange`]: empty and reversed ranges
//! were refused when it was made.

use numakit_root::Root;
use numakit_sys::Errno;
use numakit_sys::mempolicy::{self, GetMempolicyFlags, MbindFlags};
use numakit_sys::mm::page_size;
use numakit_types::{AddrRange, NodeId, NodeSet};

use crate::backend::Backend;
use crate::pages::{self, PageCounts, PageLocation};
use crate::{Error, Mode, Placer, Policy, PolicyFlags, Result};

/// How libnuma's range calls that name nodes ([`Placer::tonode_memory`],
/// [`Placer::tonodemask_memory`]) bind: `numa_set_bind_policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NodeBinding {
    /// Only those nodes (`MPOL_BIND`), libnuma's default.
    #[default]
    Bind,
    /// Those nodes first, others when they are full (`MPOL_PREFERRED`, or
    /// `MPOL_PREFERRED_MANY` for several nodes where the kernel has it).
    Preferred,
}

/// Whether libnuma's range calls ask the kernel to fail when pages already
/// in the range break the new policy (`MPOL_MF_STRICT`): `numa_set_strict`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strictness {
    /// Set the policy for pages to come; pages already there stay (default).
    #[default]
    Lax,
    /// Fail with an error when a page already there is elsewhere.
    Strict,
}

/// One page to move and where to (`numa_move_pages`'s `pages[i]` and
/// `nodes[i]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageMove {
    /// An address in the page.
    pub page: u64,
    /// The node it should be on.
    pub to: NodeId,
}

impl<B: Backend> Placer<B> {
    /// Sets the policy of `range` (`mbind`). Its start must be page-aligned;
    /// with [`MbindFlags::MOVE`], pages already there move.
    #[doc(alias = "hwloc_set_area_membind")]
    #[doc(alias = "mbind")]
    pub fn bind_area(&self, range: AddrRange, policy: &Policy, flags: MbindFlags) -> Result<()> {
        if !range.is_aligned(page_size() as u64) {
            return Err(Error::BadRange {
                range: range.to_string(),
                why: "the start is not page-aligned",
            });
        }
        self.check(policy)?;
        self.backend()
            .mbind(range.start() as usize, range.len() as usize, policy, flags)
            .map_err(|e| Error::from_errno(format!("binding {range} to {policy}"), e, None))
    }

    /// Sets the home node of `range`, bound with a bind or preferred-many
    /// policy (`set_mempolicy_home_node`, Linux 5.17).
    pub fn set_area_home_node(&self, range: AddrRange, node: NodeId) -> Result<()> {
        let unsupported = || Error::Unsupported {
            feature: "home node (set_mempolicy_home_node)",
            needs: "5.17",
            kernel: self.kernel().release.clone(),
        };
        if !self.kernel().home_node {
            return Err(unsupported());
        }
        crate::check_nodes(&std::iter::once(node).collect(), self.machine())?;
        self.backend()
            .set_home_node(range.start() as usize, range.len() as usize, node)
            .map_err(|e| match e {
                Errno::ENOSYS => unsupported(),
                e => Error::from_errno(format!("setting home node {node} of {range}"), e, None),
            })
    }

    /// Page counts per node of `range` in process `pid` (0: this process),
    /// in batched `move_pages` queries.
    #[doc(alias = "hwloc_get_area_memlocation")]
    pub fn area_page_counts(&self, pid: i32, range: AddrRange) -> Result<PageCounts> {
        pages::count_range(
            self.backend(),
            pid,
            range.start(),
            range.end(),
            page_size() as u64,
        )
    }

    /// Moves each page to its own node (`move_pages` with a target per
    /// page) in process `pid` (0: this process); returns where each page is
    /// afterwards. Every target is checked first: nothing moves when one is
    /// refused.
    #[doc(alias = "numa_move_pages")]
    pub fn move_pages_to(&self, pid: i32, moves: &[PageMove]) -> Result<Vec<PageLocation>> {
        let targets: NodeSet = moves.iter().map(|m| m.to).collect();
        if !targets.is_empty() {
            self.check(&Policy::bind(targets))?;
        }
        let page = page_size() as u64;
        let mut out = Vec::with_capacity(moves.len());
        for chunk in moves.chunks(pages::QUERY_CHUNK) {
            let addrs: Vec<usize> = chunk
                .iter()
                .map(|m| (m.page - m.page % page) as usize)
                .collect();
            let nodes: Vec<i32> = chunk.iter().map(|m| m.to.get() as i32).collect();
            let mut status = vec![0i32; chunk.len()];
            pages::move_and_locate(self.backend(), pid, &addrs, &nodes, &mut status, || {
                format!("moving pages of process {pid}")
            })?;
            out.extend(status.iter().map(|s| PageLocation::from_status(*s)));
        }
        Ok(out)
    }

    /// Sets how [`tonode_memory`](Self::tonode_memory) and
    /// [`tonodemask_memory`](Self::tonodemask_memory) bind.
    #[doc(alias = "numa_set_bind_policy")]
    pub fn set_bind_policy(&mut self, binding: NodeBinding) {
        self.binding = binding;
    }

    /// Sets whether libnuma's range calls are strict.
    #[doc(alias = "numa_set_strict")]
    pub fn set_strict(&mut self, strictness: Strictness) {
        self.strictness = strictness;
    }

    fn libnuma_flags(&self) -> MbindFlags {
        match self.strictness {
            Strictness::Lax => MbindFlags::empty(),
            Strictness::Strict => MbindFlags::STRICT,
        }
    }

    /// Places `range` on `node`, as [`set_bind_policy`](Self::set_bind_policy)
    /// and [`set_strict`](Self::set_strict) say (bind, not strict by default).
    #[doc(alias = "numa_tonode_memory")]
    pub fn tonode_memory(&self, range: AddrRange, node: NodeId) -> Result<()> {
        self.tonodemask_memory(range, &std::iter::once(node).collect())
    }

    /// Places `range` on `nodes`, as [`set_bind_policy`](Self::set_bind_policy)
    /// and [`set_strict`](Self::set_strict) say.
    #[doc(alias = "numa_tonodemask_memory")]
    pub fn tonodemask_memory(&self, range: AddrRange, nodes: &NodeSet) -> Result<()> {
        let policy = match (self.binding, nodes.len()) {
            (NodeBinding::Bind, _) => Policy::bind(nodes.clone()),
            (NodeBinding::Preferred, n) if n > 1 && self.kernel().preferred_many => {
                Policy::preferred_many(nodes.clone())
            }
            (NodeBinding::Preferred, _) => match nodes.first() {
                Some(first) => Policy::preferred(first),
                None => Policy::preferred_many(NodeSet::new()),
            },
        };
        self.bind_area(range, &policy, self.libnuma_flags())
    }

    /// Makes `range` allocate on the node of the CPU that touches it.
    #[doc(alias = "numa_setlocal_memory")]
    pub fn setlocal_memory(&self, range: AddrRange) -> Result<()> {
        self.bind_area(range, &Policy::local(), self.libnuma_flags())
    }

    /// Interleaves `range` page by page over `nodes`.
    #[doc(alias = "numa_interleave_memory")]
    pub fn interleave_memory(&self, range: AddrRange, nodes: &NodeSet) -> Result<()> {
        self.bind_area(
            range,
            &Policy::interleave(nodes.clone()),
            self.libnuma_flags(),
        )
    }

    /// The policy of `range` in this process (`get_mempolicy` with
    /// `MPOL_F_ADDR` at the start of each mapping in it, as listed in
    /// `/proc/self/maps`); [`Error::MixedPolicies`] when they differ.
    #[doc(alias = "hwloc_get_area_membind")]
    pub fn area_policy(&self, range: AddrRange) -> Result<Policy> {
        let first = policy_at(range.start())?;
        for at in mapping_starts_within(range)? {
            let p = policy_at(at)?;
            if p != first {
                return Err(Error::MixedPolicies {
                    range: range.to_string(),
                    first: first.to_string(),
                    other: p.to_string(),
                    at,
                });
            }
        }
        Ok(first)
    }
}

/// The policy of the mapping holding `addr` in this process.
fn policy_at(addr: u64) -> Result<Policy> {
    let (raw, mask) = mempolicy::get_mempolicy(Some(addr as usize), GetMempolicyFlags::ADDR)
        .map_err(|e| Error::from_errno(format!("get_mempolicy at {addr:#x}"), e, None))?;
    let (mode, flags) = mempolicy::split_mode(raw);
    let mode = mode.unwrap_or(Mode::Default);
    let nodes = if matches!(mode, Mode::Default | Mode::Local) {
        NodeSet::new()
    } else {
        NodeSet::from_words(&mask)
    };
    Ok(Policy::new(mode, nodes, flags & PolicyFlags::all()))
}

/// The start of every mapping of this process that begins inside `range`
/// (after its first byte).
fn mapping_starts_within(range: AddrRange) -> Result<Vec<u64>> {
    let text = Root::live()
        .read_to_string("/proc/self/maps")
        .map_err(|source| Error::Io {
            path: "/proc/self/maps".into(),
            source,
        })?;
    Ok(crate::maps::parse_maps(&text)?
        .into_iter()
        .map(|m| m.start)
        .filter(|s| *s > range.start() && *s < range.end())
        .collect())
}

/// Faults in every page of `buf` with a write that keeps its contents, so
/// that each page is allocated now under the policy in force for it (set
/// one first with [`Placer::bind_area`] or a thread policy).
///
/// ```
/// let mut v = vec![3u32; 10_000];
/// numakit_placement::police_memory(&mut v);
/// assert!(v.iter().all(|x| *x == 3));
/// ```
#[doc(alias = "numa_police_memory")]
pub fn police_memory<T: bytemuck::Pod>(buf: &mut [T]) {
    numakit_sys::touch::fault_in_writable(bytemuck::cast_slice_mut(buf), page_size());
}
