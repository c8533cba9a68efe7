//! PCI function addresses: the kernel's `DDDD:BB:DD.F` form, and the
//! shorter form libnuma's `pci:` node specification takes.

use std::fmt;
use std::str::FromStr;

/// A PCI function address: domain, bus, device, function (`0000:3b:00.0`).
///
/// Parses the full form and the short `bb:dd.f` form (domain 0). Domains wider
/// than 16 bits (VMD, Hyper-V, some KVM guests) print with as many hex digits
/// as they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// PCI segment (domain).
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device (slot) number, 0-31.
    pub device: u8,
    /// Function number, 0-7.
    pub function: u8,
}

/// Why a string is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciAddressError {
    input: String,
}

impl fmt::Display for PciAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a PCI address (expected DDDD:BB:DD.F such as 0000:41:00.0)",
            self.input.escape_debug()
        )
    }
}

impl std::error::Error for PciAddressError {}

impl FromStr for PciAddress {
    type Err = PciAddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PciAddressError {
            input: s.to_string(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (dom, bus, devfn) = match parts.as_slice() {
            [d, b, df] => (*d, *b, *df),
            [b, df] => ("0", *b, *df),
            _ => return Err(err()),
        };
        let (dev, func) = devfn.split_once('.').ok_or_else(err)?;
        let hex = |t: &str, max_len: usize| -> Result<u32, PciAddressError> {
            if t.is_empty() || t.len() > max_len || !t.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            u32::from_str_radix(t, 16).map_err(|_| err())
        };
        let domain = hex(dom, 8)?;
        let bus = hex(bus, 2)? as u8;
        let device = hex(dev, 2)?;
        let function = hex(func, 1)?;
        if device > 31 || function > 7 {
            return Err(err());
        }
        Ok(PciAddress {
            domain,
            bus,
            device: device as u8,
            function: function as u8,
        })
    }
}

impl PciAddress {
    /// Reads the form libnuma's `pci:` node specification takes (numactl's
    /// `--membind=pci:...`): `[seg:]bus:dev[.func]`, every number in hex of
    /// any width (leading zeros and a leading `+` allowed), the segment and
    /// the function 0 when left out. The numbers must fit a PCI address
    /// (bus up to `ff`, device up to `1f`, function up to 7); anything else
    /// is `None`.
    ///
    /// # Example
    /// ```
    /// use numakit_types::PciAddress;
    /// let a = PciAddress::parse_libnuma("1:3b:1f.7").unwrap();
    /// assert_eq!(a.to_string(), "0001:3b:1f.7");
    /// assert_eq!(PciAddress::parse_libnuma("41:0").unwrap().to_string(), "0000:41:00.0");
    /// assert_eq!(PciAddress::parse_libnuma("0:41:0:0"), None);
    /// ```
    pub fn parse_libnuma(s: &str) -> Option<PciAddress> {
        let hex = |t: &str| u32::from_str_radix(t, 16).ok();
        let parts: Vec<&str> = s.split(':').collect();
        let (domain, bus, devfn) = match parts.as_slice() {
            [bus, devfn] => (0, hex(bus)?, *devfn),
            [seg, bus, devfn] => (hex(seg)?, hex(bus)?, *devfn),
            _ => return None,
        };
        let (device, function) = match devfn.split_once('.') {
            Some((d, f)) => (hex(d)?, hex(f)?),
            None => (hex(devfn)?, 0),
        };
        Some(PciAddress {
            domain,
            bus: u8::try_from(bus).ok()?,
            device: u8::try_from(device).ok().filter(|d| *d <= 31)?,
            function: u8::try_from(function).ok().filter(|f| *f <= 7)?,
        })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for PciAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for PciAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn roundtrip() {
        let a: PciAddress = "0000:41:00.0".parse().unwrap();
        assert_eq!(a.bus, 0x41);
        assert_eq!(a.to_string(), "0000:41:00.0");
        let b: PciAddress = "10000:00:01.7".parse().unwrap();
        assert_eq!(b.to_string(), "10000:00:01.7");
        let c: PciAddress = "3b:00.1".parse().unwrap();
        assert_eq!(c.to_string(), "0000:3b:00.1");
        for bad in [
            "",
            "0000:41:00",
            "0000:41:20.0",
            "0000:41:00.8",
            "zz:00.0",
            "0000:0041:00.0",
            "a:b:c:d.0",
        ] {
            assert!(bad.parse::<PciAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn libnuma_form() {
        let a = |s: &str| PciAddress::parse_libnuma(s).map(|a| a.to_string());
        assert_eq!(a("0:41:0.0").as_deref(), Some("0000:41:00.0"));
        assert_eq!(a("41:0").as_deref(), Some("0000:41:00.0"));
        assert_eq!(a("1:3b:1f.7").as_deref(), Some("0001:3b:1f.7"));
        assert_eq!(a("10000:0:4.0").as_deref(), Some("10000:00:04.0"));
        assert_eq!(a("0000:00ff:001f.0007").as_deref(), Some("0000:ff:1f.7"));
        assert_eq!(a("+0:3.0").as_deref(), Some("0000:00:03.0"));
        assert_eq!(a("ffffffff:0:0").as_deref(), Some("ffffffff:00:00.0"));
        for bad in [
            "",
            "0",
            "zz:0.0",
            "0:0:0:0",
            "1:2:3:4",
            "0:100:0.0",
            "0:0:20.0",
            "0:0:3.8",
            "0:0:3.",
            ":0:3.0",
            "0:-1.0",
            "100000000:0:0",
            "0:0.0.0",
            " 0:3.0",
        ] {
            assert_eq!(a(bad), None, "{bad:?}");
        }
    }

    /// A reference model of the bounds: read the numbers without bounds,
    /// print them in the kernel form and let the kernel-form parser refuse
    /// what does not fit.
    #[test]
    fn libnuma_form_agrees_with_printing_and_parsing() {
        let nums = [
            "0", "1", "7", "8", "f", "10", "1f", "20", "ff", "100", "+3", "x", "",
        ];
        for seg in ["", "0:", "1:", "10000:", "ffffffff:", "z:"] {
            for bus in nums {
                for dev in nums {
                    for func in ["", ".0", ".7", ".8", ".f", ".10", ".x"] {
                        let s = format!("{seg}{bus}:{dev}{func}");
                        let hex = |t: &str| u32::from_str_radix(t, 16).ok();
                        let old = (|| {
                            let parts: Vec<&str> = s.split(':').collect();
                            let (sg, b, df) = match parts.as_slice() {
                                [b, df] => (0, hex(b)?, *df),
                                [sg, b, df] => (hex(sg)?, hex(b)?, *df),
                                _ => return None,
                            };
                            let (d, f) = match df.split_once('.') {
                                Some((d, f)) => (hex(d)?, hex(f)?),
                                None => (hex(df)?, 0),
                            };
                            format!("{sg:04x}:{b:02x}:{d:02x}.{f:x}")
                                .parse::<PciAddress>()
                                .ok()
                        })();
                        assert_eq!(PciAddress::parse_libnuma(&s), old, "{s:?}");
                    }
                }
            }
        }
    }
}
