//! Every fixture tarball loads, and the facts hwloc's expected output states
//! match numakit's model of the same tarball.
//!
//! The expectations are parsed from hwloc's own expected outputs (see
//! `common/hwloc.rs`); nothing here is a table of answers. hwloc shows a
//! machine as the process that ran `lstopo` saw it, so numakit's facts are
//! compared after applying what hwloc applies:
//! - offline CPUs are not shown;
//! - unless `--disallowed` is given, CPUs and nodes outside the allowed
//!   cpuset/nodeset (cgroup, cpuset) are not shown, so numakit's
//!   `Machine::allowed` must compute the same sets;
//! - a node's `local=` memory is its MemTotal, rounded as hwloc prints it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use common::hwloc::{Expected, parse};
use numakit_root::Root;
use numakit_topo::Machine;
use numakit_types::PciAddress;

/// Loads every distinct tarball once, on as many threads as the machine has.
fn load_all(paths: &[PathBuf]) -> BTreeMap<PathBuf, Result<Machine, String>> {
    let out = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(p) = paths.get(i) else { break };
                    let r = load(p);
                    out.lock().unwrap().insert(p.clone(), r);
                }
            });
        }
    });
    out.into_inner().unwrap()
}

/// Every fixture tarball, loaded once for all tests of this file.
fn loaded() -> &'static BTreeMap<PathBuf, Result<Machine, String>> {
    static LOADED: OnceLock<BTreeMap<PathBuf, Result<Machine, String>>> = OnceLock::new();
    LOADED.get_or_init(|| load_all(&common::all_tarballs()))
}

fn load(p: &Path) -> Result<Machine, String> {
    let root = Root::open(p).map_err(|e| format!("Root::open: {e}"))?;
    let r = std::panic::catch_unwind(|| {
        let m = Machine::discover(&root);
        let json = serde_json::to_string(&m).map_err(|e| format!("to_json: {e}"))?;
        if !json.contains("numakit.topology/1") {
            return Err("JSON without schema".to_string());
        }
        Ok(m)
    });
    match r {
        Ok(r) => r,
        Err(_) => Err("Machine::discover panicked".into()),
    }
}

fn name_of(p: &Path) -> String {
    let f = common::fixtures();
    p.strip_prefix(&f).unwrap_or(p).display().to_string()
}

#[test]
fn every_tarball_loads_without_panic() {
    let paths = common::all_tarballs();
    assert!(paths.len() >= 80, "only {} tarballs found", paths.len());
    let loaded = loaded();
    assert_eq!(loaded.len(), paths.len());
    let failures: Vec<String> = loaded
        .iter()
        .filter_map(|(p, r)| r.as_ref().err().map(|e| format!("{}: {e}", name_of(p))))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
    // Every fixture has CPUs; each must be seen.
    let no_cpus: Vec<String> = loaded
        .iter()
        .filter_map(|(p, r)| {
            let m = r.as_ref().ok()?;
            (m.cpus.is_empty() || m.nodes.is_empty()).then(|| name_of(p))
        })
        .collect();
    assert!(no_cpus.is_empty(), "no CPUs or nodes in: {no_cpus:?}");
}

/// How much of a case can be compared.
#[derive(Debug, Default)]
struct Plan {
    /// Not compared at all; the reason.
    skip: Option<&'static str>,
    /// hwloc showed disallowed CPUs and nodes too (`--disallowed`).
    show_disallowed: bool,
    /// PCI is filtered by options: no PCI facts.
    no_pci: bool,
    /// PCI locality is forced by `HWLOC_PCI_LOCALITY`: no PCI node facts.
    no_pci_node: bool,
    /// hwloc merged nodes with identical CPU lists: compare the union only.
    merged_nodes: bool,
}

fn plan(c: &common::Case) -> Plan {
    let mut p = Plan::default();
    if c.name.ends_with("2pa-pcidomain32bits-disabled") {
        // What a hwloc built without 32-bit PCI domains prints: it drops the
        // device in domain 10000. numakit supports such domains, as the
        // enabled variant of the same tarball checks.
        p.skip = Some("describes a hwloc build without 32-bit PCI domains");
    }
    p.show_disallowed = c.options.contains("--disallowed");
    // --merge / --filter / --ignore / --no-io remove I/O objects or the
    // structure PCI hangs off; NUMA nodes and PUs are never removed.
    p.no_pci = ["--merge", "--filter", "--ignore", "--no-io"]
        .iter()
        .any(|o| c.options.contains(o));
    p.no_pci_node = c.env.contains("HWLOC_PCI_LOCALITY");
    // Firmware reported 8 nodes with the same CPUs; hwloc merges them into
    // one (see the .test comment). numakit reports the kernel's nodes as
    // they are, so only the union of their CPUs is compared.
    p.merged_nodes = c.name.contains("buggynuma");
    p
}

