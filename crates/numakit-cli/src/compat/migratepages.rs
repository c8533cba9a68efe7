//! `migratepages PID FROM-NODES TO-NODES`, as the original reads it: the
//! three arguments become one migration of the process's pages. Silent on
//! success; `migratepages: ...` and exit 1 on errors, and the usage text
//! with exit 1 for anything but three arguments, like the original.

use std::ffi::OsString;

use numakit_root::Root;

use crate::commands::common::{LiveAction, live_placer, parse_nodes};
use crate::error::{CliError, CliResult, chain};

/// The original's usage text (stderr, then exit 1).
const USAGE: &str = "usage: migratepages pid from-nodes to-nodes

nodes is a comma delimited list of node numbers or A-B ranges or all.
";

/// An error as migratepages words it: its name, the message, exit 1.
fn fail(message: String) -> CliError {
    CliError::new(message).code(1).program("migratepages")
}

/// Runs the interface with its arguments (argv[0] removed).
pub fn run(args: Vec<OsString>) -> CliResult<u8> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let help = args.iter().any(|a| a == "-h" || a == "--help");
    let [pid, from, to] = args.as_slice() else {
        crate::output::eprint(USAGE);
        return Ok(1);
    };
    if help {
        crate::output::eprint(USAGE);
        return Ok(1);
    }
    let pid: i32 = pid
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| fail(format!("invalid pid: {pid}")))?;
    let placer =
        live_placer(&Root::live(), LiveAction::MigratePages).map_err(|e| fail(e.message))?;
    let nodes = |s: &str, what: &str| {
        parse_nodes(what, s, placer.machine()).map_err(|_| fail(format!("<{s}> is invalid")))
    };
    let from = nodes(from, "from-nodes")?;
    let to = nodes(to, "to-nodes")?;
    placer
        .migrate_process(pid, &from, &to)
        .map_err(|e| fail(format!("migrate_pages: {}", chain(&e))))?;
    Ok(0)
}
