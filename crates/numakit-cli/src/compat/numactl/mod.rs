//! numactl 2.0.19 compatibility: argument translation only.
//!
//! Invoked as `numactl` (a symlink to `numakit`) or as `numakit numactl
//! ...`, this reads numactl's options the way numactl's `getopt_long` does
//! ([`getopt`]) and its node and CPU specifications the way libnuma does
//! ([`spec`]), in the same order, with the same messages and exit status 1
//! where numactl stops (`<spec> is invalid` on stdout and the usage text on
//! stderr, `numactl: Conflicting policies`, `numactl: execution of `cmd':
//! No such file or directory`, getopt's complaints). What to do is then a
//! [`RunRequest`], checked against the live machine before anything is
//! applied (so a node outside the cpuset, a node without memory or a mode
//! the kernel lacks stops the command with `numactl: <why>` and status 1),
//! applied to this process and followed by exec.
//!
//! `--show` and `--hardware` print what numactl 2.0.19 prints ([`show`],
//! [`crate::render::hardware`]); `--version` prints `2.0.19`.
//!
//! Not supported yet: `--shm` and `--file` (policy on a shared memory
//! segment or a tmpfs/hugetlbfs file) stop with a clear error, so the
//! options that only make sense after them (`--touch`, `--verify`,
//! `--dump`, `--dump-nodes`) behave as numactl does without a segment, and
//! `--length`, `--offset`, `--shmmode`, `--huge` are refused for a process
//! as numactl refuses them. `ip:HOST` node specifications are refused
//! (numakit does not look up routes).

mod getopt;
mod show;
mod spec;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use numakit_placement::{
    CpuBinding, DeviceSpec, KernelSupport, Mode, Policy, PolicyFlags, RunRequest,
};
use numakit_root::Root;
use numakit_topo::{Machine, Parts};
use numakit_types::{CpuSet, NodeSet};

use crate::error::CliResult;
use getopt::{Getopt, Opt};

/// The version numactl compatibility follows.
pub const VERSION: &str = "2.0.19";

/// numactl 2.0.19's usage text (stderr, then exit 1).
pub const USAGE: &str = "\
usage: numactl [--all | -a] [--balancing | -b]
               [--interleave= | -i <nodes>] [--weighted-interleave= | -w <nodes>]
               [--preferred= | -p <node>] [--preferred-many= | -P <nodes>]
               [--physcpubind= | -C <cpus>] [--cpunodebind= | -N <nodes>]
               [--membind= | -m <nodes>] [--localalloc | -l] command args ...
               [--localalloc | -l] command args ...
       numactl [--show | -s]
       numactl [--hardware | -H] [--cpu-compress]
       numactl [--version]
       numactl [--length | -L <length>] [--offset | -o <offset>] [--shmmode | -M <shmmode>]
               [--strict | -t]
               [--shmid | -I <id>] --shm | -S <shmkeyfile>
               [--shmid | -I <id>] --file | -f <tmpfsfile>
               [--huge | -u] [--touch | -T] 
               memory policy [--dump | -d] [--dump-nodes | -D]

memory policy is --preferred | -p, --membind | -m, --localalloc | -l,
                 --interleave | -i, --weighted-interleave | -w
<nodes> is a comma delimited list of node numbers or A-B ranges or all.
Instead of a number a node can also be:
  netdev:DEV the node connected to network device DEV
  file:PATH  the node the block device of path is connected to
  ip:HOST    the node of the network device host routes through
  block:PATH the node of block device path
  pci:[seg:]bus:dev[:func] The node of a PCI device
<cpus> is a comma delimited list of cpu numbers or A-B ranges or all
all ranges can be inverted with !
all numbers and ranges can be made cpuset-relative with +
the old --cpubind argument is deprecated.
use --cpunodebind or --physcpubind instead
use --balancing | -b to enable Linux kernel NUMA balancing
for the process if it is supported by kernel
<length> can have g (GB), m (MB) or k (KB) suffixes
";

/// Runs the numactl-compatible interface with numactl's arguments (argv[0] removed).
pub fn run(args: Vec<OsString>) -> CliResult<u8> {
    // A NUMAKIT_ROOT that does not open is an error, never a silent fallback
    // to the live system.
    let root = match std::env::var_os("NUMAKIT_ROOT") {
        Some(p) => match Root::open(&p) {
            Ok(r) => r,
            Err(e) => {
                return Ok(
                    Fail::Error(format!("NUMAKIT_ROOT: {}", crate::error::chain(&e))).report(),
                );
            }
        },
        None => Root::live(),
    };
    let mut s = Session::new(program_name(), root);
    Ok(match s.main(args) {
        Ok(code) => code,
        Err(f) => f.report(),
    })
}

