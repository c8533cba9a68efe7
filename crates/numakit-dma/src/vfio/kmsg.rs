//! IOMMU faults as the kernel logs them, read from `/dev/kmsg` and told in
//! numakit's words: which device, which address, read or write, and why.
//!
//! Two formats are read: Intel VT-d (`drivers/iommu/intel/dmar.c`)
//!
//! ```text
//! DMAR: [DMA Write NO_PASID] Request device [42:00.0] fault addr 0xffffe000 [fault reason 0x05] PTE Write access is not set
//! ```
//!
//! and AMD-Vi (`drivers/iommu/amd/iommu.c`), with or without the device
//! prefix of `dev_err`:
//!
//! ```text
//! vfio-pci 0000:42:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000b address=0xffffe000 flags=0x0020]
//! AMD-Vi: Event logged [IO_PAGE_FAULT device=42:00.0 domain=0x000b address=0xffffe000 flags=0x0020]
//! ```

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::addr::Iova;
use crate::direction::Access;
use crate::error::{Error, Result};
use crate::io::{FaultLog, ObservedFault};

/// One DMA fault the kernel logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelFault {
    /// The requester as the log names it: `42:00.0` (VT-d names no PCI
    /// domain) or `0000:42:00.0`.
    pub device: String,
    /// The faulting address.
    pub iova: Iova,
    /// Read or write.
    pub access: Access,
    /// The IOMMU's reason, as the kernel words it.
    pub reason: String,
    /// The logged line.
    pub line: String,
}

impl KernelFault {
    /// Whether the fault came from PCI function `address`
    /// (`0000:42:00.0`), whichever form the log used.
    pub fn is_from(&self, address: &str) -> bool {
        self.device == address
            || address
                .split_once(':')
                .is_some_and(|(_, rest)| rest == self.device)
    }
}

impl std::fmt::Display for KernelFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the IOMMU blocked a DMA {} by {} at IOVA {}: {}",
            self.access, self.device, self.iova, self.reason
        )
    }
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().strip_prefix("0x")?, 16).ok()
}

/// The text between `open` and the next `close` after it.
fn between<'a>(s: &'a str, open: &str, close: char) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let rest = &s[start..];
    Some(&rest[..rest.find(close)?])
}

/// Reads one log message; `None` when it is not a DMA fault.
pub fn parse_fault(msg: &str) -> Option<KernelFault> {
    parse_vtd(msg).or_else(|| parse_amd(msg))
}

fn parse_vtd(msg: &str) -> Option<KernelFault> {
    let kind = between(msg, "DMAR: [", ']')?;
    let access = if kind.starts_with("DMA Write") {
        Access::Write
    } else if kind.starts_with("DMA Read") {
        Access::Read
    } else {
        return None;
    };
    let device = between(msg, "Request device [", ']')?.to_string();
    let addr = hex(between(msg, "fault addr ", ' ')?)?;
    let after = msg.split_once("[fault reason ")?.1;
    let (code, text) = after.split_once(']')?;
    Some(KernelFault {
        device,
        iova: Iova::new(addr),
        access,
        reason: format!("{} (VT-d fault reason {})", text.trim(), code.trim()),
        line: msg.to_string(),
    })
}

fn parse_amd(msg: &str) -> Option<KernelFault> {
    let ev = between(msg, "Event logged [IO_PAGE_FAULT ", ']')?;
    let field = |k: &str| {
        ev.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
    };
    let device = match field("device") {
        Some(d) => d.to_string(),
        None => msg
            .split(": AMD-Vi:")
            .next()?
            .split_whitespace()
            .last()?
            .to_string(),
    };
    let addr = hex(field("address")?)?;
    let flags = hex(field("flags")?)?;
    // Event flags: bit 5 is RW (1: write), bit 4 PR (the page was present).
    let access = if flags & 0x20 != 0 {
        Access::Write
    } else {
        Access::Read
    };
    let why = if flags & 0x10 != 0 {
        "the page is mapped without that permission"
    } else {
        "no translation (the page is not mapped)"
    };
    Some(KernelFault {
        device,
        iova: Iova::new(addr),
        access,
        reason: format!("{why} (AMD-Vi IO_PAGE_FAULT flags {flags:#06x})"),
        line: msg.to_string(),
    })
}

/// The message of one `/dev/kmsg` record (`PRIO,SEQ,USEC,FLAGS;MESSAGE`,
/// then continuation lines).
fn record_message(rec: &str) -> Option<&str> {
    let (_, msg) = rec.split_once(';')?;
    Some(msg.lines().next().unwrap_or(""))
}

/// New kernel log records, from the moment it was opened: every DMA fault
/// logged since.
#[derive(Debug)]
pub struct FaultWatch {
    file: File,
}

