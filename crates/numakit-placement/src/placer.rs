//! [`Placer`]: the machine model, what the kernel supports and a backend;
//! every placement action checks its request here before the backend runs.

use numakit_root::Root;
use numakit_sys::Errno;
use numakit_sys::mempolicy::{self, GetMempolicyFlags, MbindFlags};
use numakit_sys::mm::{AnonMapping, page_size};
use numakit_topo::Machine;
use numakit_types::{AddrRange, CpuId, CpuSet, NodeId, NodeSet};

use crate::area::{NodeBinding, Strictness};
use crate::backend::{Backend, LiveBackend};
use crate::mapping::{AllocOptions, HUGE_2M, HugePages, Mapping, TouchPart, map_flags};
use crate::pages::{self, MigrateOutcome, PageCounts, PageLocation};
use crate::plan::{CpuBinding, Plan, RunRequest, check_nodes, check_policy, resolve_cpus};
use crate::{DeviceSpec, Error, KernelSupport, Mode, Policy, PolicyFlags, Result};

/// The calling thread's placement as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentPolicy {
    /// The memory policy (mode, nodes, flags). Unknown modes read as
    /// `Default`.
    pub policy: Policy,
    /// The CPUs the thread may run on (`sched_getaffinity`).
    pub cpus: CpuSet,
    /// The nodes the thread may allocate from (`MPOL_F_MEMS_ALLOWED`).
    pub mems_allowed: NodeSet,
}

/// Places memory and threads on one machine.
///
/// Built with [`Placer::live`] for the running system, or with
/// [`Placer::with_backend`] and a [`crate::RecordingBackend`] to test
/// planning on a machine read from a fixture.
#[derive(Debug)]
pub struct Placer<B: Backend = LiveBackend> {
    machine: Machine,
    kernel: KernelSupport,
    backend: B,
    /// How the libnuma-style range calls bind to nodes.
    pub(crate) binding: NodeBinding,
    /// Whether they ask the kernel to be strict.
    pub(crate) strictness: Strictness,
}

impl Placer<LiveBackend> {
    /// The running system: reads the machine from `/`.
    pub fn live() -> Result<Placer> {
        Placer::from_root(&Root::live())
    }

    /// The running system read through `root`; refuses a root that is not
    /// the running system (a snapshot cannot be placed on).
    pub fn from_root(root: &Root) -> Result<Placer> {
        crate::require_live(root, "place memory or threads")?;
        let machine = Machine::discover(root);
        let kernel = KernelSupport::from_machine(&machine);
        Ok(Placer::with_backend(machine, kernel, LiveBackend))
    }
}

impl<B: Backend> Placer<B> {
    /// A placer over any machine and backend.
    pub fn with_backend(machine: Machine, kernel: KernelSupport, backend: B) -> Placer<B> {
        Placer {
            machine,
            kernel,
            backend,
            binding: NodeBinding::default(),
            strictness: Strictness::default(),
        }
    }

    /// The machine model.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }
    /// What the kernel supports.
    pub fn kernel(&self) -> &KernelSupport {
        &self.kernel
    }
    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The node of a CPU.
    pub fn node_of_cpu(&self, cpu: CpuId) -> Option<NodeId> {
        self.machine.node_of_cpu(cpu)
    }

    /// The node of a device (`gpu:0`, `0000:41:00.0`, `net:eth0`, ...).
    pub fn node_of_device(&self, device: &DeviceSpec) -> Result<NodeId> {
        Ok(device.resolve(&self.machine, None)?.node)
    }

    /// Checks a policy against the machine, the allowed nodes and the
    /// kernel, without applying it.
    pub fn check(&self, policy: &Policy) -> Result<()> {
        check_policy(policy, &self.machine, &self.kernel)
    }

    /// Checks a run request (see [`RunRequest::validate`]).
    pub fn plan(&self, request: &RunRequest) -> Result<Plan> {
        request.validate(&self.machine, &self.kernel)
    }

    /// Applies a plan to the calling thread.
    pub fn apply(&self, plan: &Plan) -> Result<()> {
        plan.apply(&self.backend)
    }

    /// Sets the calling thread's memory policy (`set_mempolicy`). Threads it
    /// creates afterwards and programs it `exec`s inherit it.
    #[doc(alias = "hwloc_set_membind")]
    #[doc(alias = "set_mempolicy")]
    pub fn set_thread_policy(&self, policy: &Policy) -> Result<()> {
        self.check(policy)?;
        self.backend
            .set_mempolicy(policy)
            .map_err(|e| Error::from_errno(format!("setting memory policy {policy}"), e, None))
    }

