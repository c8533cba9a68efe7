//! [`NodeVec<T>`]: typed node-local memory without `unsafe`, for
//! plain-old-data element types (`bytemuck::Pod`: integers, floats, arrays
//! and `#[repr(C)]` structs of them), which any bytes are valid values of.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use bytemuck::Pod;
use numakit_sys::mm::page_size;
use numakit_types::{AddrRange, NodeSet};

use crate::backend::Backend;
use crate::{AllocOptions, Error, Mapping, PageCounts, Placer, Policy, Result, TouchPart};

/// `len` values of `T` in a placed, page-aligned mapping: a `&[T]` and
/// `&mut [T]` (through `Deref`) over memory bound with a [`Policy`],
/// unmapped on drop. New memory is zeroed (so every element is `T`'s zero),
/// and a page is placed when it is first written: initialise it with
/// [`first_touch`](Self::first_touch) from the threads that will use it, or
/// bind it first ([`Placer::node_vec`]).
///
/// # Example
/// ```
/// use numakit_placement::{NodeVec, Placer, Policy};
/// let placer = Placer::live().unwrap();
/// // a million f64 on node 0, written by a thread pinned to node 0
/// let mut v: NodeVec<f64> = placer.node_vec(1_000_000, &Policy::on_node(0.into())).unwrap();
/// v.first_touch(&placer, &"0".parse().unwrap(), |start, part| {
///     for (i, x) in part.iter_mut().enumerate() { *x = (start + i) as f64; }
/// }).unwrap();
/// assert_eq!(v[999_999], 999_999.0);
/// let sum: f64 = v.iter().sum();
/// assert_eq!(sum, 999_999.0 * 1_000_000.0 / 2.0);
/// let counts = v.page_counts(&placer).unwrap();
/// assert_eq!(counts.on_node(0.into()), counts.pages);
/// ```
pub struct NodeVec<T: Pod> {
    map: Mapping,
    len: usize,
    _elem: PhantomData<T>,
}

impl<B: Backend> Placer<B> {
    /// `len` zeroed values of `T` bound with `policy` (checked first).
    pub fn node_vec<T: Pod>(&self, len: usize, policy: &Policy) -> Result<NodeVec<T>> {
        self.node_vec_with(
            len,
            &AllocOptions {
                policy: Some(policy.clone()),
                ..Default::default()
            },
        )
    }

    /// `len` zeroed values of `T` allocated with `opts` (policy, huge
    /// pages, populate).
    pub fn node_vec_with<T: Pod>(&self, len: usize, opts: &AllocOptions) -> Result<NodeVec<T>> {
        let size = std::mem::size_of::<T>();
        if size == 0 {
            return Err(Error::BadElementType {
                what: std::any::type_name::<T>(),
                why: "a zero-sized type needs no memory",
            });
        }
        if std::mem::align_of::<T>() > page_size() {
            return Err(Error::BadElementType {
                what: std::any::type_name::<T>(),
                why: "its alignment is larger than a page, which is all a mapping promises",
            });
        }
        let bytes = len
            .checked_mul(size)
            .ok_or(Error::TooLarge { len: usize::MAX })?;
        let map = self.allocate_with(bytes, opts)?;
        Ok(NodeVec {
            map,
            len,
            _elem: PhantomData,
        })
    }

    /// `len` values of `T` spread over `nodes`, each node's part written
    /// by `init(index)` from threads pinned to that node (see
    /// [`Placer::first_touch`]): each part's pages are on its node.
    pub fn node_vec_from_fn<T, F>(&self, len: usize, nodes: &NodeSet, init: F) -> Result<NodeVec<T>>
    where
        T: Pod + Send,
        F: Fn(usize) -> T + Sync,
    {
        let mut v: NodeVec<T> = self.node_vec_with(len, &AllocOptions::default())?;
        v.first_touch(self, nodes, |start, part| {
            for (i, x) in part.iter_mut().enumerate() {
                *x = init(start + i);
            }
        })?;
        Ok(v)
    }
}

impl<T: Pod> NodeVec<T> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements (never: an empty allocation is
    /// refused).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        bytemuck::cast_slice(&self.map.as_slice()[..self.byte_len()])
    }

    /// The elements, writable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        let n = self.byte_len();
        bytemuck::cast_slice_mut(&mut self.map.as_mut_slice()[..n])
    }

    /// The addresses of the elements, for the calls that take a range
    /// ([`Placer::bind_area`], [`Placer::tonode_memory`], ...).
    pub fn range(&self) -> AddrRange {
        AddrRange::from_len(self.map.addr() as u64, self.byte_len() as u64)
            .expect("a NodeVec is never empty and lies within its mapping")
    }

    /// The mapping underneath (whole pages).
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }

    /// The policy the memory was bound with.
    pub fn policy(&self) -> Option<&Policy> {
        self.map.policy()
    }

    /// Sets every element to `value` from this thread.
    pub fn fill(&mut self, value: T) {
        self.as_mut_slice().fill(value);
    }

    /// Initialises the elements first-touch-correctly: one part per node of
    /// `nodes`, `init(first_index, part)` run by a thread pinned to that
    /// node (see [`Placer::first_touch`]).
    pub fn first_touch<B, F>(
        &mut self,
        placer: &Placer<B>,
        nodes: &NodeSet,
        init: F,
    ) -> Result<Vec<TouchPart>>
    where
        B: Backend,
        T: Send,
        F: Fn(usize, &mut [T]) + Sync,
    {
        placer.first_touch(self.as_mut_slice(), nodes, init)
    }

    /// Faults in every page now, under the policy in force for it, without
    /// changing any element (see [`crate::police_memory`]).
    pub fn police(&mut self) {
        crate::police_memory(self.as_mut_slice());
    }

    /// Where the pages are, per node.
    pub fn page_counts<B: Backend>(&self, placer: &Placer<B>) -> Result<PageCounts> {
        placer.mapping_page_counts(&self.map)
    }

    /// The mapping, as bytes.
    pub fn into_mapping(self) -> Mapping {
        self.map
    }

    fn byte_len(&self) -> usize {
        self.len * std::mem::size_of::<T>()
    }
}

impl<T: Pod> Deref for NodeVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Pod> DerefMut for NodeVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Pod> fmt::Debug for NodeVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeVec")
            .field("type", &std::any::type_name::<T>())
            .field("len", &self.len)
            .field("mapping", &self.map)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_cannot_hold() {
        let p = Placer::live().unwrap();
        assert!(matches!(
            p.node_vec::<()>(4, &Policy::local()),
            Err(Error::BadElementType { .. })
        ));
        assert!(matches!(
            p.node_vec::<u64>(usize::MAX / 4, &Policy::local()),
            Err(Error::TooLarge { .. })
        ));
        assert!(p.node_vec::<u64>(0, &Policy::local()).is_err());
        let mut v: NodeVec<[u32; 3]> = p.node_vec(1000, &Policy::local()).unwrap();
        assert_eq!(v.len(), 1000);
        assert_eq!(v[999], [0; 3]);
        v.fill([1, 2, 3]);
        assert_eq!(v.range().len(), 12_000);
        assert_eq!(v.iter().map(|x| x[2]).sum::<u32>(), 3000);
    }
}
