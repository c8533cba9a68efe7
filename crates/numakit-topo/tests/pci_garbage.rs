//! Garbage, missing and dangling PCI and IOMMU files make fields unknown and
//! never panic.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::{DeviceKind, NodeSource};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn temp(tag: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!("numakit-pci-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

fn write(base: &Path, rel: &str, text: &str) {
    let p = base.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn junk_in_every_pci_file() {
    let t = temp("junk");
    let b = &t.0;
    let dev = "sys/devices/pci0000:00/0000:00:02.0";
    for (f, v) in [
        ("class", "zz\n"),
        ("vendor", "0x1ffff\n"),
        ("device", "nope"),
        ("subsystem_vendor", ""),
        ("resource", "0x1000 0x1fff\nzz zz zz\n"),
        ("numa_node", "-7x\n"),
        ("local_cpulist", "3-1,\n"),
        ("current_link_speed", "Unknown\n"),
        ("current_link_width", "0\n"),
        ("max_link_speed", "fast\n"),
        ("max_link_width", "-4\n"),
        ("sriov_totalvfs", "many\n"),
        ("resource0_resize", "xyz\n"),
        ("config", "\u{1}"),
    ] {
        write(b, &format!("{dev}/{f}"), v);
    }
    symlink("../../nowhere/at/all", b.join(dev).join("driver")).unwrap();
    symlink(
        "../../../kernel/iommu_groups/zz",
        b.join(dev).join("iommu_group"),
    )
    .unwrap();
    symlink("../nothing", b.join(dev).join("physfn")).unwrap();
    symlink("/loop/a", b.join(dev).join("virtfn0")).unwrap();
    fs::create_dir_all(b.join("sys/bus/pci/devices")).unwrap();
    symlink(
        "../../../devices/pci0000:00/0000:00:02.0",
        b.join("sys/bus/pci/devices/0000:00:02.0"),
    )
    .unwrap();
    // A second entry that is not an address, and one whose link dangles.
    write(b, "sys/bus/pci/devices/README", "x");
    symlink(
        "../../../devices/gone",
        b.join("sys/bus/pci/devices/0000:00:03.0"),
    )
    .unwrap();
    // IOMMU groups with junk.
    write(b, "sys/kernel/iommu_groups/7/type", "\n");
    write(
        b,
        "sys/kernel/iommu_groups/7/reserved_regions",
        "garbage\n0x10 0x1 msi\n",
    );
    write(b, "sys/kernel/iommu_groups/xx/type", "DMA\n");
    // Class directories with dangling links.
    fs::create_dir_all(b.join("sys/class/net")).unwrap();
    symlink(
        "../../devices/nowhere/net/eth9",
        b.join("sys/class/net/eth9"),
    )
    .unwrap();
    write(
        b,
        "proc/driver/nvidia/gpus/0000:00:02.0/numa_status",
        "Node: -1\n",
    );

    let m = Machine::discover(&Root::open(b).unwrap());
    let d = m
        .pci_device("0000:00:02.0".parse().unwrap())
        .expect("device read");
    assert_eq!(d.class_code, None);
    assert_eq!(d.kind, DeviceKind::Other);
    assert_eq!(d.vendor_id, None);
    assert_eq!(d.device_id, None);
    assert_eq!(d.subsystem_vendor_id, None);
    assert_eq!(d.vendor_name, None);
    assert_eq!(d.driver, None);
    assert_eq!(d.iommu_group, None);
    assert!(d.bars.is_empty());
    assert_eq!(d.resizable_bar, None);
    assert_eq!(d.local_cpus, None);
    assert_eq!(d.link, Default::default());
    assert_eq!(d.sriov, Default::default());
    assert_eq!(d.gpu_memory_node, None);
    assert!(d.os_names.is_empty());
    assert_eq!(d.host_bridge.as_deref(), Some("pci0000:00"));
    // One synthetic node: the device is on it, by inference.
    assert_eq!(m.nodes.len(), 1);
    assert_eq!(d.numa_node_source, NodeSource::Inferred);
    // The dangling entry is either read with unknown fields or skipped, never a panic.
    assert!(m.pci_devices.len() <= 2);
    let g = &m.iommu.groups;
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].id, 7);
    assert_eq!(g[0].domain_type, None);
    assert!(g[0].reserved_regions.is_empty());
    assert!(g[0].devices.is_empty());
    assert_eq!(m.iommu.active, Some(true));
    // The tree and matrix of such a machine still build.
    let _ = numakit_topo::matrix::Matrix::build(&m);
}

