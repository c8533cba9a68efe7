//! PCI facts of the VM snapshots checked against the listings the VM rig wrote
//! inside each snapshot (`/vmrig/summary.txt`: class, ids, `numa_node`, driver
//! and IOMMU groups; `/vmrig/pci-list.txt` of the GPU server: links, groups and
//! BARs), plus the topology facts of the GPU server (switches, root ports,
//! host bridges) that the rig's QEMU command line builds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_topo::pci::{DeviceKind, NodeSource, PciDevice};
use numakit_types::{NodeId, PciAddress};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
        .join("sysfs.tar.gz")
}

fn open(name: &str) -> (Root, Machine) {
    let root = Root::open(fixture(name)).expect("fixture opens");
    let m = Machine::discover(&root);
    (root, m)
}

fn dev<'a>(m: &'a Machine, a: &str) -> &'a PciDevice {
    m.pci_device(a.parse().unwrap())
        .unwrap_or_else(|| panic!("{a} missing"))
}

/// One line of the rig's summary: `ADDR 0xCLASS 0xVEN:0xDEV numa=N drv=D`.
struct RigDev {
    class: u32,
    vendor: u16,
    device: u16,
    numa: i64,
    driver: Option<String>,
}

/// IOMMU groups as the rig lists them: id → (type, devices).
type RigGroups = BTreeMap<u32, (String, Vec<String>)>;

fn rig_summary(root: &Root) -> (BTreeMap<PciAddress, RigDev>, RigGroups) {
    let text = root.read_to_string("/vmrig/summary.txt").unwrap();
    let mut devs = BTreeMap::new();
    let mut groups = BTreeMap::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("--- ") {
            section = if s.starts_with("pci devices") {
                "pci"
            } else if s.starts_with("iommu") {
                "iommu"
            } else {
                ""
            };
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match section {
            "pci" if w.len() == 5 => {
                let (v, d) = w[2].split_once(':').unwrap();
                let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
                devs.insert(
                    w[0].parse().unwrap(),
                    RigDev {
                        class: hex(w[1]),
                        vendor: hex(v) as u16,
                        device: hex(d) as u16,
                        numa: w[3].strip_prefix("numa=").unwrap().parse().unwrap(),
                        driver: Some(w[4].strip_prefix("drv=").unwrap())
                            .filter(|d| *d != "-")
                            .map(str::to_string),
                    },
                );
            }
            "iommu" if w.first() == Some(&"iommu_group") => {
                let id: u32 = w[1].parse().unwrap();
                let ty = w[2].trim_matches(|c| c == '[' || c == ']' || c == ':');
                groups.insert(
                    id,
                    (
                        ty.to_string(),
                        w[3..].iter().map(|s| s.to_string()).collect(),
                    ),
                );
            }
            _ => {}
        }
    }
    (devs, groups)
}

#[test]
fn every_vm_snapshot_matches_the_rig_listing() {
    for name in ["qemu-gpuserver", "qemu-2node", "qemu-3node-hmat"] {
        let (root, m) = open(name);
        let (rig, groups) = rig_summary(&root);
        assert!(!rig.is_empty(), "{name}: rig listing parsed");
        let ours: Vec<PciAddress> = m.pci_devices.iter().map(|d| d.address).collect();
        let theirs: Vec<PciAddress> = rig.keys().copied().collect();
        assert_eq!(ours, theirs, "{name}: device addresses");
        for (a, r) in &rig {
            let d = m.pci_device(*a).unwrap();
            assert_eq!(d.class_code, Some(r.class), "{name} {a} class");
            assert_eq!(
                d.kind,
                DeviceKind::from_class_vendor(Some(r.class), Some(r.vendor))
            );
            assert_eq!(d.vendor_id, Some(r.vendor), "{name} {a} vendor");
            assert_eq!(d.device_id, Some(r.device), "{name} {a} device");
            assert_eq!(d.driver, r.driver, "{name} {a} driver");
            if r.numa >= 0 {
                assert_eq!(d.numa_node, Some(NodeId(r.numa as u32)), "{name} {a}");
                assert_eq!(d.numa_node_source, NodeSource::Sysfs);
            } else {
                // Devices on pcie.0: numa_node -1 and local_cpulist = every CPU,
                // on a two- or three-node machine: nothing tells.
                assert_eq!(d.numa_node, None, "{name} {a}");
                assert_eq!(d.numa_node_source, NodeSource::Unknown, "{name} {a}");
                assert_eq!(d.host_bridge.as_deref(), Some("pci0000:00"));
            }
        }
        assert_eq!(m.iommu.active, Some(true), "{name}");
        assert_eq!(m.iommu.units.len(), 1);
        assert_eq!(m.iommu.units[0].name, "dmar0");
        assert_eq!(m.iommu.kind, Some(numakit_topo::iommu::IommuKind::IntelVtd));
        assert_eq!(m.iommu.cmdline_flags, ["intel_iommu=on"]);
        assert_eq!(m.iommu.groups.len(), groups.len(), "{name}: group count");
        for g in &m.iommu.groups {
            let (ty, devs) = &groups[&g.id];
            assert_eq!(g.domain_type.as_deref(), Some(ty.as_str()));
            let mut want = devs.clone();
            want.sort();
            assert_eq!(&g.devices, &want, "{name}: group {}", g.id);
            // q35 with intel-iommu reserves the MSI window in every group.
            assert!(
                g.reserved_regions
                    .iter()
                    .any(|r| r.start == 0xfee0_0000 && r.end == 0xfeef_ffff && r.kind == "msi"),
                "{name}: group {} msi region",
                g.id
            );
            for a in devs {
                assert_eq!(dev(&m, a).iommu_group, Some(g.id), "{name} {a} group");
            }
        }
    }
}

