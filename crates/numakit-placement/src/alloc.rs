//! libnuma's allocation calls that [`Placer::allocate`] and its siblings
//! did not cover: local, interleaved over every allowed node, and
//! reallocation that keeps the policy.

use crate::backend::Backend;
use crate::{AllocOptions, Mapping, Placer, Policy, Result};

impl<B: Backend> Placer<B> {
    /// Allocates `len` bytes on the node of the CPU that first touches each
    /// page (`MPOL_LOCAL`).
    #[doc(alias = "numa_alloc_local")]
    pub fn allocate_local(&self, len: usize) -> Result<Mapping> {
        self.allocate(len, &Policy::local())
    }

    /// Allocates `len` bytes interleaved page by page over every node this
    /// process may allocate from ([`numakit_topo::Machine::allowed_nodes`]).
    #[doc(alias = "numa_alloc_interleaved")]
    pub fn allocate_interleaved_all(&self, len: usize) -> Result<Mapping> {
        self.allocate_interleaved(len, &self.machine().allowed_nodes())
    }

    /// A mapping of `new_len` bytes with `old`'s policy, holding `old`'s
    /// bytes up to the shorter of the two lengths (the rest zero); `old` is
    /// unmapped. The copy is written from this thread, so its pages are
    /// placed by the policy as they are written: the same policy keeps them
    /// where they were. On error `old` is dropped too, as libnuma's
    /// `numa_realloc` leaves nothing behind either.
    ///
    /// ```
    /// use numakit_placement::{Placer, Policy};
    /// let p = Placer::live().unwrap();
    /// let mut m = p.allocate(4096, &Policy::on_node(0.into())).unwrap();
    /// m.as_mut_slice()[..5].copy_from_slice(b"hello");
    /// let m = p.reallocate(m, 3 * 4096).unwrap();
    /// assert_eq!(&m.as_slice()[..5], b"hello");
    /// assert!(m.len() >= 3 * 4096);
    /// assert_eq!(m.policy(), Some(&Policy::on_node(0.into())));
    /// ```
    #[doc(alias = "numa_realloc")]
    pub fn reallocate(&self, old: Mapping, new_len: usize) -> Result<Mapping> {
        let opts = AllocOptions {
            policy: old.policy().cloned(),
            ..Default::default()
        };
        let mut new = self.allocate_with(new_len, &opts)?;
        let n = old.len().min(new.len());
        new.as_mut_slice()[..n].copy_from_slice(&old.as_slice()[..n]);
        Ok(new)
    }
}
