//! Exclusive CPU slices: N ranks sharing a node's CPUs each get their own
//! whole cores.
//!
//! The CPUs of the pool (a node's CPUs this process may use) are grouped
//! into cores (SMT siblings together, as `thread_siblings_list` lists
//! them) and the cores into L3 domains (the L3 cache they share; the
//! package when sysfs lists no L3), ordered by their first CPU. Then:
//! - when there are at least as many slices as domains, each domain gets a
//!   share of the slices in proportion to its cores and splits its cores
//!   among them, so that no slice spans two L3 domains; this is used when
//!   the slices come out within one core of each other in size;
//! - otherwise the cores, domain by domain, are cut into `N` runs whose sizes
//!   differ by at most one core (runs stay within a domain whenever the
//!   sizes line up with the domains).
//!
//! Slices never overlap, and together they cover the pool. Every rank that
//! computes them from the same machine and pool gets the same answer, so
//! ranks need not talk to each other. More slices than cores is an error.

use std::fmt;
use std::str::FromStr;

use numakit_topo::Machine;
use numakit_types::{CpuId, CpuSet};
use serde::Serialize;

use crate::{Error, Result};

/// Slice `index` of `count` (`--share K/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Share {
    /// Which slice, from 0.
    pub index: u32,
    /// How many slices.
    pub count: u32,
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Share {
    type Err = Error;
    /// `K/N` with `0 <= K < N`.
    fn from_str(s: &str) -> Result<Share> {
        let bad = || Error::BadShare {
            share: s.to_string(),
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(k) || !digits(n) {
            return Err(bad());
        }
        let index: u32 = k.parse().map_err(|_| bad())?;
        let count: u32 = n.parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Share { index, count })
    }
}

/// The cores of `pool`: each CPU with its SMT siblings (`thread_siblings`)
/// in the pool, every CPU in exactly one core; with the domain (first CPU
/// of its L3, else its package) each belongs to; ordered by domain, then
/// first CPU.
fn cores(m: &Machine, pool: &CpuSet) -> Vec<(u64, CpuSet)> {
    let mut taken = CpuSet::new();
    let mut v: Vec<(u64, CpuSet)> = Vec::new();
    for id in pool.iter() {
        if taken.contains(id) {
            continue;
        }
        let mut core = m
            .cpu(id)
            .map_or_else(CpuSet::new, |c| c.smt_siblings.intersection(pool))
            .difference(&taken);
        core.insert(id);
        taken = taken.union(&core);
        v.push((domain(m, id), core));
    }
    v.sort_by_key(|(d, s)| (*d, s.first()));
    v
}

/// The L3 domain of a CPU: its L3's first CPU; else its package (shifted
/// past any CPU number); else one domain.
fn domain(m: &Machine, cpu: CpuId) -> u64 {
    if let Some(c) = m
        .caches
        .iter()
        .find(|c| c.level == 3 && c.cpus.contains(cpu))
    {
        return c.cpus.first().map_or(0, |f| u64::from(f.get()));
    }
    m.cpu(cpu)
        .and_then(|c| c.package)
        .map_or(u64::MAX, |p| (1 << 32) + u64::from(p))
}

/// Cuts `n` items into `parts` runs, sizes within one of each other.
fn run_sizes(n: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| n / parts + usize::from(i < n % parts))
        .collect()
}

/// Slices by domain (see the module documentation); `None` when that
/// cannot give every slice a core or the sizes would differ by more than one.
fn by_domain(cores: &[(u64, CpuSet)], count: usize) -> Option<Vec<Vec<CpuSet>>> {
    let mut domains: Vec<Vec<CpuSet>> = Vec::new();
    let mut last = None;
    for (d, c) in cores {
        if last != Some(*d) {
            domains.push(Vec::new());
            last = Some(*d);
        }
        domains.last_mut()?.push(c.clone());
    }
    if count < domains.len() {
        return None;
    }
    let total = cores.len();
    // largest remainder, at least one slice per domain
    let mut alloc: Vec<(usize, usize)> = domains
        .iter()
        .map(|d| ((count * d.len()) / total, (count * d.len()) % total))
        .collect();
    for a in &mut alloc {
        a.0 = a.0.max(1);
    }
    while alloc.iter().map(|a| a.0).sum::<usize>() < count {
        let i = (0..alloc.len()).max_by_key(|&i| (alloc[i].1, usize::MAX - i))?;
        alloc[i].0 += 1;
        alloc[i].1 = 0;
    }
    if alloc.iter().map(|a| a.0).sum::<usize>() != count {
        return None;
    }
    let mut out = Vec::new();
    for (d, (parts, _)) in domains.iter().zip(&alloc) {
        if *parts > d.len() {
            return None;
        }
        let mut it = d.iter();
        for size in run_sizes(d.len(), *parts) {
            out.push(it.by_ref().take(size).cloned().collect());
        }
    }
    let sizes: Vec<usize> = out.iter().map(Vec::len).collect();
    let spread = sizes.iter().max()? - sizes.iter().min()?;
    (spread <= 1).then_some(out)
}

/// Splits `pool` into `count` exclusive slices of whole cores (see the
/// module documentation).
pub fn cpu_slices(m: &Machine, pool: &CpuSet, count: u32) -> Result<Vec<CpuSet>> {
    let cores = cores(m, pool);
    let n = count as usize;
    if n == 0 || n > cores.len() {
        return Err(Error::TooManySlices {
            count,
            cores: cores.len(),
            cpus: pool.clone(),
        });
    }
    let groups = by_domain(&cores, n).unwrap_or_else(|| {
        let mut it = cores.iter().map(|(_, c)| c.clone());
        run_sizes(cores.len(), n)
            .into_iter()
            .map(|size| it.by_ref().take(size).collect())
            .collect()
    });
    Ok(groups
        .into_iter()
        .map(|g: Vec<CpuSet>| g.iter().fold(CpuSet::new(), |a, c| a.union(c)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares() {
        assert_eq!(
            "1/4".parse::<Share>().unwrap(),
            Share { index: 1, count: 4 }
        );
        for bad in ["4/4", "0/0", "1", "a/2", "-1/2", "1/ 2", "/2", "1/2/3"] {
            let e = bad.parse::<Share>().unwrap_err();
            assert!(matches!(e, Error::BadShare { .. }), "{bad}");
        }
    }

    #[test]
    fn run_sizes_balance() {
        assert_eq!(run_sizes(6, 4), vec![2, 2, 1, 1]);
        assert_eq!(run_sizes(4, 4), vec![1, 1, 1, 1]);
        assert_eq!(run_sizes(0, 1), vec![0]);
    }
}
