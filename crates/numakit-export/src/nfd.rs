//! Node Feature Discovery labels, as a local feature file: one
//! `name=value` line per label, for nfd-worker's `features.d` directory.
//!
//! Every name is under [`PREFIX`] (`numakit.feature.node.kubernetes.io/`),
//! a subdomain of NFD's own namespace, which nfd-master accepts without
//! `-extra-label-ns`. Names and values follow the Kubernetes label syntax
//! NFD enforces ([`valid_name`], [`valid_value`]). A fact numakit does not
//! know gives no label. The labels are listed in `docs/exports.md`.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use numakit_topo::Machine;
use numakit_topo::pci::DeviceKind;

/// The namespace of every label.
pub const PREFIX: &str = "numakit.feature.node.kubernetes.io/";

/// One label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The full name, with [`PREFIX`].
    pub name: String,
    /// The value.
    pub value: String,
}

/// Whether `s` is a label name NFD accepts: an optional DNS-subdomain
/// prefix (at most 253 characters, lower-case alphanumerics, `-` and `.`)
/// and `/`, then a name of 1 to 63 characters that starts and ends with an
/// alphanumeric and holds only alphanumerics, `-`, `_` and `.`.
///
/// # Example
/// ```
/// use numakit_export::nfd::valid_name;
/// assert!(valid_name("numakit.feature.node.kubernetes.io/node-0.cpus"));
/// assert!(!valid_name("numakit.feature.node.kubernetes.io/-bad"));
/// assert!(!valid_name("Upper.Case/x"));
/// ```
pub fn valid_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && valid_value(name)
}

/// Whether `s` is a label value: empty, or at most 63 characters that
/// start and end with an alphanumeric, with `-`, `_`, `.` and
/// alphanumerics between.
pub fn valid_value(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return true;
    }
    b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// The labels of machine `m`, sorted by name.
pub fn labels(m: &Machine) -> Vec<Label> {
    let mut l: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |name: String, value: String| {
        l.insert(format!("{PREFIX}{name}"), value);
    };
    put("numa-nodes".into(), m.nodes.len().to_string());
    let cpuless = m.nodes.iter().filter(|n| n.cpus.is_empty()).count();
    put("cpuless-nodes".into(), cpuless.to_string());
    if m.numa_inconsistent.is_some() {
        put("numa-inconsistent".into(), "true".into());
    }
    if let Some(shape) = nodes_per_package(m) {
        put("nodes-per-package".into(), shape.to_string());
    }
    for n in &m.nodes {
        let id = n.id;
        let online = m
            .cpus
            .iter()
            .filter(|c| n.cpus.contains(c.id) && c.online != Some(false))
            .count();
        put(format!("node-{id}.cpus"), online.to_string());
        if let Some(t) = n.memory_total_bytes {
            put(format!("node-{id}.memory-mib"), (t >> 20).to_string());
        }
        if let Some(t) = n.memory_tier {
            put(format!("node-{id}.memory-tier"), t.to_string());
        }
        for p in &n.hugepages {
            if let Some(total) = p.total {
                let size = crate::nrt::hugepages_resource(p.size_bytes);
                put(format!("node-{id}.{size}"), total.to_string());
            }
        }
        for (kind, what) in DEVICE_KINDS {
            let count = m
                .pci_devices
                .iter()
                .filter(|d| d.kind == *kind && d.numa_node == Some(id) && !d.is_vf())
                .count();
            if count > 0 {
                put(format!("node-{id}.{what}"), count.to_string());
            }
        }
    }
    iommu_labels(m, &mut put);
    put("memory-tiers".into(), m.memory_tiers.len().to_string());
    if let Some(d) = m.knobs.demotion_enabled {
        put("demotion".into(), d.to_string());
    }
    l.into_iter()
        .map(|(name, value)| Label { name, value })
        .filter(|x| valid_name(&x.name) && valid_value(&x.value))
        .collect()
}

/// The device kinds counted per node, and their label words.
const DEVICE_KINDS: &[(DeviceKind, &str)] = &[
    (DeviceKind::Gpu, "gpus"),
    (DeviceKind::Nic, "nics"),
    (DeviceKind::Infiniband, "infiniband"),
    (DeviceKind::Nvme, "nvme"),
    (DeviceKind::Accelerator, "accelerators"),
];

fn iommu_labels(m: &Machine, put: &mut impl FnMut(String, String)) {
    match m.iommu.active {
        Some(a) => put("iommu".into(), if a { "on" } else { "off" }.into()),
        None => return,
    }
    // the domain type most groups have: DMA, DMA-FQ, identity
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &m.iommu.groups {
        if let Some(t) = &g.domain_type {
            *types.entry(t.as_str()).or_default() += 1;
        }
    }
    if let Some((t, _)) = types.iter().max_by_key(|(_, n)| **n) {
        let v: String = t
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        put("iommu.mode".into(), v);
    }
}

/// CPU nodes per package when every package has the same number (the
/// sub-NUMA clustering / NPS shape); `None` when unknown or uneven.
fn nodes_per_package(m: &Machine) -> Option<usize> {
    let mut per: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for c in &m.cpus {
        if let (Some(p), Some(n)) = (c.package, c.node) {
            per.entry(p).or_default().insert(n.0);
        }
    }
    let counts: BTreeSet<usize> = per.values().map(BTreeSet::len).collect();
    match counts.len() {
        1 => counts.into_iter().next(),
        _ => None,
    }
}

/// The feature file: one `name=value` line per label.
pub fn feature_file(labels: &[Label]) -> String {
    labels
        .iter()
        .map(|l| format!("{}={}\n", l.name, l.value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_syntax_as_kubernetes_defines_it() {
        assert!(valid_name("a/b"));
        assert!(valid_name("x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/"));
        assert!(!valid_name("a..b/c"));
        assert!(!valid_name(&format!("a/{}", "x".repeat(64))));
        assert!(valid_name(&format!("a/{}", "x".repeat(63))));
        assert!(valid_value(""));
        assert!(valid_value("DMA-FQ"));
        assert!(!valid_value("0-3,8"));
        assert!(!valid_value("trailing-"));
        assert!(!valid_value("has space"));
    }
}
