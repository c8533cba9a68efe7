//! BARs from the `resource` file and Resizable BAR state.
//!
//! `resource` holds one line per resource, `start end flags` in hex: lines 0-5
//! are the BARs, line 6 the expansion ROM, and further lines bridge windows or
//! SR-IOV VF BARs (which this module skips). The flag bits are the kernel's
//! `IORESOURCE_*` values from `include/linux/ioport.h`.
//!
//! # Resizable BAR
//!
//! A BAR's resizable sizes are read from `resourceN_resize` (kernels since
//! 5.x expose it only for BARs with the Resizable BAR capability; it holds a
//! hex bitmask, bit 0 = 1 MiB, bit n = 2^n MiB) or, when that file is absent,
//! from the Resizable BAR extended capability (id 0x0015) in the `config` file,
//! which sysfs shows beyond the first 64 bytes only to root. The device-level
//! answer ([`PciDevice::resizable_bar`](super::PciDevice::resizable_bar)) is:
//!
//! - `Some(true)` when a resizable BAR currently has the largest size the
//!   device supports, or when the driver tells the device memory size
//!   (amdgpu's `mem_info_vram_total`) and a BAR is at least that large;
//! - `Some(false)` when resizable BARs exist but none is at its largest size,
//!   or the device memory size is known and every BAR is smaller;
//! - `None` otherwise: sysfs does not say how large the device memory is for
//!   most drivers (NVIDIA's included), so a large BAR alone proves nothing.

use numakit_root::Root;
use serde::Serialize;

/// `IORESOURCE_IO`: an I/O port range.
pub const IORESOURCE_IO: u64 = 0x0000_0100;
/// `IORESOURCE_MEM`: a memory range.
pub const IORESOURCE_MEM: u64 = 0x0000_0200;
/// `IORESOURCE_PREFETCH`: prefetchable memory (no side effects on read).
pub const IORESOURCE_PREFETCH: u64 = 0x0000_2000;
/// `IORESOURCE_MEM_64`: a 64-bit memory BAR.
pub const IORESOURCE_MEM_64: u64 = 0x0010_0000;

/// The extended capability id of Resizable BAR (`PCI_EXT_CAP_ID_REBAR`).
const EXT_CAP_ID_REBAR: u16 = 0x0015;
/// Bytes of config space before the extended capabilities start.
const EXT_CAP_START: usize = 0x100;

/// One BAR (or the expansion ROM) from the `resource` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bar {
    /// BAR index (0-5; 6 is the ROM).
    pub index: u32,
    /// Start address (CPU physical).
    pub start: u64,
    /// Size in bytes.
    pub size_bytes: u64,
    /// 64-bit memory BAR.
    pub is_64bit: bool,
    /// Prefetchable memory.
    pub prefetchable: bool,
    /// An I/O port BAR.
    pub io: bool,
    /// For a BAR with the Resizable BAR capability: the largest size it
    /// supports, in bytes.
    pub resizable_max_bytes: Option<u64>,
}

