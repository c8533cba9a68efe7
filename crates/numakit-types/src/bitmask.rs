//! libnuma's bitmask helpers that [`IdSet`] had no method for. The rest map
//! onto what a set already does: `numa_bitmask_setbit` is
//! [`IdSet::insert`], `numa_bitmask_isbitset` is [`IdSet::contains`], and so
//! on (see `docs/libnuma.md`).

use crate::{CpuId, CpuSet, IdSet, NodeId, NodeSet, SetKind};

impl<K: SetKind> IdSet<K> {
    /// Removes every member.
    #[doc(alias = "numa_bitmask_clearall")]
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// The set of every id below `n` (capped at the kernel's limit,
    /// [`SetKind::LIMIT`]): libnuma's "all bits of a mask of `n` bits".
    ///
    /// ```
    /// use numakit_types::NodeSet;
    /// assert_eq!(NodeSet::all_below(4).to_string(), "0-3");
    /// assert!(NodeSet::all_below(0).is_empty());
    /// ```
    #[doc(alias = "numa_bitmask_setall")]
    pub fn all_below(n: u32) -> Self {
        Self::from_raw(0..n.min(K::LIMIT))
    }

    /// The size of the bitmap in bytes (whole 64-bit words, 0 for the empty
    /// set): what a `nodemask_t`-style copy of it needs.
    ///
    /// ```
    /// use numakit_types::CpuSet;
    /// assert_eq!(CpuSet::from_raw([0, 70]).nbytes(), 16);
    /// ```
    #[doc(alias = "numa_bitmask_nbytes")]
    pub fn nbytes(&self) -> usize {
        std::mem::size_of_val(self.as_words())
    }
}

impl From<NodeId> for NodeSet {
    /// The set of one node.
    fn from(id: NodeId) -> NodeSet {
        std::iter::once(id).collect()
    }
}

impl From<CpuId> for CpuSet {
    /// The set of one CPU.
    fn from(id: CpuId) -> CpuSet {
        std::iter::once(id).collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::{CpuSet, NodeSet};

    #[test]
    fn clear_fill_and_size() {
        let mut s: NodeSet = "1,5".parse().unwrap();
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.nbytes(), 0);
        assert_eq!(NodeSet::all_below(5000).len(), 1024);
        assert_eq!(CpuSet::all_below(65).nbytes(), 16);
        assert_eq!(NodeSet::from(crate::NodeId(3)).to_string(), "3");
        assert_eq!(CpuSet::from(crate::CpuId(0)).len(), 1);
    }
}
