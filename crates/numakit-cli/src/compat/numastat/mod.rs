//! numastat 2.0.19 compatibility: argument translation and numastat's
//! tables, byte for byte.
//!
//! Invoked as `numastat` (a symlink to `numakit`) or as `numakit numastat
//! ...`, this reads numastat's options as glibc's `getopt_long` does
//! ([`getopt`]), bare PIDs and patterns as numastat does (digits are a PID,
//! anything else is matched against each process's `Name` and command
//! line), and prints numastat's tables with its layout rules ([`table`]):
//! no arguments is the old perl script's format; `-n` the counters in MB;
//! `-m` every line of the nodes' `meminfo`; `-p` one table per process
//! (or one row per process with several), `-c` narrow columns, `-z` no
//! zero rows or columns, `-s[N]` sorted, `NUMASTAT_WIDTH` or 80 columns on
//! a terminal and no limit otherwise.
//!
//! numastat 2.0.19 prints the `meminfo` lines in the kernel's order, all of
//! them, and counts hugetlb memory at each mapping's own page size
//! (`kernelpagesize_kB`) and each node's pools of every size. Where it is
//! still wrong, this prints what its format means instead, and the
//! difference is documented in `docs/numastat.md`: an unreadable
//! `numa_maps` of the last of several processes does not drop the table,
//! and a `numa_maps` that opens but cannot be read is reported like one
//! that does not open, instead of ending the program.
//!
//! Reads go through `NUMAKIT_ROOT` when it is set (a snapshot or a copied
//! tree), so the tables can be made from a snapshot.

mod getopt;
mod process;
mod table;

use std::ffi::OsString;
use std::io;

use numakit_root::Root;
use numakit_stat::meminfo::{self, Value};
use numakit_stat::system::{self, NODE_DIR};

use crate::error::CliResult;
use crate::output;
use getopt::Event;
use table::{Cell, Justify, Table};

/// numastat's own version string (unchanged since 2013).
const VERSION: &str = "20130723";
const MB: f64 = 1024.0 * 1024.0;

/// The counters of a node's `numastat`: token, label.
const NUMASTAT_ROWS: [(&str, &str); 6] = [
    ("numa_hit", "Numa_Hit"),
    ("numa_miss", "Numa_Miss"),
    ("numa_foreign", "Numa_Foreign"),
    ("interleave_hit", "Interleave_Hit"),
    ("local_node", "Local_Node"),
    ("other_node", "Other_Node"),
];

/// numastat's usage text (stderr, exit 1).
fn usage(prog: &str) -> String {
    format!(
        "Usage: {prog} [-c] [-m] [-n] [-p <PID>|<pattern>] [-s[<node>]] [-v] [-V] [-z] [ <PID>|<pattern>... ]
-c to minimize column widths
-m to show meminfo-like system-wide memory usage
-n to show the numastat statistics info
-p <PID>|<pattern> to show process info
-s[<node>] to sort data by total column or <node>
-v to make some reports more verbose
-V to show the {prog} code version
-z to skip rows and columns of zeros
"
    )
}

/// The options read.
#[derive(Debug, Default)]
struct Opts {
    compress: bool,
    system: bool,
    numastat: bool,
    sort: bool,
    sort_node: Option<i64>,
    verbose: bool,
    zeros: bool,
    pids: Vec<i32>,
}

/// What a run prints: stdout, then an error for stderr and the status.
struct Session {
    prog: String,
    root: Root,
    out: String,
    opts: Opts,
    nodes: Vec<u32>,
    width: usize,
}

/// A failure that ends numastat: its message for stderr (perror style).
struct Stop(String);

