//! Reads the facts out of hwloc's expected `lstopo` outputs: the console
//! tree (hwloc 3.0 `.console` and 2.x `.output`, `-v` or `-p`) and hwloc XML
//! (`.xml`, 2.x `.xml.output`).
//!
//! Only what numakit models is kept: NUMA nodes (os index, local memory,
//! the PUs they serve), every PU, the NUMA latency matrix, PCI functions and
//! the NUMA nodes local to them, and (XML only) the allowed cpuset/nodeset.

use std::collections::{BTreeMap, BTreeSet};

/// A memory amount as hwloc printed it: `value * unit` bytes, rounded to the
/// nearest unit (3.0 console prints `126GiB` for 125.6 GiB, 2.x prints KB
/// exactly, XML prints bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    /// The printed number.
    pub value: u64,
    /// Bytes per unit (1 for XML).
    pub unit: u64,
}

impl Amount {
    /// Whether `bytes` prints as this amount.
    pub fn matches(&self, bytes: u64) -> bool {
        (bytes + self.unit / 2) / self.unit == self.value
    }
}

/// One NUMA node of the expected output.
#[derive(Debug, Clone)]
pub struct ExpNode {
    /// `P#` (the kernel's node number).
    pub os: u32,
    /// `local=` / `local_memory=`.
    pub local: Option<Amount>,
    /// The PUs (os indexes) this node is local to.
    pub cpus: BTreeSet<u32>,
}

/// One PCI function of the expected output.
#[derive(Debug, Clone)]
pub struct ExpPci {
    /// `busid=` / `pci_busid=`, as printed.
    pub busid: String,
    /// Whether hwloc shows it as a bridge.
    pub bridge: bool,
    /// The NUMA nodes (os indexes) under the object the device hangs off.
    pub nodes: BTreeSet<u32>,
}

/// The facts of one expected output.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// NUMA nodes in hwloc's logical order.
    pub nodes: Vec<ExpNode>,
    /// Every PU shown (os indexes).
    pub pus: BTreeSet<u32>,
    /// NUMA latencies by (from os index, to os index).
    pub distances: Option<BTreeMap<(u32, u32), u64>>,
    /// PCI functions.
    pub pci: Vec<ExpPci>,
    /// The Machine's `allowed_cpuset` (XML only).
    pub allowed_cpus: Option<BTreeSet<u32>>,
    /// The Machine's `allowed_nodeset` (XML only).
    pub allowed_nodes: Option<BTreeSet<u32>>,
}

/// Parses either format, by content.
pub fn parse(text: &str) -> Result<Expected, String> {
    if text.trim_start().starts_with("<?xml") {
        parse_xml(text)
    } else {
        parse_console(text)
    }
}

#[derive(Debug)]
struct Obj {
    kind: String,
    os: Option<u32>,
    logical: Option<u32>,
    parent: Option<usize>,
    attrs: BTreeMap<String, String>,
}

/// Kinds that hang off the tree as memory children, not as normal parents.
fn is_memory(kind: &str) -> bool {
    kind == "NUMANode" || kind == "MemCache"
}

/// Kinds that are I/O objects (PCI, bridges, OS devices).
fn is_io(kind: &str) -> bool {
    kind.contains("Bridge")
        || kind == "PCI"
        || kind == "PCIDev"
        || kind.starts_with("OSDev")
        || [
            "Block",
            "Network",
            "OpenFabrics",
            "DMA",
            "GPU",
            "CoProc",
            "Co-Processor",
            "Memory",
        ]
        .iter()
        .any(|k| kind.starts_with(k))
}

/// The first ancestor that is a normal object (not memory, not I/O, not Misc).
fn normal_parent(objs: &[Obj], mut i: usize) -> Option<usize> {
    loop {
        i = objs[i].parent?;
        let k = &objs[i].kind;
        if !is_memory(k) && !is_io(k) && k != "Misc" {
            return Some(i);
        }
    }
}

fn is_under(objs: &[Obj], mut i: usize, anc: usize) -> bool {
    loop {
        if i == anc {
            return true;
        }
        match objs[i].parent {
            Some(p) => i = p,
            None => return false,
        }
    }
}

