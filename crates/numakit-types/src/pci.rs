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
}
