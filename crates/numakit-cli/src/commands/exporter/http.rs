//! The HTTP side of the exporter: `GET /metrics` answered, any other path
//! 404, anything that is not a GET or HEAD 405, a bad request 400. One
//! request per connection (`Connection: close`). A fixed pool of workers
//! takes connections from a bounded queue; when the queue is full the
//! accepting thread answers 503 at once, and every socket has read and
//! write timeouts, so a slow or broken client holds one worker for at most
//! the timeout and cannot stall the others.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Worker threads.
    pub workers: usize,
    /// Connections waiting for a worker.
    pub queue: usize,
    /// Read and write timeout of a connection.
    pub timeout: Duration,
    /// Largest request head read.
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: 4,
            queue: 64,
            timeout: Duration::from_secs(5),
            max_head: 8192,
        }
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics` (`head`: `HEAD`).
    Metrics {
        /// A HEAD request: no body.
        head: bool,
    },
    /// Another path.
    NotFound,
    /// Another method.
    NotAllowed,
    /// Not HTTP.
    Bad,
}

/// Reads the request line of a request head.
pub fn route(head: &[u8]) -> Route {
    let Ok(text) = std::str::from_utf8(head) else {
        return Route::Bad;
    };
    let line = text.split("\r\n").next().unwrap_or("");
    let mut w = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (w.next(), w.next(), w.next(), w.next())
    else {
        return Route::Bad;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Route::Bad;
    }
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => Route::Metrics {
            head: method == "HEAD",
        },
        ("GET" | "HEAD", _) => Route::NotFound,
        _ => Route::NotAllowed,
    }
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &str, head_only: bool) {
    let h = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(h.as_bytes());
    if !head_only {
        let _ = s.write_all(body.as_bytes());
    }
    let _ = s.flush();
}

/// Reads a request head (up to the blank line), within the limits.
fn read_head(s: &mut TcpStream, max: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > max {
            return None;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}

const METRICS_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn handle(mut s: TcpStream, limits: &Limits, scrape: &(dyn Fn() -> String + Sync)) {
    let _ = s.set_read_timeout(Some(limits.timeout));
    let _ = s.set_write_timeout(Some(limits.timeout));
    let Some(head) = read_head(&mut s, limits.max_head) else {
        respond(
            &mut s,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
            false,
        );
        return;
    };
    match route(&head) {
        Route::Metrics { head } => respond(&mut s, "200 OK", METRICS_TYPE, &scrape(), head),
        Route::NotFound => respond(
            &mut s,
            "404 Not Found",
            "text/plain",
            "not found: numakit serves /metrics\n",
            false,
        ),
        Route::NotAllowed => respond(
            &mut s,
            "405 Method Not Allowed",
            "text/plain",
            "only GET and HEAD\n",
            false,
        ),
        Route::Bad => respond(
            &mut s,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
            false,
        ),
    }
}

fn worker(
    rx: Arc<Mutex<Receiver<TcpStream>>>,
    limits: Limits,
    scrape: &(dyn Fn() -> String + Sync),
) {
    loop {
        let next = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        match next {
            Ok(s) => handle(s, &limits, scrape),
            Err(_) => return,
        }
    }
}

/// Serves `listener` until `stop` is set (and a connection wakes the
/// accepting thread); then finishes the requests in hand and returns.
pub fn serve(
    listener: TcpListener,
    limits: Limits,
    stop: &AtomicBool,
    scrape: &(dyn Fn() -> String + Sync),
) {
    let (tx, rx): (SyncSender<TcpStream>, _) = sync_channel(limits.queue);
    let rx = Arc::new(Mutex::new(rx));
    std::thread::scope(|sc| {
        for _ in 0..limits.workers.max(1) {
            let rx = rx.clone();
            sc.spawn(move || worker(rx, limits, scrape));
        }
        for conn in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(s) = conn else { continue };
            if let Err(TrySendError::Full(mut s)) = tx.try_send(s) {
                let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                respond(
                    &mut s,
                    "503 Service Unavailable",
                    "text/plain",
                    "busy\n",
                    false,
                );
            }
        }
        drop(tx);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics { head: false }
        );
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { head: true }
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metrics/x HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::NotAllowed);
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::Bad);
        assert_eq!(route(b"GET metrics HTTP/1.1\r\n\r\n"), Route::Bad);
        assert_eq!(route(b"\xff\xfe"), Route::Bad);
        assert_eq!(route(b"GET /metrics SPDY/3\r\n\r\n"), Route::Bad);
    }
}
