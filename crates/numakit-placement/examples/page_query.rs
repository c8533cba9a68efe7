//! Times page-location queries over a touched buffer (default 1 GiB):
//!   - `Placer::mapping_page_counts`: batched `move_pages`, one call per
//!     16384 pages;
//!   - one `move_pages` call for every page at once (numactl's
//!     `move_pages` test approach);
//!   - one `move_pages` call per page (the naive loop).
//!
//! Usage: `page_query [MIB] [REPEAT]`. Prints median seconds and ratios.

use std::time::Instant;

use numakit_placement::{AllocOptions, HugePages, Placer};
use numakit_sys::mempolicy::{MovePagesFlags, move_pages};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time(repeat: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..repeat)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let repeat: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let placer = Placer::live().expect("placer");
    let mut buf = placer
        .allocate_with(
            mib << 20,
            &AllocOptions {
                policy: None,
                huge: HugePages::Never,
                populate: true,
            },
        )
        .expect("allocate");
    buf.as_mut_slice()[0] = 1;
    let ps = numakit_sys::mm::page_size();
    let n = buf.len() / ps;
    let pages: Vec<usize> = (0..n).map(|i| buf.addr() + i * ps).collect();
    let mut status = vec![0i32; n];

    let mut present = 0;
    let api = time(repeat, || {
        present = placer.mapping_page_counts(&buf).expect("query").present();
    });
    assert_eq!(present as usize, n);
    let one_call = time(repeat, || {
        move_pages(0, &pages, None, &mut status, MovePagesFlags::empty()).expect("move_pages");
    });
    let per_page = time(repeat.min(3), || {
        for (p, s) in pages.iter().zip(status.iter_mut()) {
            move_pages(
                0,
                std::slice::from_ref(p),
                None,
                std::slice::from_mut(s),
                MovePagesFlags::empty(),
            )
            .expect("move_pages");
        }
    });
    println!("pages queried: {n} ({mib} MiB, {ps}-byte pages), median of {repeat} runs");
    println!(
        "numakit API (batched, 16384 pages/call): {:9.2} ms",
        api * 1e3
    );
    println!(
        "one move_pages call for all pages:       {:9.2} ms",
        one_call * 1e3
    );
    println!(
        "one move_pages call per page:            {:9.2} ms",
        per_page * 1e3
    );
    println!(
        "one-call / API:  {:6.2}x (>= 1 means the API is at least as fast)",
        one_call / api
    );
    println!("per-page / API:  {:6.2}x", per_page / api);
}