/// `0x0000003f` / `0x00000001,0xffffffff` / `0xf...f` (hwloc bitmap syntax).
pub fn parse_hwloc_bitmap(s: &str) -> Result<BTreeSet<u32>, String> {
    let s = s.trim();
    let mut out = BTreeSet::new();
    if s.contains("f...f") {
        return Err(format!("infinite bitmap '{s}'"));
    }
    let words: Vec<&str> = s.split(',').collect();
    for (k, w) in words.iter().rev().enumerate() {
        let w = w.trim_start_matches("0x");
        if w.is_empty() {
            continue;
        }
        let v = u64::from_str_radix(w, 16).map_err(|e| format!("bitmap '{s}': {e}"))?;
        for b in 0..32 {
            if v >> b & 1 == 1 {
                out.insert(k as u32 * 32 + b);
            }
        }
    }
    Ok(out)
}

/// `8190MiB`, `8386704KB`, `16GiB`, `3958MB`: (value, bytes per unit).
fn parse_amount(s: &str) -> Result<Amount, String> {
    let n = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let value: u64 = s[..n].parse().map_err(|_| format!("amount '{s}'"))?;
    let unit = match &s[n..] {
        "" | "B" => 1,
        "KB" | "kB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        u => return Err(format!("unit '{u}' in '{s}'")),
    };
    Ok(Amount { value, unit })
}

/// The `P#n` number of a console line, if any.
fn console_os(line: &str) -> Option<u32> {
    let at = line.find("P#")?;
    let rest = &line[at + 2..];
    let n = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..n].parse().ok()
}

/// The `L#n` number of a console line, if any.
fn console_logical(line: &str) -> Option<u32> {
    let at = line.find("L#")?;
    let rest = &line[at + 2..];
    let n = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..n].parse().ok()
}

/// `key=value` pairs of a console line (values may be quoted).
fn console_attrs(line: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let body = match (line.find('('), line.rfind(')')) {
        (Some(a), Some(b)) if b > a => &line[a + 1..b],
        _ => return m,
    };
    let mut rest = body;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let end = rest.find([' ', '=']).unwrap_or(rest.len());
        let key = &rest[..end];
        rest = &rest[end..];
        if let Some(r) = rest.strip_prefix('=') {
            let (val, r) = if let Some(q) = r.strip_prefix('"') {
                let e = q.find('"').unwrap_or(q.len());
                (&q[..e], q.get(e + 1..).unwrap_or(""))
            } else {
                let e = r.find(' ').unwrap_or(r.len());
                (&r[..e], &r[e..])
            };
            m.insert(key.to_string(), val.to_string());
            rest = r;
        } else if !key.is_empty() {
            // a bare word such as `(3958MB)` in `-p` output: treat as size
            if key.bytes().next().is_some_and(|b| b.is_ascii_digit()) && !m.contains_key("local") {
                m.insert("local".into(), key.to_string());
            }
        } else {
            break;
        }
    }
    m
}

