//! numactl's options, read one at a time in numactl's order: what each asks
//! for goes into the [`RunRequest`]; the checks numactl makes between
//! options (a second policy, `--all` after a specification, shared-memory
//! options for a process) stop it with numactl's messages. One small method
//! per option that does more than set a flag.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use numakit_placement::{CpuBinding, Mode, Policy, PolicyFlags, RunRequest};

use super::fail::Fail;
use super::getopt::Opt;
use super::{Session, VERSION, spec};

bitflags::bitflags! {
    /// Options seen so far that change how later options are read, or
    /// what happens once they are all read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub(super) struct Seen: u8 {
        /// `--all`: specifications are read against every node and CPU,
        /// not only the allowed ones.
        const ALL = 1;
        /// A node or CPU specification was read (`--all` must come first).
        const SPEC = 1 << 1;
        /// `--balancing`: a later `--membind` asks for NUMA balancing.
        const BALANCING = 1 << 2;
        /// `--hardware`: print the nodes instead of running a command.
        const HARDWARE = 1 << 3;
        /// `--cpu-compress`: `--hardware` prints CPU ranges.
        const CPU_COMPRESS = 1 << 4;
        /// `--strict`: warned about, as it means nothing for a process.
        const STRICT = 1 << 5;
    }
}

/// What the options asked for so far.
#[derive(Debug, Default)]
pub(super) struct Options {
    /// The policy and binding to apply. A memory policy in it means a
    /// policy option was seen; a CPU binding, a binding option.
    pub(super) req: RunRequest,
    /// Options that change later ones.
    pub(super) seen: Seen,
    /// The last shared-memory option seen (`--length`, ...), refused for a
    /// process once all options are read.
    pub(super) shm_option: Option<&'static str>,
    /// The last node specification, for `same`.
    pub(super) last_spec: Option<Vec<u8>>,
}

/// What numactl prints when the kernel refuses an empty set: libnuma's
/// `perror` of the call, then numactl's `checkerror` of the option.
const EMPTY_MEMBIND: &str = "set_mempolicy: Invalid argument\nsetting membind: Invalid argument\n";
const EMPTY_PREFERRED_MANY: &str =
    "set_mempolicy: Invalid argument\nsetting preferred node: Invalid argument\n";
const EMPTY_CPUNODEBIND: &str = "numa_sched_setaffinity_v2_int() failed: Invalid argument\nsched_setaffinity: Invalid argument\n";
const EMPTY_PHYSCPUBIND: &str = "sched_setaffinity: Invalid argument\n";

impl Session {
    /// Handles one option; `Some(code)` ends the program.
    pub(super) fn option(&mut self, opt: Opt, arg: &OsStr) -> Result<Option<u8>, Fail> {
        match opt {
            // memory policies
            Opt::Interleave => self.interleave(Mode::Interleave, arg)?,
            Opt::WeightedInterleave => self.interleave(Mode::WeightedInterleave, arg)?,
            Opt::MemBind => self.membind(arg)?,
            Opt::Preferred => self.preferred(arg)?,
            Opt::PreferredMany => self.preferred_many(arg)?,
            Opt::LocalAlloc => self.set_policy(Policy::local())?,
            // CPU bindings
            Opt::CpuNodeBind | Opt::CpuBind => self.cpunodebind(arg)?,
            Opt::PhysCpuBind => self.physcpubind(arg)?,
            // shared memory, which numakit does not place yet
            Opt::Shm => self.shm("--shm")?,
            Opt::File => self.shm("--file")?,
            Opt::Length => self.opts.shm_option = Some("--length"),
            Opt::Offset => self.opts.shm_option = Some("--offset"),
            Opt::Huge => self.opts.shm_option = Some("--huge"),
            Opt::ShmMode => self.shmmode(arg)?,
            Opt::ShmId => self.shmid(arg)?,
            Opt::Strict => self.opts.seen |= Seen::STRICT,
            Opt::Dump => return Err(Fail::Complain(NO_SHM_DUMP.into())),
            Opt::DumpNodes => return Err(Fail::Complain(NO_SHM_DUMP_NODES.into())),
            Opt::Touch => return Err(Fail::UsageMsg(TOUCH_AFTER_SHM.into())),
            Opt::Verify => return Err(Fail::UsageMsg(VERIFY_AFTER_SHM.into())),
            // what to do instead of running a command, how to read the rest
            Opt::Show => return self.show().map(Some),
            Opt::Version => return self.version().map(Some),
            Opt::Hardware => {
                self.no_policy_yet()?;
                self.opts.seen |= Seen::HARDWARE;
            }
            Opt::Balancing => {
                self.no_policy_yet()?;
                self.opts.seen |= Seen::BALANCING;
            }
            Opt::All => {
                if self.opts.seen.contains(Seen::SPEC) {
                    return Err(Fail::UsageMsg(ALL_FIRST.into()));
                }
                self.opts.seen |= Seen::ALL;
            }
            Opt::CpuCompress => self.opts.seen |= Seen::CPU_COMPRESS,
        }
        Ok(None)
    }

