//! What the machine was doing while it was measured, read through the
//! root: how much of the measuring CPUs other work took (`/proc/stat`
//! against this process's own time in `/proc/self/stat`), the load
//! average, the CPU frequency governors and clocks, and how much of a
//! buffer huge pages back (`/proc/self/smaps`).

use std::collections::BTreeMap;

use numakit_root::Root;
use numakit_types::CpuSet;
use serde::Serialize;

/// One CPU's time from `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// user + nice + system + irq + softirq.
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
    /// Time the hypervisor gave to others.
    pub steal: u64,
}

/// Parses the `cpuN` lines of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> BTreeMap<u32, CpuTicks> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(id) = f
            .next()
            .and_then(|n| n.strip_prefix("cpu"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let v: Vec<u64> = f.map(|x| x.parse().unwrap_or(0)).collect();
        let g = |i: usize| v.get(i).copied().unwrap_or(0);
        m.insert(
            id,
            CpuTicks {
                busy: g(0) + g(1) + g(2) + g(5) + g(6),
                idle: g(3) + g(4),
                steal: g(7),
            },
        );
    }
    m
}

/// utime + stime of `/proc/self/stat` (fields 14 and 15, counted after
/// the command name, which may hold spaces and parentheses).
pub fn parse_own_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // after ")": state is field 3, so utime (14) is index 11
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A reading of the CPUs' and this process's time.
#[derive(Debug, Clone, Default)]
pub struct TimeSample {
    cpus: BTreeMap<u32, CpuTicks>,
    own: Option<u64>,
}

impl TimeSample {
    /// Reads `/proc/stat` and `/proc/self/stat`.
    pub fn read(root: &Root) -> TimeSample {
        TimeSample {
            cpus: root
                .read_to_string("/proc/stat")
                .map(|t| parse_proc_stat(&t))
                .unwrap_or_default(),
            own: root
                .read_to_string("/proc/self/stat")
                .ok()
                .and_then(|t| parse_own_ticks(&t)),
        }
    }
}

/// How busy the measuring CPUs were with other work.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Load {
    /// The 1-minute load average when the benchmark started.
    pub loadavg_1m: Option<f64>,
    /// CPUs online.
    pub cpus_online: Option<usize>,
    /// Share of the measuring CPUs' time that other processes used, in
    /// percent.
    pub other_pct: Option<f64>,
    /// Share of their time the hypervisor gave to other guests, in percent.
    pub steal_pct: Option<f64>,
}

/// Other work and steal on `cpus` between two samples, in percent.
pub fn busy_between(a: &TimeSample, b: &TimeSample, cpus: &CpuSet) -> (Option<f64>, Option<f64>) {
    let (mut busy, mut total, mut steal) = (0u64, 0u64, 0u64);
    for c in cpus.iter_raw() {
        let (Some(x), Some(y)) = (a.cpus.get(&c), b.cpus.get(&c)) else {
            continue;
        };
        let db = y.busy.saturating_sub(x.busy);
        let ds = y.steal.saturating_sub(x.steal);
        busy += db;
        steal += ds;
        total += db + ds + y.idle.saturating_sub(x.idle);
    }
    if total == 0 {
        return (None, None);
    }
    let own = match (a.own, b.own) {
        (Some(x), Some(y)) => y.saturating_sub(x),
        _ => return (None, Some(steal as f64 * 100.0 / total as f64)),
    };
    let other = busy.saturating_sub(own);
    (
        Some(other as f64 * 100.0 / total as f64),
        Some(steal as f64 * 100.0 / total as f64),
    )
}

/// The first field of `/proc/loadavg`.
pub fn loadavg(root: &Root) -> Option<f64> {
    root.read_trim("/proc/loadavg")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The CPU frequency governor and current clock of each CPU, where
/// cpufreq tells them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Clocks {
    /// `scaling_governor` by CPU.
    pub governor: BTreeMap<u32, String>,
    /// `scaling_cur_freq` by CPU, kHz.
    pub khz: BTreeMap<u32, u64>,
}

impl Clocks {
    /// Reads cpufreq for `cpus`.
    pub fn read(root: &Root, cpus: &CpuSet) -> Clocks {
        let mut c = Clocks::default();
        for cpu in cpus.iter_raw() {
            let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq");
            if let Some(g) = root.read_trim(&format!("{dir}/scaling_governor")) {
                c.governor.insert(cpu, g);
            }
            if let Some(k) = root.read_u64(&format!("{dir}/scaling_cur_freq")) {
                c.khz.insert(cpu, k);
            }
        }
        c
    }