/// `strerror` text of an error (without Rust's ` (os error N)`).
fn strerror(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "No such file or directory".into(),
        io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// C's `atoi` of a string of digits: the low 32 bits of the value, which
/// saturates at `LONG_MAX`.
fn atoi(s: &str) -> i32 {
    let v = s
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i128, |a, d| {
            (a * 10 + i128::from(d - b'0')).min(i128::from(i64::MAX))
        });
    v as i64 as i32
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// The screen width: `NUMASTAT_WIDTH` (as `atoi` reads it; 80 when below
/// 1 or above 10000000), else 80 on a terminal and no limit otherwise; at
/// least 32.
fn screen_width() -> usize {
    let w = match std::env::var("NUMASTAT_WIDTH") {
        Ok(v) => {
            let t = v.trim_start();
            let (neg, digits) = match t.as_bytes().first() {
                Some(b'-') => (true, &t[1..]),
                Some(b'+') => (false, &t[1..]),
                _ => (false, t),
            };
            let n = i64::from(atoi(digits)) * if neg { -1 } else { 1 };
            if (1..=10_000_000).contains(&n) {
                n as usize
            } else {
                80
            }
        }
        Err(_) if io::IsTerminal::is_terminal(&io::stdout()) => 80,
        Err(_) => 10_000_000,
    };
    w.max(32)
}

/// Runs the interface. `prog` is argv[0] as invoked (numastat names
/// itself by it); `args` the rest.
pub fn run(prog: String, args: Vec<OsString>) -> CliResult<u8> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let root = match std::env::var_os("NUMAKIT_ROOT") {
        Some(p) => match Root::open(&p) {
            Ok(r) => r,
            Err(e) => {
                crate::output::eprint(&format!(
                    "{prog}: NUMAKIT_ROOT: {}\n",
                    crate::error::chain(&e)
                ));
                return Ok(1);
            }
        },
        None => Root::live(),
    };
    let mut s = Session {
        prog,
        root,
        out: String::new(),
        opts: Opts {
            zeros: true,
            ..Opts::default()
        },
        nodes: Vec::new(),
        width: 80,
    };
    let code = match s.main(&args) {
        Ok(code) => code,
        Err(Stop(msg)) => {
            output::print(&s.out)?;
            s.out.clear();
            crate::output::eprint(&format!("{}\n", output::sanitize(&msg)));
            1
        }
    };
    output::print(&s.out)?;
    Ok(code)
}

impl Session {
    fn main(&mut self, args: &[String]) -> Result<u8, Stop> {
        let (events, rest) = getopt::scan(args, &self.prog);
        for ev in events {
            match ev {
                Event::Opt('c', _) => self.opts.compress = true,
                Event::Opt('m', _) => self.opts.system = true,
                Event::Opt('n', _) => self.opts.numastat = true,
                Event::Opt('p', Some(a)) => self.process_spec(&a),
                Event::Opt('s', a) => {
                    self.opts.sort = true;
                    if let Some(a) = a.filter(|a| all_digits(a)) {
                        self.opts.sort_node = Some(i64::from(atoi(&a)));
                    }
                }
                Event::Opt('v', _) => self.opts.verbose = true,
                Event::Opt('V', _) => {
                    self.out.push_str(&format!(
                        "{} version: {VERSION}: numakit {}\n",
                        self.prog,
                        env!("CARGO_PKG_VERSION")
                    ));
                    return Ok(0);
                }
                Event::Opt('z', _) => self.opts.zeros = false,
                Event::Opt(..) | Event::Usage(_) => {
                    if let Event::Usage(Some(m)) = ev {
                        crate::output::eprint(&format!("{m}\n"));
                    }
                    crate::output::eprint(&usage(&self.prog));
                    return Ok(1);
                }
            }
        }
        self.width = screen_width();
        for a in &rest {
            self.process_spec(a);
        }
        let compat = args.is_empty();
        self.nodes = match system::node_ids(&self.root) {
            Ok(n) if !n.is_empty() => n,
            r => {
                let why = if r.is_err() {
                    "No such file or directory"
                } else {
                    "Success"
                };
                let what = if compat {
                    "sysfs not mounted or system not NUMA aware"
                } else {
                    "Couldn't open /sys/devices/system/node"
                };
                return Err(Stop(format!("{what}: {why}")));
            }
        };
        if compat {
            self.numastat_table(true)?;
            return Ok(0);
        }
        let huge = self.huge_page_size()?;
        if !self.opts.pids.is_empty() {
            self.opts.pids.sort_unstable();
            self.opts.pids.dedup();
            self.process_tables(huge);
        }
        if self.opts.system {
            self.out
                .push_str("\nPer-node system memory usage (in MBs):\n");
            self.meminfo_table(huge)?;
        }
        if self.opts.numastat || (self.opts.pids.is_empty() && !self.opts.system) {
            self.out.push_str("\nPer-node numastat info (in MBs):\n");
            self.numastat_table(false)?;
        }
        Ok(0)
    }

