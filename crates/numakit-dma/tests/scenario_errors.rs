//! Bad scenario files: a message with the line and column of the problem.

use numakit_dma::scenario::{parse, run_str};

fn err(text: &str) -> (u32, u32, String) {
    let e = run_str(text).expect_err("must fail");
    (e.line, e.column, e.message)
}

#[test]
fn parse_errors_point_at_the_token() {
    let cases: &[(&str, u32, u32, &str)] = &[
        ("machine coherent\nmap m\n", 2, 6, "too few arguments"),
        (
            "machine sideways\n",
            1,
            9,
            "expected coherent or noncoherent",
        ),
        (
            "machine coherent\nalloc b 4096 colour=red\n",
            2,
            14,
            "unknown option 'colour'",
        ),
        ("machine coherent\nalloc b lots\n", 2, 9, "not a number"),
        (
            "machine coherent\ndevice d\nalloc b 64\nmap m d b sideways\n",
            4,
            11,
            "unknown DMA direction",
        ),
        (
            "machine coherent\nwrite b \"open\n",
            2,
            9,
            "unterminated string",
        ),
        (
            "machine coherent\nfrobnicate\n",
            2,
            1,
            "unknown command 'frobnicate'",
        ),
        (
            "machine coherent\nalloc b 64\ndevice d\n",
            3,
            1,
            "before the first step",
        ),
        ("machine coherent\nwrite b hex:abc\n", 2, 9, "even number"),
        ("  machine coherent line=96\n", 1, 25, "line size"),
    ];
    for (text, line, col, msg) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!((e.line, e.column), (*line, *col), "{text:?}: {e}");
        assert!(e.message.contains(msg), "{text:?}: {e}");
        assert_eq!(e.to_string(), format!("{line}:{col}: {}", e.message));
    }
}

#[test]
fn run_errors_point_at_the_step() {
    let (l, c, m) = err("machine coherent\ndevice d\nmap m d nothing to-device\n");
    assert_eq!((l, c), (3, 9));
    assert!(m.contains("nothing is named 'nothing'"), "{m}");
    let (l, c, m) = err("machine coherent\ndevice d\nalloc b 64\nwrite b+60 \"too long\"\n");
    assert_eq!((l, c), (4, 7));
    assert!(m.contains("do not fit"), "{m}");
    let (l, _, m) = err("machine coherent\ndevice d\ndmabuf f d 4096\nfence x f d\nwait cpu x\n");
    assert_eq!(l, 5);
    assert!(m.contains("not signalled"), "{m}");
    let (l, c, m) = err("machine coherent\ndevice d\nalloc b 64\nalloc b 64\n");
    assert_eq!((l, c), (4, 7));
    assert!(m.contains("already defined at line 3"), "{m}");
}
