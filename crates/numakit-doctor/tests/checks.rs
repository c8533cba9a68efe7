//! Each check of `numakit doctor` and of the audit on a fixture where it
//! fires and one where it does not. The fixtures are the QEMU machines of
//! `tests/fixtures/`, unpacked, some with one file changed to make the
//! condition true.

use std::path::{Path, PathBuf};
use std::process::Command;

use numakit_doctor::Finding;
use numakit_doctor::checks::{self, Inputs, Pinned};
use numakit_root::Root;
use numakit_stat::system::SystemStat;
use numakit_topo::Machine;
use numakit_types::CpuSet;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
        .join("sysfs.tar.gz")
}

/// A fixture unpacked into a fresh folder.
struct Tree(PathBuf);
impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
impl Tree {
    fn new(name: &str, tag: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "numakit-doctor-{}-{name}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("tar")
            .arg("--no-same-owner")
            .arg("-xzf")
            .arg(fixture(name))
            .arg("-C")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(ok.success());
        Tree(dir)
    }
    /// Writes a file at a path inside the tree, following links inside it.
    fn write(&self, path: &str, text: &str) {
        let root = Root::open(&self.0).unwrap();
        let (parent, name) = path.rsplit_once('/').unwrap();
        let parent = root
            .canonicalize(parent)
            .unwrap_or_else(|_| parent.to_string());
        let at = self.0.join(parent.trim_start_matches('/'));
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(at.join(name), text).unwrap();
    }
    fn findings(&self, pinned: &[Pinned]) -> Vec<Finding> {
        let root = Root::open(&self.0).unwrap();
        let m = Machine::discover(&root);
        let sys = SystemStat::read(&root).ok();
        checks::doctor(
            &m,
            &Inputs {
                system: sys.as_ref(),
                pinned,
            },
        )
    }
}

fn fired(f: &[Finding], check: &str) -> bool {
    f.iter().any(|x| x.check == check)
}

fn on_tarball(name: &str) -> Vec<Finding> {
    let root = Root::open(fixture(name)).unwrap();
    let m = Machine::discover(&root);
    let sys = SystemStat::read(&root).ok();
    checks::doctor(
        &m,
        &Inputs {
            system: sys.as_ref(),
            pinned: &[],
        },
    )
}

const GPU: &str = "/sys/bus/pci/devices/0000:23:00.0";

#[test]
fn device_without_node() {
    let root = Root::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/hwloc-linux/40intel64-2g2n4c+pcilocality.tar.bz2"),
    )
    .unwrap();
    let f = checks::device_without_node(&Machine::discover(&root));
    assert!(!f.is_empty());
    assert!(
        f[0].message.contains("has no NUMA node from the firmware"),
        "{}",
        f[0].message
    );
    assert!(!fired(&on_tarball("qemu-gpuserver"), "device-without-node"));
}

#[test]
fn device_cpus_outside_cpuset() {
    let t = Tree::new("qemu-gpuserver", "cpuset");
    assert!(!fired(&t.findings(&[]), "device-cpus-outside-cpuset"));
    t.write(
        "/proc/self/status",
        "Name:\tx\nCpus_allowed_list:\t3\nMems_allowed_list:\t0-1\n",
    );
    let f = t.findings(&[]);
    let x = f
        .iter()
        .find(|x| x.check == "device-cpus-outside-cpuset")
        .expect("fires");
    assert!(
        x.message.contains("0000:23:00.0") && x.message.contains("(3)"),
        "{}",
        x.message
    );
}

#[test]
fn pcie_link_degraded() {
    let t = Tree::new("qemu-gpuserver", "link");
    assert!(!fired(&t.findings(&[]), "pcie-link-degraded"));
    t.write(&format!("{GPU}/current_link_width"), "4\n");
    t.write(&format!("{GPU}/max_link_width"), "16\n");
    let f = t.findings(&[]);
    let x = f
        .iter()
        .find(|x| x.check == "pcie-link-degraded")
        .expect("fires");
    assert!(
        x.message.contains("runs at x4") && x.message.contains("capability of x16"),
        "{}",
        x.message
    );
}

