//! `numakit nfd`: Node Feature Discovery labels for this machine, as a
//! local feature file (`features.d` format), printed or written atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use numakit_export::nfd;
use numakit_topo::Machine;

use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};
use crate::output;

/// The file name written into `--write DIR`.
pub const FILE_NAME: &str = "numakit";

/// Arguments of `numakit nfd`.
#[derive(Debug, clap::Args)]
pub struct NfdArgs {
    /// Write the labels to DIR/numakit (a temporary file renamed into
    /// place, so nfd-worker never reads half a file), e.g.
    /// /etc/kubernetes/node-feature-discovery/features.d.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
}

/// Runs `numakit nfd`.
pub fn run(root: Option<PathBuf>, args: NfdArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let m = Machine::discover(&root);
    let text = nfd::feature_file(&nfd::labels(&m));
    match &args.write {
        None => output::print(&text)?,
        Some(dir) => write_atomically(dir, &text).map_err(|e| {
            CliError::new(format_args!(
                "cannot write {}: {e}",
                dir.join(FILE_NAME).display()
            ))
            .hint("the directory must exist and be writable")
        })?,
    }
    Ok(0)
}

/// Writes `text` to `dir/numakit` through a temporary file in `dir` and a
/// rename, so that a reader sees the old file or the new one, never a part.
fn write_atomically(dir: &Path, text: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(FILE_NAME))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
