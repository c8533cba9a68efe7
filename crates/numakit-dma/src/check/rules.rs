//! The checker's rules: one table giving each rule its stable id, whether
//! the kernel's `CONFIG_DMA_API_DEBUG` checks it too, and what it forbids.
//! The documentation's rule list and the broken/fixed scenario pairs in
//! `scenarios/dma/rules/` follow this table.

use std::fmt;

macro_rules! rules {
    ($($(#[$m:meta])* $var:ident = $id:literal, $kernel:literal, $summary:literal;)*) => {
        /// A rule of the checker. The id (`Rule::id`) is stable: scripts and
        /// tests may match on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($(#[$m])* $var,)*
        }

        impl Rule {
            /// Every rule, in documentation order.
            pub const ALL: &'static [Rule] = &[$(Rule::$var,)*];

            /// The stable id (`double-unmap`).
            pub const fn id(self) -> &'static str {
                match self { $(Rule::$var => $id,)* }
            }

            /// Whether the kernel's `CONFIG_DMA_API_DEBUG` checks it too.
            pub const fn kernel_checks(self) -> bool {
                match self { $(Rule::$var => $kernel,)* }
            }

            /// One line saying what the rule forbids.
            pub const fn summary(self) -> &'static str {
                match self { $(Rule::$var => $summary,)* }
            }

            /// The rule with this id.
            pub fn from_id(id: &str) -> Option<Rule> {
                match id { $($id => Some(Rule::$var),)* _ => None }
            }
        }
    };
}