fn parse_console(text: &str) -> Result<Expected, String> {
    let mut objs: Vec<Obj> = Vec::new();
    let mut stack: Vec<(usize, usize)> = Vec::new(); // (indent, obj)
    let mut lines = text.lines().peekable();
    while let Some(&line) = lines.peek() {
        if line.starts_with("depth ") || line.trim().is_empty() {
            break;
        }
        lines.next();
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        let kind = t.split([' ', '(']).next().unwrap_or("").to_string();
        while stack.last().is_some_and(|&(ind, _)| ind >= indent) {
            stack.pop();
        }
        let parent = stack.last().map(|&(_, o)| o);
        objs.push(Obj {
            kind,
            os: console_os(t),
            logical: console_logical(t),
            parent,
            attrs: console_attrs(t),
        });
        stack.push((indent, objs.len() - 1));
    }
    let mut exp = Expected::default();
    for (i, o) in objs.iter().enumerate() {
        match o.kind.as_str() {
            "PU" => {
                exp.pus
                    .insert(o.os.ok_or_else(|| format!("PU without P#: {o:?}"))?);
            }
            "NUMANode" => {
                let os = o.os.ok_or_else(|| format!("NUMANode without P#: {o:?}"))?;
                let local = o.attrs.get("local").map(|s| parse_amount(s)).transpose()?;
                let cpus = match normal_parent(&objs, i) {
                    Some(p) => objs
                        .iter()
                        .enumerate()
                        .filter(|(j, x)| x.kind == "PU" && is_under(&objs, *j, p))
                        .filter_map(|(_, x)| x.os)
                        .collect(),
                    None => BTreeSet::new(),
                };
                exp.nodes.push(ExpNode { os, local, cpus });
            }
            "PCI" | "PCIBridge" => {
                if let Some(busid) = o.attrs.get("busid") {
                    exp.pci.push(ExpPci {
                        busid: busid.clone(),
                        bridge: o.kind == "PCIBridge",
                        nodes: nodes_near(&objs, i),
                    });
                }
            }
            _ => {}
        }
    }
    // The matrix names nodes by logical index (`L#`); without `L#` (`-p`)
    // the order of appearance is hwloc's logical order.
    let by_logical: BTreeMap<u32, u32> = objs
        .iter()
        .filter(|o| o.kind == "NUMANode")
        .enumerate()
        .map(|(k, o)| (o.logical.unwrap_or(k as u32), o.os.unwrap_or(u32::MAX)))
        .collect();
    // the latency matrix
    let rest: Vec<&str> = lines.collect();
    if let Some(h) = rest
        .iter()
        .position(|l| l.starts_with("Relative latency matrix") && l.contains("NUMALatency"))
    {
        let by_os = rest[h].contains("by os indexes");
        let map = |idx: u32| -> Result<u32, String> {
            if by_os {
                Ok(idx)
            } else {
                by_logical
                    .get(&idx)
                    .copied()
                    .ok_or_else(|| format!("matrix names unknown NUMANode L#{idx}"))
            }
        };
        let header: Vec<u32> = rest
            .get(h + 1)
            .ok_or("matrix without header")?
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().map_err(|_| format!("matrix header token '{t}'")))
            .collect::<Result<_, _>>()?;
        let mut d = BTreeMap::new();
        for row in rest.iter().skip(h + 2).take(header.len()) {
            let mut it = row.split_whitespace();
            let from: u32 = it
                .next()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("matrix row '{row}'"))?;
            for (&to, v) in header.iter().zip(it) {
                let v: u64 = v.parse().map_err(|_| format!("matrix value '{v}'"))?;
                d.insert((map(from)?, map(to)?), v);
            }
        }
        if d.len() != header.len() * header.len() {
            return Err(format!(
                "matrix has {} values for {} nodes",
                d.len(),
                header.len()
            ));
        }
        exp.distances = Some(d);
    }
    Ok(exp)
}

/// NUMA nodes under the normal object an I/O object hangs off.
fn nodes_near(objs: &[Obj], i: usize) -> BTreeSet<u32> {
    let Some(p) = normal_parent(objs, i) else {
        return BTreeSet::new();
    };
    objs.iter()
        .enumerate()
        .filter(|(j, x)| x.kind == "NUMANode" && is_under(objs, *j, p))
        .filter_map(|(_, x)| x.os)
        .collect()
}

/// `name="value"` attributes of one XML tag.
fn xml_attrs(tag: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].rsplit(' ').next().unwrap_or("").to_string();
        let v = &rest[eq + 2..];
        let end = v.find('"').unwrap_or(v.len());
        m.insert(key, v[..end].to_string());
        rest = v.get(end + 1..).unwrap_or("");
    }
    m
}

