//! The portable in-root link resolver: resolves a path one component at a
//! time through a backend's [`Walk`], so that an absolute link target never
//! leaves the root, and builds the whole-path operations of directory and
//! tree roots (and of every recording root) on it.

use std::io;

use rustix::io::Errno;

use crate::source::{Node, Walk};

/// The most links one path may go through, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Resolves `path` inside the root `w`. With `follow_last`, a link in the
/// last component is followed too. `on_link` is told every link followed,
/// by its resolved path and its target.
pub(crate) fn resolve<W: Walk + ?Sized>(
    w: &W,
    path: &str,
    follow_last: bool,
    mut on_link: impl FnMut(&str, &str),
) -> io::Result<String> {
    // the path resolved so far ("" is the top) and where each of its
    // components starts: a component is pushed and popped without copying
    // the path, so resolving is linear in its length
    let mut cur = String::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut todo: Vec<String> = path
        .split('/')
        .rev()
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                if let Some(s) = starts.pop() {
                    cur.truncate(s);
                }
                continue;
            }
            _ => {}
        }
        starts.push(cur.len());
        cur.push('/');
        cur.push_str(&c);
        if todo.is_empty() && !follow_last {
            break;
        }
        if let Some(Node::Symlink(target)) = w.lstat(&cur)? {
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from(Errno::LOOP));
            }
            on_link(&cur, &target);
            if let Some(s) = starts.pop() {
                cur.truncate(s);
            }
            if target.starts_with('/') {
                cur.clear();
                starts.clear();
            }
            todo.extend(
                target
                    .split('/')
                    .rev()
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
        }
    }
    if cur.is_empty() {
        cur.push('/');
    }
    Ok(cur)
}

/// [`resolve`] where nobody listens for links.
fn resolved<W: Walk + ?Sized>(w: &W, path: &str, follow_last: bool) -> io::Result<String> {
    resolve(w, path, follow_last, |_, _| {})
}

/// Reads a whole file, links resolved in the root.
pub(crate) fn read<W: Walk + ?Sized>(w: &W, path: &str) -> io::Result<Vec<u8>> {
    w.read_file(&resolved(w, path, true)?)
}

/// Reads the link `path`, the links before it resolved in the root.
pub(crate) fn read_link<W: Walk + ?Sized>(w: &W, path: &str) -> io::Result<String> {
    w.read_link_at(&resolved(w, path, false)?)
}

/// Lists a directory, links resolved in the root.
pub(crate) fn list<W: Walk + ?Sized>(w: &W, path: &str) -> io::Result<Vec<String>> {
    w.list_dir(&resolved(w, path, true)?)
}

/// Resolves `path` in the root; `NotFound` if nothing is there.
pub(crate) fn canonicalize<W: Walk + ?Sized>(w: &W, path: &str) -> io::Result<String> {
    let p = resolved(w, path, true)?;
    if !lexists(w, &p) {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok(p)
}

/// Whether `path` exists, links resolved in the root.
pub(crate) fn exists<W: Walk + ?Sized>(w: &W, path: &str) -> bool {
    resolved(w, path, true).is_ok_and(|p| lexists(w, &p))
}

/// Whether `path` is a directory, links resolved in the root.
pub(crate) fn is_dir<W: Walk + ?Sized>(w: &W, path: &str) -> bool {
    resolved(w, path, true).is_ok_and(|p| is_dir_at(w, &p))
}

/// Whether something is at the resolved path `p`.
pub(crate) fn lexists<W: Walk + ?Sized>(w: &W, p: &str) -> bool {
    matches!(w.lstat(p), Ok(Some(_)))
}

/// Whether the resolved path `p` is a directory.
pub(crate) fn is_dir_at<W: Walk + ?Sized>(w: &W, p: &str) -> bool {
    matches!(w.lstat(p), Ok(Some(Node::Dir)))
}

/// `/a/b` from `["a", "b"]`; `/` from none.
pub(crate) fn join_abs(parts: &[String]) -> String {
    if parts.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for p in parts {
        s.push('/');
        s.push_str(p);
    }
    s
}

/// The path of `name` in the directory `dir` (an absolute path).
pub(crate) fn child(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}