    /// Sets the policy for the process: Linux keeps memory policies per
    /// thread, so this sets the calling thread's policy, which every thread
    /// created afterwards inherits. Call it before starting threads.
    pub fn set_process_policy(&self, policy: &Policy) -> Result<()> {
        self.set_thread_policy(policy)
    }

    /// Binds the calling thread to CPUs (within the allowed CPUs); returns
    /// the CPUs bound to.
    #[doc(alias = "numa_run_on_node_mask")]
    #[doc(alias = "hwloc_set_cpubind")]
    pub fn bind_thread(&self, binding: &CpuBinding) -> Result<CpuSet> {
        let cpus = resolve_cpus(binding, &self.machine)?;
        self.backend
            .set_affinity(0, &cpus)
            .map_err(|e| Error::from_errno(format!("binding to CPUs {cpus}"), e, None))?;
        Ok(cpus)
    }

    /// Sets the policy of `[addr, addr + len)` (`mbind`): the same as
    /// [`bind_area`](Self::bind_area) with the range as a start and a
    /// length.
    pub fn bind_range(
        &self,
        addr: usize,
        len: usize,
        policy: &Policy,
        flags: MbindFlags,
    ) -> Result<()> {
        self.bind_area(AddrRange::from_len(addr as u64, len as u64)?, policy, flags)
    }

    /// Re-binds a mapping; with `move_pages`, pages already placed move.
    pub fn bind_mapping(&self, m: &mut Mapping, policy: &Policy, move_pages: bool) -> Result<()> {
        let flags = if move_pages {
            MbindFlags::MOVE
        } else {
            MbindFlags::empty()
        };
        self.bind_range(m.addr(), m.len(), policy, flags)?;
        m.policy = Some(policy.clone());
        Ok(())
    }

    /// Sets the home node of `[addr, addr + len)`: the same as
    /// [`set_area_home_node`](Self::set_area_home_node) with the range as a
    /// start and a length.
    pub fn set_home_node(&self, addr: usize, len: usize, node: NodeId) -> Result<()> {
        self.set_area_home_node(AddrRange::from_len(addr as u64, len as u64)?, node)
    }

    /// Allocates `len` bytes (rounded up to pages) with `policy`, not yet
    /// touched: pages are placed when first written.
    ///
    /// ```
    /// use numakit_placement::{Placer, Policy};
    /// let p = Placer::live().unwrap();
    /// let m = p.allocate(10_000, &Policy::interleave("0".parse().unwrap())).unwrap();
    /// assert_eq!(m.len() % numakit_sys::mm::page_size(), 0);
    /// ```
    #[doc(alias = "hwloc_alloc_membind")]
    pub fn allocate(&self, len: usize, policy: &Policy) -> Result<Mapping> {
        self.allocate_with(
            len,
            &AllocOptions {
                policy: Some(policy.clone()),
                ..Default::default()
            },
        )
    }

    /// Allocates `len` bytes on one node (`MPOL_BIND`, whatever
    /// [`set_bind_policy`](Self::set_bind_policy) says).
    #[doc(alias = "numa_alloc_onnode")]
    pub fn allocate_on_node(&self, len: usize, node: NodeId) -> Result<Mapping> {
        self.allocate(len, &Policy::on_node(node))
    }

    /// Allocates `len` bytes interleaved page by page over `nodes`.
    #[doc(alias = "numa_alloc_interleaved_subset")]
    pub fn allocate_interleaved(&self, len: usize, nodes: &NodeSet) -> Result<Mapping> {
        self.allocate(len, &Policy::interleave(nodes.clone()))
    }

    /// Allocates `len` bytes interleaved by the kernel's node weights
    /// (Linux 6.9).
    pub fn allocate_weighted(&self, len: usize, nodes: &NodeSet) -> Result<Mapping> {
        self.allocate(len, &Policy::weighted_interleave(nodes.clone()))
    }

