//! The bounds on what a root reads and holds, set at what the kernel's
//! sysfs and procfs can really hold, so that a small hostile snapshot or
//! tree costs little memory and time.

/// The most bytes a snapshot tarball may unpack to (256 MiB): file contents
/// and tar headers (GNU long names, PAX records) together. Real snapshots
/// unpack to well under 1 MiB; decompressing the bound takes about two
/// seconds.
pub const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

/// The most bytes of one file a root holds or reads (16 MiB). A sysfs
/// attribute is at most a page; the largest procfs file read,
/// `/proc/cpuinfo`, is about 12 MiB for the kernel's 8192 CPUs.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The most bytes a snapshot tarball may hold in memory once read (64 MiB):
/// the contents of its files and the bytes of every path. Real snapshots
/// hold well under 1 MiB.
pub const MAX_HELD_BYTES: u64 = 64 << 20;

/// The longest path or link target, in bytes: the kernel's `PATH_MAX`.
pub const MAX_PATH_BYTES: usize = 4096;

/// The most components of one path or link target. sysfs paths are a few
/// dozen deep (a PCIe hierarchy adds two per bridge).
pub const MAX_PATH_DEPTH: usize = 256;
