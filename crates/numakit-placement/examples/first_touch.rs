//! First touch done right: one buffer, one part per node, each part written
//! first by a thread pinned to its node, so each part's pages live there.
//!
//! Usage: `first_touch [--hold] [--ready FILE] MIB NODES`
//!   MIB    buffer size in MiB
//!   NODES  the nodes, in order, that get one part each (`0,1` or `0-2`)
//!
//! Prints `first_touch: pid=PID start=HEX end=HEX parts=N` and one
//! `part: node=N start=HEX end=HEX pages=P cpus=LIST` line per part (hex
//! without 0x, as in /proc/PID/maps). After initialising, it sets each part's
//! range to a preferred policy for its node without moving anything: the
//! parts become separate mappings, so `/proc/PID/numa_maps` shows one line
//! per part. `--ready FILE` writes the first line to FILE once done;
//! `--hold` then waits until killed. Exit status 0 ok, 1 placement error, 2
//! usage.

use std::io::Write;

use numakit_placement::{AllocOptions, HugePages, MbindFlags, Placer, Policy};
use numakit_types::NodeSet;

fn usage() -> ! {
    eprintln!("usage: first_touch [--hold] [--ready FILE] MIB NODES");
    std::process::exit(2)
}

fn main() {
    let mut hold = false;
    let mut ready = None;
    let mut pos = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hold" => hold = true,
            "--ready" => ready = Some(args.next().unwrap_or_else(|| usage())),
            _ if a.starts_with('-') => usage(),
            _ => pos.push(a),
        }
    }
    let [mib, nodes] = pos.as_slice() else {
        usage()
    };
    let mib: usize = mib.parse().unwrap_or_else(|_| usage());
    let nodes: NodeSet = nodes.parse().unwrap_or_else(|_| usage());
    let nodes: Vec<_> = nodes.iter().collect();
    if let Err(e) = run(mib, &nodes, hold, ready.as_deref()) {
        eprintln!("first_touch: {e}");
        std::process::exit(1);
    }
}

fn run(
    mib: usize,
    nodes: &[numakit_types::NodeId],
    hold: bool,
    ready: Option<&str>,
) -> Result<(), numakit_placement::Error> {
    let placer = Placer::live()?;
    // No transparent huge pages: a 2 MiB page straddling two parts would
    // go wholly to the node of whichever thread touched it first.
    let mut buf = placer.allocate_with(
        mib << 20,
        &AllocOptions {
            policy: None,
            huge: HugePages::Never,
            populate: false,
        },
    )?;
    let base = buf.addr();
    let page = numakit_sys::mm::page_size();
    let parts = placer.first_touch_parts(buf.as_mut_slice(), nodes, |_, part| {
        for b in part.iter_mut().step_by(page) {
            *b = 1;
        }
    })?;
    let head = format!(
        "first_touch: pid={} start={:x} end={:x} parts={}",
        std::process::id(),
        base,
        base + buf.len(),
        parts.len()
    );
    println!("{head}");
    for p in &parts {
        let (s, e) = (base + p.start, base + p.start + p.len);
        println!(
            "part: node={} start={s:x} end={e:x} pages={} cpus={}",
            p.node,
            p.len / page,
            p.cpus
                .as_ref()
                .map_or_else(|| "none".to_string(), |c| c.to_string())
        );
        if p.len > 0 {
            placer.bind_range(s, p.len, &Policy::preferred(p.node), MbindFlags::empty())?;
        }
    }
    let _ = std::io::stdout().flush();
    if let Some(f) = ready {
        let tmp = format!("{f}.tmp");
        std::fs::write(&tmp, format!("{head}\n"))
            .and_then(|_| std::fs::rename(&tmp, f))
            .map_err(|e| numakit_placement::Error::Io {
                path: f.to_string(),
                source: e,
            })?;
    }
    if hold {
        loop {
            std::thread::park();
        }
    }
    drop(buf);
    Ok(())
}