fn set_str(s: &BTreeSet<u32>) -> String {
    numakit_types::CpuSet::from_raw(s.iter().copied()).to_string()
}

/// Compares one case; returns what differs.
/// How many facts were compared, over all cases.
#[derive(Debug, Default)]
struct Stats {
    nodes: usize,
    memory: usize,
    matrices: usize,
    pci: usize,
    pci_nodes: usize,
    allowed: usize,
}

fn compare(m: &Machine, e: &Expected, plan: &Plan, stats: &mut Stats) -> Vec<String> {
    let mut errs = Vec::new();
    let online: BTreeSet<u32> = m
        .cpus
        .iter()
        .filter(|c| c.online != Some(false))
        .map(|c| c.id.0)
        .collect();
    let all_nodes: BTreeSet<u32> = m.nodes.iter().map(|n| n.id.0).collect();
    let allowed_cpus: BTreeSet<u32> = match (&m.allowed.cpus, plan.show_disallowed) {
        (Some(a), false) => a.iter_raw().collect(),
        _ => online.clone(),
    };
    let allowed_nodes: BTreeSet<u32> = match (&m.allowed.mems, plan.show_disallowed) {
        (Some(a), false) => a.iter_raw().collect(),
        _ => all_nodes.clone(),
    };
    let shown_cpus: BTreeSet<u32> = online.intersection(&allowed_cpus).copied().collect();

    // PUs
    if e.pus != shown_cpus {
        errs.push(format!(
            "PUs: hwloc {} numakit online∩allowed {}",
            set_str(&e.pus),
            set_str(&shown_cpus)
        ));
    }
    // allowed sets (XML states them)
    if let Some(ac) = &e.allowed_cpus
        && !plan.show_disallowed
        && {
            stats.allowed += 1;
            *ac != shown_cpus
        }
    {
        errs.push(format!(
            "allowed cpus: hwloc {} numakit {} (source {:?})",
            set_str(ac),
            set_str(&shown_cpus),
            m.allowed.source
        ));
    }
    let shown_nodes: BTreeSet<u32> = all_nodes.intersection(&allowed_nodes).copied().collect();
    if let Some(an) = &e.allowed_nodes
        && !plan.show_disallowed
        && *an != shown_nodes
    {
        errs.push(format!(
            "allowed nodes: hwloc {} numakit {}",
            set_str(an),
            set_str(&shown_nodes)
        ));
    }

    if plan.merged_nodes {
        let hw: BTreeSet<u32> = e.nodes.iter().flat_map(|n| n.cpus.clone()).collect();
        let nk: BTreeSet<u32> = m
            .nodes
            .iter()
            .flat_map(|n| n.cpus.iter_raw())
            .filter(|c| shown_cpus.contains(c))
            .collect();
        if hw != nk {
            errs.push(format!(
                "merged node CPUs: hwloc {} numakit {}",
                set_str(&hw),
                set_str(&nk)
            ));
        }
        if e.nodes.len() >= m.nodes.len() {
            errs.push(format!(
                "expected hwloc to merge nodes: hwloc {} numakit {}",
                e.nodes.len(),
                m.nodes.len()
            ));
        }
        return errs;
    }

    // nodes
    let hw_nodes: BTreeSet<u32> = e.nodes.iter().map(|n| n.os).collect();
    if hw_nodes != shown_nodes {
        errs.push(format!(
            "nodes: hwloc {} numakit {}",
            set_str(&hw_nodes),
            set_str(&shown_nodes)
        ));
    }
    for en in &e.nodes {
        let Some(n) = m.node(en.os.into()) else {
            continue;
        };
        stats.nodes += 1;
        let cpus: BTreeSet<u32> = n
            .cpus
            .iter_raw()
            .filter(|c| shown_cpus.contains(c))
            .collect();
        if n.cpus.is_empty() {
            // A CPU-less node (HBM, NVM, MCDRAM, CXL): hwloc attaches it to
            // the CPUs near it and prints that locality as its cpuset; the
            // kernel, and numakit, say it has no CPUs. Check that the kernel
            // agrees it is CPU-less, and that hwloc did not make it hold CPUs
            // that belong to no node at all.
            if m.node_states
                .has_cpu
                .as_ref()
                .is_some_and(|h| h.contains(n.id))
            {
                errs.push(format!("node {}: in has_cpu but no CPU list", en.os));
            }
            if let Some(c) = en.cpus.iter().find(|&&c| m.node_of_cpu(c.into()).is_none()) {
                errs.push(format!(
                    "node {}: hwloc puts CPU {c} near it, numakit in no node",
                    en.os
                ));
            }
        } else if cpus != en.cpus {
            errs.push(format!(
                "node {} cpus: hwloc {} numakit {}",
                en.os,
                set_str(&en.cpus),
                set_str(&cpus)
            ));
        }
        // hwloc's local memory is the node's MemTotal (hugepage pools are
        // part of it; hwloc only splits them out in its page-type counts).
        stats.memory += usize::from(en.local.is_some());
        if let Some(local) = en.local
            && !n.memory_total_bytes.is_some_and(|t| local.matches(t))
        {
            errs.push(format!(
                "node {} memory: hwloc {}x{} numakit MemTotal {:?}",
                en.os, local.value, local.unit, n.memory_total_bytes
            ));
        }
    }
    // distances
    if let Some(d) = &e.distances {
        stats.matrices += 1;
        for (&(a, b), &v) in d {
            let got = m.distance(a.into(), b.into());
            if got != Some(v as u32) {
                errs.push(format!("distance {a}->{b}: hwloc {v} numakit {got:?}"));
            }
        }
    }
    // PCI
    if !plan.no_pci {
        for p in &e.pci {
            let addr: PciAddress = match p.busid.parse() {
                Ok(a) => a,
                Err(err) => {
                    errs.push(format!("PCI {}: {err}", p.busid));
                    continue;
                }
            };
            let Some(dev) = m.pci_device(addr) else {
                errs.push(format!(
                    "PCI {}{} missing",
                    p.busid,
                    if p.bridge { " (bridge)" } else { "" }
                ));
                continue;
            };
            stats.pci += 1;
            // hwloc hangs a device off the object matching its locality; when
            // that object holds exactly one node of several, that is its node.
            if !plan.no_pci_node
                && p.nodes.len() == 1
                && hw_nodes.len() > 1
                && {
                    stats.pci_nodes += 1;
                    true
                }
                && dev.numa_node.map(|n| n.0) != p.nodes.first().copied()
            {
                errs.push(format!(
                    "PCI {} node: hwloc {:?} numakit {:?} ({:?})",
                    p.busid, p.nodes, dev.numa_node, dev.numa_node_source
                ));
            }
        }
    }
    errs
}

