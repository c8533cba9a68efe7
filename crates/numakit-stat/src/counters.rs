//! `key value` counter files: `/proc/vmstat`, a node's `vmstat` and
//! `numastat`. Order is kept, unknown keys are kept, a line that is not
//! `key number` is counted and skipped.
//!
//! # Example
//! ```
//! use numakit_stat::counters::parse;
//! let c = parse("numa_hit 120\nnuma_miss 3\ngarbage\n");
//! assert_eq!(c.get("numa_miss"), Some(3));
//! assert_eq!(c.malformed, 1);
//! ```

use serde::Serialize;

/// Counters in the order the kernel wrote them. JSON: an object of the
/// keys in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// `(key, value)` pairs.
    pub values: Vec<(String, u64)>,
    /// Lines that were not `key number`.
    pub malformed: usize,
}

impl Serialize for Counters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.values.len()))?;
        for (k, v) in &self.values {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Counters {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The sum of the values whose key starts with `prefix`, `None` when
    /// there is none.
    pub fn sum_prefix(&self, prefix: &str) -> Option<u64> {
        let mut it = self
            .values
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .peekable();
        it.peek()?;
        Some(it.fold(0u64, |a, (_, v)| a.saturating_add(*v)))
    }
}

/// Parses `key value` lines.
pub fn parse(text: &str) -> Counters {
    let mut c = Counters::default();
    for line in text.lines() {
        let line = line.trim_matches(|ch: char| ch.is_whitespace() || ch == '\0');
        if line.is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            c.malformed += 1;
            continue;
        };
        match v.parse::<u64>() {
            Ok(v) => c.values.push((k.to_string(), v)),
            Err(_) => c.malformed += 1,
        }
    }
    c
}

/// The `/proc/vmstat` counters of NUMA balancing, tiering and migration:
/// `numa_*` (pte updates, hint faults, pages migrated...), `pgpromote_*`,
/// `pgdemote_*`, `pgmigrate_*`, and the node counters `numa_hit` and
/// friends that some kernels also print there.
pub fn is_locality_counter(key: &str) -> bool {
    [
        "numa_",
        "pgpromote_",
        "pgdemote_",
        "pgmigrate_",
        "promo_",
        "thp_migration_",
    ]
    .iter()
    .any(|p| key.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_unknown_and_garbage() {
        let c = parse("b 2\na 1\nnew_key 7\n\nx y\nx 1 2\n-1 -1\nbig 18446744073709551615\n\0");
        let keys: Vec<&str> = c.values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "new_key", "big"]);
        assert_eq!(c.malformed, 3);
        assert_eq!(c.get("big"), Some(u64::MAX));
        assert_eq!(c.sum_prefix("b"), Some(u64::MAX));
        assert_eq!(c.sum_prefix("zz"), None);
    }

    #[test]
    fn locality_keys() {
        assert!(is_locality_counter("numa_hint_faults_local"));
        assert!(is_locality_counter("pgpromote_success"));
        assert!(is_locality_counter("pgdemote_kswapd"));
        assert!(!is_locality_counter("nr_free_pages"));
    }
}