/// How getopt names the program: `argv[0]` when invoked as `numactl`.
fn program_name() -> String {
    match std::env::args_os().next() {
        Some(a) if std::path::Path::new(&a).file_name() == Some(OsStr::new("numactl")) => {
            a.to_string_lossy().into_owned()
        }
        _ => "numactl".to_string(),
    }
}

/// Where numactl stops, and what it prints then. Every one exits 1.
#[derive(Debug)]
enum Fail {
    /// `usage()`.
    Usage,
    /// `usage_msg()`: `numactl: MSG` on stderr, a line end on stdout, usage.
    UsageMsg(String),
    /// A specification libnuma refused: its warning, `<SPEC> is invalid` on
    /// stdout, usage.
    Invalid {
        spec: String,
        warning: Option<String>,
    },
    /// `complain()`: `numactl: MSG` on stderr, a line end on stdout.
    Complain(String),
    /// A getopt complaint (already formatted), then usage.
    Getopt(String),
    /// Anything numakit refuses or fails at: `numactl: MSG`.
    Error(String),
}

impl Fail {
    fn report(self) -> u8 {
        let mut out = Vec::new();
        let mut err = Vec::new();
        match self {
            Fail::Usage => err.extend_from_slice(USAGE.as_bytes()),
            Fail::UsageMsg(m) => {
                err.extend_from_slice(format!("numactl: {m}").as_bytes());
                out.push(b'\n');
                err.extend_from_slice(USAGE.as_bytes());
            }
            Fail::Invalid { spec, warning } => {
                if let Some(w) = warning {
                    err.extend_from_slice(w.as_bytes());
                }
                out.extend_from_slice(format!("<{spec}> is invalid\n").as_bytes());
                err.extend_from_slice(USAGE.as_bytes());
            }
            Fail::Complain(m) => {
                err.extend_from_slice(format!("numactl: {m}").as_bytes());
                out.push(b'\n');
            }
            Fail::Getopt(m) => {
                err.extend_from_slice(m.as_bytes());
                err.extend_from_slice(USAGE.as_bytes());
            }
            Fail::Error(m) => {
                err.extend_from_slice(
                    format!("numactl: {}\n", crate::output::sanitize(&m)).as_bytes(),
                );
            }
        }
        // stderr first, as numactl writes it (stderr is unbuffered there).
        let _ = std::io::stderr().write_all(&err);
        let mut o = std::io::stdout();
        let _ = o.write_all(&out).and_then(|_| o.flush());
        1
    }
}

fn placement_error(e: numakit_placement::Error) -> Fail {
    Fail::Error(crate::error::chain(&e))
}

/// numactl's state while it reads its options.
struct Session {
    prog: String,
    root: Root,
    machine: Option<Machine>,
    machine_pci: Option<Machine>,
    req: RunRequest,
    /// A policy option was seen (`setpolicy`).
    set_policy: bool,
    /// `--all`: specifications are read against every node and CPU.
    parse_all: bool,
    did_node_cpu_parse: bool,
    did_cpubind: bool,
    balancing: bool,
    hardware: bool,
    cpu_compress: bool,
    strict: bool,
    /// The last shared-memory option seen (`--length`, ...).
    shm_option: Option<&'static str>,
    /// The last node specification, for `same`.
    last_spec: Option<Vec<u8>>,
}

impl Session {
    fn new(prog: String, root: Root) -> Session {
        Session {
            prog,
            root,
            machine: None,
            machine_pci: None,
            req: RunRequest::default(),
            set_policy: false,
            parse_all: false,
            did_node_cpu_parse: false,
            did_cpubind: false,
            balancing: false,
            hardware: false,
            cpu_compress: false,
            strict: false,
            shm_option: None,
            last_spec: None,
        }
    }

    fn machine(&mut self) -> &Machine {
        let root = &self.root;
        self.machine.get_or_insert_with(|| {
            let parts = Parts {
                cpus: true,
                allowed: true,
                pci: false,
                iommu: false,
                knobs: false,
                node_details: false,
            };
            Machine::discover_parts(root, parts)
        })
    }

