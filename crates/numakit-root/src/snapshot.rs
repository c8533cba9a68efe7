//! Writing what a recording root saw as a snapshot tarball: into a
//! temporary file of its own, then renamed over the target.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{Recorded, RecordedEntry};

/// What to do when the snapshot's file already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail with `AlreadyExists`, even if the file appears while writing.
    Keep,
    /// Replace it (the file, or a link at its name: never what it points at).
    Replace,
}

/// Writes `rec` as a gzip-compressed tarball rooted at `/` (`sys/...`,
/// `proc/...`), which [`crate::Root::open`] replays. Entries are written in
/// path order with fixed timestamps and owners, so the same input gives the
/// same bytes. Returns the number of entries written.
///
/// The tarball is written to a temporary file that this call creates in
/// `out`'s folder (exclusively, under an unpredictable name, mode 0600,
/// never through a link), then renamed to `out` with the mode a new file
/// gets under the umask. No other file is touched: each writer owns its
/// temporary file, the last rename wins, and a failure leaves nothing
/// behind.
pub fn write_snapshot(rec: &Recorded, out: &Path, existing: Existing) -> io::Result<usize> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.as_deref().unwrap_or("snapshot")))
        .suffix(".partial")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    let n = write_tar(rec, tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o666 & !umask()))?;
    // on failure `tmp` is dropped, which removes the temporary file
    match existing {
        Existing::Replace => tmp.persist(out).map_err(|e| e.error)?,
        Existing::Keep => tmp.persist_noclobber(out).map_err(|e| e.error)?,
    };
    Ok(n)
}

/// The process's umask (read by setting it and setting it back).
fn umask() -> u32 {
    use rustix::fs::Mode;
    let old = rustix::process::umask(Mode::from_raw_mode(0o077));
    rustix::process::umask(old);
    old.bits()
}

/// The tarball of `rec`, gzip-compressed, into `file`.
fn write_tar(rec: &Recorded, file: &mut std::fs::File) -> io::Result<usize> {
    let gz =
        flate2::write::GzEncoder::new(io::BufWriter::new(file), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    b.mode(tar::HeaderMode::Deterministic);
    let mut n = 0;
    for (path, e) in &rec.entries {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            RecordedEntry::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, rel, &data[..])?;
            }
            RecordedEntry::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, rel, target)?;
            }
            RecordedEntry::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{rel}/"), io::empty())?;
            }
        }
        n += 1;
    }
    let mut w = b.into_inner()?.finish()?;
    w.flush()?;
    Ok(n)
}