impl FaultWatch {
    /// Opens the kernel log at `path` (`/dev/kmsg`) and skips what is
    /// already there.
    pub fn open(path: &Path) -> std::io::Result<FaultWatch> {
        let mut file = numakit_sys::event::open_kmsg(path)?;
        file.seek(SeekFrom::End(0))?;
        Ok(FaultWatch { file })
    }

    /// The faults logged since the last call (or the open).
    pub fn faults(&mut self) -> std::io::Result<Vec<KernelFault>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some(f) = record_message(&rec).and_then(parse_fault) {
                        out.push(f);
                    }
                }
                // EPIPE: records were overwritten before we read them; the
                // next read goes on with the oldest one left.
                Err(e) if e.raw_os_error() == Some(libc_epipe()) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn libc_epipe() -> i32 {
    numakit_sys::Errno::EPIPE.raw()
}

/// The kernel log as the VFIO backend's [`FaultLog`]: the faults of the
/// device, polled every 20 ms until the first arrives or `wait` passes.
impl FaultLog<super::VfioBackend> for FaultWatch {
    fn mark(&mut self, _dma: &super::VfioBackend) -> Result<()> {
        self.faults().map(drop).map_err(log_error)
    }

    fn since_mark(
        &mut self,
        _dma: &super::VfioBackend,
        device: &str,
        wait: Duration,
    ) -> Result<Vec<ObservedFault>> {
        let start = Instant::now();
        loop {
            let got: Vec<ObservedFault> = self
                .faults()
                .map_err(log_error)?
                .into_iter()
                .filter(|f| f.is_from(device))
                .map(|f| ObservedFault {
                    device: device.to_string(),
                    iova: f.iova,
                    access: f.access,
                    reason: f.reason,
                })
                .collect();
            if !got.is_empty() || start.elapsed() >= wait {
                return Ok(got);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn log_error(e: std::io::Error) -> Error {
    Error::Sys {
        what: "cannot read the kernel log (/dev/kmsg)".into(),
        why: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtd_write_fault() {
        let f = parse_fault("DMAR: [DMA Write NO_PASID] Request device [42:00.0] fault addr 0xffffe000 [fault reason 0x05] PTE Write access is not set").unwrap();
        assert_eq!(f.device, "42:00.0");
        assert_eq!(f.iova, Iova::new(0xffff_e000));
        assert_eq!(f.access, Access::Write);
        assert_eq!(
            f.reason,
            "PTE Write access is not set (VT-d fault reason 0x05)"
        );
        assert!(f.is_from("0000:42:00.0"));
        assert!(!f.is_from("0000:41:00.0"));
        assert_eq!(
            f.to_string(),
            "the IOMMU blocked a DMA write by 42:00.0 at IOVA 0xffffe000: PTE Write access is not set (VT-d fault reason 0x05)"
        );
    }

    #[test]
    fn vtd_read_fault_with_pasid() {
        let f = parse_fault("DMAR: [DMA Read PASID 0x1] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read access is not set").unwrap();
        assert_eq!((f.access, f.iova), (Access::Read, Iova::new(0x1000)));
    }

    #[test]
    fn amd_faults() {
        let f = parse_fault("vfio-pci 0000:42:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000b address=0xffffe000 flags=0x0020]").unwrap();
        assert_eq!(f.device, "0000:42:00.0");
        assert_eq!(f.access, Access::Write);
        assert!(f.reason.starts_with("no translation"));
        let g = parse_fault("AMD-Vi: Event logged [IO_PAGE_FAULT device=42:00.0 domain=0x000b address=0x2000 flags=0x0010]").unwrap();
        assert_eq!((g.device.as_str(), g.access), ("42:00.0", Access::Read));
        assert!(g.reason.starts_with("the page is mapped without"));
    }

    #[test]
    fn other_lines_are_not_faults() {
        for l in [
            "DMAR: DRHD: handling fault status reg 2",
            "DMAR: [INTR-REMAP] Request device [00:1f.0] fault index 0x10 [fault reason 0x25] Blocked",
            "DMAR: [DMA Write NO_PASID] Request device [42:00.0] fault addr zz [fault reason 0x05] x",
            "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0 flags=0x0]",
            "",
        ] {
            assert_eq!(parse_fault(l), None, "{l}");
        }
        assert_eq!(
            record_message("3,1234,5678,-;DMAR: x\n SUBSYSTEM=pci\n"),
            Some("DMAR: x")
        );
        assert_eq!(record_message("no separator"), None);
    }

    /// Reading a file that is not a log at all finds nothing, and says so
    /// without an error.
    #[test]
    fn watch_on_a_plain_file() {
        let p = std::env::temp_dir().join(format!("numakit-kmsg-{}", std::process::id()));
        std::fs::write(&p, "6,1,1,-;DMAR: [DMA Write NO_PASID] Request device [42:00.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set\n").unwrap();
        let mut w = FaultWatch::open(&p).unwrap();
        assert!(w.faults().unwrap().is_empty(), "opened at the end");
        std::fs::remove_file(&p).unwrap();
    }
}
