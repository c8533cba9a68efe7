//! The kernel's KFD topology (`/sys/class/kfd/kfd/topology/nodes/N`), as
//! amdgpu writes it (`kfd_topology.c`: `node_show`, `iolink_show`): a
//! `properties` file of `name value` lines per node and per io link.

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::PciAddress;

use super::{GpuFacts, GpuLink, LinkKind};
use crate::util::numbered_entries;

const NODES: &str = "/sys/class/kfd/kfd/topology/nodes";

/// `CRAT_IOLINK_TYPE_XGMI` (`kfd_crat.h`).
pub(crate) const IOLINK_TYPE_XGMI: u64 = 11;

/// One io link of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IoLink {
    pub(crate) kind: Option<u64>,
    pub(crate) to: Option<u32>,
    pub(crate) weight: Option<u32>,
    pub(crate) max_bandwidth: Option<u64>,
}

/// One KFD node that is a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GpuNode {
    pub(crate) id: u32,
    pub(crate) address: PciAddress,
    pub(crate) unique_id: Option<u64>,
    pub(crate) render_minor: Option<u32>,
    pub(crate) links: Vec<IoLink>,
}

/// The GPU nodes of the topology, by node id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kfd {
    pub(crate) gpus: Vec<GpuNode>,
}

/// Parses a `properties` file into name → value; lines that are not
/// `name number` are skipped.
pub(crate) fn properties(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The PCI function of a GPU node: `domain` and `location_id` (bus << 8 |
/// devfn).
fn address(p: &BTreeMap<String, u64>) -> Option<PciAddress> {
    let loc = *p.get("location_id")?;
    if loc > 0xffff {
        return None;
    }
    Some(PciAddress {
        domain: u32::try_from(*p.get("domain")?).ok()?,
        bus: (loc >> 8) as u8,
        device: ((loc >> 3) & 0x1f) as u8,
        function: (loc & 7) as u8,
    })
}

fn read_links(root: &Root, node: &str) -> Vec<IoLink> {
    let dir = format!("{NODES}/{node}/io_links");
    numbered_entries(root, &dir, "")
        .into_iter()
        .filter_map(|(_, n)| {
            let p = properties(&root.read_to_string(&format!("{dir}/{n}/properties")).ok()?);
            let u32_of = |k: &str| p.get(k).and_then(|v| u32::try_from(*v).ok());
            Some(IoLink {
                kind: p.get("type").copied(),
                to: u32_of("node_to"),
                weight: u32_of("weight"),
                max_bandwidth: p.get("max_bandwidth").copied().filter(|b| *b > 0),
            })
        })
        .collect()
}

/// Reads the topology; `None` when there is none (no amdgpu, or a root
/// without it).
pub(crate) fn read(root: &Root) -> Option<Kfd> {
    let nodes = numbered_entries(root, NODES, "");
    if nodes.is_empty() {
        return None;
    }
    let mut k = Kfd::default();
    for (id, name) in nodes {
        let Ok(text) = root.read_to_string(&format!("{NODES}/{name}/properties")) else {
            continue;
        };
        let p = properties(&text);
        if p.get("simd_count").copied().unwrap_or(0) == 0 {
            continue;
        }
        let Some(address) = address(&p) else {
            continue;
        };
        k.gpus.push(GpuNode {
            id,
            address,
            unique_id: p.get("unique_id").copied().filter(|u| *u != 0),
            render_minor: p
                .get("drm_render_minor")
                .and_then(|v| u32::try_from(*v).ok())
                .filter(|m| *m > 0),
            links: read_links(root, &name),
        });
    }
    Some(k)
}

impl Kfd {
    /// Fills the KFD facts of the GPU at `addr`: node, UUID, render minor,
    /// and its xGMI links to other GPU nodes.
    pub(crate) fn fill(&self, addr: PciAddress, f: &mut GpuFacts) {
        let Some(n) = self.gpus.iter().find(|g| g.address == addr) else {
            return;
        };
        f.kfd_node = Some(n.id);
        f.uuid = n.unique_id.map(|u| format!("GPU-{u:016x}"));
        f.minor = n.render_minor;
        let mut links: Vec<GpuLink> = Vec::new();
        for l in n.links.iter().filter(|l| l.kind == Some(IOLINK_TYPE_XGMI)) {
            let Some(peer) =
                l.to.and_then(|to| self.gpus.iter().find(|g| g.id == to))
                    .map(|g| g.address)
            else {
                continue;
            };
            match links.iter_mut().find(|x| x.peer == peer) {
                Some(x) => x.count += 1,
                None => links.push(GpuLink {
                    peer,
                    kind: LinkKind::Xgmi,
                    count: 1,
                    weight: l.weight,
                    max_bandwidth_mbps: l.max_bandwidth,
                }),
            }
        }
        links.sort_by_key(|l| l.peer);
        f.links = Some(links);
        f.links_from = Some("kfd");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_as_the_kernel_writes_them() {
        let p = properties(
            "cpu_cores_count 0\nsimd_count 304\nlocation_id 49920\ndomain 2\nunique_id 18446744073709551615\nname x y\nbad\n",
        );
        assert_eq!(p.get("simd_count"), Some(&304));
        assert_eq!(p.get("unique_id"), Some(&u64::MAX));
        assert_eq!(p.get("name"), None);
        let a = address(&p).unwrap();
        assert_eq!(a.to_string(), "0002:c3:00.0");
        let mut q = p.clone();
        q.insert("location_id".into(), 0x1_0000);
        assert_eq!(address(&q), None);
        q.insert("location_id".into(), 0xc3_0a);
        assert_eq!(address(&q).unwrap().to_string(), "0002:c3:01.2");
    }
}
