//! numactl 2.0.19 compatibility: argument translation only.
//!
//! Invoked as `numactl` (a symlink to `numakit`) or as `numakit numactl
//! ...`, this reads numactl's options the way numactl's `getopt_long` does
//! ([`getopt`]), one at a time in numactl's order ([`options`]), and its
//! node and CPU specifications the way libnuma does ([`spec`], bounded by
//! this machine in [`resolve`]; device names are found by
//! [`numakit_topo::locate`]), with the same messages and exit status 1
//! where numactl stops ([`fail`]: `<spec> is invalid` on stdout and the
//! usage text on stderr, `numactl: Conflicting policies`, `numactl:
//! execution of `cmd': No such file or directory`, getopt's complaints).
//! What to do is then a [`RunRequest`], checked against the live machine
//! before anything is applied (so a node outside the cpuset, a node without
//! memory or a mode the kernel lacks stops the command with `numactl:
//! <why>` and status 1), applied to this process and followed by
//! [`numakit_placement::exec`].
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

mod fail;
mod getopt;
mod options;
mod resolve;
mod show;
pub(crate) mod spec;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use numakit_placement::{CpuBinding, KernelSupport, Plan, RunRequest};
use numakit_root::Root;
use numakit_topo::{Machine, Parts};
use numakit_types::NodeSet;

use crate::error::{CliResult, chain};
use crate::render::hardware::{CpuLists, numa_available, numactl_hardware};
use fail::Fail;
use getopt::Getopt;
use options::{Options, Seen};

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

/// What the options and specifications read: the nodes, the CPUs and the
/// allowed sets.
const PARTS: Parts = Parts {
    cpus: true,
    allowed: true,
    ..Parts::NODES
};

/// Runs the numactl-compatible interface with numactl's arguments (argv[0]
/// removed), on `root` (`numakit --root R numactl ...`), else on
/// `NUMAKIT_ROOT` where set and not empty, else on the live system.
pub fn run(args: Vec<OsString>, root: Option<PathBuf>) -> CliResult<u8> {
    // A root that does not open is an error, never a silent fallback to the
    // live system.
    let (what, path) = match root {
        Some(p) => ("--root", Some(p)),
        None => ("NUMAKIT_ROOT", crate::cli::env_root()),
    };
    let root = match path {
        Some(p) => match Root::open(&p) {
            Ok(r) => r,
            Err(e) => return Ok(Fail::Error(format!("{what}: {}", chain(&e))).report()),
        },
        None => Root::live(),
    };
    let mut s = Session {
        prog: program_name(),
        root,
        machine: MachineCache::default(),
        opts: Options::default(),
    };
    Ok(match s.main(args) {
        Ok(code) => code,
        Err(f) => f.report(),
    })
}

