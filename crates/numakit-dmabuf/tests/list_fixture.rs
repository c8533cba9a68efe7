//! The listing read from `tests/fixtures/dmabuf-vm` (captured in the test
//! VM): each buffer's facts come from fdinfo, the holders from `fd/` and
//! `maps`, and bufinfo agrees.

use numakit_dmabuf::list::{list, parse_bufinfo};
use numakit_root::Root;

fn root() -> Root {
    Root::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/dmabuf-vm"
    ))
    .unwrap()
}

#[test]
fn buffers_and_holders() {
    let l = list(&root(), None);
    assert_eq!(l.sources.processes, 3);
    assert_eq!(l.sources.bufinfo, "read");
    assert!(l.unreadable.is_empty(), "{:?}", l.unreadable);
    let inodes: Vec<u64> = l.buffers.iter().map(|b| b.inode).collect();
    assert_eq!(inodes, [1, 2]);
    let cam = &l.buffers[0];
    assert_eq!(
        (cam.size, cam.exporter.as_deref(), cam.name.as_deref()),
        (Some(1 << 20), Some("system"), Some("cam frame"))
    );
    assert_eq!(cam.holders.len(), 1);
    assert_eq!(
        (cam.holders[0].pid, cam.holders[0].fds.as_slice()),
        (343, &[5][..])
    );
    assert_eq!(cam.holders[0].mappings[0].start, "0x7ff4cb010000");
    assert_eq!(cam.attached.as_deref(), Some(&[][..]));
    let u = &l.buffers[1];
    assert_eq!(
        (u.size, u.exporter.as_deref(), u.name.as_deref()),
        (Some(65536), Some("udmabuf"), None)
    );
    assert_eq!(
        (u.holders[0].pid, u.holders[0].fds.as_slice()),
        (344, &[6][..])
    );
}

#[test]
fn one_process_only() {
    let l = list(&root(), Some(344));
    assert_eq!(
        l.buffers.len(),
        1,
        "bufinfo adds no buffer the process does not hold"
    );
    assert_eq!(l.buffers[0].inode, 2);
}

#[test]
fn bufinfo_rows() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/dmabuf-vm/sys/kernel/debug/dma_buf/bufinfo"
    ))
    .unwrap();
    let b = parse_bufinfo(&text);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (
            b[0].size,
            b[0].inode,
            b[0].exporter.as_str(),
            b[0].name.clone()
        ),
        (65536, 2, "udmabuf", None)
    );
    assert_eq!((b[1].count, b[1].name.as_deref()), (2, Some("cam frame")));
    let with_dev = "size\tflags\tmode\tcount\texp_name\tino\tname\n00004096\t00000002\t00080007\t00000003\tsystem\t00000009\tx y\n\tAttached Devices:\n\tvgem\nTotal 1 devices attached\n";
    let b = parse_bufinfo(with_dev);
    assert_eq!(b[0].attached, ["vgem"]);
    assert_eq!(b[0].name.as_deref(), Some("x y"));
}
