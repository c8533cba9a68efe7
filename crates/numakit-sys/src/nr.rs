//! System call numbers used by this crate (x86_64 and aarch64).
//!
//! Pinned by tests against `linux-raw-sys` and the kernel's
//! `arch/x86/entry/syscalls/syscall_64.tbl`.

#[cfg(target_arch = "x86_64")]
mod arch {
    pub const MBIND: i64 = 237;
    pub const SET_MEMPOLICY: i64 = 238;
    pub const GET_MEMPOLICY: i64 = 239;
    pub const MIGRATE_PAGES: i64 = 256;
    pub const MOVE_PAGES: i64 = 279;
    pub const SET_MEMPOLICY_HOME_NODE: i64 = 450;
    pub const SCHED_SETAFFINITY: i64 = 203;
    pub const SCHED_GETAFFINITY: i64 = 204;
    pub const GETCPU: i64 = 309;
}

#[cfg(target_arch = "aarch64")]
mod arch {
    pub const MBIND: i64 = 235;
    pub const SET_MEMPOLICY: i64 = 237;
    pub const GET_MEMPOLICY: i64 = 236;
    pub const MIGRATE_PAGES: i64 = 238;
    pub const MOVE_PAGES: i64 = 239;
    pub const SET_MEMPOLICY_HOME_NODE: i64 = 450;
    pub const SCHED_SETAFFINITY: i64 = 122;
    pub const SCHED_GETAFFINITY: i64 = 123;
    pub const GETCPU: i64 = 168;
}

/// `mbind`.
pub const MBIND: i64 = arch::MBIND;
/// `set_mempolicy`.
pub const SET_MEMPOLICY: i64 = arch::SET_MEMPOLICY;
/// `get_mempolicy`.
pub const GET_MEMPOLICY: i64 = arch::GET_MEMPOLICY;
/// `migrate_pages`.
pub const MIGRATE_PAGES: i64 = arch::MIGRATE_PAGES;
/// `move_pages`.
pub const MOVE_PAGES: i64 = arch::MOVE_PAGES;
/// `set_mempolicy_home_node` (Linux 5.17).
pub const SET_MEMPOLICY_HOME_NODE: i64 = arch::SET_MEMPOLICY_HOME_NODE;
/// `sched_setaffinity`.
pub const SCHED_SETAFFINITY: i64 = arch::SCHED_SETAFFINITY;
/// `sched_getaffinity`.
pub const SCHED_GETAFFINITY: i64 = arch::SCHED_GETAFFINITY;
/// `getcpu`.
pub const GETCPU: i64 = arch::GETCPU;

#[cfg(test)]
mod tests {
    use super::*;
    use linux_raw_sys::general as g;

    #[test]
    fn numbers_match_linux_raw_sys() {
        assert_eq!(MBIND, g::__NR_mbind as i64);
        assert_eq!(SET_MEMPOLICY, g::__NR_set_mempolicy as i64);
        assert_eq!(GET_MEMPOLICY, g::__NR_get_mempolicy as i64);
        assert_eq!(MIGRATE_PAGES, g::__NR_migrate_pages as i64);
        assert_eq!(MOVE_PAGES, g::__NR_move_pages as i64);
        assert_eq!(
            SET_MEMPOLICY_HOME_NODE,
            g::__NR_set_mempolicy_home_node as i64
        );
        assert_eq!(SCHED_SETAFFINITY, g::__NR_sched_setaffinity as i64);
        assert_eq!(SCHED_GETAFFINITY, g::__NR_sched_getaffinity as i64);
        assert_eq!(GETCPU, g::__NR_getcpu as i64);
    }

    #[test]
    fn numbers_match_libc() {
        assert_eq!(MBIND, libc::SYS_mbind);
        assert_eq!(SET_MEMPOLICY, libc::SYS_set_mempolicy);
        assert_eq!(GET_MEMPOLICY, libc::SYS_get_mempolicy);
        assert_eq!(MIGRATE_PAGES, libc::SYS_migrate_pages);
        assert_eq!(MOVE_PAGES, libc::SYS_move_pages);
        assert_eq!(SET_MEMPOLICY_HOME_NODE, libc::SYS_set_mempolicy_home_node);
        assert_eq!(SCHED_SETAFFINITY, libc::SYS_sched_setaffinity);
        assert_eq!(SCHED_GETAFFINITY, libc::SYS_sched_getaffinity);
        assert_eq!(GETCPU, libc::SYS_getcpu);
    }

    /// The x86_64 table (`arch/x86/entry/syscalls/syscall_64.tbl`).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn numbers_match_x86_64_table() {
        assert_eq!(
            [
                MBIND,
                SET_MEMPOLICY,
                GET_MEMPOLICY,
                MIGRATE_PAGES,
                MOVE_PAGES,
                SET_MEMPOLICY_HOME_NODE,
                SCHED_SETAFFINITY,
                SCHED_GETAFFINITY,
                GETCPU
            ],
            [237, 238, 239, 256, 279, 450, 203, 204, 309]
        );
    }
}