/// libnuma's `numa_parse_nodestring` on the live system, for migratepages:
/// the nodes, or libnuma's warning (where it prints one) when the
/// specification is refused.
pub fn parse_nodestring(arg: &OsStr) -> Result<NodeSet, Option<Vec<u8>>> {
    let mut s = Session {
        prog: "migratepages".into(),
        root: Root::live(),
        machine: MachineCache::default(),
        opts: Options::default(),
    };
    s.node_spec(arg).map_err(|f| match f {
        Fail::Invalid { warning, .. } => warning,
        _ => None,
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

/// The machine, read once with the parts asked for, and read again with
/// more when a later option needs more (the PCI devices for a device name).
#[derive(Debug, Default)]
struct MachineCache {
    cached: Option<(Parts, Machine)>,
}

impl MachineCache {
    /// The machine with at least `parts` read.
    fn get(&mut self, root: &Root, parts: Parts) -> &Machine {
        let want = match &self.cached {
            Some((have, _)) if have.contains(parts) => *have,
            Some((have, _)) => {
                let want = have.union(parts);
                self.cached = None;
                want
            }
            None => parts,
        };
        &self
            .cached
            .get_or_insert_with(|| (want, Machine::discover_parts(root, want)))
            .1
    }
}

/// numactl at work: where it reads the machine from, the machine as read so
/// far, and what the options asked for.
struct Session {
    /// The program name for getopt's messages.
    prog: String,
    root: Root,
    machine: MachineCache,
    opts: Options,
}

impl Session {
    /// The machine, with what options and specifications read.
    fn machine(&mut self) -> &Machine {
        self.machine.get(&self.root, PARTS)
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
        if self.opts.seen.contains(Seen::HARDWARE) {
            return self.print_hardware();
        }
        if self.opts.seen.contains(Seen::STRICT) {
            let _ = std::io::stderr()
                .write_all(b"numactl: warning. Strict flag for process ignored.\n");
        }
        if let Some(opt) = self.opts.shm_option {
            return Err(Fail::UsageMsg(format!(
                "shm related option {opt} for process"
            )));
        }
        let plan = self.plan()?;
        let Some((program, rest)) = command.split_first() else {
            return Err(Fail::Usage);
        };
        if let Some(plan) = plan {
            plan.apply_to_current_process(&self.root)?;
        }
        Err(exec(program, rest))
    }

    /// Checks the request against the machine; `None` when it asks for nothing.
    fn plan(&mut self) -> Result<Option<Plan>, Fail> {
        if self.opts.req == RunRequest::default() {
            return Ok(None);
        }
        numakit_placement::require_live(&self.root, "apply a placement")?;
        let kernel = self.kernel();
        let m = self.machine.get(&self.root, PARTS);
        // sched_setaffinity keeps the CPUs the cpuset allows and fails
        // only when none is left; numactl then prints perror's line
        if let (Some(CpuBinding::Cpus(cpus)), Some(allowed)) =
            (&self.opts.req.cpus, &m.allowed.cpus)
        {
            let kept = cpus.intersection(allowed);
            if kept.is_empty() {
                return Err(Fail::Perror("sched_setaffinity: Invalid argument\n".into()));
            }
            self.opts.req.cpus = Some(CpuBinding::Cpus(kept));
        }
        Ok(Some(self.opts.req.validate_with_root(
            m,
            &kernel,
            Some(&self.root),
        )?))
    }

    /// Checks and applies what the options asked for so far.
    fn apply(&mut self) -> Result<(), Fail> {
        if let Some(plan) = self.plan()? {
            plan.apply_to_current_process(&self.root)?;
        }
        Ok(())
    }

    fn print_show(&mut self) -> Result<u8, Fail> {
        let cur = numakit_placement::current_policy()?;
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
        let cpus = if self.opts.seen.contains(Seen::CPU_COMPRESS) {
            CpuLists::Compressed
        } else {
            CpuLists::Each
        };
        // --hardware needs only the nodes: read no more unless an option
        // already read the machine
        let m = self.machine.get(&self.root, Parts::NODES);
        let text = numactl_hardware(m, cpus);
        let code = u8::from(!numa_available(m));
        let mut o = std::io::stdout();
        let _ = o.write_all(text.as_bytes()).and_then(|_| o.flush());
        Ok(code)
    }
}

/// Replaces this process with the command (searched in `PATH`); returns
/// numactl's complaint, in the C library's words, when that fails.
fn exec(program: &OsString, args: &[OsString]) -> Fail {
    let why = match numakit_placement::exec(program, args) {
        numakit_placement::Error::Exec {
            errno: Some(errno), ..
        } => strerror(&errno.to_io()),
        numakit_placement::Error::Exec { why, .. } => why,
        other => chain(&other),
    };
    let mut m = b"execution of `".to_vec();
    m.extend_from_slice(program.as_bytes());
    m.extend_from_slice(format!("': {why}\n").as_bytes());
    Fail::Complain(m)
}

/// The C library's text for an OS error (`No such file or directory`).
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_text() {
        let t = |code| strerror(&std::io::Error::from_raw_os_error(code));
        assert_eq!(t(2), "No such file or directory");
        assert_eq!(t(13), "Permission denied");
    }
}