/// Parses a `resource` file: the BARs and ROM with a non-zero size. Lines that
/// are not three hex numbers are skipped.
pub fn parse_resource(text: &str) -> Vec<Bar> {
    text.lines()
        .take(7)
        .enumerate()
        .filter_map(|(i, line)| {
            let f: Vec<u64> = line
                .split_whitespace()
                .map(hex)
                .collect::<Option<Vec<u64>>>()?;
            let [start, end, flags] = f.as_slice() else {
                return None;
            };
            let (start, end, flags) = (*start, *end, *flags);
            if end <= start || flags & (IORESOURCE_IO | IORESOURCE_MEM) == 0 {
                return None;
            }
            Some(Bar {
                index: i as u32,
                start,
                size_bytes: end - start + 1,
                is_64bit: flags & IORESOURCE_MEM_64 != 0,
                prefetchable: flags & IORESOURCE_PREFETCH != 0,
                io: flags & IORESOURCE_IO != 0 && flags & IORESOURCE_MEM == 0,
                resizable_max_bytes: None,
            })
        })
        .collect()
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

/// The largest size in a resize bitmask (bit n = 2^n MiB).
fn max_size(mask: u64) -> Option<u64> {
    if mask == 0 {
        return None;
    }
    let bit = 63 - mask.leading_zeros();
    1u64.checked_shl(20 + bit)
}

/// Resizable BAR capability from config space: `(bar index, sizes bitmask)`
/// pairs, the mask with bit 0 = 1 MiB.
pub fn rebar_from_config(cfg: &[u8]) -> Vec<(u32, u64)> {
    let dword = |off: usize| -> Option<u32> {
        let b = cfg.get(off..off + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut off = EXT_CAP_START;
    // Each capability is at least 4 bytes and there are at most 960 of them
    // in 4 KiB: the bound stops a looping chain.
    for _ in 0..960 {
        let Some(hdr) = dword(off) else {
            return Vec::new();
        };
        if hdr == 0 || hdr == 0xffff_ffff {
            return Vec::new();
        }
        if (hdr & 0xffff) as u16 == EXT_CAP_ID_REBAR {
            let Some(ctrl0) = dword(off + 8) else {
                return Vec::new();
            };
            let nbars = (ctrl0 >> 5) & 0x7;
            return (0..nbars as usize)
                .filter_map(|i| {
                    let cap = dword(off + 4 + 8 * i)?;
                    let ctrl = dword(off + 8 + 8 * i)?;
                    Some((ctrl & 0x7, u64::from((cap & 0xffff_fff0) >> 4)))
                })
                .collect();
        }
        let next = (hdr >> 20) as usize;
        if next < EXT_CAP_START || next <= off {
            return Vec::new();
        }
        off = next;
    }
    Vec::new()
}

/// Reads the BARs of the device at `dir`, their resizable sizes, and decides
/// `resizable_bar` (see the module documentation for the rule).
pub fn read(root: &Root, dir: &str) -> (Vec<Bar>, Option<bool>, Option<u64>) {
    let mut bars = root
        .read_to_string(&format!("{dir}/resource"))
        .map(|t| parse_resource(&t))
        .unwrap_or_default();
    let mut from_files = false;
    for b in bars.iter_mut().filter(|b| b.index < 6) {
        if let Some(mask) = root
            .read_trim(&format!("{dir}/resource{}_resize", b.index))
            .and_then(|s| hex(&s))
        {
            from_files = true;
            b.resizable_max_bytes = max_size(mask);
        }
    }
    // Reading config space traps to the hypervisor or firmware on many
    // machines (milliseconds per device): only devices with a prefetchable
    // memory BAR, the only ones a Resizable BAR capability can matter for,
    // are asked.
    let candidate = bars.iter().any(|b| b.index < 6 && b.prefetchable && !b.io);
    if !from_files
        && candidate
        && let Ok(cfg) = root.read(&format!("{dir}/config"))
    {
        for (idx, mask) in rebar_from_config(&cfg) {
            if let Some(b) = bars.iter_mut().find(|b| b.index == idx) {
                b.resizable_max_bytes = max_size(mask);
            }
        }
    }
    let vram = root
        .read_u64(&format!("{dir}/mem_info_vram_total"))
        .filter(|v| *v > 0);
    (bars.clone(), decide(&bars, vram), vram)
}

/// The Resizable BAR rule; see the module documentation.
pub fn decide(bars: &[Bar], vram_bytes: Option<u64>) -> Option<bool> {
    let mem: Vec<&Bar> = bars.iter().filter(|b| !b.io && b.index < 6).collect();
    if let Some(vram) = vram_bytes {
        return Some(mem.iter().any(|b| b.size_bytes >= vram));
    }
    let resizable: Vec<&&Bar> = mem
        .iter()
        .filter(|b| b.resizable_max_bytes.is_some())
        .collect();
    if resizable.is_empty() {
        return None;
    }
    Some(
        resizable
            .iter()
            .any(|b| Some(b.size_bytes) >= b.resizable_max_bytes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_lines() {
        // bochs-display in the gpuserver snapshot: a 128 MiB prefetchable BAR0,
        // a 4 KiB BAR2 and a 32 KiB ROM.
        let t = "0x00000000e8000000 0x00000000efffffff 0x0000000000042208\n\
                 0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
                 0x00000000fe008000 0x00000000fe008fff 0x0000000000040200\n\
                 0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
                 0x000000000000c040 0x000000000000c05f 0x0000000000040101\n\
                 0x00000000f0000000 0x00000000f0003fff 0x000000000014220c\n\
                 0x00000000fe000000 0x00000000fe007fff 0x0000000000046200\n\
                 0x00000000fdc00000 0x00000000fddfffff 0x0000000000000200\n";
        let b = parse_resource(t);
        assert_eq!(
            b.iter()
                .map(|b| (b.index, b.size_bytes))
                .collect::<Vec<_>>(),
            vec![(0, 128 << 20), (2, 4096), (4, 32), (5, 16384), (6, 32768)]
        );
        assert!(b[0].prefetchable && !b[0].is_64bit && !b[0].io);
        assert!(b[2].io);
        assert!(b[3].is_64bit && b[3].prefetchable);
        assert!(parse_resource("0x1 0x2\nzz zz zz\n").is_empty());
    }

    fn cfg_with_rebar(cap_sizes: u32, ctrl: u32) -> Vec<u8> {
        let mut c = vec![0u8; 4096];
        // An unrelated capability (AER, id 1) at 0x100 pointing at ReBAR at 0x140.
        c[0x100..0x104].copy_from_slice(&(0x0001u32 | (1 << 16) | (0x140 << 20)).to_le_bytes());
        c[0x140..0x144].copy_from_slice(&(0x0015u32 | (1 << 16)).to_le_bytes());
        c[0x144..0x148].copy_from_slice(&cap_sizes.to_le_bytes());
        c[0x148..0x14c].copy_from_slice(&ctrl.to_le_bytes());
        c
    }

    #[test]
    fn rebar_capability() {
        // BAR0 supports 256 MiB..32 GiB (bits 8..15 of the mask, shifted by 4).
        let sizes: u32 = (0xff << 8) << 4;
        let cfg = cfg_with_rebar(sizes, (1 << 5) | (15 << 8));
        let r = rebar_from_config(&cfg);
        assert_eq!(r, vec![(0, 0xff00)]);
        assert_eq!(max_size(0xff00), Some(32 << 30));
        assert!(rebar_from_config(&cfg[..64]).is_empty());
        let mut looped = vec![0u8; 4096];
        looped[0x100..0x104].copy_from_slice(&(0x0001u32 | (0x100 << 20)).to_le_bytes());
        assert!(rebar_from_config(&looped).is_empty());
    }

    #[test]
    fn rebar_rule() {
        let bar = |size: u64, max: Option<u64>| Bar {
            index: 0,
            start: 0,
            size_bytes: size,
            is_64bit: true,
            prefetchable: true,
            io: false,
            resizable_max_bytes: max,
        };
        assert_eq!(decide(&[bar(32 << 30, Some(32 << 30))], None), Some(true));
        assert_eq!(decide(&[bar(256 << 20, Some(32 << 30))], None), Some(false));
        assert_eq!(decide(&[bar(256 << 20, None)], None), None);
        assert_eq!(decide(&[bar(16 << 30, None)], Some(16 << 30)), Some(true));
        assert_eq!(decide(&[bar(256 << 20, None)], Some(16 << 30)), Some(false));
    }
}