/// `/vmrig/pci-list.txt`: `ADDR 0xCLASS V:D numa=N group=G drv=D [link=S/xW max=S/xW]`
/// then indented `BARn SIZE [flags] 0xSTART` / `ROM ...` / `winN ...` lines.
#[test]
fn gpuserver_links_groups_and_bars_match_the_rig_listing() {
    let (root, m) = open("qemu-gpuserver");
    let text = root.read_to_string("/vmrig/pci-list.txt").unwrap();
    let mut cur: Option<&PciDevice> = None;
    let mut bars_seen: BTreeMap<PciAddress, Vec<(u32, u64, u64)>> = BTreeMap::new();
    let size = |s: &str| -> u64 {
        let (n, mul) = match s.chars().last().unwrap() {
            'K' => (&s[..s.len() - 1], 1u64 << 10),
            'M' => (&s[..s.len() - 1], 1 << 20),
            'G' => (&s[..s.len() - 1], 1 << 30),
            _ => (s, 1),
        };
        n.parse::<u64>().unwrap() * mul
    };
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if !line.starts_with(' ') {
            let d = dev(&m, w[0]);
            cur = Some(d);
            bars_seen.entry(d.address).or_default();
            let group: u32 = w[4].strip_prefix("group=").unwrap().parse().unwrap();
            assert_eq!(d.iommu_group, Some(group), "{}", w[0]);
            let field = |k: &str| w.iter().find_map(|x| x.strip_prefix(k));
            match (field("link="), field("max=")) {
                (Some(cur_l), Some(max_l)) => {
                    let split = |s: &str| {
                        let (sp, wd) = s.split_once("GT/x").unwrap_or(("Unknown", "0"));
                        let sp = sp.trim_end_matches("/x0").to_string();
                        (sp, wd.parse::<u32>().unwrap())
                    };
                    let (cs, cw) = split(cur_l);
                    let (ms, mw) = if max_l.starts_with("Unknown") {
                        ("Unknown".to_string(), 0)
                    } else {
                        split(max_l)
                    };
                    let l = &d.link;
                    assert_eq!(
                        l.current_speed.as_deref(),
                        Some(format!("{cs} GT/s PCIe").as_str())
                    );
                    assert_eq!(l.current_width, Some(cw));
                    if ms == "Unknown" {
                        assert_eq!(
                            (l.max_speed.as_deref(), l.max_width),
                            (None, None),
                            "{}",
                            w[0]
                        );
                        assert!(!l.degraded);
                    } else {
                        assert_eq!(
                            l.max_speed.as_deref(),
                            Some(format!("{ms} GT/s PCIe").as_str())
                        );
                        assert_eq!(l.max_width, Some(mw));
                        let below =
                            cs.parse::<f64>().unwrap() < ms.parse::<f64>().unwrap() || cw < mw;
                        assert_eq!(l.degraded, below, "{}", w[0]);
                    }
                }
                _ => assert_eq!(d.link, Default::default(), "{}", w[0]),
            }
        } else if let Some(d) = cur {
            let (idx, is_bar) = match w[0] {
                "ROM" => (6, true),
                b if b.starts_with("BAR") => (b[3..].parse().unwrap(), true),
                _ => (0, false), // bridge windows are not BARs
            };
            if is_bar {
                let start = u64::from_str_radix(w[3].trim_start_matches("0x"), 16).unwrap();
                bars_seen
                    .get_mut(&d.address)
                    .unwrap()
                    .push((idx, size(w[1]), start));
                let b = d.bars.iter().find(|b| b.index == idx).unwrap();
                assert_eq!(
                    b.prefetchable,
                    w[2].contains("pref"),
                    "{} {}",
                    d.address,
                    w[0]
                );
                assert_eq!(b.is_64bit, w[2].contains("64bit"), "{} {}", d.address, w[0]);
                assert_eq!(b.io, w[2].contains("io"), "{} {}", d.address, w[0]);
            }
        }
    }
    for (a, want) in bars_seen {
        let got: Vec<(u32, u64, u64)> = m
            .pci_device(a)
            .unwrap()
            .bars
            .iter()
            .map(|b| (b.index, b.size_bytes, b.start))
            .collect();
        assert_eq!(got, want, "{a} BARs");
    }
}