#[test]
fn iommu_active_states() {
    // No iommu directories at all: unknown.
    let t = temp("noiommu");
    write(&t.0, "sys/devices/system/node/node0/cpulist", "0\n");
    let m = Machine::discover(&Root::open(&t.0).unwrap());
    assert_eq!(m.iommu.active, None);
    // An empty iommu_groups directory and no units: off.
    fs::create_dir_all(t.0.join("sys/kernel/iommu_groups")).unwrap();
    let m = Machine::discover(&Root::open(&t.0).unwrap());
    assert_eq!(m.iommu.active, Some(false));
    // A unit: on, with its kind.
    fs::create_dir_all(t.0.join("sys/class/iommu/ivhd0")).unwrap();
    let m = Machine::discover(&Root::open(&t.0).unwrap());
    assert_eq!(m.iommu.active, Some(true));
    assert_eq!(m.iommu.kind, Some(numakit_topo::iommu::IommuKind::AmdVi));
}

#[test]
fn synthetic_device_with_every_fact() {
    let t = temp("full");
    let b = &t.0;
    for n in [0, 1] {
        write(
            b,
            &format!("sys/devices/system/node/node{n}/cpulist"),
            if n == 0 { "0-3\n" } else { "4-7\n" },
        );
    }
    write(b, "sys/devices/system/node/online", "0-1\n");
    let dev = "sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0";
    for (f, v) in [
        ("class", "0x030200\n"),
        ("vendor", "0x10de\n"),
        ("device", "0x2330\n"),
        ("numa_node", "-1\n"),
        ("local_cpulist", "4-7\n"),
        ("current_link_speed", "16.0 GT/s PCIe\n"),
        ("current_link_width", "8\n"),
        ("max_link_speed", "32.0 GT/s PCIe\n"),
        ("max_link_width", "16\n"),
        (
            "resource",
            "0x0000200000000000 0x00002007ffffffff 0x000000000014220c\n",
        ),
        ("resource0_resize", "000000000000ffc0\n"),
        ("sriov_totalvfs", "8\n"),
        ("sriov_numvfs", "2\n"),
    ] {
        write(b, &format!("{dev}/{f}"), v);
    }
    fs::create_dir_all(b.join(dev).join("drm/card1")).unwrap();
    fs::create_dir_all(b.join(dev).join("drm/renderD128")).unwrap();
    fs::create_dir_all(b.join("sys/bus/pci/drivers/nvidia")).unwrap();
    symlink(
        "../../../../bus/pci/drivers/nvidia",
        b.join(dev).join("driver"),
    )
    .unwrap();
    fs::create_dir_all(b.join("sys/bus/pci/devices")).unwrap();
    symlink(
        "../../../devices/pci0000:80/0000:80:01.0/0000:81:00.0",
        b.join("sys/bus/pci/devices/0000:81:00.0"),
    )
    .unwrap();
    write(
        b,
        "proc/driver/nvidia/gpus/0000:81:00.0/numa_status",
        "Node: 2\nStatus: online\n",
    );
    let m = Machine::discover(&Root::open(b).unwrap());
    let d = m.pci_device("0000:81:00.0".parse().unwrap()).unwrap();
    assert_eq!(d.kind, DeviceKind::Gpu);
    assert_eq!(d.vendor_name.as_deref(), Some("NVIDIA Corporation"));
    assert_eq!(d.driver.as_deref(), Some("nvidia"));
    assert_eq!(d.numa_node.map(|n| n.0), Some(1));
    assert_eq!(d.numa_node_source, NodeSource::Inferred);
    assert!(d.link.degraded);
    assert_eq!(d.bars[0].size_bytes, 32 << 30);
    // Sizes 64 MiB .. 32 GiB supported; the BAR is at 32 GiB.
    assert_eq!(d.bars[0].resizable_max_bytes, Some(32 << 30));
    assert_eq!(d.resizable_bar, Some(true));
    assert_eq!((d.sriov.total_vfs, d.sriov.num_vfs), (Some(8), Some(2)));
    assert_eq!(d.gpu_memory_node.map(|n| n.0), Some(2));
    let names: Vec<&str> = d.os_names.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["card1", "renderD128"]);
    assert_eq!(d.host_bridge.as_deref(), Some("pci0000:80"));
    assert_eq!(d.upstream.len(), 1);
}
