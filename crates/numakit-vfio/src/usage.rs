//! What holds a device, so that it is not taken from under its users: a
//! mounted filesystem or swap on one of its block devices (or their
//! partitions), a block holder (LVM, MD, dm) stacked on one, a network
//! interface that is up with addresses, the boot display.
//!
//! Every fact is read through the [`Root`]: `/proc/self/mountinfo` (by
//! device number, so `/dev/root` and by-UUID sources count too),
//! `/proc/swaps`, `/sys/class/block/*/holders`, `/sys/class/net/*/flags`,
//! `/proc/net/route` (IPv4: an interface with an address has its connected
//! route) and `/proc/net/if_inet6` (IPv6 other than link-local). What the
//! root does not hold is reported as not known, never as free.

use numakit_root::Root;
use numakit_topo::PciDevice;
use numakit_topo::pci::DeviceKind;
use serde::Serialize;

/// One thing that holds a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Holder {
    /// A filesystem is mounted from the device's block device.
    Mounted {
        /// The block device (`nvme0n1p1`).
        block: String,
        /// Where.
        mountpoint: String,
    },
    /// Swap is on the block device.
    Swap {
        /// The block device.
        block: String,
    },
    /// A stacked block device (LVM, MD, dm-crypt) holds it.
    BlockHolder {
        /// The block device held.
        block: String,
        /// The holder (`dm-0`, `md127`).
        holder: String,
    },
    /// A network interface of the device is up and has addresses.
    NetworkUp {
        /// The interface.
        interface: String,
        /// What shows it has addresses.
        addresses: String,
    },
    /// The device drives the boot display (the console).
    Console {
        /// The driver.
        driver: String,
    },
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Mounted { block, mountpoint } => {
                write!(f, "{block} is mounted on {mountpoint}")
            }
            Holder::Swap { block } => write!(f, "{block} is in use as swap"),
            Holder::BlockHolder { block, holder } => {
                write!(f, "{block} is held by {holder} (LVM, MD or dm)")
            }
            Holder::NetworkUp {
                interface,
                addresses,
            } => write!(f, "network interface {interface} is up with {addresses}"),
            Holder::Console { driver } => {
                write!(
                    f,
                    "it drives the console's display (boot VGA, driver {driver})"
                )
            }
        }
    }
}

/// What holds `dev`, and which facts could not be read (the names of the
/// files missing from the root).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// What holds it.
    pub holders: Vec<Holder>,
    /// Files the root lacks, so that what they would show is not known.
    pub unknown: Vec<String>,
}

/// Finds what holds `dev`.
pub fn usage(root: &Root, dev: &PciDevice) -> Usage {
    let mut u = Usage::default();
    let blocks: Vec<&str> = dev
        .os_names
        .iter()
        .filter(|o| o.class == "block")
        .map(|o| o.name.as_str())
        .collect();
    if !blocks.is_empty() {
        block_holders(root, &blocks, &mut u);
    }
    // A storage or network device whose names the root cannot list: what
    // it holds is not known (a snapshot without /sys/class).
    for (kinds, class) in [
        (&[DeviceKind::Nvme, DeviceKind::Storage][..], "block"),
        (&[DeviceKind::Nic][..], "net"),
    ] {
        let dir = format!("/sys/class/{class}");
        if kinds.contains(&dev.kind)
            && !dev.os_names.iter().any(|o| o.class == class)
            && !root.is_dir(&dir)
        {
            u.unknown.push(dir);
        }
    }
    for net in dev.os_names.iter().filter(|o| o.class == "net") {
        net_holder(root, &net.name, &mut u);
    }
    let dir = format!("/sys/bus/pci/devices/{}", dev.address);
    if root.read_trim(&format!("{dir}/boot_vga")).as_deref() == Some("1")
        && let Some(driver) = &dev.driver
    {
        u.holders.push(Holder::Console {
            driver: driver.clone(),
        });
    }
    u
}

/// The device's block devices and their partitions, with `major:minor`.
fn block_devices(root: &Root, disks: &[&str]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for d in disks {
        let base = format!("/sys/class/block/{d}");
        out.push((d.to_string(), root.read_trim(&format!("{base}/dev"))));
        for p in root.read_dir(&base).unwrap_or_default() {
            if p.starts_with(d) && root.exists(&format!("{base}/{p}/partition")) {
                let dev = root.read_trim(&format!("{base}/{p}/dev"));
                out.push((p, dev));
            }
        }
    }
    out
}

fn block_holders(root: &Root, disks: &[&str], u: &mut Usage) {
    let devs = block_devices(root, disks);
    match root.read_to_string("/proc/self/mountinfo") {
        Ok(text) => {
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (Some(num), Some(mp)) = (f.get(2), f.get(4)) else {
                    continue;
                };
                for (name, _) in devs.iter().filter(|(_, d)| d.as_deref() == Some(num)) {
                    u.holders.push(Holder::Mounted {
                        block: name.clone(),
                        mountpoint: unescape(mp),
                    });
                }
            }
        }
        Err(_) => u.unknown.push("/proc/self/mountinfo".into()),
    }
    match root.read_to_string("/proc/swaps") {
        Ok(text) => {
            for line in text.lines().skip(1) {
                let Some(src) = line.split_whitespace().next() else {
                    continue;
                };
                let name = src.rsplit('/').next().unwrap_or(src);
                if devs.iter().any(|(n, _)| n == name) {
                    u.holders.push(Holder::Swap { block: name.into() });
                }
            }
        }
        Err(_) => u.unknown.push("/proc/swaps".into()),
    }
    for (name, _) in &devs {
        for h in root
            .read_dir(&format!("/sys/class/block/{name}/holders"))
            .unwrap_or_default()
        {
            u.holders.push(Holder::BlockHolder {
                block: name.clone(),
                holder: h,
            });
        }
    }
}

/// `\040` and friends in mountinfo paths.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v as char);
            i += 4;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

fn net_holder(root: &Root, iface: &str, u: &mut Usage) {
    let flags = root
        .read_trim(&format!("/sys/class/net/{iface}/flags"))
        .and_then(|f| u64::from_str_radix(f.trim_start_matches("0x"), 16).ok());
    let Some(flags) = flags else {
        u.unknown.push(format!("/sys/class/net/{iface}/flags"));
        return;
    };
    if flags & 1 == 0 {
        return; // IFF_UP clear: down
    }
    let mut what = Vec::new();
    match root.read_to_string("/proc/net/route") {
        Ok(t) => {
            let n = t
                .lines()
                .skip(1)
                .filter(|l| l.split_whitespace().next() == Some(iface))
                .count();
            if n > 0 {
                what.push(format!("IPv4 ({n} route(s) in /proc/net/route)"));
            }
        }
        Err(_) => u.unknown.push("/proc/net/route".into()),
    }
    if let Ok(t) = root.read_to_string("/proc/net/if_inet6") {
        let n = t
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() == 6 && f[5] == iface && f[3] != "20"
            })
            .count();
        if n > 0 {
            what.push(format!("{n} IPv6 address(es) beyond link-local"));
        }
    }
    if !what.is_empty() {
        u.holders.push(Holder::NetworkUp {
            interface: iface.into(),
            addresses: what.join(" and "),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/odd\\04"), "/odd\\04");
    }
}
