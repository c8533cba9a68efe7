//! Byte sizes, printed with binary units.

use std::fmt;

/// A number of bytes, printed with binary units (`1.5 GiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
    /// From a count of KiB (as `/proc/meminfo` writes `kB`).
    pub const fn from_kib(kib: u64) -> Self {
        Self(kib.saturating_mul(1024))
    }
    /// The size in whole MiB, rounded down.
    pub const fn mib(self) -> u64 {
        self.0 >> 20
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        let mut v = self.0 as f64;
        let mut u = 0;
        while v >= 1024.0 && u + 1 < UNITS.len() {
            v /= 1024.0;
            u += 1;
        }
        if u == 0 {
            write!(f, "{} B", self.0)
        } else if v >= 100.0
            || (v.fract() * 10.0).round() == 0.0
            || (v.fract() * 10.0).round() == 10.0
        {
            write!(f, "{:.0} {}", v, UNITS[u])
        } else {
            write!(f, "{:.1} {}", v, UNITS[u])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteSize;
    #[test]
    fn display() {
        assert_eq!(ByteSize(0).to_string(), "0 B");
        assert_eq!(ByteSize(1023).to_string(), "1023 B");
        assert_eq!(ByteSize(1024).to_string(), "1 KiB");
        assert_eq!(ByteSize(1536 << 20).to_string(), "1.5 GiB");
        assert_eq!(ByteSize(128 << 20).to_string(), "128 MiB");
    }
}