    fn kernel(&mut self) -> KernelSupport {
        KernelSupport::from_machine(self.machine())
    }

    fn main(&mut self, args: Vec<OsString>) -> Result<u8, Fail> {
        let mut g = Getopt::new(args, &self.prog);
        for step in g.by_ref() {
            let (opt, arg) = step.map_err(Fail::Getopt)?;
            let arg = arg.unwrap_or_default();
            if let Some(code) = self.option(opt, &arg)? {
                return Ok(code);
            }
        }
        let command = g.rest().to_vec();
        if self.hardware {
            return self.print_hardware();
        }
        if self.strict {
            let _ = std::io::stderr()
                .write_all(b"numactl: warning. Strict flag for process ignored.\n");
        }
        if let Some(opt) = self.shm_option {
            return Err(Fail::UsageMsg(format!(
                "shm related option {opt} for process"
            )));
        }
        let plan = self.plan()?;
        let Some((program, rest)) = command.split_first() else {
            return Err(Fail::Usage);
        };
        if let Some(plan) = plan {
            plan.apply_to_current_process(&self.root)
                .map_err(placement_error)?;
        }
        Err(exec(program, rest))
    }

    /// Checks the request against the machine; `None` when it asks for nothing.
    fn plan(&mut self) -> Result<Option<numakit_placement::Plan>, Fail> {
        if self.req == RunRequest::default() {
            return Ok(None);
        }
        if !self.root.is_live() {
            return Err(Fail::Error(format!(
                "cannot apply a placement: the machine was read from {}, not the running system",
                self.root.label()
            )));
        }
        let kernel = self.kernel();
        let req = self.req.clone();
        let root = self.root.clone();
        let m = self.machine();
        req.validate_with_root(m, &kernel, Some(&root))
            .map(Some)
            .map_err(placement_error)
    }

