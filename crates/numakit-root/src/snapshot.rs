//! Writing what a recording root saw as a snapshot tarball.

use std::io::{self, Write};
use std::path::Path;

use crate::{Recorded, RecordedEntry};

/// Writes `rec` as a gzip-compressed tarball rooted at `/` (`sys/...`,
/// `proc/...`), which [`crate::Root::open`] replays. Entries are written in
/// path order with fixed timestamps and owners, so the same input gives the
/// same bytes. Returns the number of entries written.
pub fn write_snapshot(rec: &Recorded, out: &Path) -> io::Result<usize> {
    let tmp = out.with_extension("partial");
    let file = std::fs::File::create(&tmp)?;
    let res = (|| {
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
        let gz = b.into_inner()?;
        let mut w = gz.finish()?;
        w.flush()?;
        Ok(n)
    })();
    match res {
        Ok(n) => {
            std::fs::rename(&tmp, out)?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
