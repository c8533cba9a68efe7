//! `migratepages PID FROM-NODES TO-NODES`, as the original (numactl's
//! `migratepages.c`) reads it: `getopt_long` with only `-h`/`--help`
//! (options anywhere, `--` ends them; any option prints the usage text and
//! exits 1, an unknown one after getopt's complaint), exactly three
//! operands, the PID read by `strtoul(.., 0)` (`0` is the caller, `0x..`
//! hex), the nodes by libnuma's `numa_parse_nodestring` (`<SPEC> is
//! invalid` on stdout, exit 1), then one `migrate_pages` call: silent and
//! exit 0 when the kernel accepts it (an empty FROM moves nothing), else
//! `migrate_pages: ERROR` and exit 1, with what happened to the process
//! where it explains the error (a kernel thread, a zombie, gone).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use numakit_placement::{Backend, LiveBackend};
use numakit_root::Root;

use crate::commands::common::no_user_memory;
use crate::compat::numactl::{parse_nodestring, spec::strtoul, strerror};
use crate::error::CliResult;
use crate::output::{eprint, eprint_bytes};

/// The original's usage text (stderr, then exit 1).
const USAGE: &str = "usage: migratepages pid from-nodes to-nodes

nodes is a comma delimited list of node numbers or A-B ranges or all.
";

/// How getopt names the program: `argv[0]` when invoked as `migratepages`.
fn program_name() -> Vec<u8> {
    match std::env::args_os().next() {
        Some(a) if std::path::Path::new(&a).file_name() == Some("migratepages".as_ref()) => {
            a.as_bytes().to_vec()
        }
        _ => b"migratepages".to_vec(),
    }
}

/// The operands, or getopt's complaint (empty for `-h`/`--help`) when an
/// option comes first: every option ends in the usage text.
fn operands(args: &[OsString]) -> Result<Vec<&[u8]>, Vec<u8>> {
    let mut out = Vec::new();
    let mut it = args.iter().map(|a| a.as_bytes());
    while let Some(a) = it.next() {
        if a == b"--" {
            out.extend(it);
            break;
        }
        let prog = program_name();
        if let Some(long) = a.strip_prefix(b"--") {
            let name = long.split(|&c| c == b'=').next().unwrap_or(long);
            if !name.is_empty() && b"help".starts_with(name) && name.len() == long.len() {
                return Err(Vec::new());
            }
            let mut m = prog;
            if b"help".starts_with(name) {
                m.extend_from_slice(b": option '--help' doesn't allow an argument\n");
            } else {
                m.extend_from_slice(b": unrecognized option '");
                m.extend_from_slice(a);
                m.extend_from_slice(b"'\n");
            }
            return Err(m);
        }
        if a.len() > 1 && a[0] == b'-' {
            if a[1] == b'h' {
                return Err(Vec::new());
            }
            let mut m = prog;
            m.extend_from_slice(b": invalid option -- '");
            m.push(a[1]);
            m.extend_from_slice(b"'\n");
            return Err(m);
        }
        out.push(a);
    }
    Ok(out)
}

/// The usage text after `complaint`, exit 1.
fn usage(complaint: &[u8]) -> CliResult<u8> {
    let mut m = complaint.to_vec();
    m.extend_from_slice(USAGE.as_bytes());
    eprint_bytes(&m);
    Ok(1)
}

/// Runs the interface with its arguments (argv[0] removed).
pub fn run(args: Vec<OsString>) -> CliResult<u8> {
    let ops = match operands(&args) {
        Ok(ops) => ops,
        Err(complaint) => return usage(&complaint),
    };
    let [pid, from, to] = ops[..] else {
        return usage(b"");
    };
    let (value, used) = strtoul(pid);
    if used == 0 || used != pid.len() {
        return usage(b"");
    }
    // `int pid = strtoul(...)`: the low 32 bits
    let pid = value as u32 as i32;
    let mut nodes = Vec::new();
    for spec in [from, to] {
        match parse_nodestring(std::ffi::OsStr::from_bytes(spec)) {
            Ok(n) => nodes.push(n),
            Err(warning) => {
                eprint_bytes(warning.as_deref().unwrap_or(b""));
                let mut line = b"<".to_vec();
                line.extend_from_slice(spec);
                line.extend_from_slice(b"> is invalid\n");
                crate::output::print_bytes(&line)?;
                return Ok(1);
            }
        }
    }
    match LiveBackend.migrate_pages(pid, &nodes[0], &nodes[1]) {
        Ok(_) => Ok(0),
        Err(e) => {
            let mut m = format!("migrate_pages: {}", strerror(&e.to_io()));
            // EINVAL says nothing of why: for a kernel thread or a process
            // that exited, say so
            if e == numakit_placement::Errno::EINVAL
                && let Some(why) = no_user_memory(&Root::live(), pid, "move")
            {
                m = format!("{m} ({})", why.message);
            }
            eprint(&format!("{m}\n"));
            Ok(1)
        }
    }
}
