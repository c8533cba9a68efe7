//! `numakit dmabuf` and `numakit bench dmabuf` on the machine running the
//! tests (usually without DMA-BUF heaps or udmabuf: every command must say
//! what is missing and exit 2), on the listing fixture captured in the VM,
//! against a fake sender, and on the DMA model. The real kernel drivers are
//! exercised by the VM checks (`tests/vm/checks/2node/6*-dmabuf-*.sh`).

mod common;

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

use common::{fixtures, run};

fn has(path: &str) -> bool {
    Path::new(path).exists()
}

#[test]
fn without_heaps_alloc_says_what_is_missing() {
    if has("/dev/dma_heap") {
        return; // this machine has heaps: the VM checks cover allocation
    }
    let (code, out, err) = run(&["dmabuf", "alloc", "--size", "1M"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.starts_with("numakit: /dev/dma_heap does not exist: no DMA-BUF heaps on this system ("),
        "{err}"
    );
    assert!(err.contains("CONFIG_DMABUF_HEAPS"), "{err}");
    assert!(err.contains("\nhint: "), "{err}");
}

#[test]
fn without_udmabuf_alloc_says_what_is_missing() {
    if has("/dev/udmabuf") {
        return;
    }
    let (code, _, err) = run(&["dmabuf", "alloc", "--udmabuf"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/dev/udmabuf does not exist") && err.contains("CONFIG_UDMABUF"),
        "{err}"
    );
}

#[test]
fn without_any_exporter_every_command_fails_with_the_options() {
    if has("/dev/dma_heap") || has("/dev/udmabuf") {
        return;
    }
    for args in [
        &["dmabuf", "list"][..],
        &["dmabuf", "pipeline", "--frames", "2"],
        &["dmabuf", "serve", "/tmp/numakit-test-never.sock"],
        &["bench", "dmabuf", "--frames", "2", "--sources", "heap"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("CONFIG_DMABUF_HEAPS"), "{args:?}: {err}");
    }
    let (code, _, err) = run(&[
        "dmabuf",
        "pipeline",
        "--source",
        "camera:/dev/video77",
        "--frames",
        "2",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/dev/video77 does not exist: no V4L2 capture device")
            && err.contains("CONFIG_VIDEO_VIVID"),
        "{err}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    for (args, want) in [
        (
            &["dmabuf", "alloc", "--size", "0"][..],
            "--size: '0' is zero or too large",
        ),
        (&["dmabuf", "alloc", "--size", "3T"], "unknown unit 'T'"),
        (
            &[
                "dmabuf",
                "alloc",
                "--name",
                "a-name-that-is-far-too-long-for-it",
            ],
            "at most 31",
        ),
        (
            &["dmabuf", "pipeline", "--frames", "0"],
            "at least one frame",
        ),
        (
            &["dmabuf", "pipeline", "--buffers", "99"],
            "99 buffers: use 1 to 32",
        ),
        (
            &["dmabuf", "pipeline", "--source", "gpu"],
            "'gpu' is not a frame source",
        ),
        (
            &["dmabuf", "stage", "nosuch", "--config", "{}"],
            "'nosuch' is not a stage",
        ),
        (
            &["dmabuf", "stage", "camera", "--config", "{"],
            "bad stage configuration",
        ),
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn an_unknown_node_is_refused_before_anything_is_allocated() {
    let (code, _, err) = run(&["dmabuf", "alloc", "--node", "99"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("node 99 does not exist"), "{err}");
}

/// `dmabuf list` on the listing captured in the 2-node VM: two numakit
/// processes each holding a buffer (descriptor and mapping), bufinfo with
/// both.
#[test]
fn list_on_the_vm_fixture() {
    let root = fixtures().join("dmabuf-vm");
    let r = root.to_str().unwrap();
    let (code, out, err) = run(&["dmabuf", "list", "--root", r, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "numakit.dmabuf-list/1");
    let bufs = v["buffers"].as_array().unwrap();
    assert_eq!(bufs.len(), 2, "{out}");
    let named = bufs
        .iter()
        .find(|b| b["name"] == "cam frame")
        .expect("the named buffer");
    assert_eq!(named["exporter"], "system");
    assert_eq!(named["size"], 1 << 20);
    let h = &named["holders"][0];
    assert_eq!(h["comm"], "numakit");
    assert_eq!(h["fds"].as_array().unwrap().len(), 1);
    assert_eq!(h["mappings"][0]["perms"], "r--s");
    let udma = bufs
        .iter()
        .find(|b| b["exporter"] == "udmabuf")
        .expect("the udmabuf");
    assert_eq!(udma["size"], 65536);
    assert_eq!(v["sources"]["bufinfo"], "read");
    let (code, text, _) = run(&["dmabuf", "list", "--root", r]);
    assert_eq!(code, 0);
    assert!(
        text.contains("cam frame") && text.contains("2 buffers"),
        "{text}"
    );
}

/// A sender that passes a memfd as if it were a DMA-BUF: recv refuses it.
#[test]
fn recv_refuses_a_descriptor_that_is_not_a_dmabuf() {
    let dir = std::env::temp_dir().join(format!("numakit-recv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("s.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut m = numakit_dmabuf::pass::Message::new(numakit_dmabuf::pass::Kind::Buffer);
        m.size = 4096;
        let h = m.wire(numakit_dmabuf::pass::Attached::Descriptor).unwrap();
        let fd = numakit_sys::memfd::memfd_create(c"fake", numakit_sys::memfd::MemfdFlags::CLOEXEC)
            .unwrap();
        numakit_sys::scm::send_with_fds(s.as_fd(), &h, &[fd.as_fd()]).unwrap();
    });
    let (code, _, err) = run(&["dmabuf", "recv", sock.to_str().unwrap(), "--timeout", "5"]);
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the descriptor received from the server at")
            && err.contains("is not a DMA-BUF"),
        "{err}"
    );
}

#[test]
fn the_model_pipeline_orders_the_steps_and_finds_nothing() {
    let (code, out, err) = run(&[
        "dmabuf",
        "pipeline",
        "--model",
        "--source",
        "camera",
        "--frames",
        "6",
        "--buffers",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let want = "\
frame 0 buffer 0 camera: device-write begin-read cpu-read end-read send-buffer send-frame
frame 0 buffer 0 inference: receive-buffer import map send-buffer receive-frame fence-read begin-read cpu-read end-read signal send-frame
frame 0 buffer 0 display: receive-buffer map receive-frame begin-read cpu-read end-read release
frame 0 buffer 0 camera: receive-release wait-idle queue
frame 2 buffer 0 camera: device-write begin-read cpu-read end-read send-frame
frame 2 buffer 0 inference: receive-frame fence-read begin-read cpu-read end-read signal send-frame
frame 2 buffer 0 display: receive-frame begin-read cpu-read end-read release
frame 2 buffer 0 camera: receive-release wait-idle queue
DMA model: 0 findings
";
    assert_eq!(out, want);
}
