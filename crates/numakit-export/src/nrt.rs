//! A Kubernetes `NodeResourceTopology` object
//! (`topology.node.k8s.io/v1alpha2`), the custom resource the
//! topology-aware scheduler plugin reads. The mapping (see
//! `docs/exports.md`):
//!
//! - one zone per NUMA node, `name: node-N`, `type: Node`, as the
//!   resource topology exporter names them;
//! - `costs`: the SLIT distance to every node (`name: node-M`);
//! - `resources`: `cpu` (the node's online CPUs), `memory` (bytes), and
//!   `hugepages-2Mi`, `hugepages-1Gi`, ... (bytes, as Kubernetes counts huge
//!   pages). numakit knows the hardware, not what kubelet reserves or pods
//!   use, so `allocatable` and `available` equal `capacity`; an updater that
//!   knows the pods lowers them;
//! - `attributes`: the node's CPU list, its memory tier, whether it is
//!   memory-only, and the PCI functions it owns by kind
//!   (`numakit.io/gpu: "0000:17:00.0,0000:65:00.0"`), which device plugins
//!   do not tell the scheduler.
//!
//! Values numakit does not know are left out (a node of unknown memory has
//! no `memory` resource).

use numakit_topo::Machine;
use numakit_topo::pci::DeviceKind;
use serde::Serialize;

/// `apiVersion` of the object.
pub const API_VERSION: &str = "topology.node.k8s.io/v1alpha2";

/// The object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeResourceTopology {
    /// Always [`API_VERSION`].
    pub api_version: &'static str,
    /// Always `NodeResourceTopology`.
    pub kind: &'static str,
    /// The Kubernetes node name.
    pub metadata: Metadata,
    /// One zone per NUMA node.
    pub zones: Vec<Zone>,
    /// Object-wide attributes.
    pub attributes: Vec<Attribute>,
}

/// `metadata`.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// The node's name.
    pub name: String,
}

/// A zone: one NUMA node.
#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    /// `node-N`.
    pub name: String,
    /// `Node`.
    #[serde(rename = "type")]
    pub zone_type: &'static str,
    /// Distances to the other zones.
    pub costs: Vec<Cost>,
    /// Facts about the zone.
    pub attributes: Vec<Attribute>,
    /// CPUs, memory, huge pages.
    pub resources: Vec<Resource>,
}

/// A cost (distance) to a zone.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// The zone.
    pub name: String,
    /// The SLIT distance.
    pub value: i64,
}

/// A named string.
#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A resource of a zone: Kubernetes quantities as strings.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// `cpu`, `memory`, `hugepages-2Mi`, ...
    pub name: String,
    /// What the zone has.
    pub capacity: String,
    /// Equal to `capacity` (numakit knows no reservations).
    pub allocatable: String,
    /// Equal to `capacity` (numakit knows no pods).
    pub available: String,
}

fn attr(name: &str, value: impl Into<String>) -> Attribute {
    Attribute {
        name: name.into(),
        value: value.into(),
    }
}

fn resource(name: String, amount: u64) -> Resource {
    Resource {
        name,
        capacity: amount.to_string(),
        allocatable: amount.to_string(),
        available: amount.to_string(),
    }
}

/// The Kubernetes resource name of a huge page size: `hugepages-2Mi`.
///
/// # Example
/// ```
/// assert_eq!(numakit_export::nrt::hugepages_resource(2 << 20), "hugepages-2Mi");
/// assert_eq!(numakit_export::nrt::hugepages_resource(1 << 30), "hugepages-1Gi");
/// assert_eq!(numakit_export::nrt::hugepages_resource(64 << 10), "hugepages-64Ki");
/// ```
pub fn hugepages_resource(size: u64) -> String {
    const KI: u64 = 1 << 10;
    const MI: u64 = 1 << 20;
    const GI: u64 = 1 << 30;
    if size.is_multiple_of(GI) {
        format!("hugepages-{}Gi", size / GI)
    } else if size.is_multiple_of(MI) {
        format!("hugepages-{}Mi", size / MI)
    } else {
        format!("hugepages-{}Ki", size / KI)
    }
}

