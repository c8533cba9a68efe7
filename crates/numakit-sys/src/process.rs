//! Who this process is: `geteuid`.
//!
//! # References
//! - [`geteuid(2)`](https://man7.org/linux/man-pages/man2/geteuid.2.html)

/// `geteuid()`: the effective user id (0 for root).
pub fn geteuid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_proc_status() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let euid: u32 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(super::geteuid(), euid);
    }
}
