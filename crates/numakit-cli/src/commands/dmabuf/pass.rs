//! `numakit dmabuf serve SOCKET` and `numakit dmabuf recv SOCKET`: one
//! DMA-BUF passed from one process to others over a Unix socket, with its
//! name, size and checksum; each receiver checks the bytes, says where the
//! pages are, and answers with the checksum it computed.
//!
//! `--json`: schemas `numakit.dmabuf-serve/1` and `numakit.dmabuf-recv/1`
//! (docs/dmabuf.md).

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;

use numakit_dmabuf::Protection;
use numakit_dmabuf::alloc::{OnNode, allocate};
use numakit_dmabuf::checksum::{Checksum, pattern_word};
use numakit_dmabuf::pages::{Frames, NodeMap, frames};
use numakit_dmabuf::pass::{Channel, Kind, Message};
use numakit_dmabuf::{Error as DmabufError, MappedDmaBuf};
use numakit_types::NodeId;
use serde::Serialize;

use super::alloc::{frames_text, placer};
use super::{SourceArgs, parse_size, size_error, size_text};
use crate::commands::common::open_root;
use crate::error::{CliError, CliResult};
use crate::output::{print, print_json, sanitize};

/// `numakit dmabuf serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The Unix socket to listen on (created; removed at the end).
    socket: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    /// Size (4096, 64K, 1M, 8MiB).
    #[arg(long, default_value = "1M")]
    size: String,
    /// Put the buffer's pages on this NUMA node.
    #[arg(long, value_name = "N")]
    node: Option<u32>,
    /// The buffer's name (travels with it; at most 31 bytes).
    #[arg(long, default_value = "numakit-shared")]
    name: String,
    /// Serve this many receivers, then exit.
    #[arg(long, default_value_t = 1)]
    clients: u32,
    /// Seconds to wait for each receiver.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Print JSON (schema numakit.dmabuf-serve/1).
    #[arg(long)]
    json: bool,
}

/// `numakit dmabuf recv`.
#[derive(Debug, clap::Args)]
pub struct RecvArgs {
    /// The Unix socket a `serve` listens on.
    socket: PathBuf,
    /// Seconds to wait for the server.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Keep the buffer until the process is stopped.
    #[arg(long)]
    hold: bool,
    /// Print JSON (schema numakit.dmabuf-recv/1).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct ServeReport {
    schema: &'static str,
    pid: u32,
    inode: u64,
    size: u64,
    name: String,
    checksum: String,
    frames: Option<Frames>,
    receivers: Vec<Answer>,
}

/// What a receiver answered.
#[derive(Debug, Serialize)]
struct Answer {
    checksum: String,
    ok: bool,
    /// The receiver wrote its pid into the buffer's last word through its
    /// own mapping, and this process read it through its mapping: one
    /// memory, not a copy (`None`: the receiver could not write).
    write_seen: Option<bool>,
}

#[derive(Debug, Serialize)]
struct RecvReport {
    schema: &'static str,
    pid: u32,
    inode: u64,
    size: u64,
    name: String,
    checksum: String,
    expected: String,
    ok: bool,
    /// The pid this process wrote into the buffer's last word (`None`:
    /// the buffer could not be mapped for writing).
    wrote: Option<u64>,
    frames: Option<Frames>,
}

fn listen(path: &std::path::Path) -> CliResult<UnixListener> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(CliError::new(format!(
                "{} exists and is not a socket; not replacing it",
                path.display()
            )));
        }
        let _ = std::fs::remove_file(path);
    }
    UnixListener::bind(path)
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", path.display())))
}

/// The bytes the checksum covers: all but the last page, where the
/// receivers leave their mark.
fn checked_bytes(map: &MappedDmaBuf) -> usize {
    map.len().saturating_sub(4096).max(8)
}

/// Fills the buffer with frame 0 of the test pattern; returns the
/// checksum of its checked bytes.
fn fill(map: &MappedDmaBuf) -> CliResult<u64> {
    let w = map.write()?;
    let mut c = Checksum::default();
    let words = checked_bytes(map) / 8;
    w.fill_words(0, map.len() / 8, |i| {
        let v = pattern_word(0, i);
        if i < words {
            c = c.word(v);
        }
        v
    })
    .map_err(|_| CliError::new("the buffer is smaller than its size"))?;
    w.end()
        .map_err(|e| DmabufError::os("ending the CPU write", e))?;
    Ok(c.value())
}

/// Runs `numakit dmabuf serve`.
pub fn serve(root: Option<PathBuf>, a: ServeArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let size = parse_size(&a.size).map_err(|w| size_error("--size", w))?;
    let placer = placer(&root, a.node)?;
    let on = placer.as_ref().zip(a.node).map(|(p, n)| OnNode {
        placer: p,
        node: NodeId(n),
    });
    let new = allocate(&root, &a.source.source(), size, on, Some(&a.name))?;
    let map = new.buf.map(Protection::ReadWrite)?;
    let sum = fill(&map)?;
    let listener = listen(&a.socket)?;
    let mut report = ServeReport {
        schema: "numakit.dmabuf-serve/1",
        pid: std::process::id(),
        inode: map.buffer().inode(),
        size: map.buffer().size(),
        name: a.name.clone(),
        checksum: format!("{sum:016x}"),
        frames: frames(&map, NodeMap::read(&root).as_ref()).ok(),
        receivers: Vec::new(),
    };
    if !a.json {
        print(&format!(
            "serving DMA-BUF {} ({}, \"{}\", checksum {:016x}) on {}\n",
            report.inode,
            size_text(report.size),
            sanitize(&a.name),
            sum,
            a.socket.display()
        ))?;
    }
    let result = serve_clients(&a, &listener, &map, sum, &mut report);
    let _ = std::fs::remove_file(&a.socket);
    result?;
    if a.json {
        print_json(&report)?;
    }
    Ok(if report.receivers.iter().all(|r| r.ok) {
        0
    } else {
        1
    })
}