/// The object for machine `m`, named `node_name`.
pub fn object(m: &Machine, node_name: &str) -> NodeResourceTopology {
    let online: numakit_types::CpuSet = m
        .cpus
        .iter()
        .filter(|c| c.online != Some(false))
        .map(|c| c.id)
        .collect();
    let zones = m.nodes.iter().map(|n| zone(m, n, &online)).collect();
    NodeResourceTopology {
        api_version: API_VERSION,
        kind: "NodeResourceTopology",
        metadata: Metadata {
            name: node_name.into(),
        },
        zones,
        attributes: vec![attr("numakit.io/exporter", "numakit")],
    }
}

fn zone(m: &Machine, n: &numakit_topo::Node, online: &numakit_types::CpuSet) -> Zone {
    let cpus = if m.cpus.is_empty() {
        n.cpus.clone()
    } else {
        n.cpus.intersection(online)
    };
    let costs = m
        .nodes
        .iter()
        .filter_map(|o| {
            Some(Cost {
                name: format!("node-{}", o.id),
                value: i64::from(m.distance(n.id, o.id)?),
            })
        })
        .collect();
    let mut resources = vec![resource("cpu".into(), cpus.len() as u64)];
    if let Some(t) = n.memory_total_bytes {
        resources.push(resource("memory".into(), t));
    }
    for p in &n.hugepages {
        if let Some(count) = p.total {
            resources.push(resource(
                hugepages_resource(p.size_bytes),
                count.saturating_mul(p.size_bytes),
            ));
        }
    }
    let mut attributes = vec![attr("numakit.io/cpus", cpus.to_string())];
    if let Some(t) = n.memory_tier {
        attributes.push(attr("numakit.io/memory-tier", t.to_string()));
    }
    if cpus.is_empty() {
        attributes.push(attr("numakit.io/memory-only", "true"));
    }
    for kind in [
        DeviceKind::Gpu,
        DeviceKind::Nic,
        DeviceKind::Infiniband,
        DeviceKind::Nvme,
        DeviceKind::Accelerator,
        DeviceKind::CxlMemory,
    ] {
        let devs: Vec<String> = m
            .pci_devices
            .iter()
            .filter(|d| d.kind == kind && d.numa_node == Some(n.id) && !d.is_vf())
            .map(|d| d.address.to_string())
            .collect();
        if !devs.is_empty() {
            attributes.push(attr(
                &format!("numakit.io/{}", kind.as_str()),
                devs.join(","),
            ));
        }
    }
    Zone {
        name: format!("node-{}", n.id),
        zone_type: "Node",
        costs,
        attributes,
        resources,
    }
}

/// The object as YAML: block style, every string double-quoted (a JSON
/// string is a valid YAML double-quoted scalar), so that no value can be
/// read as another type.
pub fn to_yaml(obj: &NodeResourceTopology) -> String {
    let v = serde_json::to_value(obj).unwrap_or(serde_json::Value::Null);
    let mut out = String::new();
    yaml_value(&v, 0, &mut out);
    out
}

fn scalar(v: &serde_json::Value) -> String {
    // serde_json's string form is a valid YAML double-quoted scalar
    v.to_string()
}

fn yaml_value(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match x {
                    Value::Object(o) if !o.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml_value(x, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml_value(x, indent, out);
                    }
                    Value::Array(_) => out.push_str(&format!("{pad}{k}: []\n")),
                    Value::Object(_) => out.push_str(&format!("{pad}{k}: {{}}\n")),
                    _ => out.push_str(&format!("{pad}{k}: {}\n", scalar(x))),
                }
            }
        }
        Value::Array(items) => {
            for x in items {
                let mut inner = String::new();
                yaml_value(x, indent + 2, &mut inner);
                match x {
                    Value::Object(_) | Value::Array(_) => {
                        // the first line takes the dash in place of its indent
                        let rest = inner.get(indent + 2..).unwrap_or("");
                        out.push_str(&format!("{pad}- {rest}"));
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", scalar(x))),
                }
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", scalar(v))),
    }
}
