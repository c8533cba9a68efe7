//! libnuma's machine questions, node strings and hwloc's everyday calls on
//! the emulated machines of `tests/fixtures/` (see tests/vm/README.md for
//! what they are): the answers are the machines' facts.

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::locate::DeviceSpec;
use numakit_topo::nodestring::Within;
use numakit_topo::objects::{MemAttr, ObjectType};
use numakit_types::{CpuSet, NodeId, PciAddress};

fn fixture(name: &str) -> Machine {
    let p = format!(
        "{}/../../tests/fixtures/{name}/sysfs.tar.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    Machine::discover(&Root::open(&p).unwrap())
}

fn cpus(s: &str) -> CpuSet {
    s.parse().unwrap()
}

#[test]
fn libnuma_counts_on_the_three_node_machine() {
    let m = fixture("qemu-3node-hmat");
    assert_eq!(m.max_node(), Some(NodeId(2)));
    assert_eq!(m.memory_nodes().to_string(), "0-2");
    assert_eq!(m.cpu_ids().to_string(), "0-3");
    assert_eq!(m.allowed_nodes().to_string(), "0-2");
    assert_eq!(m.allowed_cpus().to_string(), "0-3");
    assert_eq!(m.cpus_of_node(NodeId(2)).map(|c| c.len()), Some(0));
    assert_eq!(m.cpus_of_node(NodeId(3)), None);
    let size = m.node_size(NodeId(2)).unwrap();
    assert_eq!(size.total_bytes, 488_480_768);
    assert!(size.free_bytes.unwrap() <= size.total_bytes);
    assert_eq!(m.nodes_of_cpus(&cpus("1-2")).to_string(), "0-1");
    assert_eq!(
        m.parse_nodestring("!+0", Within::All).unwrap().to_string(),
        "1-2"
    );
    assert_eq!(
        m.parse_cpustring("all", Within::Allowed)
            .unwrap()
            .to_string(),
        "0-3"
    );
    assert!(m.parse_nodestring("3", Within::All).is_err());
}

#[test]
fn hwloc_objects_and_hmat_attributes() {
    let m = fixture("qemu-3node-hmat");
    assert_eq!(m.objects(ObjectType::Package).len(), 2);
    assert_eq!(m.objects(ObjectType::NumaNode).len(), 3);
    let l3 = m.object_covering(&cpus("0-1")).unwrap();
    assert_eq!(l3.kind, ObjectType::Cache { level: 3 });
    assert_eq!(l3.nodes.to_string(), "0");
    assert_eq!(m.cache_covering(&cpus("0")).unwrap().level, 1);
    assert_eq!(
        m.object_covering(&cpus("0-3")).unwrap().kind,
        ObjectType::Machine
    );
    let (n0, n2) = (NodeId(0), NodeId(2));
    assert_eq!(m.memory_attribute(MemAttr::ReadLatency, n2, n0), Some(40));
    assert_eq!(m.memory_attribute(MemAttr::Bandwidth, n2, n0), Some(5120));
    // node 1's CPUs are not among node 2's best initiators: unknown
    assert_eq!(m.memory_attribute(MemAttr::Latency, n2, NodeId(1)), None);
    let best = m.best_target(MemAttr::Bandwidth, n0).unwrap();
    assert_eq!((best.node, best.value), (n0, 20480));
    assert_eq!(m.best_initiator(MemAttr::Latency, n2).unwrap().node, n0);
}

#[test]
fn devices_by_matrix_name_and_their_ancestors() {
    let m = fixture("qemu-gpuserver");
    let nic1 = "nic:1"
        .parse::<DeviceSpec>()
        .unwrap()
        .resolve(&m, None)
        .unwrap();
    assert_eq!(nic1.address, "0000:45:00.0".parse::<PciAddress>().unwrap());
    assert_eq!(nic1.node, NodeId(1));
    assert_eq!(m.cpus_near(&nic1).to_string(), "2-3");
    let e = "nic:2"
        .parse::<DeviceSpec>()
        .unwrap()
        .resolve(&m, None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no device nic:2 on this machine: it has nic:0 to nic:1"
    );
    let gpu2 = "0000:43:00.0".parse().unwrap();
    let up = m.non_io_ancestor(gpu2).unwrap();
    assert_eq!(
        up.kind,
        ObjectType::Package,
        "as hwloc: the package, not its L3"
    );
    assert_eq!(up.cpus.to_string(), "2-3");
    assert_eq!(up.nodes.to_string(), "1");
    assert_eq!(m.non_io_ancestor("0000:99:00.0".parse().unwrap()), None);
    let two = fixture("qemu-2node");
    let e = "nic:0"
        .parse::<DeviceSpec>()
        .unwrap()
        .resolve(&fixture("qemu-3node-hmat"), None);
    assert_eq!(e.unwrap().node, NodeId(0));
    assert_eq!(
        "nic:0"
            .parse::<DeviceSpec>()
            .unwrap()
            .resolve(&two, None)
            .unwrap()
            .address,
        "0000:21:00.0".parse().unwrap()
    );
}

/// A device on a node without CPUs is served by the nearest node with
/// CPUs, as `run --near` places it (node 2: 30 from node 0, 40 from 1).
#[test]
fn cpus_near_a_device_on_a_cpu_less_node_are_the_nearest_nodes() {
    use numakit_topo::locate::ResolvedDevice;
    let m = fixture("qemu-3node-hmat");
    assert_eq!(m.cpu_node_near(NodeId(2)), Some(NodeId(0)));
    assert_eq!(m.cpu_node_near(NodeId(1)), Some(NodeId(1)));
    assert_eq!(m.cpu_node_near(NodeId(9)), None);
    let on = |node: u32, local: Option<&str>| ResolvedDevice {
        spec: DeviceSpec::Nvme(0),
        address: "0000:41:00.0".parse().unwrap(),
        node: NodeId(node),
        local_cpus: local.map(cpus),
    };
    assert_eq!(m.cpus_near(&on(2, None)).to_string(), "0-1");
    assert_eq!(m.cpus_near(&on(1, Some("3"))).to_string(), "3");
    // a local list outside the serving node is not believed
    assert_eq!(m.cpus_near(&on(1, Some("0-3"))).to_string(), "2-3");
    assert!(m.cpus_near(&on(9, None)).is_empty());
}
