//! The buffers benchmarks measure: allocated with a policy and a page size,
//! and checked afterwards, page by page, for where they really are.

use std::collections::BTreeMap;

use numakit_placement::{AllocOptions, HugePages, Mapping, PageCounts, Placer, Policy};
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::NodeId;
use serde::Serialize;

use crate::options::HugeChoice;
use crate::probe;
use crate::{Error, Result};

/// The 2 MiB huge page.
pub const HUGE: u64 = 2 << 20;

/// The pages asked of the kernel for the buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pages {
    /// Base pages (transparent huge pages refused).
    Base,
    /// Transparent huge pages asked for with `madvise`.
    Transparent,
    /// 2 MiB pages from the nodes' hugetlb pools.
    Hugetlb,
}

impl Pages {
    /// How `Placer` is asked for them.
    pub fn huge(self) -> HugePages {
        match self {
            Pages::Base => HugePages::Never,
            Pages::Transparent => HugePages::Transparent,
            Pages::Hugetlb => HugePages::Hugetlb,
        }
    }
}

fn free_2m_pages(machine: &Machine, node: NodeId) -> u64 {
    machine
        .node(node)
        .and_then(|n| n.hugepages.iter().find(|p| p.size_bytes == HUGE))
        .and_then(|p| p.free)
        .unwrap_or(0)
}

/// Decides the pages for buffers of `bytes` on each of `targets`: see
/// [`HugeChoice`]. An explicit hugetlb choice the pools cannot give is
/// refused before anything is allocated.
pub fn choose_pages(
    machine: &Machine,
    choice: HugeChoice,
    targets: &[NodeId],
    bytes: u64,
) -> Result<Pages> {
    let need = bytes.div_ceil(HUGE);
    let short = targets
        .iter()
        .map(|t| (*t, free_2m_pages(machine, *t)))
        .find(|(_, free)| *free < need);
    let thp_off = machine.knobs.thp_enabled.as_deref() == Some("never");
    Ok(match choice {
        HugeChoice::Auto if short.is_none() => Pages::Hugetlb,
        HugeChoice::Auto if thp_off => Pages::Base,
        HugeChoice::Auto | HugeChoice::Transparent => Pages::Transparent,
        HugeChoice::None => Pages::Base,
        HugeChoice::Hugetlb => match short {
            Some((node, free)) => return Err(Error::NoHugetlb { node, free, need }),
            None => Pages::Hugetlb,
        },
    })
}

/// Allocates `bytes` with `policy` (`None`: the thread's policy at fault
/// time) and `pages`. Nothing is touched yet.
pub fn allocate(
    placer: &Placer,
    bytes: u64,
    policy: Option<&Policy>,
    pages: Pages,
) -> Result<Mapping> {
    let len = usize::try_from(bytes).unwrap_or(usize::MAX);
    Ok(placer.allocate_with(
        len,
        &AllocOptions {
            policy: policy.cloned(),
            huge: pages.huge(),
            populate: false,
        },
    )?)
}

/// Where a buffer's pages were when it was checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Placement {
    /// Base pages asked about.
    pub pages: u64,
    /// Present pages per node.
    pub by_node: BTreeMap<u32, u64>,
    /// Pages not present.
    pub not_present: u64,
    /// The share of pages on the node the buffer was meant for, in percent
    /// (absent when it was not meant for one node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_target_pct: Option<f64>,
    /// The share in huge pages (transparent or hugetlb), in percent, when
    /// `/proc/self/smaps` tells.
    pub huge_pct: Option<f64>,
}

impl Placement {
    /// The share of present pages on `node`, in percent of all pages.
    pub fn pct_on(&self, node: NodeId) -> f64 {
        if self.pages == 0 {
            return 0.0;
        }
        self.by_node.get(&node.get()).copied().unwrap_or(0) as f64 * 100.0 / self.pages as f64
    }
}

/// The share of pages on its target a buffer must have to count as placed.
pub const PLACED_PCT: f64 = 99.0;

/// Counts where the pages of `maps` are (one batched `move_pages` query
/// per 16384 pages) and how much of them huge pages back.
pub fn verify(
    placer: &Placer,
    root: &Root,
    maps: &[&Mapping],
    target: Option<NodeId>,
) -> Result<Placement> {
    let mut counts = PageCounts::default();
    let (mut bytes, mut huge) = (0u64, 0u64);
    let mut known = true;
    for m in maps {
        counts.add(&placer.mapping_page_counts(m)?);
        let (start, end) = (m.addr() as u64, (m.addr() + m.len()) as u64);
        match probe::backing(root, start, end) {
            Some(b) => {
                bytes += m.len() as u64;
                huge += if b.page_bytes >= HUGE {
                    m.len() as u64
                } else {
                    b.thp_bytes.min(m.len() as u64)
                };
            }
            None => known = false,
        }
    }
    let mut p = Placement {
        pages: counts.pages,
        by_node: counts.by_node,
        not_present: counts.not_present + counts.unavailable,
        on_target_pct: None,
        huge_pct: (known && bytes > 0).then(|| huge as f64 * 100.0 / bytes as f64),
    };
    p.on_target_pct = target.map(|t| p.pct_on(t));
    Ok(p)
}

/// Views a mapping as 64-bit floats (it is page-aligned and a whole number
/// of pages, so the view is exact).
pub fn as_f64(m: &mut Mapping) -> &mut [f64] {
    bytemuck::cast_slice_mut(m.as_mut_slice())
}

/// Views a mapping as 64-bit words.
pub fn as_u64(m: &mut Mapping) -> &mut [u64] {
    bytemuck::cast_slice_mut(m.as_mut_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_shares() {
        let p = Placement {
            pages: 200,
            by_node: [(0, 150), (1, 48)].into_iter().collect(),
            not_present: 2,
            ..Default::default()
        };
        assert_eq!(p.pct_on(NodeId(0)), 75.0);
        assert_eq!(p.pct_on(NodeId(1)), 24.0);
        assert_eq!(p.pct_on(NodeId(2)), 0.0);
        assert_eq!(Placement::default().pct_on(NodeId(0)), 0.0);
    }
}
