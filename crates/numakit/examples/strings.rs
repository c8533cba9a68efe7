//! Node and CPU strings as libnuma reads them (`all`, lists, ranges, `!`,
//! `+`, checked against what this process may use or against the whole
//! machine), and libnuma's bitmask helpers on `NodeSet` and `CpuSet`.
//!
//! Run: `cargo run -p numakit --example strings [NODESTRING...]`: with
//! arguments, prints how each reads; without, checks the forms.

mod common;

use common::Checks;
use numakit::topo::nodestring::Within;
use numakit::{CpuSet, NodeId, NodeSet};

fn main() {
    let p = common::placer("strings");
    let m = p.machine();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        for a in &args {
            match m.parse_nodestring(a, Within::Allowed) {
                Ok(n) => println!("{a}: nodes {n}"),
                Err(e) => println!("{a}: {e}"),
            }
        }
        return;
    }
    let mut c = Checks::new("strings");
    let allowed = m.allowed_nodes();
    let first = allowed.first().unwrap_or(NodeId(0));
    let last = allowed.last().unwrap_or(NodeId(0));
    c.eq(
        m.parse_nodestring("all", Within::Allowed).ok(),
        Some(allowed.clone()),
        format!("all = {allowed}"),
    );
    let not_first = allowed.difference(&first.into());
    c.eq(
        m.parse_nodestring(&format!("!{first}"), Within::Allowed)
            .ok(),
        Some(not_first.clone()),
        format!("!{first} = {not_first}"),
    );
    c.eq(
        m.parse_nodestring("+0", Within::Allowed).ok(),
        Some(NodeSet::from(first)),
        format!("+0 = {first}"),
    );
    let range = format!("{first}-{last}");
    c.eq(
        m.parse_nodestring(&range, Within::Allowed).ok(),
        Some(allowed.clone()),
        format!("{range} = {allowed}"),
    );
    let outside = NodeId(m.max_node().map_or(0, |n| n.get()) + 1);
    let e = m.parse_nodestring(&outside.to_string(), Within::All);
    c.check(
        e.is_err(),
        format!(
            "node {outside}: refused ({})",
            e.err().map(|e| e.to_string()).unwrap_or_default()
        ),
    );
    let relative = format!("+{}", allowed.len());
    c.check(
        m.parse_nodestring(&relative, Within::Allowed).is_err(),
        format!("{relative}: refused, beyond the allowed nodes"),
    );
    for bad in ["", "1-", "x", "0,,1", "3-1"] {
        c.check(
            m.parse_nodestring(bad, Within::All).is_err(),
            format!("{bad:?}: refused"),
        );
    }
    let cpus = m.allowed_cpus();
    c.eq(
        m.parse_cpustring("all", Within::Allowed).ok(),
        Some(cpus.clone()),
        format!("CPUs all = {cpus}"),
    );
    c.eq(
        m.parse_cpustring("all", Within::All).ok(),
        Some(m.cpu_ids()),
        "CPUs all, whole machine",
    );
    bitmasks(&mut c);
    c.finish()
}

/// libnuma's bitmask helpers, as set operations.
fn bitmasks(c: &mut Checks) {
    let mut s = CpuSet::new();
    s.insert(3.into());
    s.insert(70.into());
    c.check(
        s.contains(70.into()) && !s.contains(4.into()),
        "setbit, isbitset",
    );
    c.eq(s.len(), 2, "weight");
    c.eq(s.nbytes(), 16, "nbytes: two 64-bit words");
    s.remove(3.into());
    c.eq(s.to_string(), "70".to_string(), "clearbit");
    let copy = CpuSet::from_words(s.as_words());
    c.check(copy == s, "copy to a word mask and back, equal");
    s.clear();
    c.check(s.is_empty(), "clearall");
    c.eq(
        NodeSet::all_below(4).to_string(),
        "0-3".to_string(),
        "setall over 4 bits",
    );
    c.eq(
        NodeSet::parse_mask("0000000a").ok(),
        Some("1,3".parse().unwrap()),
        "parse_bitmap",
    );
}
