//! `numakit snapshot FILE.tar.gz`: gathers exactly the files numakit reads,
//! so that anyone can replay this machine with `--root FILE.tar.gz`.

use std::path::PathBuf;

use numakit_root::Existing;
use numakit_topo::Machine;

use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};

/// Arguments of `numakit snapshot`.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// The tarball to write (`.tar.gz`).
    pub file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long, short)]
    pub force: bool,
}

/// The refusal to replace an existing file without `--force`.
fn exists(file: &std::path::Path) -> CliError {
    CliError::new(format!(
        "cannot write snapshot '{}': the file exists",
        file.display()
    ))
    .hint("pass --force to replace it")
}

/// Runs `numakit snapshot`.
pub fn run(root: Option<PathBuf>, args: SnapshotArgs) -> CliResult<u8> {
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if !(name.ends_with(".tar.gz") || name.ends_with(".tgz")) {
        return Err(CliError::new(format!(
            "cannot write snapshot '{}': the name must end in .tar.gz",
            args.file.display()
        ))
        .hint("for example: numakit snapshot my-machine.tar.gz"));
    }
    // a link at the name counts as the file: it is what --force replaces
    if !args.force && std::fs::symlink_metadata(&args.file).is_ok() {
        return Err(exists(&args.file));
    }
    let root = open_root(root)?;
    let rec_root = root.start_recording();
    let model = Machine::discover(&rec_root);
    // What `numakit iommu` reads beyond the model (firmware tables, VT-d
    // capabilities, the VFIO modules) goes into the snapshot too.
    let _ = numakit_vfio::report::report(&rec_root, &model);
    let recorded = rec_root.recorded();
    let existing = if args.force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    let n = numakit_root::write_snapshot(&recorded, &args.file, existing).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            // it appeared while the machine was read
            return exists(&args.file);
        }
        CliError::new(format!(
            "cannot write snapshot '{}': {e}",
            args.file.display()
        ))
    })?;
    // Prove the snapshot replays to the model it was taken from.
    let replay = numakit_root::Root::open(&args.file).map_err(|e| {
        CliError::new(format!(
            "the snapshot just written does not open: {}",
            crate::error::chain(&e)
        ))
    })?;
    let again = Machine::discover(&replay);
    let a = serde_json::to_value(&model)
        .map_err(|e| CliError::new(format!("cannot render JSON: {e}")))?;
    let b = serde_json::to_value(&again)
        .map_err(|e| CliError::new(format!("cannot render JSON: {e}")))?;
    if a != b {
        return Err(CliError::new(format!(
            "the snapshot '{}' does not replay to the same model; please report this with the file attached",
            args.file.display()
        )));
    }
    crate::output::eprint(&format!(
        "numakit: wrote {} ({} entries, {} bytes); replay with: numakit topo --root {}\n",
        args.file.display(),
        n,
        std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0),
        args.file.display()
    ));
    Ok(0)
}
