//! Devices by the names users give them, resolved to a PCI function and its
//! NUMA node: `gpu:N`, `nic:N`, a PCI address, `net:IFACE`, `block:DEV`,
//! `nvme:N`, `file:PATH` ([`DeviceSpec`]), and the block device that holds a file
//! ([`block_device_of_file`]).
//!
//! A name is looked up first among the OS names of the model's PCI devices
//! ([`crate::PciDevice::os_names`]). Names the model does not list (block
//! partitions, for one) are followed, when a [`Root`] is given, through
//! `/sys/class/<class>/<name>` to the deepest PCI function on the resolved
//! path, as the model itself assigns OS names.
//!
//! This is where numakit turns a device name into a node (`numakit run
//! --near`); numactl's `netdev:`, `block:`, `file:` and `pci:` node
//! specifications, which must behave as libnuma's, are [`crate::libnuma`]'s.

use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use numakit_root::Root;
use numakit_types::{CpuSet, NodeId, PciAddress};

use crate::Machine;
use crate::pci::{DeviceKind, PciDevice, deepest_pci};

/// A device as a user names it.
///
/// # Example
/// ```
/// use numakit_topo::locate::DeviceSpec;
/// assert_eq!("gpu:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Gpu(1));
/// assert_eq!("nvme:0".parse::<DeviceSpec>().unwrap(), DeviceSpec::Nvme(0));
/// assert!(matches!("0000:41:00.0".parse::<DeviceSpec>().unwrap(), DeviceSpec::Pci(_)));
/// assert!("floppy:0".parse::<DeviceSpec>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The N-th GPU in PCI address order (`gpu:N`).
    Gpu(u32),
    /// A PCI function (`0000:41:00.0` or `41:00.0`).
    Pci(PciAddress),
    /// A network interface (`net:eth0`).
    Net(String),
    /// A block device (`block:nvme0n1`, `block:sda`, a partition too).
    Block(String),
    /// An NVMe controller (`nvme:0` or `nvme:nvme0`).
    Nvme(u32),
    /// The N-th network adapter (Ethernet or InfiniBand, `nic:N`), numbered
    /// as the device matrix numbers them (`NIC0`, `NIC1`: in PCI address
    /// order, SR-IOV virtual functions left out).
    Nic(u32),
    /// The block device holding a file of the running system
    /// (`file:/data/model.bin`).
    File(PathBuf),
}

/// A string that is none of the forms [`DeviceSpec`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDeviceError {
    spec: String,
}

impl ParseDeviceError {
    /// The string as given.
    pub fn spec(&self) -> &str {
        &self.spec
    }
}

impl fmt::Display for ParseDeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read device '{}': expected gpu:N, nic:N, a PCI address (0000:41:00.0), net:IFACE, block:DEV, nvme:N or file:PATH",
            self.spec
        )
    }
}

impl std::error::Error for ParseDeviceError {}