    /// Allocates with options: policy, huge pages, populate. Without a
    /// policy, pages are placed by the thread's policy when first touched.
    #[doc(alias = "numa_alloc")]
    pub fn allocate_with(&self, len: usize, opts: &AllocOptions) -> Result<Mapping> {
        if len == 0 {
            return Err(Error::BadRange {
                range: "0 bytes".into(),
                why: "it is empty",
            });
        }
        if let Some(p) = &opts.policy {
            self.check(p)?;
        }
        let unit = match opts.huge {
            HugePages::Transparent | HugePages::Hugetlb => HUGE_2M,
            _ => page_size(),
        };
        // a length that does not round within usize cannot be mapped anyway
        let len = len
            .div_ceil(unit)
            .checked_mul(unit)
            .ok_or(Error::TooLarge { len })?;
        let mut map = AnonMapping::new(len, map_flags(opts.huge))
            .map_err(|e| map_error(len, opts.huge, e))?;
        let advice = match opts.huge {
            HugePages::Transparent => Some(numakit_sys::mm::Advice::HugePage),
            HugePages::Never => Some(numakit_sys::mm::Advice::NoHugePage),
            _ => None,
        };
        if let Some(a) = advice {
            map.advise(a)
                .map_err(|e| Error::from_errno("madvise".into(), e, None))?;
        }
        if let Some(p) = &opts.policy {
            self.backend
                .mbind(map.addr(), len, p, MbindFlags::empty())
                .map_err(|e| Error::from_errno(format!("binding {len} bytes to {p}"), e, None))?;
        }
        if opts.populate {
            let ps = page_size();
            for b in map.as_mut_slice().iter_mut().step_by(ps) {
                *b = 0;
            }
        }
        Ok(Mapping {
            map,
            policy: opts.policy.clone(),
        })
    }

    /// Initialises `buf` first-touch-correctly: splits it into one
    /// page-aligned part per node of `nodes` (in increasing order) and runs
    /// `init(start, part)` on
    /// a thread per part, pinned to that node's allowed CPUs and with a
    /// preferred policy for the node, so each part's pages land on the node
    /// whose threads will use it. A node without usable CPUs gets an
    /// unpinned thread with the preferred policy. A range policy set with
    /// `mbind` wins over the threads' policy.
    ///
    /// ```
    /// use numakit_placement::Placer;
    /// let p = Placer::live().unwrap();
    /// let mut v = vec![0u64; 100_000];
    /// let parts = p.first_touch(&mut v, &"0".parse().unwrap(), |start, part| {
    ///     for (i, x) in part.iter_mut().enumerate() { *x = (start + i) as u64; }
    /// }).unwrap();
    /// assert_eq!(parts.len(), 1);
    /// assert_eq!(v[99_999], 99_999);
    /// ```
    pub fn first_touch<T, F>(
        &self,
        buf: &mut [T],
        nodes: &NodeSet,
        init: F,
    ) -> Result<Vec<TouchPart>>
    where
        T: Send,
        F: Fn(usize, &mut [T]) + Sync,
    {
        let order: Vec<NodeId> = nodes.iter().collect();
        self.first_touch_parts(buf, &order, init)
    }

