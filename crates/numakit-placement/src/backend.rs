//! The seam between planning and the kernel: [`Backend`], with
//! [`LiveBackend`] (real system calls) and [`RecordingBackend`] (records
//! calls, answers from a script) for tests and dry runs.

use std::sync::Mutex;

use numakit_sys::Errno;
use numakit_sys::mempolicy::{self, MbindFlags, MovePagesFlags};
use numakit_types::{CpuSet, NodeId, NodeSet};

use crate::Policy;

/// The system calls placement makes. Methods take `&self` so that worker
/// threads (first touch) can share one backend.
pub trait Backend: Send + Sync {
    /// `set_mempolicy` for the calling thread.
    fn set_mempolicy(&self, policy: &Policy) -> Result<(), Errno>;
    /// `mbind` on `[addr, addr + len)`.
    fn mbind(
        &self,
        addr: usize,
        len: usize,
        policy: &Policy,
        flags: MbindFlags,
    ) -> Result<(), Errno>;
    /// `set_mempolicy_home_node` on `[addr, addr + len)`.
    fn set_home_node(&self, addr: usize, len: usize, node: NodeId) -> Result<(), Errno>;
    /// `sched_setaffinity` for thread `tid` (0: the calling thread).
    fn set_affinity(&self, tid: i32, cpus: &CpuSet) -> Result<(), Errno>;
    /// `move_pages`: a query when `nodes` is `None`. Returns pages not moved.
    fn move_pages(
        &self,
        pid: i32,
        pages: &[usize],
        nodes: Option<&[i32]>,
        status: &mut [i32],
        flags: MovePagesFlags,
    ) -> Result<usize, Errno>;
    /// `migrate_pages`. Returns pages not moved.
    fn migrate_pages(&self, pid: i32, from: &NodeSet, to: &NodeSet) -> Result<usize, Errno>;
}

/// The real kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveBackend;

impl Backend for LiveBackend {
    fn set_mempolicy(&self, p: &Policy) -> Result<(), Errno> {
        mempolicy::set_mempolicy(p.mode, p.flags, p.nodes.as_words())
    }
    fn mbind(&self, addr: usize, len: usize, p: &Policy, flags: MbindFlags) -> Result<(), Errno> {
        mempolicy::mbind(addr, len, p.mode, p.flags, p.nodes.as_words(), flags)
    }
    fn set_home_node(&self, addr: usize, len: usize, node: NodeId) -> Result<(), Errno> {
        mempolicy::set_mempolicy_home_node(addr, len, node.get())
    }
    fn set_affinity(&self, tid: i32, cpus: &CpuSet) -> Result<(), Errno> {
        numakit_sys::sched::sched_setaffinity(tid, cpus.as_words())
    }
    fn move_pages(
        &self,
        pid: i32,
        pages: &[usize],
        nodes: Option<&[i32]>,
        status: &mut [i32],
        flags: MovePagesFlags,
    ) -> Result<usize, Errno> {
        mempolicy::move_pages(pid, pages, nodes, status, flags)
    }
    fn migrate_pages(&self, pid: i32, from: &NodeSet, to: &NodeSet) -> Result<usize, Errno> {
        mempolicy::migrate_pages(pid, from.as_words(), to.as_words())
    }
}

/// One call a [`RecordingBackend`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `set_mempolicy`.
    SetMempolicy(Policy),
    /// `mbind`.
    Mbind {
        /// Start.
        addr: usize,
        /// Length.
        len: usize,
        /// Policy.
        policy: Policy,
        /// Flags.
        flags: MbindFlags,
    },
    /// `set_mempolicy_home_node`.
    SetHomeNode {
        /// Start.
        addr: usize,
        /// Length.
        len: usize,
        /// Node.
        node: NodeId,
    },
    /// `sched_setaffinity`.
    SetAffinity {
        /// Thread.
        tid: i32,
        /// CPUs.
        cpus: CpuSet,
    },
    /// `move_pages`.
    MovePages {
        /// Process.
        pid: i32,
        /// Number of pages.
        count: usize,
        /// Whether it moved (else queried).
        moving: bool,
    },
    /// `migrate_pages`.
    MigratePages {
        /// Process.
        pid: i32,
        /// From.
        from: NodeSet,
        /// To.
        to: NodeSet,
    },
}