    /// A PID (digits) or a pattern, looked up at once as numastat does.
    fn process_spec(&mut self, a: &str) {
        if all_digits(a) {
            self.opts.pids.push(atoi(a));
            return;
        }
        let me = self.root.is_live().then(|| std::process::id() as i32);
        let found = numakit_stat::process::find(&self.root, a, me);
        if found.is_empty() {
            self.out
                .push_str(&format!("Found no processes containing pattern: \"{a}\"\n"));
        }
        self.opts.pids.extend(found);
    }

    /// `Hugepagesize` of `/proc/meminfo`, in bytes (0 when the line is
    /// missing); numastat stops when the file cannot be opened.
    fn huge_page_size(&self) -> Result<f64, Stop> {
        let t = self
            .root
            .read_to_string("/proc/meminfo")
            .map_err(|e| Stop(format!("Can't open /proc/meminfo: {}", strerror(&e))))?;
        Ok(meminfo::parse(&t).bytes("Hugepagesize").unwrap_or(0) as f64)
    }

    fn places(&self) -> usize {
        if self.opts.compress { 0 } else { 2 }
    }

    /// The header row of node names and the Total column, 16 wide and
    /// right-justified; the row of dashes under it when `dashes`.
    fn node_header(&self, t: &mut Table, label: &dyn Fn(u32) -> String, total: bool, dashes: bool) {
        for (i, n) in self.nodes.iter().enumerate() {
            t.set(0, i + 1, Cell::Text(label(*n)));
        }
        let tc = self.nodes.len() + 1;
        if total {
            t.set(0, tc, Cell::Text("Total".into()));
        } else {
            t.width(tc, 0);
        }
        for c in 1..=tc {
            if dashes {
                t.set(1, c, Cell::Rep('-'));
                t.places(c, self.places());
            }
        }
        t.justify(0, Justify::Left);
    }

    fn sort_col(&self) -> usize {
        let total = self.nodes.len() + 1;
        match self.opts.sort_node {
            // as numastat: the N-th node's number, plus one, is the column
            Some(i) if i >= 0 && (i as usize) < self.nodes.len() => {
                (1 + self.nodes[i as usize] as usize).min(total)
            }
            _ => total,
        }
    }

    fn finish(&self, t: &mut Table, first: usize, rows: usize) -> String {
        if self.opts.compress {
            for c in 0..t.ncols() {
                t.auto_width(c, 4, 16);
            }
        }
        if self.opts.sort && rows > 0 {
            t.sort_desc(first, first + rows - 1, self.sort_col());
        }
        t.render(self.width, self.opts.zeros)
    }

