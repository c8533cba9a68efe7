//! dma-direct: the translation between physical and DMA addresses when no
//! IOMMU sits between the devices and memory. The model has no DMA offset
//! (`dma-ranges`), so a DMA address is the physical address; a device drives
//! only the address lines its mask allows, and only RAM answers.

use crate::addr::{DmaMask, Iova, PhysAddr, PhysRange};
use crate::config::layout::{HIGH_RAM_END, HIGH_RAM_START, LOW_RAM_END};
use crate::fault::FaultReason;

/// `phys_to_dma`: the DMA address a device uses for physical address `p`.
pub(crate) const fn phys_to_dma(p: PhysAddr) -> Iova {
    Iova::new(p.raw())
}

/// Where a device access lands without an IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirectAccess {
    /// The memory reached.
    pub(crate) range: PhysRange,
    /// Whether address bits above the device's mask were dropped on the way.
    pub(crate) truncated: bool,
}

/// `dma_to_phys` for a device access of `len` bytes at `dma` by a device
/// with `mask`: the bus sees the address cut to the mask, and an access that
/// does not lie wholly in RAM gets no answer.
pub(crate) fn translate(dma: Iova, len: u64, mask: DmaMask) -> Result<DirectAccess, FaultReason> {
    let a = dma.raw() & mask.raw();
    let e = a.checked_add(len).ok_or(FaultReason::NoMemory)?;
    let in_low = e <= LOW_RAM_END.raw();
    let in_high = a >= HIGH_RAM_START.raw() && e <= HIGH_RAM_END.raw();
    // the hole below 4 GiB holds devices' BARs: peer-to-peer DMA lands there
    let in_mmio = a >= LOW_RAM_END.raw() && e <= HIGH_RAM_START.raw();
    if !(in_low || in_high || in_mmio) {
        return Err(FaultReason::NoMemory);
    }
    Ok(DirectAccess {
        range: PhysRange::new(PhysAddr::new(a), len),
        truncated: a != dma.raw(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_answers_the_hole_does_not() {
        let m = DmaMask::bits(64);
        let ok = translate(Iova::new(0x1000), 64, m).unwrap();
        assert_eq!(ok.range, PhysRange::new(PhysAddr::new(0x1000), 64));
        assert!(!ok.truncated);
        assert!(
            translate(Iova::new(0xf000_0000), 64, m).is_ok(),
            "a BAR in the MMIO hole, for peer-to-peer DMA"
        );
        assert_eq!(
            translate(Iova::new(0xffff_fff0), 64, m),
            Err(FaultReason::NoMemory),
            "across the top of the hole"
        );
        assert_eq!(
            translate(Iova::new(HIGH_RAM_END.raw() - 32), 64, m),
            Err(FaultReason::NoMemory),
            "runs off the end of RAM"
        );
    }

    #[test]
    fn a_narrow_device_drops_high_address_bits() {
        let a = translate(Iova::new(0x1_0000_2000), 16, DmaMask::bits(32)).unwrap();
        assert_eq!(a.range.addr, PhysAddr::new(0x2000));
        assert!(a.truncated);
        assert_eq!(phys_to_dma(PhysAddr::new(0x2000)), Iova::new(0x2000));
    }
}