    /// Handles one option; `Some(code)` ends the program.
    fn option(&mut self, opt: Opt, arg: &OsStr) -> Result<Option<u8>, Fail> {
        match opt {
            Opt::Show => {
                if let Some(plan) = self.plan()? {
                    plan.apply_to_current_process(&self.root)
                        .map_err(placement_error)?;
                }
                return self.print_show().map(Some);
            }
            Opt::Hardware => {
                self.no_policy()?;
                self.hardware = true;
            }
            Opt::Balancing => {
                self.no_policy()?;
                self.balancing = true;
            }
            Opt::Interleave | Opt::WeightedInterleave => {
                let nodes = self.node_spec(arg)?;
                self.did_node_cpu_parse = true;
                self.set_policy()?;
                let mode = if opt == Opt::Interleave {
                    Mode::Interleave
                } else {
                    Mode::WeightedInterleave
                };
                // libnuma sets the default policy for an empty interleave mask.
                self.req.memory = Some(if nodes.is_empty() {
                    Policy::default_policy()
                } else {
                    Policy::new(mode, nodes, PolicyFlags::empty())
                });
            }
            Opt::CpuNodeBind | Opt::CpuBind => {
                self.dont_shm("-c/--cpubind/--cpunodebind")?;
                let nodes = self.node_spec(arg)?;
                self.did_cpubind = true;
                self.did_node_cpu_parse = true;
                self.req.cpus = Some(CpuBinding::Nodes(nodes));
            }
            Opt::PhysCpuBind => {
                self.dont_shm("-C/--physcpubind")?;
                let cpus = self.cpu_spec(arg)?;
                self.did_cpubind = true;
                self.did_node_cpu_parse = true;
                self.req.cpus = Some(CpuBinding::Cpus(cpus));
            }
            Opt::MemBind => {
                self.set_policy()?;
                let nodes = self.node_spec(arg)?;
                self.did_node_cpu_parse = true;
                // Like libnuma: balancing is dropped where the kernel lacks it.
                let flags = if self.balancing && self.kernel().numa_balancing {
                    PolicyFlags::NUMA_BALANCING
                } else {
                    PolicyFlags::empty()
                };
                self.req.memory = Some(Policy::bind(nodes).with_flags(flags));
            }
            Opt::Preferred | Opt::PreferredMany => {
                if opt == Opt::PreferredMany && !self.kernel().preferred_many {
                    return Err(Fail::Complain(
                        "preferred-many requested without kernel support".into(),
                    ));
                }
                let nodes = self.node_spec(arg)?;
                self.did_node_cpu_parse = true;
                if opt == Opt::Preferred {
                    let (Some(first), 1) = (nodes.first(), nodes.len()) else {
                        return Err(Fail::Usage);
                    };
                    self.set_policy()?;
                    self.req.memory = Some(Policy::preferred(first));
                } else {
                    self.set_policy()?;
                    self.req.memory = Some(Policy::preferred_many(nodes));
                }
            }
            Opt::LocalAlloc => {
                self.set_policy()?;
                self.req.memory = Some(Policy::local());
            }
            Opt::Shm | Opt::File => {
                if self.did_cpubind {
                    return Err(Fail::UsageMsg(
                        "cannot do --cpubind on shared memory\n".into(),
                    ));
                }
                self.no_policy()?;
                let name = if opt == Opt::Shm { "--shm" } else { "--file" };
                return Err(Fail::Error(format!(
                    "{name} (a policy on shared memory or a tmpfs/hugetlbfs file) is not supported by numakit yet"
                )));
            }
            Opt::Length => self.no_shm("--length"),
            Opt::Offset => self.no_shm("--offset"),
            Opt::Huge => self.no_shm("--huge"),
            Opt::ShmMode => {
                self.no_shm("--shmmode");
                let b = arg.as_bytes();
                let digits = b.trim_ascii_start();
                let digits = digits
                    .strip_prefix(b"+")
                    .or_else(|| digits.strip_prefix(b"-"))
                    .unwrap_or(digits);
                if digits.is_empty() || !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
                    return Err(Fail::Usage);
                }
            }
            Opt::ShmId => {
                let b = arg.as_bytes();
                let (_, n) = spec::strtoul(b);
                if n == 0 || n != b.len() {
                    return Err(Fail::Usage);
                }
            }
            Opt::Dump => {
                return Err(Fail::Complain(
                    "Cannot do --dump without shared memory.\n".into(),
                ));
            }
            Opt::DumpNodes => {
                return Err(Fail::Complain(
                    "Cannot do --dump-nodes without shared memory.\n".into(),
                ));
            }
            Opt::Strict => self.strict = true,
            Opt::Touch => {
                return Err(Fail::UsageMsg(
                    "--touch must be after shared memory specification".into(),
                ));
            }
            Opt::Verify => {
                return Err(Fail::UsageMsg(
                    "--verify must be after shared memory specification".into(),
                ));
            }
            Opt::All => {
                if self.did_node_cpu_parse {
                    return Err(Fail::UsageMsg(
                        "--all/-a option must be before all cpu/node specifications".into(),
                    ));
                }
                self.parse_all = true;
            }
            Opt::CpuCompress => self.cpu_compress = true,
            Opt::Version => {
                self.no_policy()?;
                let mut o = std::io::stdout();
                let _ = writeln!(o, "{VERSION}").and_then(|_| o.flush());
                return Ok(Some(0));
            }
        }
        Ok(None)
    }

    fn set_policy(&mut self) -> Result<(), Fail> {
        if self.set_policy {
            return Err(Fail::UsageMsg("Conflicting policies".into()));
        }
        self.set_policy = true;
        Ok(())
    }

    fn no_policy(&self) -> Result<(), Fail> {
        if self.set_policy {
            return Err(Fail::UsageMsg("specify policy after --shm/--file".into()));
        }
        Ok(())
    }

    fn no_shm(&mut self, opt: &'static str) {
        self.shm_option = Some(opt);
    }

    fn dont_shm(&self, opt: &str) -> Result<(), Fail> {
        match self.shm_option {
            Some(s) => Err(Fail::UsageMsg(format!(
                "{s} shm option is not allowed before {opt}"
            ))),
            None => Ok(()),
        }
    }

    /// The bounds of a node specification.
    fn node_bounds(&mut self) -> spec::Bounds {
        let parse_all = self.parse_all;
        let mask_bits = nodemask_bits(&self.root);
        let m = self.machine();
        let ids: BTreeSet<u32> = m.node_ids().iter_raw().collect();
        let allowed = if parse_all {
            (0..=ids.last().copied().unwrap_or(0)).collect()
        } else {
            match &m.allowed.mems {
                Some(a) => a.iter_raw().collect(),
                None => ids,
            }
        };
        let with_memory = m
            .nodes
            .iter()
            .filter(|n| n.memory_total_bytes.is_some_and(|b| b > 0))
            .count() as u32;
        spec::Bounds {
            allowed,
            mask_bits,
            invert_limit: with_memory,
        }
    }

    /// The bounds of a CPU specification.
    fn cpu_bounds(&mut self) -> spec::Bounds {
        let parse_all = self.parse_all;
        let m = self.machine();
        let max = m.cpus.iter().map(|c| c.id.0).max().unwrap_or(0);
        let configured: BTreeSet<u32> = (0..=max).collect();
        let allowed = match (&m.allowed.cpus, parse_all) {
            (Some(a), false) => a.iter_raw().filter(|c| *c <= max).collect(),
            _ => configured,
        };
        spec::Bounds {
            allowed,
            mask_bits: (max + 1).div_ceil(64).max(1) * 64,
            invert_limit: max + 1,
        }
    }

    fn node_spec(&mut self, arg: &OsStr) -> Result<NodeSet, Fail> {
        let mut s = arg.as_bytes().to_vec();
        if s == b"same" {
            match &self.last_spec {
                Some(l) => s = l.clone(),
                None => {
                    return Err(Fail::UsageMsg(
                        "same needs previous node specification".into(),
                    ));
                }
            }
        } else {
            self.last_spec = Some(s.clone());
        }
        let bounds = self.node_bounds();
        if s.contains(&b':') && self.machine_pci.is_none() {
            self.machine_pci = Some(Machine::discover_parts(
                &self.root,
                Parts {
                    cpus: true,
                    allowed: true,
                    pci: true,
                    iommu: false,
                    knobs: false,
                    node_details: false,
                },
            ));
        }
        let root = &self.root;
        let pci = self.machine_pci.as_ref();
        let mut resolve = |rest: &[u8]| match pci {
            Some(m) => device_nodes(root, m, rest),
            None => None,
        };
        spec::parse(&s, spec::Kind::Node, &bounds, &mut resolve)
            .map(NodeSet::from_raw)
            .map_err(|e| Fail::Invalid {
                spec: arg.to_string_lossy().into_owned(),
                warning: e.warning,
            })
    }

    fn cpu_spec(&mut self, arg: &OsStr) -> Result<CpuSet, Fail> {
        let bounds = self.cpu_bounds();
        let mut none = |_: &[u8]| None;
        spec::parse(arg.as_bytes(), spec::Kind::Cpu, &bounds, &mut none)
            .map(CpuSet::from_raw)
            .map_err(|e| Fail::Invalid {
                spec: arg.to_string_lossy().into_owned(),
                warning: e.warning,
            })
    }

    fn print_show(&mut self) -> Result<u8, Fail> {
        let cur = numakit_placement::current_policy().map_err(placement_error)?;
        let next = numakit_placement::interleave_next_node().map_or(0, |n| n.0);
        let m = self.machine();
        let run_nodes = NodeSet::from_raw(cur.mems_allowed.iter_raw().filter(|&n| {
            m.node(n.into())
                .is_some_and(|node| node.cpus.intersects(&cur.cpus))
        }));
        let text = show::render(&show::Shown {
            mode: cur.policy.mode,
            nodes: cur.policy.nodes.clone(),
            interleave_next: next,
            cpus: cur.cpus.clone(),
            mems_allowed: cur.mems_allowed.clone(),
            run_nodes,
        });
        let mut o = std::io::stdout();
        let _ = o.write_all(text.as_bytes()).and_then(|_| o.flush());
        Ok(0)
    }

    fn print_hardware(&mut self) -> Result<u8, Fail> {
        let cpu_compress = self.cpu_compress;
        // --hardware needs only the nodes: read no more unless an option
        // already read the machine
        let nodes_only;
        let m = match &self.machine {
            Some(m) => m,
            None => {
                nodes_only = Machine::discover_parts(&self.root, Parts::NODES);
                &nodes_only
            }
        };
        let text = crate::render::hardware::numactl_hardware(m, cpu_compress);
        let code = u8::from(!crate::render::hardware::numa_available(m));
        let mut o = std::io::stdout();
        let _ = o.write_all(text.as_bytes()).and_then(|_| o.flush());
        Ok(code)
    }
}