    /// The nodes' `numastat` counters: raw under `nodeN` headers in the old
    /// format, else in MB.
    fn numastat_table(&mut self, compat: bool) -> Result<(), Stop> {
        let hr = if compat { 1 } else { 2 };
        let n = self.nodes.len();
        let mut t = Table::new(hr, hr + NUMASTAT_ROWS.len(), n + 2);
        for (i, (tok, label)) in NUMASTAT_ROWS.iter().enumerate() {
            t.set(
                hr + i,
                0,
                Cell::Text(if compat { tok } else { label }.to_string()),
            );
        }
        let label = |id: u32| {
            if compat {
                format!("node{id}")
            } else {
                format!("Node {id}")
            }
        };
        self.node_header(&mut t, &label, !compat, !compat);
        let page = numakit_placement::page_size() as f64;
        for (i, node) in self.nodes.clone().into_iter().enumerate() {
            let path = format!("{NODE_DIR}/node{node}/numastat");
            let text = self
                .root
                .read_to_string(&path)
                .map_err(|e| Stop(format!("cannot open {path}: {}", strerror(&e))))?;
            for (k, v) in numakit_stat::counters::parse(&text).values {
                let Some(row) = NUMASTAT_ROWS.iter().position(|(tok, _)| *tok == k) else {
                    continue;
                };
                let v = if compat {
                    v as f64
                } else {
                    v as f64 * page / MB
                };
                t.set(hr + row, i + 1, Cell::Num(v));
                t.add(hr + row, n + 1, v);
            }
        }
        let s = self.finish(&mut t, hr, NUMASTAT_ROWS.len());
        self.out.push_str(&s);
        Ok(())
    }

    /// Every `meminfo` line of the nodes, in the kernel's order, in MB;
    /// `HugePages_*` from the nodes' pools of every size.
    fn meminfo_table(&mut self, huge: f64) -> Result<(), Stop> {
        let n = self.nodes.len();
        let mut files = Vec::with_capacity(n);
        for node in &self.nodes {
            let path = format!("{NODE_DIR}/node{node}/meminfo");
            let text = self
                .root
                .read_to_string(&path)
                .map_err(|e| Stop(format!("cannot open {path}: {}", strerror(&e))))?;
            let pools =
                system::read_hugepages(&self.root, &format!("{NODE_DIR}/node{node}/hugepages"));
            files.push((meminfo::parse(&text), pools));
        }
        let mut keys: Vec<String> = Vec::new();
        for (m, _) in &files {
            for f in &m.fields {
                if !keys.contains(&f.key) {
                    keys.push(f.key.clone());
                }
            }
        }
        let mut t = Table::new(2, 2 + keys.len(), n + 2);
        for (i, k) in keys.iter().enumerate() {
            t.set(2 + i, 0, Cell::Text(k.clone()));
        }
        self.node_header(&mut t, &|id| format!("Node {id}"), true, true);
        let page = numakit_placement::page_size() as f64;
        for (i, (m, pools)) in files.iter().enumerate() {
            for f in &m.fields {
                let row = 2 + keys.iter().position(|k| *k == f.key).unwrap_or(0);
                let v = meminfo_mb(&f.key, f.value, pools, huge, page);
                t.set(row, i + 1, Cell::Num(v));
                t.add(row, n + 1, v);
            }
        }
        let s = self.finish(&mut t, 2, keys.len());
        self.out.push_str(&s);
        Ok(())
    }
}

/// A meminfo value in MB: sizes from kB; `HugePages_Total`, `_Free` and
/// `_Surp` as the pages of every pool size (the count at the default size
/// when the node has no pool folder); other counts as numastat counts them.
fn meminfo_mb(key: &str, v: Value, pools: &[system::HugePool], huge: f64, page: f64) -> f64 {
    let pick = |p: &system::HugePool| match key {
        "HugePages_Total" => p.total,
        "HugePages_Free" => p.free,
        _ => p.surplus,
    };
    match v {
        Value::Bytes(b) => b as f64 / MB,
        Value::Count(c) if key.starts_with("HugePages") => {
            if pools.is_empty() || key == "HugePages_Rsvd" {
                c as f64 * huge / MB
            } else {
                pools
                    .iter()
                    .map(|p| pick(p).unwrap_or(0) as f64 * p.page_size as f64)
                    .sum::<f64>()
                    / MB
            }
        }
        // numastat counts a bare number (fewer than four words) in pages
        Value::Count(c) => c as f64 * page / MB,
    }
}