#[test]
fn gpuserver_topology() {
    let (_, m) = open("qemu-gpuserver");
    let addrs = |v: &[PciAddress]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    // Node 0: pxb host bridge pci0000:20 → root port 20:00.0 → switch 21:00.0
    // → downstream ports 22:0x.0 → two bochs-display "GPUs" and a virtio-net.
    for (gpu, port, node, host, up) in [
        (
            "0000:23:00.0",
            "0000:22:00.0",
            0,
            "pci0000:20",
            ["0000:21:00.0", "0000:20:00.0"],
        ),
        (
            "0000:24:00.0",
            "0000:22:01.0",
            0,
            "pci0000:20",
            ["0000:21:00.0", "0000:20:00.0"],
        ),
        (
            "0000:43:00.0",
            "0000:42:00.0",
            1,
            "pci0000:40",
            ["0000:41:00.0", "0000:40:00.0"],
        ),
        (
            "0000:44:00.0",
            "0000:42:01.0",
            1,
            "pci0000:40",
            ["0000:41:00.0", "0000:40:00.0"],
        ),
    ] {
        let d = dev(&m, gpu);
        assert_eq!(d.kind, DeviceKind::Gpu, "{gpu}: class 0x038000");
        assert_eq!(d.class_code, Some(0x038000));
        assert_eq!((d.vendor_id, d.device_id), (Some(0x1234), Some(0x1111)));
        assert_eq!(d.numa_node, Some(NodeId(node)));
        assert_eq!(d.host_bridge.as_deref(), Some(host));
        assert_eq!(addrs(&d.upstream), [port, up[0], up[1]]);
        // Each downstream port shares its IOMMU group with the device below it.
        assert_eq!(d.iommu_group, dev(&m, port).iommu_group);
        let bar0 = d.largest_bar().unwrap();
        assert_eq!((bar0.index, bar0.size_bytes), (0, 128 << 20));
        assert!(bar0.prefetchable);
        // No Resizable BAR capability in bochs-display's config space, and no
        // driver that tells the memory size: unknown.
        assert_eq!(d.resizable_bar, None);
        assert_eq!(d.gpu_memory_node, None);
    }
    let nvme = dev(&m, "0000:26:00.0");
    assert_eq!(nvme.kind, DeviceKind::Nvme);
    assert_eq!(addrs(&nvme.upstream), ["0000:20:01.0"]);
    assert_eq!(
        nvme.device_name.as_deref(),
        Some("QEMU NVM Express Controller")
    );
    assert_eq!(nvme.vendor_name.as_deref(), Some("Red Hat, Inc."));
    assert_eq!(nvme.driver.as_deref(), Some("nvme"));
    // The node-1 switch's root port is capped at 8 GT/s x4, node 0's at 16 GT/s x16.
    let rp0 = &dev(&m, "0000:20:00.0").link;
    let rp1 = &dev(&m, "0000:40:00.0").link;
    assert_eq!(
        (rp0.max_speed.as_deref(), rp0.max_width),
        (Some("16.0 GT/s PCIe"), Some(16))
    );
    assert_eq!(
        (rp1.max_speed.as_deref(), rp1.max_width),
        (Some("8.0 GT/s PCIe"), Some(4))
    );
    assert!(rp0.degraded && rp1.degraded, "both train at 2.5 GT/s x1");
    assert_eq!(rp1.max_gts(), Some(8.0));
    // The edu device on pcie.0's root port: numa_node -1, nothing tells.
    let edu = dev(&m, "0000:01:00.0");
    assert_eq!(edu.numa_node_source, NodeSource::Unknown);
    assert_eq!(addrs(&edu.upstream), ["0000:00:03.0"]);
    assert_eq!(edu.kind, DeviceKind::Other);
    // JSON field names and forms the issue fixes.
    let j = serde_json::to_value(&m).unwrap();
    let g = j["pci_devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"] == "0000:43:00.0")
        .unwrap();
    assert_eq!(g["class_code"], "0x038000");
    assert_eq!(g["kind"], "gpu");
    assert_eq!(g["vendor_id"], "0x1234");
    assert_eq!(g["numa_node"], 1);
    assert_eq!(g["numa_node_source"], "sysfs");
    assert_eq!(g["iommu_group"], 10);
    assert_eq!(g["link"]["current_width"], 1);
    assert_eq!(j["iommu"]["groups"][0]["type"], "DMA");
}
