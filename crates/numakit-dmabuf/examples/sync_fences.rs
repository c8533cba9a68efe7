//! Fences and CPU-access guards on a real kernel, checked as they run.
//!
//! Needs the system heap and vgem (`/dev/dma_heap/system`,
//! `/dev/dri/card0`); the VM tests run it. It prints one `ok`/`not ok` line
//! per claim and exits 1 when one fails:
//!
//! 1. a GPU job's write fence (vgem) is visible to user space: a sync file
//!    exported from the buffer is not signalled until the GPU signals;
//! 2. a CPU read access (the guard) waits for that fence: it gets through
//!    only after the signal;
//! 3. a sync file imported into a second buffer makes that buffer wait for
//!    the first one's fence;
//! 4. bad input leaves nothing behind: a descriptor that is not a DMA-BUF
//!    and a buffer of the wrong size are refused, and the process holds as
//!    many descriptors and DMA-BUF mappings afterwards as before.
//!
//! ```sh
//! cargo run -p numakit-dmabuf --example sync_fences
//! ```

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use numakit_dmabuf::alloc::{Source, allocate};
use numakit_dmabuf::gpu::Gpu;
use numakit_dmabuf::pass::{Attached, Channel, Kind, Message};
use numakit_dmabuf::{DmaBuf, Error, FenceAccess, Protection};
use numakit_root::Root;

static FAILED: AtomicBool = AtomicBool::new(false);

fn claim(ok: bool, what: &str, detail: &str) {
    if ok {
        println!("ok - {what}");
    } else {
        FAILED.store(true, Ordering::Relaxed);
        println!("not ok - {what} # {detail}");
    }
}

fn heap_buffer(root: &Root, name: &str) -> Result<DmaBuf, Error> {
    Ok(allocate(
        root,
        &Source::Heap("system".into()),
        64 << 10,
        None,
        Some(name),
    )?
    .buf)
}

/// Descriptors open in this process, and its DMA-BUF mappings.
fn held() -> (usize, usize) {
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map_or(0, |m| m.lines().filter(|l| l.contains("/dmabuf:")).count());
    (fds, maps)
}

fn fences(root: &Root) -> Result<(), Error> {
    let mut gpu = Gpu::open(root, "/dev/dri/card0")?;
    let a = heap_buffer(root, "fenced")?;
    let import = gpu.import(&a)?;
    let fence = gpu.fence(import, FenceAccess::Write)?;
    let sync = a.export_sync_file(FenceAccess::Read)?;
    claim(
        !sync.is_signalled()?,
        "a pending GPU write fence shows in an exported sync file",
        "signalled already",
    );
    let b = heap_buffer(root, "follower")?;
    b.import_sync_file(&sync, FenceAccess::Write)?;
    let b_sync = b.export_sync_file(FenceAccess::Read)?;
    claim(
        !b_sync.is_signalled()?,
        "the sync file imported into a second buffer makes it wait too",
        "signalled already",
    );
    let map = a.try_clone()?.map(Protection::Read)?;
    let start = Instant::now();
    let waited = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let g = map.read().map(|_| start.elapsed());
            g.ok()
        });
        std::thread::sleep(Duration::from_millis(300));
        let signalled_at = start.elapsed();
        let r = gpu.signal(fence);
        (reader.join().ok().flatten(), signalled_at, r)
    });
    let (got_through, signalled_at, r) = waited;
    r?;
    claim(
        got_through.is_some_and(|t| t >= signalled_at),
        "a CPU read access begins only after the GPU's write fence signals",
        &format!("through at {got_through:?}, signal at {signalled_at:?}"),
    );
    claim(
        sync.wait(Duration::from_secs(2))?,
        "the sync file signals with the fence",
        "still pending",
    );
    claim(
        b_sync.wait(Duration::from_secs(2))?,
        "so does the second buffer's",
        "still pending",
    );
    gpu.close(import)?;
    Ok(())
}

fn refusals(root: &Root) -> Result<(), Error> {
    let before = held();
    {
        let (tx, rx) = UnixStream::pair().map_err(|e| Error::io("socketpair", e))?;
        let (tx, rx) = (Channel::new(tx, "sender"), Channel::new(rx, "receiver"));
        let buf = heap_buffer(root, "sized")?;
        let mut m = Message::new(Kind::Buffer);
        m.size = buf.size() * 2;
        tx.send(&m, Some(&buf))?;
        let e = rx.recv().err();
        claim(
            matches!(e, Some(Error::WrongSize { .. })),
            "a buffer of the wrong size is refused",
            &format!("{e:?}"),
        );
        let memfd =
            numakit_sys::memfd::memfd_create(c"foreign", numakit_sys::memfd::MemfdFlags::CLOEXEC)
                .map_err(|e| Error::os("memfd_create", e))?;
        let foreign = std::fs::File::from(memfd);
        numakit_sys::scm::send_with_fds(
            std::os::fd::AsFd::as_fd(tx.socket()),
            &[0u8; 1],
            &[std::os::fd::AsFd::as_fd(&foreign)],
        )
        .map_err(|e| Error::os("sending a foreign descriptor", e))?;
        drop(tx);
        let e = rx.recv().err();
        claim(
            matches!(
                e,
                Some(Error::PeerClosed { .. }) | Some(Error::Protocol { .. })
            ),
            "a descriptor without a message, then the sender gone: refused",
            &format!("{e:?}"),
        );
        let mapped = buf.map(Protection::ReadWrite)?;
        let w = mapped.write()?;
        let e = w.write(mapped.len(), &[1]).is_err();
        claim(
            e,
            "a write past the end of a mapping is refused",
            "accepted",
        );
    }
    {
        let (tx, rx) = UnixStream::pair().map_err(|e| Error::io("socketpair", e))?;
        let (tx, rx) = (Channel::new(tx, "sender"), Channel::new(rx, "receiver"));
        let memfd =
            numakit_sys::memfd::memfd_create(c"foreign", numakit_sys::memfd::MemfdFlags::CLOEXEC)
                .map_err(|e| Error::os("memfd_create", e))?;
        let header = Message::new(Kind::Buffer);
        // a real header with a descriptor that is not a DMA-BUF
        let fake = header.wire(Attached::Descriptor)?;
        numakit_sys::scm::send_with_fds(
            std::os::fd::AsFd::as_fd(tx.socket()),
            &fake,
            &[std::os::fd::AsFd::as_fd(&memfd)],
        )
        .map_err(|e| Error::os("sending a foreign descriptor", e))?;
        let e = rx.recv().err();
        claim(
            matches!(e, Some(Error::NotDmaBuf { .. })),
            "a descriptor that is not a DMA-BUF is refused",
            &format!("{e:?}"),
        );
    }
    let after = held();
    claim(
        before == after,
        "nothing left open after refusals (descriptors, DMA-BUF mappings)",
        &format!("{before:?} -> {after:?}"),
    );
    Ok(())
}

fn main() {
    let root = Root::live();
    for (what, r) in [("fences", fences(&root)), ("refusals", refusals(&root))] {
        if let Err(e) = r {
            claim(false, what, &e.to_string());
        }
    }
    std::process::exit(if FAILED.load(Ordering::Relaxed) { 1 } else { 0 });
}
