//! Address newtypes. A CPU physical address, an address in this process
//! ([`VirtAddr`]) and a DMA address are different types: nothing converts one
//! into another except a translator (the direct mapping, the IOMMU page
//! tables, swiotlb, a VFIO mapping), and a translation can fail.
//! Ranges of physical memory are named structs ([`PhysRange`]), never tuples.

use std::fmt;

/// The page size of the model (the kernel's `PAGE_SIZE` on x86 and most arm64).
pub const PAGE_SIZE: u64 = 4096;
/// `log2(PAGE_SIZE)`.
pub(crate) const PAGE_SHIFT: u32 = 12;

macro_rules! address_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(u64);

        impl $name {
            /// The address with this raw value.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }
            /// The raw value.
            pub const fn raw(self) -> u64 {
                self.0
            }
            /// `self + bytes`, or `None` on overflow.
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// How many bytes `self` lies above `base`, or `None` when below it.
            pub const fn offset_from(self, base: Self) -> Option<u64> {
                self.0.checked_sub(base.0)
            }
            /// The address rounded down to a multiple of `align` (a power of two).
            pub const fn align_down(self, align: u64) -> Self {
                Self(self.0 & !(align - 1))
            }
            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }
            /// `self + bytes` where the caller knows it cannot overflow
            /// (an address inside a buffer the model placed).
            pub(crate) const fn unchecked_add(self, bytes: u64) -> Self {
                Self(self.0 + bytes)
            }
            /// How many bytes `self` lies above `base`, where the caller knows
            /// `base <= self`.
            pub(crate) const fn unchecked_offset_from(self, base: Self) -> u64 {
                self.0 - base.0
            }
            /// The offset into its page.
            pub(crate) const fn page_offset(self) -> u64 {
                self.0 & (PAGE_SIZE - 1)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }

        /// Serialised as a `0x`-prefixed hexadecimal string.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

address_type!(
    /// A CPU physical address (the kernel's `phys_addr_t`).
    PhysAddr
);
address_type!(
    /// An address in this process's virtual memory: where the VFIO backend's
    /// buffers are, what `VFIO_IOMMU_MAP_DMA` is given. Only a translator
    /// (a VFIO mapping, a page query) turns it into anything else.
    VirtAddr
);
address_type!(
    /// A DMA address: what a device puts on the bus (the kernel's `dma_addr_t`).
    /// Behind an IOMMU it is an I/O virtual address; without one it equals the
    /// physical address, but only the direct-mapping translator may say so.
    #[doc(alias = "dma_addr_t")]
    Iova
);

macro_rules! frame_type {
    ($(#[$meta:meta])* $name:ident of $addr:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) struct $name(pub(crate) u64);

        impl $name {
            /// The address of the frame's first byte.
            pub(crate) const fn addr(self) -> $addr {
                $addr::new(self.0 << PAGE_SHIFT)
            }
            /// The frame `pages` further.
            pub(crate) const fn plus(self, pages: u64) -> Self {
                Self(self.0 + pages)
            }
        }

        impl $addr {
            /// The page frame holding this address.
            pub(crate) const fn frame(self) -> $name {
                $name(self.0 >> PAGE_SHIFT)
            }
        }
    };
}

frame_type!(
    /// A page frame of physical memory.
    PhysPfn of PhysAddr
);
frame_type!(
    /// A page frame of IOVA space.
    IovaPfn of Iova
);

/// `len` bytes of physical memory from `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PhysRange {
    /// The first byte.
    pub(crate) addr: PhysAddr,
    /// The length in bytes.
    pub(crate) len: u64,
}

impl PhysRange {
    pub(crate) const fn new(addr: PhysAddr, len: u64) -> Self {
        Self { addr, len }
    }
    /// The first byte past the range.
    pub(crate) const fn end(self) -> PhysAddr {
        self.addr.unchecked_add(self.len)
    }
    /// The pages the range touches, counting partial pages at either edge.
    pub(crate) const fn pages(self) -> u64 {
        (self.addr.page_offset() + self.len).div_ceil(PAGE_SIZE)
    }
    /// Whether the range starts or ends inside a page.
    pub(crate) const fn is_sub_page(self) -> bool {
        (self.addr.raw() | self.len) & (PAGE_SIZE - 1) != 0
    }
}

/// The kernel's `DMA_MAPPING_ERROR`: the value a failed mapping returns.
pub const DMA_MAPPING_ERROR: Iova = Iova::new(u64::MAX);

/// The highest DMA address a device can generate (`dma_set_mask`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DmaMask(u64);

impl DmaMask {
    /// `DMA_BIT_MASK(n)`: all addresses below `2^n`.
    #[doc(alias = "DMA_BIT_MASK")]
    pub const fn bits(n: u32) -> Self {
        if n >= 64 {
            Self(u64::MAX)
        } else {
            Self((1u64 << n) - 1)
        }
    }
    /// A mask from its raw value.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    /// The raw value.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The number of address bits the mask allows.
    pub const fn width(self) -> u32 {
        64 - self.0.leading_zeros()
    }
    /// Whether every byte of `[start, start + len)` is reachable.
    pub const fn covers(self, start: u64, len: u64) -> bool {
        if len == 0 {
            return start <= self.0;
        }
        match start.checked_add(len - 1) {
            Some(end) => end <= self.0,
            None => false,
        }
    }
}

impl DmaMask {
    /// Whether the device can reach every byte of `r`.
    pub(crate) const fn covers_range(self, r: PhysRange) -> bool {
        self.covers(r.addr.raw(), r.len)
    }
    /// The highest page frame below the mask, capped at `cap`.
    pub(crate) const fn limit_pfn(self, cap: u64) -> u64 {
        let m = if self.0 < cap { self.0 } else { cap };
        m >> PAGE_SHIFT
    }
}

impl fmt::Display for DmaMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == u64::MAX || (self.0.wrapping_add(1)).is_power_of_two() {
            write!(f, "{}-bit", self.width())
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

impl fmt::Debug for DmaMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DmaMask({self})")
    }
}

impl serde::Serialize for DmaMask {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(DmaMask::bits(32).raw(), 0xffff_ffff);
        assert_eq!(DmaMask::bits(64).raw(), u64::MAX);
        assert!(DmaMask::bits(32).covers(0xffff_f000, 0x1000));
        assert!(!DmaMask::bits(32).covers(0xffff_f000, 0x1001));
        assert_eq!(DmaMask::bits(40).to_string(), "40-bit");
        assert_eq!(PhysAddr::new(0x1234).to_string(), "0x1234");
        assert_eq!(format!("{:?}", Iova::new(0x10)), "Iova(0x10)");
    }

    #[test]
    fn ranges_and_pages() {
        let r = PhysRange::new(PhysAddr::new(0x1ff0), 0x20);
        assert_eq!(r.end(), PhysAddr::new(0x2010));
        assert_eq!(r.pages(), 2);
        assert!(r.is_sub_page());
        assert!(!PhysRange::new(PhysAddr::new(0x2000), 0x1000).is_sub_page());
        assert_eq!(PhysAddr::new(0x3456).frame(), PhysPfn(3));
        assert_eq!(IovaPfn(3).plus(1).addr(), Iova::new(0x4000));
        assert_eq!(Iova::new(0x3456).page_offset(), 0x456);
        assert_eq!(DmaMask::bits(32).limit_pfn(u64::MAX), 0xfffff);
        assert!(DmaMask::bits(32).covers_range(PhysRange::new(PhysAddr::new(0xffff_f000), 0x1000)));
    }
}