impl FromStr for DeviceSpec {
    type Err = ParseDeviceError;
    fn from_str(s: &str) -> Result<DeviceSpec, ParseDeviceError> {
        let bad = || ParseDeviceError {
            spec: s.to_string(),
        };
        let name_ok = |n: &str| {
            !n.is_empty() && !n.contains('/') && n != "." && n != ".." && !n.contains('\0')
        };
        if let Some(n) = s.strip_prefix("gpu:") {
            return n.parse().map(DeviceSpec::Gpu).map_err(|_| bad());
        }
        if let Some(n) = s.strip_prefix("nic:") {
            return n.parse().map(DeviceSpec::Nic).map_err(|_| bad());
        }
        if let Some(n) = s.strip_prefix("nvme:") {
            let n = n.strip_prefix("nvme").unwrap_or(n);
            return n.parse().map(DeviceSpec::Nvme).map_err(|_| bad());
        }
        if let Some(n) = s.strip_prefix("net:") {
            return name_ok(n)
                .then(|| DeviceSpec::Net(n.to_string()))
                .ok_or_else(bad);
        }
        if let Some(n) = s.strip_prefix("block:") {
            let n = n.strip_prefix("/dev/").unwrap_or(n);
            return name_ok(n)
                .then(|| DeviceSpec::Block(n.to_string()))
                .ok_or_else(bad);
        }
        if let Some(p) = s.strip_prefix("file:") {
            return (!p.is_empty() && !p.contains('\0'))
                .then(|| DeviceSpec::File(PathBuf::from(p)))
                .ok_or_else(bad);
        }
        let a = s.strip_prefix("pci:").unwrap_or(s);
        a.parse().map(DeviceSpec::Pci).map_err(|_| bad())
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Gpu(n) => write!(f, "gpu:{n}"),
            DeviceSpec::Pci(a) => write!(f, "{a}"),
            DeviceSpec::Net(n) => write!(f, "net:{n}"),
            DeviceSpec::Block(n) => write!(f, "block:{n}"),
            DeviceSpec::Nvme(n) => write!(f, "nvme:{n}"),
            DeviceSpec::Nic(n) => write!(f, "nic:{n}"),
            DeviceSpec::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// A device found on the machine, with its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDevice {
    /// The device as the user named it.
    pub spec: DeviceSpec,
    /// Its PCI function.
    pub address: PciAddress,
    /// Its NUMA node.
    pub node: NodeId,
    /// Its `local_cpulist`, when sysfs has it.
    pub local_cpus: Option<CpuSet>,
}

/// Why a named device has no node on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocateError {
    /// No such device.
    Unknown {
        /// The device as written ([`DeviceSpec`]'s text).
        spec: String,
        /// `: it has ...` listing what exists, or empty.
        known: String,
    },
    /// A device whose NUMA node the firmware does not tell.
    WithoutNode {
        /// The device's PCI function.
        device: PciAddress,
    },
    /// `file:PATH` whose block device cannot be found.
    File {
        /// The path as given.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

impl fmt::Display for LocateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocateError::Unknown { spec, known } => {
                write!(f, "no device {spec} on this machine{known}")
            }
            LocateError::WithoutNode { device } => write!(
                f,
                "device {device} has no NUMA node (its numa_node is -1 or missing)"
            ),
            LocateError::File { path, why } => {
                write!(
                    f,
                    "cannot find the device holding {}: {why}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for LocateError {}

impl DeviceSpec {
    /// Finds the device and its node. With `root`, names the model does not
    /// list (`net:`, `block:`, `nvme:`) are also followed through
    /// `/sys/class/<class>/<name>`.
    pub fn resolve(
        &self,
        machine: &Machine,
        root: Option<&Root>,
    ) -> Result<ResolvedDevice, LocateError> {
        let dev = self.find(machine, root)?;
        let node = dev.numa_node.ok_or(LocateError::WithoutNode {
            device: dev.address,
        })?;
        Ok(ResolvedDevice {
            spec: self.clone(),
            address: dev.address,
            node,
            local_cpus: dev.local_cpus.clone(),
        })
    }

    /// Finds the device's PCI function (see [`resolve`](Self::resolve)).
    pub fn find<'m>(
        &self,
        m: &'m Machine,
        root: Option<&Root>,
    ) -> Result<&'m PciDevice, LocateError> {
        let unknown = |known: String| LocateError::Unknown {
            spec: self.to_string(),
            known,
        };
        let by_name = |class: &str, name: &str| {
            m.pci_device_by_name(root, class, name)
                .ok_or_else(|| unknown(String::new()))
        };
        match self {
            DeviceSpec::Pci(a) => m.pci_device(*a).ok_or_else(|| unknown(String::new())),
            DeviceSpec::Gpu(n) => {
                let gpus: Vec<&PciDevice> = m
                    .pci_devices
                    .iter()
                    .filter(|d| d.kind == DeviceKind::Gpu)
                    .collect();
                gpus.get(*n as usize).copied().ok_or_else(|| {
                    unknown(if gpus.is_empty() {
                        ": it has no GPUs".into()
                    } else {
                        format!(": it has gpu:0 to gpu:{}", gpus.len() - 1)
                    })
                })
            }
            DeviceSpec::Net(name) => by_name("net", name),
            DeviceSpec::Block(name) => by_name("block", name),
            DeviceSpec::Nvme(n) => by_name("nvme", &format!("nvme{n}")),
            DeviceSpec::Nic(n) => nth_nic(m, *n).map_err(unknown),
            DeviceSpec::File(path) => {
                let fail = |why: String| LocateError::File {
                    path: path.clone(),
                    why,
                };
                // the path is stat'ed on the running system: a snapshot
                // holds no files, and its devices are not this system's
                let root = root.filter(|r| r.is_live()).ok_or_else(|| {
                    fail("file: names a file of the running system, not of a snapshot".into())
                })?;
                let name = block_device_of_file(root, path).map_err(|e| fail(e.to_string()))?;
                by_name("block", &name)
            }
        }
    }
}

/// The `n`-th network adapter as the device matrix labels it (`NIC{n}`),
/// or what the machine has instead (`: it has nic:0 to nic:1`).
fn nth_nic(m: &Machine, n: u32) -> Result<&PciDevice, String> {
    let matrix = crate::matrix::Matrix::build(m);
    let nics: Vec<_> = matrix
        .devices
        .iter()
        .filter(|e| e.label.starts_with("NIC"))
        .collect();
    let label = format!("NIC{n}");
    match nics.iter().find(|e| e.label == label) {
        Some(e) => m.pci_device(e.address).ok_or_else(String::new),
        None if nics.is_empty() => Err(": it has no network adapters".into()),
        None => Err(format!(": it has nic:0 to nic:{}", nics.len() - 1)),
    }
}

impl Machine {
    /// The PCI function that owns the OS device `name` of `class` (`net`,
    /// `block`, `nvme`, ...): the device listing it among its OS names, else,
    /// with `root`, the deepest PCI function on the resolved path of
    /// `/sys/class/<class>/<name>` (how a block partition is found).
    pub fn pci_device_by_name(
        &self,
        root: Option<&Root>,
        class: &str,
        name: &str,
    ) -> Option<&PciDevice> {
        if let Some(d) = self.pci_devices.iter().find(|d| {
            d.os_names
                .iter()
                .any(|o| o.class == class && o.name == name)
        }) {
            return Some(d);
        }
        let path = root?
            .canonicalize(&format!("/sys/class/{class}/{name}"))
            .ok()?;
        self.pci_device(deepest_pci(&path)?)
    }
}

/// Why the block device of a file was not found.
#[derive(Debug)]
pub enum FileDeviceError {
    /// The file could not be stat'ed.
    Stat {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `/sys/class/block` could not be listed.
    ListBlock(std::io::Error),
    /// No block device has the file's device number.
    NoBlockDevice {
        /// The device number, `MAJOR:MINOR`.
        number: String,
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for FileDeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileDeviceError::Stat { path, source } => {
                write!(f, "cannot stat {}: {source}", path.display())
            }
            FileDeviceError::ListBlock(e) => write!(f, "cannot list /sys/class/block: {e}"),
            FileDeviceError::NoBlockDevice { number, path } => {
                write!(
                    f,
                    "no block device {number} in /sys/class/block for {}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for FileDeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileDeviceError::Stat { source, .. } => Some(source),
            FileDeviceError::ListBlock(e) => Some(e),
            FileDeviceError::NoBlockDevice { .. } => None,
        }
    }
}

/// The block device (`sda`, `nvme0n1p2`) holding the file at `path`, or the
/// device itself when `path` is a block device node, by its device number
/// in `root`'s `/sys/class/block/*/dev`.
///
/// `path` names a file of the running system: it is stat'ed directly, not
/// through `root` (a snapshot holds no files to stat).
pub fn block_device_of_file(root: &Root, path: &Path) -> Result<String, FileDeviceError> {
    let md = std::fs::metadata(path).map_err(|source| FileDeviceError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    let dev = if md.file_type().is_block_device() {
        md.rdev()
    } else {
        md.dev()
    };
    let number = dev_number(dev);
    let names = root
        .read_dir("/sys/class/block")
        .map_err(FileDeviceError::ListBlock)?;
    names
        .into_iter()
        .find(|n| {
            root.read_trim(&format!("/sys/class/block/{n}/dev"))
                .as_deref()
                == Some(&number)
        })
        .ok_or_else(|| FileDeviceError::NoBlockDevice {
            number,
            path: path.to_path_buf(),
        })
}

/// A `dev_t` as sysfs writes it in `dev` files: `MAJOR:MINOR` (glibc's
/// `major()` and `minor()`).
fn dev_number(dev: u64) -> String {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    format!("{major}:{minor}")
}

#[cfg(test)]
mod tests {

    #[test]
    fn file_specs_parse_print_and_refuse_snapshots() {
        let s: DeviceSpec = "file:/data/model.bin".parse().unwrap();
        assert_eq!(s, DeviceSpec::File(PathBuf::from("/data/model.bin")));
        assert_eq!(s.to_string(), "file:/data/model.bin");
        assert!("file:".parse::<DeviceSpec>().is_err());
        // a snapshot holds no files: file: needs the running system
        let dir = std::env::temp_dir().join(format!("numakit-locate-file-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sys/class/block")).unwrap();
        let root = Root::open(&dir).unwrap();
        let m = Machine::discover(&root);
        let e = s.find(&m, Some(&root)).unwrap_err().to_string();
        assert!(e.contains("running system"), "{e}");
        let e = s.find(&m, None).unwrap_err().to_string();
        assert!(e.contains("running system"), "{e}");
        // on the running system a missing file is named with the reason
        let live = Root::live();
        let gone = DeviceSpec::File(dir.join("no-such-file"));
        let e = gone.find(&m, Some(&live)).unwrap_err().to_string();
        assert!(
            e.contains("no-such-file") && e.contains("No such file"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    use super::*;

    /// glibc's `makedev()`.
    fn makedev(major: u64, minor: u64) -> u64 {
        ((major & 0xfff) << 8)
            | ((major & 0xffff_f000) << 32)
            | (minor & 0xff)
            | ((minor & 0xffff_ff00) << 12)
    }

    #[test]
    fn dev_numbers_as_sysfs_writes_them() {
        assert_eq!(dev_number(0x0800), "8:0");
        assert_eq!(dev_number(0x0803), "8:3");
        assert_eq!(dev_number(0xfc01), "252:1");
        assert_eq!(dev_number(0x0011_0301), "259:257");
        for (major, minor) in [
            (0, 0),
            (8, 17),
            (259, 256),
            (4095, 0xf_ffff),
            (0x1_0000, 0x1234_5678),
        ] {
            assert_eq!(
                dev_number(makedev(major, minor)),
                format!("{major}:{minor}")
            );
        }
    }

    #[test]
    fn spec_forms() {
        let p = |s: &str| s.parse::<DeviceSpec>();
        assert_eq!(p("net:eth0"), Ok(DeviceSpec::Net("eth0".into())));
        assert_eq!(p("block:/dev/sda"), Ok(DeviceSpec::Block("sda".into())));
        assert_eq!(p("nvme:nvme3"), Ok(DeviceSpec::Nvme(3)));
        assert_eq!(p("nic:1"), Ok(DeviceSpec::Nic(1)));
        assert_eq!(p("nic:1").unwrap().to_string(), "nic:1");
        assert_eq!(p("pci:41:00.0").unwrap().to_string(), "0000:41:00.0");
        for bad in [
            "net:", "net:a/b", "block:..", "gpu:x", "nvme:", "nic:", "nic:eth0", "usb:1", "",
        ] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.spec(), bad);
            assert!(
                e.to_string()
                    .starts_with(&format!("cannot read device '{bad}'"))
            );
        }
    }

    #[test]
    fn block_device_of_a_file_by_its_device_number() {
        let dir = std::env::temp_dir().join(format!("numakit-locate-{}", std::process::id()));
        let file = dir.join("data");
        // a root holds sys/ or proc/
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        std::fs::write(&file, "x").unwrap();
        let root = Root::open(&dir).unwrap();
        let err = |p: &Path| block_device_of_file(&root, p).unwrap_err().to_string();
        assert_eq!(
            err(&file),
            "cannot list /sys/class/block: No such file or directory (os error 2)"
        );
        let number = dev_number(std::fs::metadata(&file).unwrap().dev());
        for (name, dev) in [("other", "1:1"), ("mine", number.as_str())] {
            let d = dir.join(format!("sys/class/block/{name}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("dev"), format!("{dev}\n")).unwrap();
        }
        assert_eq!(block_device_of_file(&root, &file).unwrap(), "mine");
        std::fs::write(dir.join("sys/class/block/mine/dev"), "1:2\n").unwrap();
        assert_eq!(
            err(&file),
            format!(
                "no block device {number} in /sys/class/block for {}",
                file.display()
            )
        );
        let missing = dir.join("missing");
        assert_eq!(
            err(&missing),
            format!(
                "cannot stat {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