/// Records every call and succeeds, unless told to fail a kind of call.
/// `move_pages` queries answer `page_node` for every page.
///
/// # Example
/// ```
/// use numakit_placement::{Backend, Call, Policy, RecordingBackend};
/// let b = RecordingBackend::new();
/// b.set_mempolicy(&Policy::local()).unwrap();
/// assert_eq!(b.calls(), vec![Call::SetMempolicy(Policy::local())]);
/// ```
#[derive(Debug, Default)]
pub struct RecordingBackend {
    calls: Mutex<Vec<Call>>,
    /// The errno to fail `set_mempolicy` with.
    pub fail_set_mempolicy: Option<Errno>,
    /// The errno to fail `sched_setaffinity` with.
    pub fail_set_affinity: Option<Errno>,
    /// The errno to fail `move_pages` and `migrate_pages` with.
    pub fail_pages: Option<Errno>,
    /// The node every queried page is on (negative: that errno).
    pub page_node: i32,
    /// What `migrate_pages` returns (pages not moved).
    pub not_moved: usize,
    /// What a `move_pages` that moves returns (pages not moved); when not
    /// 0 it writes no status, as the kernel does after a batch that did not
    /// fully migrate.
    pub move_left: usize,
}

impl RecordingBackend {
    /// A backend that records and succeeds.
    pub fn new() -> RecordingBackend {
        RecordingBackend::default()
    }
    /// The calls so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
    fn push(&self, c: Call) {
        if let Ok(mut v) = self.calls.lock() {
            v.push(c);
        }
    }
}

impl Backend for RecordingBackend {
    fn set_mempolicy(&self, p: &Policy) -> Result<(), Errno> {
        self.push(Call::SetMempolicy(p.clone()));
        self.fail_set_mempolicy.map_or(Ok(()), Err)
    }
    fn mbind(&self, addr: usize, len: usize, p: &Policy, flags: MbindFlags) -> Result<(), Errno> {
        self.push(Call::Mbind {
            addr,
            len,
            policy: p.clone(),
            flags,
        });
        Ok(())
    }
    fn set_home_node(&self, addr: usize, len: usize, node: NodeId) -> Result<(), Errno> {
        self.push(Call::SetHomeNode { addr, len, node });
        Ok(())
    }
    fn set_affinity(&self, tid: i32, cpus: &CpuSet) -> Result<(), Errno> {
        self.push(Call::SetAffinity {
            tid,
            cpus: cpus.clone(),
        });
        self.fail_set_affinity.map_or(Ok(()), Err)
    }
    fn move_pages(
        &self,
        pid: i32,
        pages: &[usize],
        nodes: Option<&[i32]>,
        status: &mut [i32],
        _flags: MovePagesFlags,
    ) -> Result<usize, Errno> {
        self.push(Call::MovePages {
            pid,
            count: pages.len(),
            moving: nodes.is_some(),
        });
        if let Some(e) = self.fail_pages {
            return Err(e);
        }
        match nodes {
            Some(_) if self.move_left > 0 => return Ok(self.move_left),
            Some(n) => status.copy_from_slice(n),
            None => status.fill(self.page_node),
        }
        Ok(0)
    }
    fn migrate_pages(&self, pid: i32, from: &NodeSet, to: &NodeSet) -> Result<usize, Errno> {
        self.push(Call::MigratePages {
            pid,
            from: from.clone(),
            to: to.clone(),
        });
        if let Some(e) = self.fail_pages {
            return Err(e);
        }
        Ok(self.not_moved)
    }
}