    /// [`first_touch`](Self::first_touch) with the parts given in order, one
    /// per entry of `parts`: a node may come more than once (two parts for
    /// node 0) and in any order.
    pub fn first_touch_parts<T, F>(
        &self,
        buf: &mut [T],
        parts: &[NodeId],
        init: F,
    ) -> Result<Vec<TouchPart>>
    where
        T: Send,
        F: Fn(usize, &mut [T]) + Sync,
    {
        let nodes = parts;
        if nodes.is_empty() {
            return Err(Error::EmptyNodes {
                what: "first touch".into(),
            });
        }
        let mut parts = Vec::with_capacity(nodes.len());
        let bounds = split_points::<T>(buf.as_ptr() as usize, buf.len(), nodes.len(), page_size());
        for (i, n) in nodes.iter().enumerate() {
            let set: NodeSet = std::iter::once(*n).collect();
            self.check(&Policy::preferred(*n))?;
            let cpus = resolve_cpus(&CpuBinding::Nodes(set.clone()), &self.machine).ok();
            parts.push(TouchPart {
                node: *n,
                start: bounds[i],
                len: bounds[i + 1] - bounds[i],
                cpus,
            });
        }
        let backend = &self.backend;
        let init = &init;
        std::thread::scope(|s| {
            let mut rest = buf;
            let mut handles = Vec::new();
            for part in &parts {
                let (mine, tail) = std::mem::take(&mut rest).split_at_mut(part.len);
                rest = tail;
                handles.push(s.spawn(move || -> Result<()> {
                    if let Some(c) = &part.cpus {
                        backend.set_affinity(0, c).map_err(|e| {
                            Error::from_errno(
                                format!("pinning a first-touch thread to CPUs {c}"),
                                e,
                                None,
                            )
                        })?;
                    }
                    let pol = Policy::preferred(part.node);
                    backend.set_mempolicy(&pol).map_err(|e| {
                        Error::from_errno(format!("setting memory policy {pol}"), e, None)
                    })?;
                    init(part.start, mine);
                    Ok(())
                }));
            }
            for h in handles {
                match h.join() {
                    Ok(r) => r?,
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
            Ok::<(), Error>(())
        })?;
        Ok(parts)
    }

    /// Where each page is, for pages of process `pid` (0: this process).
    /// One `move_pages` query per [`crate::QUERY_CHUNK`] pages.
    #[doc(alias = "move_pages")]
    pub fn locate_pages(&self, pid: i32, pages: &[usize]) -> Result<Vec<PageLocation>> {
        pages::locate(&self.backend, pid, pages)
    }

    /// Page counts per node of `[start, end)` in process `pid` (0: this
    /// process): the same as [`area_page_counts`](Self::area_page_counts)
    /// with the range as a start and an end.
    pub fn page_counts(&self, pid: i32, start: u64, end: u64) -> Result<PageCounts> {
        self.area_page_counts(pid, AddrRange::new(start, end)?)
    }

    /// Page counts per node of one of this process's mappings.
    pub fn mapping_page_counts(&self, m: &Mapping) -> Result<PageCounts> {
        self.page_counts(0, m.addr() as u64, (m.addr() + m.len()) as u64)
    }

    /// Moves the present pages of `[start, end)` in process `pid` (0: this
    /// process) to `to`: the same as [`migrate_area`](Self::migrate_area)
    /// with the range as a start and an end (a reversed or empty range is
    /// refused, as everywhere).
    pub fn migrate_range(
        &self,
        pid: i32,
        start: u64,
        end: u64,
        to: NodeId,
    ) -> Result<MigrateOutcome> {
        self.migrate_area(pid, AddrRange::new(start, end)?, to)
    }

    /// Moves the present pages of `range` in process `pid` (0: this
    /// process) to `to` (`move_pages`). Pages already there stay.
    pub fn migrate_area(&self, pid: i32, range: AddrRange, to: NodeId) -> Result<MigrateOutcome> {
        self.check(&Policy::on_node(to))?;
        let page = page_size() as u64;
        let mut present = Vec::new();
        pages::query_range(
            &self.backend,
            pid,
            range.start(),
            range.end(),
            page,
            |a, st| {
                present.extend(
                    a.iter()
                        .zip(st)
                        .filter(|(_, s)| **s >= 0 && **s as u32 != to.get())
                        .map(|(a, _)| *a),
                );
            },
        )?;
        let mut not_moved = 0u64;
        let target = vec![to.get() as i32; present.len().min(pages::QUERY_CHUNK)];
        let mut status = vec![0i32; target.len()];
        for chunk in present.chunks(pages::QUERY_CHUNK) {
            let st = &mut status[..chunk.len()];
            pages::move_and_locate(
                &self.backend,
                pid,
                chunk,
                &target[..chunk.len()],
                st,
                || format!("moving pages of process {pid} to node {to}"),
            )?;
            not_moved += st
                .iter()
                .filter(|s| **s < 0 || **s as u32 != to.get())
                .count() as u64;
        }
        Ok(MigrateOutcome { not_moved })
    }

    /// Moves every page of process `pid` (0: this process) on `from` to
    /// `to` (`migrate_pages`). Returns the pages the kernel could not move.
    #[doc(alias = "numa_migrate_pages")]
    #[doc(alias = "migrate_pages")]
    pub fn migrate_process(
        &self,
        pid: i32,
        from: &NodeSet,
        to: &NodeSet,
    ) -> Result<MigrateOutcome> {
        if from.is_empty() {
            return Err(Error::EmptyNodes {
                what: "the nodes to move from".into(),
            });
        }
        if to.is_empty() {
            return Err(Error::EmptyNodes {
                what: "the nodes to move to".into(),
            });
        }
        check_nodes(from, &self.machine)?;
        self.check(&Policy::bind(to.clone()))?;
        let left = self.backend.migrate_pages(pid, from, to).map_err(|e| {
            pages::map_errno(
                format!("moving the pages of process {pid} from {from} to {to}"),
                pid,
                e,
            )
        })?;
        Ok(MigrateOutcome {
            not_moved: left as u64,
        })
    }

    /// The calling thread's policy, CPUs and allowed nodes, read from the
    /// kernel (reading only; works with any backend).
    pub fn current_policy(&self) -> Result<CurrentPolicy> {
        current_policy()
    }
}

/// The calling thread's policy, CPUs and allowed nodes, from the kernel.
#[doc(alias = "hwloc_get_membind")]
#[doc(alias = "get_mempolicy")]
pub fn current_policy() -> Result<CurrentPolicy> {
    let err = |call: &str, e| Error::from_errno(call.to_string(), e, None);
    let (raw, mask) = mempolicy::get_mempolicy(None, GetMempolicyFlags::empty())
        .map_err(|e| err("get_mempolicy", e))?;
    let (mode, flags) = mempolicy::split_mode(raw);
    let mode = mode.unwrap_or(Mode::Default);
    let nodes = if matches!(mode, Mode::Default | Mode::Local) {
        NodeSet::new()
    } else {
        NodeSet::from_words(&mask)
    };
    let (_, allowed) = mempolicy::get_mempolicy(None, GetMempolicyFlags::MEMS_ALLOWED)
        .map_err(|e| err("get_mempolicy(MPOL_F_MEMS_ALLOWED)", e))?;
    let cpus = numakit_sys::sched::sched_getaffinity(0).map_err(|e| err("sched_getaffinity", e))?;
    Ok(CurrentPolicy {
        policy: Policy::new(mode, nodes, flags & PolicyFlags::all()),
        cpus: CpuSet::from_words(&cpus),
        mems_allowed: NodeSet::from_words(&allowed),
    })
}

/// The node the calling thread's next interleaved page goes to
/// (`get_mempolicy(MPOL_F_NODE)` without an address), or `None` when its
/// policy does not interleave (the kernel answers `EINVAL` then).
#[doc(alias = "numa_get_interleave_node")]
pub fn interleave_next_node() -> Option<NodeId> {
    let (node, _) = mempolicy::get_mempolicy(None, GetMempolicyFlags::NODE).ok()?;
    u32::try_from(node).ok().map(NodeId)
}

/// The error of an `mmap` of `len` bytes that failed with `e`, saying what
/// ran out.
fn map_error(len: usize, huge: HugePages, e: Errno) -> Error {
    let why = match (huge, e) {
        (HugePages::Hugetlb, Errno::ENOMEM) => {
            "not enough free 2 MiB huge pages in the pool; reserve them first (echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages, or per node under /sys/devices/system/node/nodeN/hugepages/)"
        }
        (HugePages::Hugetlb, Errno::EINVAL) => {
            "this kernel has no 2 MiB huge pages (hugetlbfs missing, or another huge page size only)"
        }
        (_, Errno::ENOMEM) => {
            "the kernel has no room for it: out of address space, or beyond the overcommit limit (vm.overcommit_memory, ulimit -v)"
        }
        _ => "the kernel refused the mapping",
    };
    Error::Map { len, why, errno: e }
}

/// Element boundaries (`parts + 1` of them) splitting a buffer at
/// `addr` of `n` elements into `parts` pieces whose byte boundaries fall on
/// page boundaries.
fn split_points<T>(addr: usize, n: usize, parts: usize, page: usize) -> Vec<usize> {
    let size = std::mem::size_of::<T>().max(1);
    let bytes = n * size;
    let mut v = Vec::with_capacity(parts + 1);
    v.push(0);
    for i in 1..parts {
        let target = addr + bytes * i / parts;
        let aligned = target.div_ceil(page) * page;
        let idx = (aligned - addr).div_ceil(size).min(n);
        let prev = *v.last().unwrap_or(&0);
        v.push(idx.max(prev));
    }
    v.push(n);
    v
}

#[cfg(test)]
mod tests {
    use super::split_points;

    #[test]
    fn split_on_pages() {
        let v = split_points::<u8>(0x10000, 4 * 4096, 2, 4096);
        assert_eq!(v, [0, 8192, 16384]);
        let v = split_points::<u64>(0x10008, 1024, 3, 4096);
        assert_eq!(v.first(), Some(&0));
        assert_eq!(v.last(), Some(&1024));
        for b in &v[1..v.len() - 1] {
            assert_eq!((0x10008 + b * 8) % 4096, 0);
        }
        assert_eq!(split_points::<u8>(0, 10, 4, 4096), [0, 10, 10, 10, 10]);
    }
}
