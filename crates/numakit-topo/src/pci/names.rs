//! Vendor and device names from the PCI ID database.
//!
//! numakit carries the vendor and device lines of the PCI ID Repository
//! (`data/pci.ids`, refreshed with `scripts/update-pci-ids.sh`; the file may be
//! used under GPL-2.0-or-later or BSD-3-Clause, see its header) as one string
//! in the binary. It needs no file on the machine and gives the same answer for
//! a live system and for a snapshot replayed elsewhere; a device newer than the
//! database has no name, and callers print its ids instead.
//!
//! The build script indexes the text into two sorted tables of fixed-width
//! records, so a lookup is a binary search: nothing is parsed at start-up and
//! the binary carries no table of pointers to relocate.

static DB: &str = include_str!("../../data/pci.ids");
/// Records of 6 bytes: vendor id (u16 LE), line offset (u32 LE).
static VENDORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pci_vendors.bin"));
/// Records of 8 bytes: vendor << 16 | device (u32 LE), line offset (u32 LE).
static DEVICES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pci_devices.bin"));

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Binary search over `n` records of `width` bytes whose key is read by `key`.
fn search(
    table: &[u8],
    width: usize,
    key: u32,
    read_key: impl Fn(&[u8], usize) -> u32,
) -> Option<usize> {
    let (mut lo, mut hi) = (0, table.len() / width);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match read_key(table, mid * width).cmp(&key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid * width),
        }
    }
    None
}

/// The name on the line at `off` (`"8086  Intel Corporation"` → `"Intel Corporation"`).
fn name_at(off: usize) -> Option<&'static str> {
    let line = DB.get(off..)?.split('\n').next()?;
    Some(line.get(6..)?.trim_end())
}

/// The vendor's name, when the database knows the vendor.
pub fn vendor_name(vendor: u16) -> Option<&'static str> {
    let at = search(VENDORS, 6, u32::from(vendor), |t, i| {
        u32::from(u16_at(t, i))
    })?;
    name_at(u32_at(VENDORS, at + 2) as usize)
}

/// The device's name, when the database knows the vendor and device pair.
pub fn device_name(vendor: u16, device: u16) -> Option<&'static str> {
    let key = (u32::from(vendor) << 16) | u32::from(device);
    let at = search(DEVICES, 8, key, u32_at)?;
    name_at(u32_at(DEVICES, at + 4) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_ids() {
        assert_eq!(vendor_name(0x8086), Some("Intel Corporation"));
        assert_eq!(vendor_name(0x10de), Some("NVIDIA Corporation"));
        assert_eq!(
            device_name(0x1b36, 0x0010),
            Some("QEMU NVM Express Controller")
        );
        assert_eq!(vendor_name(0x1234), None);
        assert_eq!(device_name(0x8086, 0xfffe), None);
        // the first and the last entries of the file
        assert_eq!(vendor_name(0x0001), Some("SafeNet (wrong ID)"));
        assert_eq!(vendor_name(0xffff), Some("Illegal Vendor ID"));
        assert_eq!(device_name(0x0010, 0x8139), Some("AT-2500TX V3 Ethernet"));
        assert_eq!(device_name(0xfffe, 0x0710), Some("Virtual SVGA"));
    }

    #[test]
    fn every_line_of_the_database_is_found() {
        let mut vendor = None;
        let (mut nv, mut nd) = (0, 0);
        for line in DB.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (dev, rest) = match line.strip_prefix('\t') {
                Some(r) => (true, r),
                None => (false, line),
            };
            let id = u16::from_str_radix(&rest[..4], 16).unwrap();
            let name = rest[6..].trim_end();
            if dev {
                assert_eq!(device_name(vendor.unwrap(), id), Some(name), "{line}");
                nd += 1;
            } else {
                vendor = Some(id);
                assert_eq!(vendor_name(id), Some(name), "{line}");
                nv += 1;
            }
        }
        assert!(nv > 2000 && nd > 15000, "{nv} vendors, {nd} devices");
    }
}
