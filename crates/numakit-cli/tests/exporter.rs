//! `numakit exporter` over real TCP on loopback: scrapes parsed line by
//! line, values checked against the fixture's files, 404/405/400, a client
//! that sends nothing is cut off by the timeout while others are served,
//! and SIGTERM stops it with status 0.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use common::fixtures;

struct Exporter {
    child: Child,
    addr: String,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Exporter {
    let mut child = common::numakit()
        .args(["exporter", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("numakit: serving http://")
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Exporter { child, addr }
}

/// One request; the status code and the body.
fn get(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

/// The samples of an OpenMetrics text: every line is a comment
/// (`# HELP`, `# TYPE`, `# EOF` last) or `name{labels} value`.
fn samples(text: &str) -> Vec<(String, f64)> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"));
    lines
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{l}"
            );
            (
                series.to_string(),
                value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("bad value in {l:?}")),
            )
        })
        .collect()
}

#[test]
fn scrape_over_tcp() {
    let root = fixtures().join("qemu-2node/sysfs.tar.gz");
    let e = start(&["--root", root.to_str().unwrap()]);
    let (code, body) = get(&e.addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(code, 200);
    let s = samples(&body);
    let value = |series: &str| s.iter().find(|(k, _)| k == series).map(|(_, v)| *v);
    // Node 1 MemTotal: 1030256 kB in the fixture
    assert_eq!(
        value(r#"numakit_node_meminfo_bytes{node="1",field="MemTotal"}"#),
        Some(1030256.0 * 1024.0)
    );
    assert_eq!(
        value(r#"numakit_node_meminfo_count{node="0",field="HugePages_Total"}"#),
        Some(0.0)
    );
    assert!(
        value(r#"numakit_node_numastat_pages_total{node="0",counter="numa_hit"}"#).unwrap() > 0.0
    );
    assert_eq!(
        value(r#"numakit_node_hugepages{node="1",page_size_bytes="2097152",state="total"}"#),
        Some(0.0)
    );
    assert_eq!(value(r#"numakit_node_memory_tier{node="0"}"#), Some(4.0));
    assert!(body.contains("# TYPE numakit_node_numastat_pages counter"));
    let (code, body) = get(&e.addr, "HEAD /metrics HTTP/1.0\r\n\r\n");
    assert_eq!((code, body.as_str()), (200, ""));
    assert_eq!(get(&e.addr, "GET / HTTP/1.1\r\n\r\n").0, 404);
    assert_eq!(get(&e.addr, "GET /favicon.ico HTTP/1.1\r\n\r\n").0, 404);
    assert_eq!(get(&e.addr, "DELETE /metrics HTTP/1.1\r\n\r\n").0, 405);
    assert_eq!(get(&e.addr, "hello\r\n\r\n").0, 400);
}

#[test]
fn selected_processes_are_exported() {
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let pid = sleeper.id().to_string();
    let e = start(&["-p", &pid]);
    let (code, body) = get(&e.addr, "GET /metrics HTTP/1.1\r\n\r\n");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(code, 200);
    let file = samples(&body)
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("numakit_process_memory_bytes{")
                && k.contains(&format!("pid=\"{pid}\""))
                && k.contains("kind=\"file\"")
        })
        .map(|(_, v)| v)
        .sum::<f64>();
    assert!(file > 0.0, "{body}");
}

#[test]
fn a_silent_client_is_cut_off_and_others_are_served() {
    let e = start(&[
        "--workers",
        "1",
        "--timeout",
        "1",
        "--root",
        fixtures().join("qemu-2node/sysfs.tar.gz").to_str().unwrap(),
    ]);
    // holds the only worker until the timeout
    let mut silent = TcpStream::connect(&e.addr).unwrap();
    let (code, _) = get(&e.addr, "GET /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(code, 200);
    let mut r = String::new();
    silent.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r:?}");
}

#[test]
fn sigterm_stops_it_cleanly() {
    let mut e = start(&[
        "--root",
        fixtures().join("qemu-2node/sysfs.tar.gz").to_str().unwrap(),
    ]);
    assert_eq!(get(&e.addr, "GET /metrics HTTP/1.1\r\n\r\n").0, 200);
    let ok = Command::new("kill")
        .args(["-TERM", &e.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = e.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(&e.addr).is_err());
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let e = start(&[]);
    let o = common::numakit()
        .args(["exporter", "--listen", &e.addr])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("numakit: cannot listen on {}: ", e.addr)),
        "{err}"
    );
    assert!(err.contains("hint: "));
}