    /// `--interleave`, `--weighted-interleave`.
    fn interleave(&mut self, mode: Mode, arg: &OsStr) -> Result<(), Fail> {
        let nodes = self.node_spec(arg)?;
        self.opts.seen |= Seen::SPEC;
        // libnuma sets the default policy for an empty interleave mask.
        self.set_policy(if nodes.is_empty() {
            Policy::default_policy()
        } else {
            Policy::new(mode, nodes, PolicyFlags::empty())
        })
    }

    /// `--membind`.
    fn membind(&mut self, arg: &OsStr) -> Result<(), Fail> {
        self.no_second_policy()?;
        let nodes = self.node_spec(arg)?;
        self.opts.seen |= Seen::SPEC;
        if nodes.is_empty() {
            return Err(Fail::Perror(EMPTY_MEMBIND.into()));
        }
        // Like libnuma: balancing is dropped where the kernel lacks it.
        let balancing = self.opts.seen.contains(Seen::BALANCING);
        let flags = if balancing && self.kernel().numa_balancing {
            PolicyFlags::NUMA_BALANCING
        } else {
            PolicyFlags::empty()
        };
        self.set_policy(Policy::bind(nodes).with_flags(flags))
    }

    /// `--preferred`: exactly one node.
    fn preferred(&mut self, arg: &OsStr) -> Result<(), Fail> {
        let nodes = self.node_spec(arg)?;
        self.opts.seen |= Seen::SPEC;
        let (Some(first), 1) = (nodes.first(), nodes.len()) else {
            return Err(Fail::Usage);
        };
        self.set_policy(Policy::preferred(first))
    }

    /// `--preferred-many`, where the kernel has it.
    fn preferred_many(&mut self, arg: &OsStr) -> Result<(), Fail> {
        if !self.kernel().preferred_many {
            return Err(Fail::Complain(
                "preferred-many requested without kernel support".into(),
            ));
        }
        let nodes = self.node_spec(arg)?;
        self.opts.seen |= Seen::SPEC;
        if nodes.is_empty() {
            return Err(Fail::Perror(EMPTY_PREFERRED_MANY.into()));
        }
        self.set_policy(Policy::preferred_many(nodes))
    }

    /// `--cpunodebind` (and its old name `--cpubind`).
    fn cpunodebind(&mut self, arg: &OsStr) -> Result<(), Fail> {
        self.no_shm_before("-c/--cpubind/--cpunodebind")?;
        let nodes = self.node_spec(arg)?;
        if nodes.is_empty() {
            return Err(Fail::Perror(EMPTY_CPUNODEBIND.into()));
        }
        self.set_cpus(CpuBinding::Nodes(nodes));
        Ok(())
    }