fn parse_xml(text: &str) -> Result<Expected, String> {
    let mut objs: Vec<Obj> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut exp = Expected::default();
    let mut in_dist: Option<(Vec<u32>, Vec<u64>)> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(tag) = t.strip_prefix("<object ") {
            let attrs = xml_attrs(tag);
            let kind = attrs.get("type").cloned().unwrap_or_default();
            let os = attrs.get("os_index").and_then(|s| s.parse().ok());
            objs.push(Obj {
                kind,
                os,
                logical: None,
                parent: stack.last().copied(),
                attrs,
            });
            if !t.ends_with("/>") {
                stack.push(objs.len() - 1);
            }
        } else if t.starts_with("</object>") {
            stack.pop();
        } else if let Some(tag) = t.strip_prefix("<distances2 ") {
            let a = xml_attrs(tag);
            if a.get("type").map(String::as_str) == Some("NUMANode")
                && a.get("name").map(String::as_str) == Some("NUMALatency")
            {
                if a.get("indexing").map(String::as_str) != Some("os") {
                    return Err("distances2 not indexed by os index".into());
                }
                in_dist = Some((Vec::new(), Vec::new()));
            }
        } else if let Some((idx, vals)) = in_dist.as_mut() {
            let nums = |s: &str| -> Vec<u64> {
                let body = s.split_once('>').map(|x| x.1).unwrap_or("");
                let body = body.split('<').next().unwrap_or("");
                body.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            };
            if t.starts_with("<indexes") {
                idx.extend(nums(t).into_iter().map(|x| x as u32));
            } else if t.starts_with("<u64values") {
                vals.extend(nums(t));
            } else if t.starts_with("</distances2") {
                let n = idx.len();
                if vals.len() != n * n {
                    return Err(format!("distances2: {} values for {n} nodes", vals.len()));
                }
                let mut d = BTreeMap::new();
                for (a, &from) in idx.iter().enumerate() {
                    for (b, &to) in idx.iter().enumerate() {
                        d.insert((from, to), vals[a * n + b]);
                    }
                }
                exp.distances = Some(d);
                in_dist = None;
            }
        }
    }
    for (i, o) in objs.iter().enumerate() {
        match o.kind.as_str() {
            "Machine" if o.parent.is_none() => {
                if let Some(c) = o.attrs.get("allowed_cpuset") {
                    exp.allowed_cpus = Some(parse_hwloc_bitmap(c)?);
                }
                if let Some(c) = o.attrs.get("allowed_nodeset") {
                    exp.allowed_nodes = Some(parse_hwloc_bitmap(c)?);
                }
            }
            "PU" => {
                exp.pus.insert(o.os.ok_or("PU without os_index")?);
            }
            "NUMANode" => {
                let local = o
                    .attrs
                    .get("local_memory")
                    .map(|s| s.parse().map(|value| Amount { value, unit: 1 }))
                    .transpose()
                    .map_err(|e| format!("local_memory: {e}"))?;
                exp.nodes.push(ExpNode {
                    os: o.os.ok_or("NUMANode without os_index")?,
                    local,
                    cpus: parse_hwloc_bitmap(
                        o.attrs.get("cpuset").ok_or("NUMANode without cpuset")?,
                    )?,
                });
            }
            "PCIDev" | "Bridge" => {
                if let Some(b) = o.attrs.get("pci_busid") {
                    exp.pci.push(ExpPci {
                        busid: b.clone(),
                        bridge: o.kind == "Bridge",
                        nodes: nodes_near(&objs, i),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps() {
        assert_eq!(parse_hwloc_bitmap("0x0000003f").unwrap(), (0..6).collect());
        assert_eq!(
            parse_hwloc_bitmap("0x00000001,0x80000000").unwrap(),
            [31, 32].into_iter().collect()
        );
        assert_eq!(parse_hwloc_bitmap("0x0").unwrap(), BTreeSet::new());
        assert!(parse_hwloc_bitmap("0xf...f").is_err());
    }

    #[test]
    fn console_tree_and_matrix() {
        let t = "Machine (P#0 total=2GiB)\n  Package L#0 (P#0)\n    NUMANode L#0 (P#3 local=1024MiB total=1024MiB)\n    Core L#0 (P#0)\n      PU L#0 (P#0)\n  Package L#1 (P#1)\n    NUMANode L#1 (P#1 local=5KiB)\n    PU L#1 (P#7)\n    HostBridge L#0 (buses=0000:[00-00])\n      PCI L#0 (busid=0000:00:01.1 id=8086:7010)\ndepth 0: 1 Machine\nRelative latency matrix (name NUMALatency kind 5) between 2 NUMANodes (depth -3) by logical indexes:\n index     1     0\n     1    10    20\n     0    21    10\n";
        let e = parse(t).unwrap();
        assert_eq!(e.nodes.len(), 2);
        assert_eq!(e.nodes[0].os, 3);
        assert_eq!(e.nodes[0].cpus, [0].into_iter().collect());
        assert_eq!(e.nodes[1].cpus, [7].into_iter().collect());
        assert!(e.nodes[0].local.unwrap().matches(1 << 30));
        assert!(!e.nodes[1].local.unwrap().matches(6 << 10));
        let d = e.distances.unwrap();
        assert_eq!(d[&(3, 1)], 21);
        assert_eq!(d[&(1, 3)], 20);
        assert_eq!(e.pci[0].busid, "0000:00:01.1");
        assert_eq!(e.pci[0].nodes, [1].into_iter().collect());
    }
}
