//! The IOMMU report from snapshots of real machines, and the three reasons
//! an IOMMU is off, from directory roots laid out as the kernel lays out
//! sysfs and procfs.

use std::path::Path;

use numakit_root::Root;
use numakit_topo::Machine;
use numakit_vfio::report::{OffKind, State, Translation, report};

fn fixture(rel: &str) -> Root {
    Root::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

#[test]
fn qemu_2node() {
    let root = fixture("qemu-2node/sysfs.tar.gz");
    let r = report(&root, &Machine::discover(&root));
    assert_eq!(r.state, State::On);
    let mode = r.mode.unwrap();
    assert_eq!(mode.translation, Translation::Strict);
    assert!(
        mode.source.starts_with("VT-d caching mode"),
        "{}",
        mode.source
    );
    let nvme = r.groups.iter().find(|g| g.id == 8).unwrap();
    assert_eq!(
        nvme.vfio.summary,
        "group 8 is not viable: 0000:41:00.0 is bound to nvme"
    );
    let ich9 = r.groups.iter().find(|g| g.id == 4).unwrap();
    assert!(
        ich9.sharing
            .as_deref()
            .unwrap()
            .contains("functions of one device")
    );
    assert!(
        r.groups
            .iter()
            .all(|g| g.reserved_regions.iter().any(|x| x.kind == "msi"))
    );
}

#[test]
fn switch_ports_share_groups_with_their_devices() {
    let root = fixture("qemu-gpuserver/sysfs.tar.gz");
    let r = report(&root, &Machine::discover(&root));
    let g = r.groups.iter().find(|g| g.id == 18).unwrap();
    assert!(g.vfio.viable);
    assert!(
        g.sharing
            .as_deref()
            .unwrap()
            .contains("0000:23:00.0 is in the group of the PCIe port above it, 0000:22:00.0")
    );
}

fn put(base: &Path, rel: &str, text: &str) {
    let p = base.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A machine without IOMMU groups, with or without a DMAR table and with
/// a kernel command line: the three answers differ.
#[test]
fn why_the_iommu_is_off() {
    let cases = [
        (
            true,
            "console=ttyS0 intel_iommu=off",
            OffKind::KernelCommandLine,
            "disabled on the kernel command line (intel_iommu=off)",
        ),
        (
            true,
            "console=ttyS0",
            OffKind::NotEnabled,
            "the firmware describes an Intel VT-d IOMMU (ACPI DMAR table), but the kernel did not enable it",
        ),
        (
            false,
            "console=ttyS0",
            OffKind::Firmware,
            "the firmware describes no IOMMU",
        ),
    ];
    for (i, (dmar, cmdline, kind, detail)) in cases.into_iter().enumerate() {
        let d = std::env::temp_dir().join(format!("numakit-off-{}-{i}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        put(&d, "proc/cmdline", &format!("{cmdline}\n"));
        std::fs::create_dir_all(d.join("sys/kernel/iommu_groups")).unwrap();
        std::fs::create_dir_all(d.join("sys/bus/pci/drivers")).unwrap();
        put(&d, "sys/firmware/acpi/tables/SRAT", "x");
        if dmar {
            put(&d, "sys/firmware/acpi/tables/DMAR", "x");
        }
        let root = Root::open(&d).unwrap();
        let r = report(&root, &Machine::discover(&root));
        assert_eq!(r.state, State::Off, "{cmdline}");
        let off = r.off.unwrap();
        assert_eq!(off.kind, kind, "{cmdline}");
        assert!(off.detail.starts_with(detail), "{}", off.detail);
        assert!(!off.hint.is_empty());
        assert_eq!(r.vfio.vfio_pci, Some(false));
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// IOMMU groups, but no vfio-pci driver: binding says so and how to load it.
#[test]
fn no_vfio_pci() {
    let d = std::env::temp_dir().join(format!("numakit-novfiopci-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    put(&d, "proc/cmdline", "intel_iommu=on\n");
    put(&d, "sys/kernel/iommu_groups/3/type", "DMA\n");
    std::fs::create_dir_all(d.join("sys/kernel/iommu_groups/3/devices")).unwrap();
    std::fs::create_dir_all(d.join("sys/bus/pci/drivers/nvme")).unwrap();
    let root = Root::open(&d).unwrap();
    let m = Machine::discover(&root);
    let r = report(&root, &m);
    assert_eq!((r.state, r.vfio.vfio_pci), (State::On, Some(false)));
    let e = numakit_vfio::plan_bind(&root, &m, numakit_vfio::Target::Group(3)).unwrap_err();
    assert_eq!(e.to_string(), "the vfio-pci driver is not loaded");
    std::fs::remove_dir_all(&d).unwrap();
}
