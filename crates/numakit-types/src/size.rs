//! Byte sizes, printed with binary units and read from `256M`, `1.5GiB`,
//! `4096`.

use std::fmt;
use std::str::FromStr;

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

/// Why a size could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeParseError {
    reason: &'static str,
}

impl SizeParseError {
    /// Why, in a few words.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for SizeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for SizeParseError {}

impl FromStr for ByteSize {
    type Err = SizeParseError;

    /// A number of bytes with an optional binary unit: `4096`, `64K`,
    /// `256M`, `1.5G`, `2T`, also written `KiB`, `MiB`, `GiB`, `TiB` or
    /// `KB`..`TB` (all powers of 1024), case-insensitive, optionally with a
    /// trailing `B`. Fractions are allowed with a unit and round down to
    /// whole bytes.
    ///
    /// ```
    /// use numakit_types::ByteSize;
    /// assert_eq!("256M".parse::<ByteSize>().unwrap(), ByteSize(256 << 20));
    /// assert_eq!("1.5GiB".parse::<ByteSize>().unwrap(), ByteSize(3 << 29));
    /// assert_eq!("4096".parse::<ByteSize>().unwrap(), ByteSize(4096));
    /// assert!("12 apples".parse::<ByteSize>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<ByteSize, SizeParseError> {
        let err = |reason| SizeParseError { reason };
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(err("expected a number, such as 256M or 1G"));
        }
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(err("unknown unit: use K, M, G or T (powers of 1024)")),
        };
        if let Ok(n) = num.parse::<u64>() {
            return n
                .checked_mul(1u64 << shift)
                .map(ByteSize)
                .ok_or(err("too large"));
        }
        let f: f64 = num.parse().map_err(|_| err("not a number"))?;
        if shift == 0 {
            return Err(err("a byte count must be a whole number"));
        }
        let v = f * (1u64 << shift) as f64;
        if !v.is_finite() || v >= u64::MAX as f64 {
            return Err(err("too large"));
        }
        Ok(ByteSize(v as u64))
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

    #[test]
    fn parse() {
        let p = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("64k"), Ok(64 << 10));
        assert_eq!(p("8 MiB"), Ok(8 << 20));
        assert_eq!(p("2GB"), Ok(2 << 30));
        assert_eq!(p("0.5T"), Ok(1 << 39));
        assert_eq!(p(" 100b "), Ok(100));
        assert!(p("").is_err());
        assert!(p("M").is_err());
        assert!(p("1.5").is_err());
        assert!(p("1..5G").is_err());
        assert!(p("3X").is_err());
        assert!(p("99999999999T").is_err());
        assert!(p("-1M").is_err());
    }
}