#[test]
fn resizable_bar_off() {
    let t = Tree::new("qemu-gpuserver", "rebar");
    assert!(!fired(&t.findings(&[]), "resizable-bar-off"));
    t.write(
        &format!("{GPU}/mem_info_vram_total"),
        &format!("{}\n", 16u64 << 30),
    );
    let f = t.findings(&[]);
    let x = f
        .iter()
        .find(|x| x.check == "resizable-bar-off")
        .expect("fires");
    assert!(x.message.contains("128.0 MiB BAR"), "{}", x.message);
    assert_eq!(x.evidence, vec!["device memory 16.0 GiB".to_string()]);
}

#[test]
fn iommu_mode() {
    let f = on_tarball("qemu-2node");
    let x = f
        .iter()
        .find(|x| x.check == "iommu-mode")
        .expect("fires on a machine with VT-d");
    assert!(x.message.contains("translates"), "{}", x.message);
    // a machine whose IOMMU state sysfs does not tell
    let root = Root::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/hwloc-linux/16amd64-8n2c.tar.bz2"),
    )
    .unwrap();
    assert!(checks::iommu_mode(&Machine::discover(&root)).is_empty());
}

#[test]
fn kernel_lacks_mempolicy() {
    let t = Tree::new("qemu-2node", "kernel");
    assert!(!fired(&t.findings(&[]), "kernel-lacks-mempolicy"));
    t.write("/proc/sys/kernel/osrelease", "5.10.0-28-amd64\n");
    let f: Vec<Finding> = t
        .findings(&[])
        .into_iter()
        .filter(|x| x.check == "kernel-lacks-mempolicy")
        .collect();
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f[0].message.contains("MPOL_PREFERRED_MANY")
            && f[1].message.contains("weighted interleave")
    );
    t.write("/proc/sys/kernel/osrelease", "6.6.1\n");
    let f: Vec<Finding> = t
        .findings(&[])
        .into_iter()
        .filter(|x| x.check == "kernel-lacks-mempolicy")
        .collect();
    assert_eq!(f.len(), 1);
}

#[test]
fn tiers_and_demotion() {
    assert!(fired(&on_tarball("qemu-2node"), "single-memory-tier"));
    assert!(!fired(&on_tarball("qemu-3node-hmat"), "single-memory-tier"));
    assert!(fired(&on_tarball("qemu-3node-hmat"), "demotion-disabled"));
    let t = Tree::new("qemu-3node-hmat", "demotion");
    t.write("/sys/kernel/mm/numa/demotion_enabled", "true\n");
    assert!(!fired(&t.findings(&[]), "demotion-disabled"));
}

#[test]
fn thp_never() {
    let t = Tree::new("qemu-2node", "thp");
    t.write(
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "always [madvise] never\n",
    );
    assert!(!fired(&t.findings(&[]), "thp-never"));
    t.write(
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "always madvise [never]\n",
    );
    assert!(fired(&t.findings(&[]), "thp-never"));
}

#[test]
fn no_hugepages_on_gpu_node() {
    let f = on_tarball("qemu-gpuserver");
    assert_eq!(
        f.iter()
            .filter(|x| x.check == "no-hugepages-on-gpu-node")
            .count(),
        2
    );
    let t = Tree::new("qemu-gpuserver", "huge");
    t.write(
        "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
        "64\n",
    );
    let f = t.findings(&[]);
    let left: Vec<&Finding> = f
        .iter()
        .filter(|x| x.check == "no-hugepages-on-gpu-node")
        .collect();
    assert_eq!(left.len(), 1);
    assert!(
        left[0].message.starts_with("node 1 "),
        "{}",
        left[0].message
    );
}

#[test]
fn autonuma_with_pinned() {
    let t = Tree::new("qemu-2node", "autonuma");
    let pinned = [Pinned {
        pid: 42,
        name: "worker".into(),
        cpus: CpuSet::parse_list("2-3").unwrap(),
    }];
    t.write("/proc/sys/kernel/numa_balancing", "0\n");
    assert!(!fired(&t.findings(&pinned), "autonuma-with-pinned"));
    t.write("/proc/sys/kernel/numa_balancing", "1\n");
    assert!(!fired(&t.findings(&[]), "autonuma-with-pinned"));
    let f = t.findings(&pinned);
    let x = f
        .iter()
        .find(|x| x.check == "autonuma-with-pinned")
        .expect("fires");
    assert!(x.evidence[0].contains("42 (worker, CPUs 2-3)"));
}