fn serve_clients(
    a: &ServeArgs,
    l: &UnixListener,
    map: &MappedDmaBuf,
    sum: u64,
    report: &mut ServeReport,
) -> CliResult<()> {
    let wait = Duration::from_secs(a.timeout.max(1));
    for n in 0..a.clients {
        let ch = Channel::accept(l, &format!("receiver {}", n + 1), wait)?;
        ch.set_timeout(Some(wait))?;
        let mut m = Message::new(Kind::Buffer);
        m.size = map.buffer().size();
        m.bytes = checked_bytes(map) as u64;
        m.checksum = sum;
        m.name = a.name.clone();
        ch.send(&m, Some(map.buffer()))?;
        let back = ch.recv()?.ok_or_else(|| DmabufError::PeerClosed {
            peer: ch.peer().into(),
            when: "before answering".into(),
        })?;
        let ok = back.msg.kind == Kind::Release && back.msg.checksum == sum;
        let write_seen = (back.msg.seq != 0).then(|| last_word(map) == Some(back.msg.seq));
        if !a.json {
            let seen = match write_seen {
                Some(true) => format!("; its write of {} is seen here", back.msg.seq),
                Some(false) => "; its write is NOT seen here".into(),
                None => String::new(),
            };
            print(&format!(
                "receiver {}: checksum {:016x} {}{seen}\n",
                n + 1,
                back.msg.checksum,
                if ok { "matches" } else { "DIFFERS" }
            ))?;
        }
        report.receivers.push(Answer {
            checksum: format!("{:016x}", back.msg.checksum),
            ok: ok && write_seen != Some(false),
            write_seen,
        });
    }
    Ok(())
}

/// The buffer's last 64-bit word, read inside a read access.
fn last_word(map: &MappedDmaBuf) -> Option<u64> {
    let r = map.read().ok()?;
    let mut b = [0u8; 8];
    r.read(map.len() - 8, &mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

/// Writes `v` into the buffer's last word inside a write access.
fn mark(map: &MappedDmaBuf, v: u64) -> Option<u64> {
    let w = map.write().ok()?;
    w.write(map.len() - 8, &v.to_le_bytes()).ok()?;
    w.end().ok()?;
    Some(v)
}

/// Runs `numakit dmabuf recv`.
pub fn recv(root: Option<PathBuf>, a: RecvArgs) -> CliResult<u8> {
    let root = open_root(root)?;
    let wait = Duration::from_secs(a.timeout.max(1));
    let ch = Channel::connect(
        &a.socket,
        &format!("the server at {}", a.socket.display()),
        wait,
    )?;
    ch.set_timeout(Some(wait))?;
    let got = ch.recv()?.ok_or_else(|| DmabufError::PeerClosed {
        peer: ch.peer().into(),
        when: "before sending a buffer".into(),
    })?;
    let buf = match (got.msg.kind, got.buf) {
        (Kind::Buffer, Some(b)) => b,
        _ => {
            return Err(CliError::new(format!("{} sent no buffer", ch.peer())));
        }
    };
    // read-write when the buffer allows it, to leave a mark the sender reads
    let map = match buf.try_clone()?.map(Protection::ReadWrite) {
        Ok(m) => {
            drop(buf);
            m
        }
        Err(_) => buf.map(Protection::Read)?,
    };
    let bytes = (got.msg.bytes as usize).min(map.len());
    let sum = {
        let r = map.read()?;
        let c = r
            .fold_words(0, bytes / 8, Checksum::default(), Checksum::word)
            .map_err(|_| CliError::new("the buffer is smaller than announced"))?;
        r.end()
            .map_err(|e| DmabufError::os("ending the CPU read", e))?;
        c.value()
    };
    let wrote = match map.mapping().writable() {
        true => mark(&map, std::process::id() as u64),
        false => None,
    };
    let mut answer = Message::new(Kind::Release);
    answer.checksum = sum;
    answer.seq = wrote.unwrap_or(0);
    ch.send(&answer, None)?;
    let report = RecvReport {
        schema: "numakit.dmabuf-recv/1",
        pid: std::process::id(),
        inode: map.buffer().inode(),
        size: map.buffer().size(),
        name: got.msg.name.clone(),
        checksum: format!("{sum:016x}"),
        expected: format!("{:016x}", got.msg.checksum),
        ok: sum == got.msg.checksum,
        wrote,
        frames: frames(&map, NodeMap::read(&root).as_ref()).ok(),
    };
    if a.json {
        print_json(&report)?;
    } else {
        print(&render_recv(&report, a.hold))?;
    }
    if a.hold {
        loop {
            std::thread::park();
        }
    }
    Ok(if report.ok { 0 } else { 1 })
}

fn render_recv(r: &RecvReport, hold: bool) -> String {
    let mut s = format!(
        "received DMA-BUF {} ({}, \"{}\"): checksum {} {}\n",
        r.inode,
        size_text(r.size),
        sanitize(&r.name),
        r.checksum,
        if r.ok {
            "matches"
        } else {
            "DIFFERS from the server's"
        }
    );
    match &r.frames {
        Some(f) => s.push_str(&format!("physical pages: {}\n", frames_text(f))),
        None => s.push_str("physical pages: unknown\n"),
    }
    if hold {
        s.push_str(&format!("held by process {} until it is stopped\n", r.pid));
    }
    s
}
