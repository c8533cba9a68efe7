//! Devices by name on fixture machines: OS names the model lists, block
//! partitions found through `/sys/class/block`, devices without a node, and
//! names that lead nowhere.

mod common;

use numakit_root::Root;
use numakit_topo::locate::{DeviceSpec, LocateError};
use numakit_topo::{Machine, Parts};

fn machine(name: &str) -> (Root, Machine) {
    let root = Root::open(common::fixtures().join(format!("hwloc-linux/{name}.tar.bz2"))).unwrap();
    let m = Machine::discover_parts(
        &root,
        Parts {
            cpus: true,
            pci: true,
            allowed: true,
            ..Parts::NODES
        },
    );
    (root, m)
}

fn spec(s: &str) -> DeviceSpec {
    s.parse().unwrap()
}

#[test]
fn names_the_model_lists() {
    let (root, m) = machine("40intel64-2g2n4c+pcilocality");
    let ib = spec("net:ib0").resolve(&m, None).unwrap();
    assert_eq!(ib.address.to_string(), "0000:43:00.0");
    assert_eq!(ib.node.0, 2);
    assert_eq!(ib.spec, spec("net:ib0"));
    let sda = spec("block:sda").find(&m, Some(&root)).unwrap();
    assert_eq!(sda.address.to_string(), "0000:01:00.0");
    let by_addr = spec("0000:43:00.0").resolve(&m, Some(&root)).unwrap();
    assert_eq!(
        (by_addr.address, by_addr.node, &by_addr.local_cpus),
        (ib.address, ib.node, &ib.local_cpus)
    );
    assert_eq!(
        m.pci_device_by_name(None, "net", "eth3")
            .map(|d| d.address.to_string()),
        Some("0000:03:00.1".into())
    );
}

#[test]
fn partitions_are_found_through_sysfs() {
    let (root, m) = machine("40intel64-2g2n4c+pcilocality");
    // the model lists disks, not their partitions
    assert!(spec("block:sda1").find(&m, None).is_err());
    let part = spec("block:sda1").find(&m, Some(&root)).unwrap();
    assert_eq!(part.address.to_string(), "0000:01:00.0");
    // a 32-bit PCI domain on the way
    let (root, m) = machine("2pa-pcidomain32bits");
    let vda1 = spec("block:vda1").resolve(&m, Some(&root)).unwrap();
    assert_eq!(vda1.address.to_string(), "10000:00:04.0");
    assert_eq!(vda1.node.0, 0);
    assert_eq!(
        spec("net:ens3")
            .resolve(&m, Some(&root))
            .unwrap()
            .address
            .to_string(),
        "0000:00:03.0"
    );
}

#[test]
fn unknown_devices_and_devices_without_a_node() {
    let (root, m) = machine("40intel64-2g2n4c+pcilocality");
    let err = |s: &str| spec(s).resolve(&m, Some(&root)).unwrap_err();
    // outside the PCI tree, or nowhere
    for s in [
        "net:lo",
        "block:ram1",
        "net:nosuch",
        "nvme:0",
        "0000:99:00.0",
    ] {
        assert!(matches!(err(s), LocateError::Unknown { .. }), "{s}");
        assert_eq!(
            err(s).to_string(),
            format!("no device {} on this machine", spec(s))
        );
    }
    assert_eq!(
        err("gpu:0").to_string(),
        "no device gpu:0 on this machine: it has no GPUs"
    );
    assert_eq!(
        err("net:eth0").to_string(),
        "device 0000:02:00.0 has no NUMA node (its numa_node is -1 or missing)"
    );
}
