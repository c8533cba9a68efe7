//! What this process may use: the cpuset, not the affinity a `taskset` left.

use std::path::Path;

use numakit_root::Root;
use numakit_topo::Machine;

fn write(base: &Path, rel: &str, text: &str) {
    let p = base.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn root_with(files: &[(&str, &str)]) -> (std::path::PathBuf, Root) {
    let d = std::env::temp_dir().join(format!(
        "numakit-allowed-{}-{}",
        std::process::id(),
        files.len()
    ));
    let _ = std::fs::remove_dir_all(&d);
    write(&d, "sys/devices/system/node/node0/cpulist", "0-3\n");
    write(
        &d,
        "proc/self/status",
        "Name:\tx\nCpus_allowed_list:\t2\nMems_allowed_list:\t0\n",
    );
    for (rel, text) in files {
        write(&d, rel, text);
    }
    let r = Root::open(&d).unwrap();
    (d, r)
}

#[test]
fn cgroup2_cpuset_of_the_nearest_ancestor_that_has_one() {
    let (d, root) = root_with(&[
        ("proc/self/cgroup", "0::/a/b\n"),
        (
            "proc/mounts",
            "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n",
        ),
        ("sys/fs/cgroup/a/cpuset.cpus.effective", "2-3\n"),
        ("sys/fs/cgroup/a/cpuset.mems.effective", "0\n"),
        ("sys/fs/cgroup/a/b/cgroup.procs", "1\n"),
    ]);
    let m = Machine::discover(&root);
    assert_eq!(
        m.allowed.cpus.as_ref().map(|c| c.to_string()).as_deref(),
        Some("2-3")
    );
    assert_eq!(
        m.allowed.mems.as_ref().map(|c| c.to_string()).as_deref(),
        Some("0")
    );
    assert_eq!(
        m.allowed
            .affinity
            .as_ref()
            .map(|c| c.to_string())
            .as_deref(),
        Some("2")
    );
    assert_eq!(m.allowed.source.as_deref(), Some("cgroup2"));
    assert_eq!(m.allowed.cgroup.as_deref(), Some("/a/b"));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn without_a_cpuset_the_status_lines_are_used() {
    let (d, root) = root_with(&[]);
    let m = Machine::discover(&root);
    assert_eq!(
        m.allowed.cpus.as_ref().map(|c| c.to_string()).as_deref(),
        Some("2")
    );
    assert_eq!(m.allowed.source.as_deref(), Some("status"));
    std::fs::remove_dir_all(d).unwrap();
}