    /// `--physcpubind`.
    fn physcpubind(&mut self, arg: &OsStr) -> Result<(), Fail> {
        self.no_shm_before("-C/--physcpubind")?;
        let cpus = self.cpu_spec(arg)?;
        if cpus.is_empty() {
            return Err(Fail::Perror(EMPTY_PHYSCPUBIND.into()));
        }
        self.set_cpus(CpuBinding::Cpus(cpus));
        Ok(())
    }

    /// `--shm`, `--file`: checked as numactl checks them, then refused.
    fn shm(&mut self, name: &str) -> Result<(), Fail> {
        if self.opts.req.cpus.is_some() {
            return Err(Fail::UsageMsg(
                "cannot do --cpubind on shared memory\n".into(),
            ));
        }
        self.no_policy_yet()?;
        Err(Fail::Error(format!(
            "{name} (a policy on shared memory or a tmpfs/hugetlbfs file) is not supported by numakit yet"
        )))
    }

    /// `--shmmode`: an octal mode, as `strtoul(arg, NULL, 8)` takes it.
    fn shmmode(&mut self, arg: &OsStr) -> Result<(), Fail> {
        self.opts.shm_option = Some("--shmmode");
        let b = arg.as_bytes();
        let digits = b.trim_ascii_start();
        let digits = digits
            .strip_prefix(b"+")
            .or_else(|| digits.strip_prefix(b"-"))
            .unwrap_or(digits);
        if digits.is_empty() || !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
            return Err(Fail::Usage);
        }
        Ok(())
    }

    /// `--shmid`: a number and nothing else.
    fn shmid(&mut self, arg: &OsStr) -> Result<(), Fail> {
        let b = arg.as_bytes();
        let (_, n) = spec::strtoul(b);
        if n == 0 || n != b.len() {
            return Err(Fail::Usage);
        }
        Ok(())
    }

    /// `--show`: applies what the options before it asked for, then prints.
    fn show(&mut self) -> Result<u8, Fail> {
        self.apply()?;
        self.print_show()
    }

    /// `--version`.
    fn version(&mut self) -> Result<u8, Fail> {
        self.no_policy_yet()?;
        let mut o = std::io::stdout();
        let _ = writeln!(o, "{VERSION}").and_then(|_| o.flush());
        Ok(0)
    }

    /// Sets the memory policy (numactl's `setpolicy`): one only.
    fn set_policy(&mut self, policy: Policy) -> Result<(), Fail> {
        self.no_second_policy()?;
        self.opts.req.memory = Some(policy);
        Ok(())
    }

    /// Sets the CPU binding; a later one replaces it, as in numactl.
    fn set_cpus(&mut self, binding: CpuBinding) {
        self.opts.seen |= Seen::SPEC;
        self.opts.req.cpus = Some(binding);
    }

    /// A memory policy was already given.
    fn no_second_policy(&self) -> Result<(), Fail> {
        if self.opts.req.memory.is_some() {
            return Err(Fail::UsageMsg("Conflicting policies".into()));
        }
        Ok(())
    }

    /// Options that must come before any policy.
    fn no_policy_yet(&self) -> Result<(), Fail> {
        if self.opts.req.memory.is_some() {
            return Err(Fail::UsageMsg("specify policy after --shm/--file".into()));
        }
        Ok(())
    }

    /// CPU bindings refuse an earlier shared-memory option.
    fn no_shm_before(&self, opt: &str) -> Result<(), Fail> {
        match self.opts.shm_option {
            Some(s) => Err(Fail::UsageMsg(format!(
                "{s} shm option is not allowed before {opt}"
            ))),
            None => Ok(()),
        }
    }
}

const NO_SHM_DUMP: &str = "Cannot do --dump without shared memory.\n";
const NO_SHM_DUMP_NODES: &str = "Cannot do --dump-nodes without shared memory.\n";
const TOUCH_AFTER_SHM: &str = "--touch must be after shared memory specification";
const VERIFY_AFTER_SHM: &str = "--verify must be after shared memory specification";
const ALL_FIRST: &str = "--all/-a option must be before all cpu/node specifications";
