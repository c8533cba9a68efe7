//! What happens when the machine refuses a binding: by default nothing is
//! applied and the refusal is the error; with an opt-in [`Fallback`] the
//! binding steps down and each step is reported.
//!
//! | refused | `--fallback preferred` | `--fallback none` |
//! |---|---|---|
//! | memory bound to nodes (`bind`) | prefer those nodes (`preferred`, or `preferred-many` for several) | prefer them; if that is refused too, no memory policy |
//! | another memory policy | error | no memory policy |
//! | CPU binding | error | no CPU binding (the CPUs the process has) |
//!
//! A refusal is what the machine, not the request, decides: a node or CPU
//! outside the process's cpuset, a node without memory or CPUs, an offline
//! node, and the kernel saying no (`EPERM` from a missing `CAP_SYS_NICE` or a
//! seccomp profile, `EINVAL`, `EACCES`). Mistakes in the request (an unknown
//! device, a node the machine does not have, two policies) stay errors.
//! Steps are taken at validation and again when the kernel refuses what
//! validation let through.

use std::fmt;
use std::str::FromStr;

use numakit_sys::Errno;
use numakit_types::CpuSet;
use serde::Serialize;

use crate::{Error, Mode, Policy, PolicyFlags, Result};

/// How far a refused binding may step down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    /// Refuse (the default).
    #[default]
    Strict,
    /// Memory may go from bind to preferred.
    Preferred,
    /// Memory and CPU binding may be dropped altogether.
    None,
}

impl FromStr for Fallback {
    type Err = Error;
    fn from_str(s: &str) -> Result<Fallback> {
        match s {
            "preferred" => Ok(Fallback::Preferred),
            "none" => Ok(Fallback::None),
            _ => Err(Error::BadChoice {
                option: "--fallback",
                value: s.to_string(),
                expected: "preferred or none",
            }),
        }
    }
}

/// One step down: what was refused, why, and what is done instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What was refused (`memory bind 1`, `CPU binding 2-3`).
    pub refused: String,
    /// Why (the refusal's message).
    pub why: String,
    /// What is done instead.
    pub instead: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} refused ({}); {}",
            self.refused, self.why, self.instead
        )
    }
}

impl Error {
    /// Whether the machine, rather than the request, refused: the errors a
    /// [`Fallback`] may step down from (see the module documentation).
    pub fn is_refusal(&self) -> bool {
        match self {
            Error::NodesNotAllowed { .. }
            | Error::CpusNotAllowed { .. }
            | Error::NodeWithoutMemory { .. }
            | Error::NoCpusOnNodes { .. }
            | Error::OfflineNode { .. }
            | Error::PermissionDenied { .. } => true,
            Error::SteppedDown { last, .. } => last.is_refusal(),
            Error::Syscall { errno, .. } => {
                matches!(
                    *errno,
                    Errno::EINVAL | Errno::EPERM | Errno::EACCES | Errno::ENODEV
                )
            }
            _ => false,
        }
    }
}

/// The softer policy a bind steps down to.
pub(crate) fn preferred_of(p: &Policy) -> Option<Policy> {
    if p.mode != Mode::Bind {
        return None;
    }
    let mode = if p.nodes.len() == 1 {
        Mode::Preferred
    } else {
        Mode::PreferredMany
    };
    Some(Policy::new(mode, p.nodes.clone(), PolicyFlags::empty()))
}

/// Runs `attempt` on `policy`, stepping down as `fallback` allows; the
/// policy that was accepted, or `None` when memory is left unbound.
pub(crate) fn memory_ladder(
    policy: Policy,
    fallback: Fallback,
    steps: &mut Vec<Step>,
    mut attempt: impl FnMut(&Policy) -> Result<()>,
) -> Result<Option<Policy>> {
    let mut current = policy;
    loop {
        let e = match attempt(&current) {
            Ok(()) => return Ok(Some(current)),
            Err(e) if fallback != Fallback::Strict && e.is_refusal() => e,
            Err(e) => return Err(e),
        };
        let softer = preferred_of(&current);
        let instead = match (&softer, fallback) {
            (Some(s), _) => format!("using memory {s} instead"),
            (None, Fallback::None) => "running without a memory policy".to_string(),
            (None, _) if steps.is_empty() => return Err(e),
            (None, _) => {
                return Err(Error::SteppedDown {
                    steps: steps
                        .iter()
                        .map(Step::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                    last: Box::new(e),
                });
            }
        };
        steps.push(Step {
            refused: format!("memory {current}"),
            why: e.to_string(),
            instead,
        });
        match softer {
            Some(s) => current = s,
            None => return Ok(None),
        }
    }
}

/// Runs `attempt` on `cpus`; with [`Fallback::None`] a refusal leaves the
/// CPUs unbound.
pub(crate) fn cpu_ladder(
    cpus: &CpuSet,
    fallback: Fallback,
    steps: &mut Vec<Step>,
    attempt: impl FnOnce(&CpuSet) -> Result<()>,
) -> Result<Option<CpuSet>> {
    match attempt(cpus) {
        Ok(()) => Ok(Some(cpus.clone())),
        Err(e) if fallback == Fallback::None && e.is_refusal() => {
            steps.push(Step {
                refused: format!("CPU binding {cpus}"),
                why: e.to_string(),
                instead: "running on the CPUs the process has".into(),
            });
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