/// libnuma's node mask size: from the length of `Mems_allowed` in
/// `/proc/self/status` (9 characters per 32 bits), else 1024.
fn nodemask_bits(root: &Root) -> u32 {
    root.read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Mems_allowed:\t")
                    .map(|v| (v.len() as u32 + 1) * 32 / 9)
            })
        })
        .filter(|&b| b > 0)
        .unwrap_or(1024)
}

/// The nodes of a device specification (`netdev:`, `pci:`, `block:`,
/// `file:`, `ip:`), or `None` when `rest` is not one.
fn device_nodes(root: &Root, m: &Machine, rest: &[u8]) -> Option<Result<BTreeSet<u32>, String>> {
    let text = String::from_utf8_lossy(rest).into_owned();
    let (kind, what) = text.split_once(':')?;
    let what = what.trim_start();
    let spec = match kind {
        "netdev" => Ok(DeviceSpec::Net(what.to_string())),
        "block" => Ok(DeviceSpec::Block(what.to_string())),
        "pci" => pci_address(what).map(DeviceSpec::Pci).ok_or_else(|| {
            format!("cannot read PCI device '{what}': expected [seg:]bus:dev[.func] in hex")
        }),
        "file" => block_of_file(root, what).map(DeviceSpec::Block),
        "ip" => Err(format!(
            "ip:{what}: node specifications by IP address are not supported by numakit yet"
        )),
        _ => return None,
    };
    let spec = match spec {
        Ok(s) => s,
        Err(e) => return Some(Err(format!("numactl: {}\n", crate::output::sanitize(&e)))),
    };
    Some(
        spec.resolve(m, Some(root))
            .map(|d| BTreeSet::from([d.node.0]))
            .map_err(|e| {
                format!(
                    "numactl: {text}: {}\n",
                    crate::output::sanitize(&crate::error::chain(&e))
                )
            }),
    )
}

