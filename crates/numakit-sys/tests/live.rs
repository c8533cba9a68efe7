//! Live tests: these call the real system calls on the machine running the
//! tests (any machine has node 0). Each test changes only its own thread.

use numakit_sys::mempolicy::{
    GetMempolicyFlags, MbindFlags, MovePagesFlags, MpolFlags, MpolMode, get_mempolicy, mbind,
    migrate_pages, move_pages, set_mempolicy, split_mode,
};
use numakit_sys::mm::{MapFlags, mmap_anonymous, munmap, page_size};
use numakit_sys::sched::{sched_getaffinity, sched_setaffinity};
use numakit_sys::{Errno, mempolicy};

#[test]
fn set_then_get_mempolicy_bind_node0() {
    set_mempolicy(MpolMode::Bind, MpolFlags::empty(), &[1]).unwrap();
    let (mode, mask) = get_mempolicy(None, GetMempolicyFlags::empty()).unwrap();
    assert_eq!(split_mode(mode), (Some(MpolMode::Bind), MpolFlags::empty()));
    assert_eq!(mask[0], 1);
    set_mempolicy(MpolMode::Bind, MpolFlags::STATIC_NODES, &[1]).unwrap();
    let (mode, _) = get_mempolicy(None, GetMempolicyFlags::empty()).unwrap();
    assert_eq!(
        split_mode(mode),
        (Some(MpolMode::Bind), MpolFlags::STATIC_NODES)
    );
    set_mempolicy(MpolMode::Default, MpolFlags::empty(), &[]).unwrap();
    let (mode, _) = get_mempolicy(None, GetMempolicyFlags::empty()).unwrap();
    assert_eq!(split_mode(mode).0, Some(MpolMode::Default));
}

#[test]
fn bind_to_empty_mask_is_einval() {
    assert_eq!(
        set_mempolicy(MpolMode::Bind, MpolFlags::empty(), &[0]),
        Err(Errno::EINVAL)
    );
}

#[test]
fn mems_allowed_has_node0() {
    let (_, mask) = get_mempolicy(None, GetMempolicyFlags::MEMS_ALLOWED).unwrap();
    assert_eq!(mask[0] & 1, 1);
}

#[test]
fn move_pages_query_and_addr_policy() {
    let ps = page_size();
    let n = 16;
    let p = mmap_anonymous(n * ps, MapFlags::empty()).unwrap();
    let base = p.as_ptr() as usize;
    mbind(
        base,
        n * ps,
        MpolMode::Bind,
        MpolFlags::empty(),
        &[1],
        MbindFlags::STRICT,
    )
    .unwrap();
    let (mode, mask) = get_mempolicy(Some(base), GetMempolicyFlags::ADDR).unwrap();
    assert_eq!(split_mode(mode).0, Some(MpolMode::Bind));
    assert_eq!(mask[0], 1);
    // touch the first half only
    for i in 0..n / 2 {
        // SAFETY: inside the mapping, which only this test uses.
        unsafe { p.as_ptr().add(i * ps).write_volatile(1) };
    }
    let pages: Vec<usize> = (0..n).map(|i| base + i * ps).collect();
    let mut status = vec![i32::MIN; n];
    let left = move_pages(0, &pages, None, &mut status, MovePagesFlags::empty()).unwrap();
    assert_eq!(left, 0);
    assert!(status[..n / 2].iter().all(|s| *s == 0), "{status:?}");
    assert!(
        status[n / 2..].iter().all(|s| *s == -libc_enoent()),
        "{status:?}"
    );
    // moving to node 0 where they already are: nothing left behind
    let nodes = vec![0i32; n / 2];
    let mut st = vec![0; n / 2];
    let left = move_pages(
        0,
        &pages[..n / 2],
        Some(&nodes),
        &mut st,
        MovePagesFlags::MOVE,
    )
    .unwrap();
    assert_eq!(left, 0);
    assert!(st.iter().all(|s| *s == 0));
    let (node, _) = get_mempolicy(
        Some(base),
        GetMempolicyFlags::ADDR | GetMempolicyFlags::NODE,
    )
    .unwrap();
    assert_eq!(node, 0);
    // SAFETY: the mapping is no longer used.
    unsafe { munmap(p, n * ps) }.unwrap();
}

fn libc_enoent() -> i32 {
    Errno::ENOENT.raw()
}

#[test]
fn migrate_pages_self_0_to_0() {
    assert_eq!(migrate_pages(0, &[1], &[1]), Ok(0));
}

#[test]
fn vanished_pid_is_esrch() {
    let pages = [0usize];
    let mut st = [0];
    assert_eq!(
        move_pages(i32::MAX, &pages, None, &mut st, MovePagesFlags::empty()),
        Err(Errno::ESRCH)
    );
    assert_eq!(migrate_pages(i32::MAX, &[1], &[1]), Err(Errno::ESRCH));
}

#[test]
fn sched_affinity_roundtrip() {
    let orig = sched_getaffinity(0).unwrap();
    assert!(orig.iter().any(|w| *w != 0));
    let first = orig
        .iter()
        .enumerate()
        .find_map(|(i, w)| (*w != 0).then(|| i * 64 + w.trailing_zeros() as usize))
        .unwrap();
    let mut one = vec![0u64; first / 64 + 1];
    one[first / 64] = 1 << (first % 64);
    sched_setaffinity(0, &one).unwrap();
    assert_eq!(sched_getaffinity(0).unwrap(), one);
    // a mask far larger than 1024 CPUs is accepted
    let mut big = orig.clone();
    big.resize(64, 0);
    sched_setaffinity(0, &big).unwrap();
    assert_eq!(sched_getaffinity(0).unwrap(), orig);
}

#[test]
fn home_node_on_a_bound_range() {
    let ps = page_size();
    let p = mmap_anonymous(4 * ps, MapFlags::empty()).unwrap();
    let base = p.as_ptr() as usize;
    mbind(
        base,
        4 * ps,
        MpolMode::Bind,
        MpolFlags::empty(),
        &[1],
        MbindFlags::empty(),
    )
    .unwrap();
    match mempolicy::set_mempolicy_home_node(base, 4 * ps, 0) {
        Ok(()) | Err(Errno::ENOSYS) => {}
        Err(e) => panic!("set_mempolicy_home_node: {e}"),
    }
    // SAFETY: the mapping is no longer used.
    unsafe { munmap(p, 4 * ps) }.unwrap();
}
