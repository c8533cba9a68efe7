//! Resource limits for a child process: `setrlimit` between `fork` and
//! `exec`, so that a command run by a test (or a tool) starts under its
//! bounds and a runaway allocation or loop ends that command, not the
//! machine.
//!
//! # References
//! - [`setrlimit(2)`](https://man7.org/linux/man-pages/man2/setrlimit.2.html)

use std::os::unix::process::CommandExt;
use std::process::Command;

/// A resource to bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `RLIMIT_AS`: the address space, in bytes.
    AddressSpace,
    /// `RLIMIT_CPU`: CPU time, user and system, in seconds (`SIGXCPU`, then
    /// `SIGKILL`, past it).
    CpuSeconds,
}

impl Resource {
    fn raw(self) -> libc::__rlimit_resource_t {
        match self {
            Resource::AddressSpace => libc::RLIMIT_AS,
            Resource::CpuSeconds => libc::RLIMIT_CPU,
        }
    }
}

/// Makes `cmd` start with each `(resource, limit)` as both its soft and hard
/// limit. Limits above the current hard limit fail the spawn with `EPERM`
/// (unless the caller may raise them).
#[doc(alias = "setrlimit")]
pub fn limit_child<'a>(cmd: &'a mut Command, limits: &[(Resource, u64)]) -> &'a mut Command {
    let limits: Vec<(libc::__rlimit_resource_t, libc::rlimit)> = limits
        .iter()
        .map(|&(r, v)| {
            (
                r.raw(),
                libc::rlimit {
                    rlim_cur: v,
                    rlim_max: v,
                },
            )
        })
        .collect();
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe work is allowed: it reads the vector built
    // above (no allocation) and calls setrlimit(2), which is
    // async-signal-safe, with pointers to live `rlimit` values.
    unsafe {
        cmd.pre_exec(move || {
            for (r, l) in &limits {
                if libc::setrlimit(*r, l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_starts_under_the_limits() {
        let out = limit_child(
            Command::new("sh").args(["-c", "ulimit -v; ulimit -t"]),
            &[
                (Resource::AddressSpace, 512 << 20),
                (Resource::CpuSeconds, 7),
            ],
        )
        .output()
        .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "524288\n7\n");
    }
}
