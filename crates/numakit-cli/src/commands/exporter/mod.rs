//! `numakit exporter`: serves `/metrics` in the Prometheus (OpenMetrics)
//! text format: per node memory, huge pages, numastat and the vmstat
//! balancing and tiering counters, the placement knobs, and per selected
//! process and cgroup the memory per node. Loopback by default; SIGTERM or
//! SIGINT stops it cleanly.

mod http;
pub mod metrics;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};

/// Arguments of `numakit exporter`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Metrics: numakit_node_meminfo_bytes, numakit_node_meminfo_count, numakit_node_numastat_pages_total, numakit_node_vmstat_total, numakit_node_hugepages, numakit_node_memory_tier, numakit_vmstat_total, numakit_knob, numakit_thp_enabled, numakit_process_memory_bytes, numakit_cgroup_memory_bytes, numakit_scrape_duration_seconds (docs/exporter.md).\n\nExit status: 0 stopped by SIGTERM or SIGINT; 2 the address cannot be listened on."
)]
pub struct ExporterArgs {
    /// Address to listen on (loopback by default; give 0.0.0.0:9464 to serve other machines).
    #[arg(long, default_value = "127.0.0.1:9464", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Export this process's memory per node: a PID or a pattern (re-matched at every scrape). May be repeated.
    #[arg(short = 'p', long = "pid", value_name = "PID|PATTERN")]
    pub pids: Vec<String>,
    /// Export this cgroup's memory.numa_stat. May be repeated.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Vec<String>,
    /// Worker threads answering requests.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
    /// Seconds a client may take to send its request or read the answer.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=3600))]
    pub timeout: u16,
}

/// Runs `numakit exporter` until SIGTERM or SIGINT.
pub fn run(root: Option<PathBuf>, args: ExporterArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let listener = TcpListener::bind(args.listen).map_err(|e| {
        CliError::new(format!("cannot listen on {}: {e}", args.listen))
            .hint("another exporter may hold the port; pick one with --listen")
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", args.listen)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| CliError::new(format!("cannot handle SIGTERM: {e}")))?;
    let handle = signals.handle();
    let waker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                stop.store(true, Ordering::SeqCst);
                // wake the accepting thread
                let _ = TcpStream::connect(wake_addr(local));
            }
        })
    };
    crate::output::eprint(&format!("numakit: serving http://{local}/metrics\n"));
    let sel = metrics::Selection {
        processes: args.pids.clone(),
        cgroups: args.cgroup.clone(),
    };
    let limits = http::Limits {
        workers: usize::from(args.workers),
        timeout: std::time::Duration::from_secs(u64::from(args.timeout)),
        ..http::Limits::default()
    };
    http::serve(listener, limits, &stop, &|| metrics::scrape(&root, &sel));
    handle.close();
    let _ = waker.join();
    Ok(0)
}

/// Where to connect to reach a listener bound to `a` (an unspecified
/// address is reached on loopback).
fn wake_addr(a: SocketAddr) -> SocketAddr {
    let mut w = a;
    if a.ip().is_unspecified() {
        w.set_ip(match a {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    w
}