rules! {
    /// Unmapping or freeing a DMA address that is not mapped.
    FreeNotMapped = "free-not-mapped", true, "unmap or free of a DMA address that was never mapped for this device";
    /// Unmapping the same mapping twice.
    DoubleUnmap = "double-unmap", true, "unmap of a mapping that was already unmapped";
    /// Unmap with a size other than the mapping's.
    UnmapSizeMismatch = "unmap-size-mismatch", true, "unmap or free with a size other than the one mapped";
    /// Unmap with a direction other than the mapping's.
    UnmapDirectionMismatch = "unmap-direction-mismatch", true, "unmap with a direction other than the one mapped";
    /// Unmap with the wrong function (`dma_unmap_page` for `dma_map_single`,
    /// `dma_unmap_single` of coherent memory...).
    UnmapFunctionMismatch = "unmap-function-mismatch", true, "unmap with a function that does not match the map function";
    /// `dma_unmap_sg` or `dma_sync_sg_*` with an entry count other than the
    /// one passed to `dma_map_sg`.
    SgCountMismatch = "sg-count-mismatch", true, "unmap or sync of a scatterlist with an entry count other than the one mapped";
    /// `dma_free_coherent` with a CPU address other than the one allocated.
    FreeCpuAddressMismatch = "free-cpu-address-mismatch", true, "dma_free_coherent with a CPU address other than the allocation's";
    /// A sync of an address that is not mapped.
    SyncNotMapped = "sync-not-mapped", true, "sync of a DMA address that is not mapped";
    /// A sync reaching outside the mapping.
    SyncOutsideMapping = "sync-outside-mapping", true, "sync of a range that reaches outside the mapping";
    /// A sync with a direction other than the mapping's.
    SyncDirectionMismatch = "sync-direction-mismatch", true, "sync with a direction other than the one mapped";
    /// A mapping whose result was never tested with `dma_mapping_error`.
    UncheckedMappingError = "unchecked-mapping-error", true, "a mapping unmapped without its result ever being checked with dma_mapping_error";
    /// Mapping memory on a kernel stack.
    MapStackMemory = "map-stack-memory", true, "mapping of stack memory";
    /// Mapping vmalloc memory as if it were in the linear map.
    MapVmallocMemory = "map-vmalloc-memory", true, "mapping of vmalloc memory by its address (dma_map_single, sg_set_buf), as if it were physically contiguous";
    /// Mapping kernel text or rodata.
    MapKernelRodata = "map-kernel-rodata", true, "mapping of kernel text or rodata";
    /// Mappings or coherent buffers still alive when the device goes away.
    LeakOnDeviceRemoval = "leak-on-device-removal", true, "mappings or coherent buffers still held when the device is removed";
    /// The same bytes mapped twice (by two mappings, or two entries of one
    /// scatterlist), one of them device-writable.
    OverlappingMapping = "overlapping-mapping", true, "the same memory mapped twice (two mappings or two entries of one scatterlist) while one lets the device write";
    /// A mapping with the invalid direction `DMA_NONE`.
    InvalidDirection = "invalid-direction", true, "a mapping or sync with DMA_NONE";
    /// `dma_pool_free` to a pool other than the block's.
    PoolFreeWrongPool = "pool-free-wrong-pool", true, "dma_pool_free of a block to a pool it does not come from";
    /// `dma_pool_destroy` while blocks are still allocated.
    PoolDestroyBusy = "pool-destroy-busy", true, "dma_pool_destroy of a pool whose blocks are not all freed";
    /// A mapping that runs past the end of its allocation.
    MapBeyondAllocation = "map-beyond-allocation", false, "a mapping that runs past the end of the allocation it starts in";
    /// MMIO mapped with a function for RAM.
    MapMmioMemory = "map-mmio-memory", false, "MMIO (a device's BAR) mapped with dma_map_single/page/sg instead of dma_map_resource";
    /// A DMA mask wider than the device's address lines.
    MaskWiderThanDevice = "mask-wider-than-device", false, "a mapping above the addresses the device can drive, allowed by a mask wider than its hardware";
    /// A `DMA_ATTR_SKIP_CPU_SYNC` mapping used without the sync it skipped.
    SkipCpuSyncMissingSync = "skip-cpu-sync-missing-sync", false, "a mapping made with DMA_ATTR_SKIP_CPU_SYNC given to the device before dma_sync_*_for_device, or unmapped with it after a device write without dma_sync_*_for_cpu";
    /// Freeing CPU memory that is still mapped for DMA.
    FreeWhileMapped = "free-while-mapped", false, "CPU memory freed while still mapped for DMA";
    /// The CPU reads bytes of a buffer the device owns, or writes into a
    /// cache line holding such bytes.
    CpuAccessDeviceOwned = "cpu-access-device-owned", false, "CPU read of bytes a device owns, or CPU write into any cache line holding such bytes";
    /// The CPU reads data a device wrote without a sync for the CPU first.
    MissingSyncForCpu = "missing-sync-for-cpu", false, "CPU read of device-written data without dma_sync_*_for_cpu or unmap first";
    /// CPU writes into a mapping it owns that are then thrown away by the
    /// invalidation of an unmap or a second sync for the CPU.
    CpuWriteDiscarded = "cpu-write-discarded", false, "CPU writes into a mapping it owns, then unmap or sync for the CPU without a sync for the device first";
    /// A device access that starts or ends outside its mapping.
    DeviceAccessBeyondMapping = "device-access-beyond-mapping", false, "device access that reaches beyond the mapped bytes";
    /// A device write to a to-device mapping.
    DeviceWriteToDevice = "device-write-todevice", false, "device write to a DMA_TO_DEVICE mapping";
    /// A device read of a from-device mapping.
    DeviceReadFromDevice = "device-read-fromdevice", false, "device read of a DMA_FROM_DEVICE mapping";
    /// A device access to a streaming mapping the CPU owns (after a sync for
    /// the CPU, before the sync for the device).
    DeviceAccessCpuOwned = "device-access-cpu-owned", false, "device access to a mapping the CPU owns after dma_sync_*_for_cpu";
    /// A device access to an address that was unmapped.
    UseAfterUnmap = "use-after-unmap", false, "device access to a DMA address after it was unmapped";
    /// A device access to an address never mapped for it.
    DeviceAccessUnmapped = "device-access-unmapped", false, "device access to a DMA address that was never mapped for this device";
    /// A device given `DMA_MAPPING_ERROR`.
    DeviceAccessMappingError = "device-access-mapping-error", false, "device access at DMA_MAPPING_ERROR: a failed mapping's handle, or a scatterlist entry past the count dma_map_sg returned";
    /// A device access longer than a DMA segment may be, or across a
    /// segment boundary.
    DeviceAccessSegmentLimits = "device-access-segment-limits", false, "device access longer than the device's maximum segment size or across its segment boundary";
    /// Two mappings (or two entries of one scatterlist) share a cache line,
    /// one of them device-writable.
    SharedCacheLine = "shared-cache-line", false, "two mappings (or two entries of one scatterlist) share a cache line while one lets the device write";
    /// Unbalanced `dma_buf_begin_cpu_access`/`dma_buf_end_cpu_access`.
    DmabufBeginEndMismatch = "dmabuf-begin-end-mismatch", false, "DMA-BUF CPU access end without begin, nested begin, or with another direction";
    /// CPU access to a DMA-BUF outside begin/end.
    DmabufCpuAccessOutside = "dmabuf-cpu-access-outside-begin-end", false, "CPU access to a DMA-BUF outside begin_cpu_access/end_cpu_access";
    /// Access to a DMA-BUF before waiting for another party's fence: a
    /// writer's for any access, a reader's for a write.
    DmabufFenceNotWaited = "dmabuf-fence-not-waited", false, "access to a DMA-BUF before waiting for a writer's fence, or a write before waiting for the readers' fences";
    /// A typed-API handle given to a backend instance other than the one
    /// that made it (only Rust drivers can: a scenario runs on one model).
    ForeignHandle = "foreign-handle", false, "a typed-API handle (buffer, mapping) given to a backend instance other than the one that made it";
    /// A scenario's `expect` saw other bytes than it expected.
    ExpectMismatch = "expect-mismatch", false, "a scenario expectation about the data did not hold";
}

impl Rule {
    /// The documentation's rule table (Markdown), generated from the table
    /// above: id, whether the kernel checks it too, what it forbids.
    pub fn reference() -> String {
        let mut s = String::from("| id | kernel | what it forbids |\n|---|---|---|\n");
        for r in Rule::ALL {
            let kernel = if r.kernel_checks() { "yes" } else { "no" };
            s.push_str(&format!("| `{}` | {kernel} | {} |\n", r.id(), r.summary()));
        }
        s
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for r in Rule::ALL {
            assert!(seen.insert(r.id()), "duplicate id {}", r.id());
            assert_eq!(Rule::from_id(r.id()), Some(*r));
        }
    }
}