/// `[seg:]bus:dev[.func]`, numbers in hex, as libnuma reads `pci:`.
fn pci_address(s: &str) -> Option<numakit_types::PciAddress> {
    let hex = |t: &str| u32::from_str_radix(t, 16).ok();
    let parts: Vec<&str> = s.split(':').collect();
    let (seg, bus, devfn) = match parts.as_slice() {
        [bus, devfn] => (0, hex(bus)?, *devfn),
        [seg, bus, devfn] => (hex(seg)?, hex(bus)?, *devfn),
        _ => return None,
    };
    let (dev, func) = match devfn.split_once('.') {
        Some((d, f)) => (hex(d)?, hex(f)?),
        None => (hex(devfn)?, 0),
    };
    format!("{seg:04x}:{bus:02x}:{dev:02x}.{func:x}")
        .parse()
        .ok()
}

/// The block device (`sda`, `nvme0n1p2`) holding `path`, or the device
/// itself for a block device node.
fn block_of_file(root: &Root, path: &str) -> Result<String, String> {
    let md = std::fs::metadata(path).map_err(|e| format!("cannot stat {path}: {e}"))?;
    let dev = if md.file_type().is_block_device() {
        md.rdev()
    } else {
        md.dev()
    };
    let (major, minor) = (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    );
    let want = format!("{major}:{minor}");
    let names = root
        .read_dir("/sys/class/block")
        .map_err(|e| format!("cannot list /sys/class/block: {e}"))?;
    names
        .into_iter()
        .find(|n| {
            root.read_trim(&format!("/sys/class/block/{n}/dev"))
                .as_deref()
                == Some(&want)
        })
        .ok_or_else(|| format!("no block device {want} in /sys/class/block for {path}"))
}

/// Replaces this process with the command (searched in `PATH`); returns
/// numactl's complaint when that fails.
fn exec(program: &OsString, args: &[OsString]) -> Fail {
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(program).args(args).exec();
    let why = match e.raw_os_error() {
        Some(code) => strerror(code),
        None => e.to_string(),
    };
    Fail::Complain(format!(
        "execution of `{}': {why}\n",
        program.to_string_lossy()
    ))
}

/// The C library's text for an errno (`No such file or directory`).
fn strerror(code: i32) -> String {
    let s = std::io::Error::from_raw_os_error(code).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_forms() {
        let a = |s: &str| pci_address(s).map(|a| a.to_string());
        assert_eq!(a("0:41:0.0").as_deref(), Some("0000:41:00.0"));
        assert_eq!(a("41:0").as_deref(), Some("0000:41:00.0"));
        assert_eq!(a("1:3b:1f.7").as_deref(), Some("0001:3b:1f.7"));
        assert_eq!(a("zz:0.0"), None);
        assert_eq!(a("0"), None);
    }

    #[test]
    fn errno_text() {
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(strerror(13), "Permission denied");
    }
}