#[test]
fn facts_match_hwloc_expected_outputs() {
    let cases = common::cases();
    assert!(cases.len() >= 90, "only {} hwloc cases found", cases.len());
    let loaded = loaded();
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    let mut compared = 0;
    for c in &cases {
        let plan = plan(c);
        if plan.skip.is_some() {
            continue;
        }
        let text = match std::fs::read_to_string(&c.target) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{}: cannot read expected output: {e}", c.name));
                continue;
            }
        };
        let exp = match parse(&text) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("{}: cannot parse expected output: {e}", c.name));
                continue;
            }
        };
        let m = match loaded.get(&c.source) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                failures.push(format!("{}: {e}", c.name));
                continue;
            }
            None => {
                failures.push(format!("{}: source {} missing", c.name, c.source.display()));
                continue;
            }
        };
        compared += 1;
        for err in compare(m, &exp, &plan, &mut stats) {
            failures.push(format!("{}: {err}", c.name));
        }
    }
    eprintln!("{compared} cases compared: {stats:?}");
    assert!(compared >= 90, "only {compared} cases compared");
    // The comparisons must have had something to compare.
    assert!(stats.nodes >= 400, "{stats:?}");
    assert!(stats.memory >= 400, "{stats:?}");
    assert!(stats.matrices >= 40, "{stats:?}");
    assert!(stats.pci >= 100, "{stats:?}");
    assert!(stats.allowed >= 10, "{stats:?}");
    // `pci_nodes` may be 0: the only multi-node fixtures with PCI force
    // locality through HWLOC_PCI_LOCALITY, which numakit does not read.
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `allowed/test1`: hwloc applies the fsroot's cpuset restriction to a
/// synthetic `numa:4 core:2 pu:2` machine (CPUs 0-15, nodes 0-3). numakit's
/// allowed sets, clipped to that machine, must be the same.
#[test]
fn allowed_sets_match_hwloc_fsroot_test() {
    for dir in ["hwloc-linux/allowed", "hwloc-linux/v2.x/allowed"] {
        let base = common::fixtures().join(dir);
        let root = Root::open(base.join("test1.fsroot.tar.bz2")).expect("fsroot");
        let m = Machine::discover(&root);
        let target = ["test1.xml", "test1.output"]
            .iter()
            .map(|f| base.join(f))
            .find(|p| p.is_file())
            .expect("expected output");
        let e = parse(&std::fs::read_to_string(target).unwrap()).unwrap();
        let cpus: BTreeSet<u32> = m
            .allowed
            .cpus
            .as_ref()
            .expect("allowed cpus known")
            .iter_raw()
            .filter(|&c| c < 16)
            .collect();
        let mems: BTreeSet<u32> = m
            .allowed
            .mems
            .as_ref()
            .expect("allowed mems known")
            .iter_raw()
            .filter(|&n| n < 4)
            .collect();
        assert_eq!(Some(&cpus), e.allowed_cpus.as_ref(), "{dir}");
        assert_eq!(Some(&mems), e.allowed_nodes.as_ref(), "{dir}");
    }
}
