//! A node's `meminfo` (`Node 0 MemTotal:  8388608 kB`) and `/proc/meminfo`
//! (`MemTotal:  8388608 kB`), every line in the kernel's order, unknown
//! keys included.
//!
//! # Example
//! ```
//! use numakit_stat::meminfo::{parse, Value};
//! let m = parse("Node 1 MemTotal:  1024 kB\nNode 1 HugePages_Total:  2\n");
//! assert_eq!(m.fields[0].key, "MemTotal");
//! assert_eq!(m.fields[0].value, Value::Bytes(1024 * 1024));
//! assert_eq!(m.get("HugePages_Total"), Some(Value::Count(2)));
//! ```

use serde::Serialize;

/// A value: bytes (the kernel wrote `kB`) or a count (no unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A size, converted from kB.
    Bytes(u64),
    /// A number without a unit (`HugePages_Total`).
    Count(u64),
}

impl Value {
    /// The number, whatever its unit.
    pub fn raw(self) -> u64 {
        match self {
            Value::Bytes(b) | Value::Count(b) => b,
        }
    }
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The key (`MemTotal`, `Active(anon)`).
    pub key: String,
    /// Its value.
    pub value: Value,
}

/// A meminfo file. JSON: an object of the keys in the kernel's order,
/// each `{"bytes": N}` or `{"count": N}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meminfo {
    /// The lines, in order.
    pub fields: Vec<Field>,
    /// Lines that could not be read.
    pub malformed: usize,
}

impl Serialize for Meminfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.fields.len()))?;
        for f in &self.fields {
            m.serialize_entry(&f.key, &f.value)?;
        }
        m.end()
    }
}

impl Meminfo {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.fields.iter().find(|f| f.key == key).map(|f| f.value)
    }
    /// The value of `key` in bytes, if it is a size.
    pub fn bytes(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Value::Bytes(b) => Some(b),
            Value::Count(_) => None,
        }
    }
}

/// Parses either form; the `Node N` prefix is dropped.
pub fn parse(text: &str) -> Meminfo {
    let mut m = Meminfo::default();
    for line in text.lines() {
        let line = line.trim_matches('\0');
        if line.trim().is_empty() {
            continue;
        }
        match field(line) {
            Some(f) => m.fields.push(f),
            None => m.malformed += 1,
        }
    }
    m
}

fn field(line: &str) -> Option<Field> {
    let (k, v) = line.split_once(':')?;
    let mut words = k.split_whitespace();
    let key = match (words.next()?, words.next(), words.next()) {
        (key, None, None) => key,
        ("Node", Some(n), Some(key)) if n.parse::<u32>().is_ok() => key,
        _ => return None,
    };
    if words.next().is_some() {
        return None;
    }
    let mut it = v.split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    let value = match (it.next(), it.next()) {
        (None, _) => Value::Count(n),
        (Some("kB"), None) => Value::Bytes(n.checked_mul(1024)?),
        _ => return None,
    };
    Some(Field {
        key: key.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_and_garbage() {
        let m = parse(
            "MemTotal: 4 kB\nNode 3 Unaccepted:   0 kB\nNode x Y: 1 kB\nZ: 1 MB\nW: 99999999999999999999 kB\nV: 18014398509481984 kB\nno colon\n",
        );
        assert_eq!(m.fields.len(), 2);
        assert_eq!(m.fields[1].key, "Unaccepted");
        assert_eq!(m.bytes("MemTotal"), Some(4096));
        assert_eq!(m.malformed, 5);
    }
}