    /// Governors other than `performance`, each once.
    pub fn scaling_governors(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .governor
            .values()
            .map(String::as_str)
            .filter(|g| *g != "performance")
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// CPUs whose clock moved by more than 10% between `self` and `later`:
    /// (cpu, kHz before, kHz after).
    pub fn moved(&self, later: &Clocks) -> Vec<(u32, u64, u64)> {
        self.khz
            .iter()
            .filter_map(|(cpu, a)| {
                let b = *later.khz.get(cpu)?;
                let d = a.abs_diff(b);
                (d * 10 > *a.max(&b)).then_some((*cpu, *a, b))
            })
            .collect()
    }
}

/// How a range of memory is backed, from `/proc/self/smaps`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Backing {
    /// Bytes of the mappings that overlap the range.
    pub bytes: u64,
    /// Of those, bytes in transparent huge pages (`AnonHugePages`).
    pub thp_bytes: u64,
    /// The largest page size of those mappings (`KernelPageSize`; 2 MiB
    /// or more means hugetlb pages).
    pub page_bytes: u64,
}

/// Sums the smaps entries overlapping `[start, end)`.
pub fn parse_smaps(text: &str, start: u64, end: u64) -> Option<Backing> {
    let mut b = Backing::default();
    let mut inside = false;
    let mut found = false;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((s, e)) = first.split_once('-')
            && let (Ok(s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16))
        {
            inside = s < end && e > start;
            found |= inside;
            continue;
        }
        if !inside {
            continue;
        }
        let kb = || {
            f.clone()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        match first {
            "Size:" => b.bytes += kb(),
            "AnonHugePages:" => b.thp_bytes += kb(),
            "KernelPageSize:" => b.page_bytes = b.page_bytes.max(kb()),
            _ => {}
        }
    }
    found.then_some(b)
}

/// [`parse_smaps`] of this process, for a range it owns.
pub fn backing(root: &Root, start: u64, end: u64) -> Option<Backing> {
    parse_smaps(&root.read_to_string("/proc/self/smaps").ok()?, start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  10 0 10 100 0 0 0 0 0 0\n\
        cpu0 100 5 20 1000 10 1 2 3 0 0\n\
        cpu1 1 0 1 2000 0 0 0 0 0 0\nintr 5\n";

    #[test]
    fn proc_stat() {
        let m = parse_proc_stat(STAT);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[&0],
            CpuTicks {
                busy: 128,
                idle: 1010,
                steal: 3
            }
        );
    }

    #[test]
    fn own_ticks_after_a_strange_name() {
        let s = "42 (a b) c)) R 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0\n";
        assert_eq!(parse_own_ticks(s), Some(280));
        assert_eq!(parse_own_ticks("garbage"), None);
    }

    #[test]
    fn others_share() {
        let a = TimeSample {
            cpus: parse_proc_stat("cpu0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n"),
            own: Some(0),
        };
        // cpu0: 100 busy (60 ours), 100 idle; cpu1 not measured
        let b = TimeSample {
            cpus: parse_proc_stat("cpu0 100 0 0 90 0 0 0 10\ncpu1 500 0 0 0 0 0 0 0\n"),
            own: Some(60),
        };
        let cpus: CpuSet = "0".parse().unwrap();
        let (other, steal) = busy_between(&a, &b, &cpus);
        assert_eq!(other, Some(20.0));
        assert_eq!(steal, Some(5.0));
        assert_eq!(busy_between(&a, &a, &cpus), (None, None));
    }

    #[test]
    fn clocks() {
        let mut a = Clocks::default();
        a.governor.insert(0, "schedutil".into());
        a.governor.insert(1, "performance".into());
        a.governor.insert(2, "schedutil".into());
        assert_eq!(a.scaling_governors(), ["schedutil"]);
        a.khz.insert(0, 3_000_000);
        a.khz.insert(1, 3_000_000);
        let mut b = a.clone();
        b.khz.insert(0, 2_000_000);
        b.khz.insert(1, 2_900_000);
        assert_eq!(a.moved(&b), [(0, 3_000_000, 2_000_000)]);
    }

    #[test]
    fn smaps() {
        let t = "7f0000000000-7f0000400000 rw-p 00000000 00:00 0\n\
            Size:               4096 kB\nKernelPageSize:        4 kB\n\
            AnonHugePages:      2048 kB\n\
            7f0000400000-7f0000600000 rw-p 00000000 00:00 0\n\
            Size:               2048 kB\nKernelPageSize:     2048 kB\nAnonHugePages: 0 kB\n\
            7f0000600000-7f0000700000 rw-p 00000000 00:00 0\nSize: 1024 kB\n";
        let b = parse_smaps(t, 0x7f00_0000_0000, 0x7f00_0040_0000).unwrap();
        assert_eq!(
            (b.bytes, b.thp_bytes, b.page_bytes),
            (4 << 20, 2 << 20, 4096)
        );
        let b = parse_smaps(t, 0x7f00_0000_0000, 0x7f00_0060_0000).unwrap();
        assert_eq!((b.bytes, b.page_bytes), (6 << 20, 2 << 20));
        assert_eq!(parse_smaps(t, 0x1000, 0x2000), None);
    }
}
