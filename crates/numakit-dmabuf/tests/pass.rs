//! What a receiver does with bad input, on any Linux machine (no DMA-BUF
//! needed: the descriptors sent are memfds, which must be refused): every
//! case is an error that names the peer and what was wrong, and the
//! process holds exactly the descriptors it held before.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use numakit_dmabuf::Error;
use numakit_dmabuf::pass::{Attached, Channel, HEADER, Kind, Message};
use numakit_sys::memfd::{MemfdFlags, memfd_create};
use numakit_sys::scm::send_with_fds;

/// The descriptor count is per process: tests here take turns.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn pair() -> (UnixStream, Channel) {
    let (a, b) = UnixStream::pair().unwrap();
    (a, Channel::new(b, "the test sender"))
}

fn memfd() -> std::os::fd::OwnedFd {
    memfd_create(c"not-a-dmabuf", MemfdFlags::CLOEXEC).unwrap()
}

/// Runs `send` against a fresh receiver and returns its error; checks that
/// no descriptor is left open afterwards. Tests run one at a time here
/// (the count is per process), so each builds its own state.
fn refused(send: impl FnOnce(&UnixStream)) -> Error {
    let before = open_fds();
    let err = {
        let (tx, rx) = pair();
        send(&tx);
        drop(tx);
        rx.recv().expect_err("must be refused")
    };
    assert_eq!(open_fds(), before, "descriptors leaked after: {err}");
    err
}

fn header(kind: Kind, attached: Attached) -> [u8; HEADER] {
    let mut m = Message::new(kind);
    m.size = 4096;
    m.name = "x".into();
    m.wire(attached).unwrap()
}

#[test]
fn bad_input_is_refused_and_nothing_leaks() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    // a descriptor that is not a DMA-BUF, announced as one
    let e = refused(|tx| {
        let fd = memfd();
        send_with_fds(
            tx.as_fd(),
            &header(Kind::Buffer, Attached::Descriptor),
            &[fd.as_fd()],
        )
        .unwrap();
    });
    assert_eq!(
        e.to_string(),
        "the descriptor received from the test sender is not a DMA-BUF"
    );

    // a descriptor nobody announced
    let e = refused(|tx| {
        let fd = memfd();
        send_with_fds(
            tx.as_fd(),
            &header(Kind::Frame, Attached::Nothing),
            &[fd.as_fd()],
        )
        .unwrap();
    });
    assert!(
        e.to_string()
            .contains("a descriptor came that was not announced"),
        "{e}"
    );

    // announced, never sent
    let e = refused(|tx| {
        (&*tx)
            .write_all(&header(Kind::Buffer, Attached::Descriptor))
            .unwrap();
    });
    assert!(e.to_string().contains("announced but none came"), "{e}");

    // two descriptors with one message
    let e = refused(|tx| {
        let (a, b) = (memfd(), memfd());
        send_with_fds(
            tx.as_fd(),
            &header(Kind::Buffer, Attached::Descriptor),
            &[a.as_fd(), b.as_fd()],
        )
        .unwrap();
    });
    assert!(e.to_string().contains("more than one descriptor"), "{e}");

    // the sender dies in the middle of a header
    let e = refused(|tx| {
        let fd = memfd();
        let h = header(Kind::Buffer, Attached::Descriptor);
        send_with_fds(tx.as_fd(), &h[..40], &[fd.as_fd()]).unwrap();
    });
    assert_eq!(
        e.to_string(),
        "the test sender closed the connection after 40 of 128 bytes of a message"
    );

    // not this protocol at all
    let e = refused(|tx| {
        (&*tx).write_all(&[b'G'; HEADER]).unwrap();
    });
    assert!(e.to_string().contains("bad magic"), "{e}");
}

#[test]
fn a_clean_end_is_not_an_error() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = pair();
    drop(tx);
    assert!(rx.recv().unwrap().is_none());
}

#[test]
fn payloads_and_short_payloads() {
    let _t = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = UnixStream::pair().unwrap();
    let (tx, rx) = (Channel::new(tx, "inference"), Channel::new(rx, "camera"));
    let mut m = Message::new(Kind::Frame);
    m.bytes = 5;
    tx.send_payload(&m, b"hello").unwrap();
    let r = rx.recv().unwrap().unwrap();
    assert!(r.payload);
    let mut buf = Vec::new();
    rx.recv_payload(&mut buf, r.msg.bytes).unwrap();
    assert_eq!(buf, b"hello");
    assert_eq!(tx.sent(), (HEADER + 5) as u64);
    // a frame cut short by the sender's death
    m.bytes = 100;
    tx.send_payload_header(&m).unwrap();
    tx.write_all(&[0; 10]).unwrap();
    drop(tx);
    let r = rx.recv().unwrap().unwrap();
    let e = rx.recv_payload(&mut buf, r.msg.bytes).unwrap_err();
    assert_eq!(
        e.to_string(),
        "camera closed the connection in the middle of a 100-byte frame"
    );
}
