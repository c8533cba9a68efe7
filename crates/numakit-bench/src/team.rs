//! Measuring threads: one per CPU, each pinned to its CPU before it does
//! anything, working on its own part of the arrays, in step through a
//! barrier; the first thread times each pass from the barrier that starts
//! it to the barrier that ends it, so a pass lasts until the slowest
//! thread is done (as STREAM's OpenMP loops do).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use numakit_placement::{CpuBinding, Placer, Policy};
use numakit_types::CpuId;

use crate::kernels::Kernel;
use crate::progress::Progress;
use crate::{Error, Result};

/// Splits `len` elements into `parts` ranges of nearly equal length whose
/// starts are multiples of 8 elements (64 bytes: whole cache lines, and
/// aligned for the streaming stores).
pub fn split_parts(len: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.max(1);
    let blocks = len / 8;
    let mut v = Vec::with_capacity(parts);
    let mut start = 0;
    for p in 0..parts {
        let end = if p + 1 == parts {
            len
        } else {
            (blocks * (p + 1) / parts) * 8
        };
        v.push(start..end.max(start));
        start = end.max(start);
    }
    v
}

/// A barrier that can be called off: when a thread of the team cannot be
/// started or pinned, the others are let go instead of waiting forever.
///
/// Waiting threads spin for a while before they sleep, as OpenMP's do: a
/// thread that sleeps gives its CPU away, and on a busy machine getting
/// it back can take longer than the pass being timed.
#[derive(Debug)]
pub struct Rendezvous {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicU64,
    off: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

/// How long a waiting thread spins before it sleeps.
const SPIN: Duration = Duration::from_millis(20);

impl Rendezvous {
    /// A barrier for `n` threads.
    pub fn new(n: usize) -> Rendezvous {
        Rendezvous {
            n: n.max(1),
            arrived: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            off: AtomicBool::new(false),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Waits until all `n` threads are here; false when called off.
    pub fn wait(&self) -> bool {
        if self.off.load(Ordering::Acquire) {
            return false;
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::AcqRel);
            let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.cv.notify_all();
            return true;
        }
        let released = || self.generation.load(Ordering::Acquire) != generation;
        let start = Instant::now();
        let mut spins = 0u32;
        while !released() {
            if self.off.load(Ordering::Acquire) {
                return false;
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) && start.elapsed() > SPIN {
                let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
                while !released() && !self.off.load(Ordering::Acquire) {
                    g = self
                        .cv
                        .wait_timeout(g, Duration::from_millis(10))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                break;
            }
        }
        released()
    }

    /// Lets every waiting and later thread go (`wait` answers false).
    pub fn call_off(&self) {
        self.off.store(true, Ordering::Release);
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.cv.notify_all();
    }
}

/// Runs `body(i, work[i], barrier)` on one thread per CPU of `cpus`, each
/// pinned to its CPU (and with a local memory policy, so what it
/// allocates itself lands on its node) before `body` starts. `barrier`
/// holds every thread of the team. Returns each thread's result in order.
pub fn pinned<W, R, F>(placer: &Placer, cpus: &[CpuId], work: Vec<W>, body: F) -> Result<Vec<R>>
where
    W: Send,
    R: Send,
    F: Fn(usize, W, &Rendezvous) -> R + Sync,
{
    assert_eq!(cpus.len(), work.len(), "one part of the work per CPU");
    let barrier = Rendezvous::new(cpus.len());
    let (body, barrier) = (&body, &barrier);
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(cpus.len());
        let mut spawn_err = None;
        for (i, (cpu, w)) in cpus.iter().zip(work).enumerate() {
            let h = std::thread::Builder::new()
                .name(format!("numakit-bench-{cpu}"))
                .spawn_scoped(s, move || -> Result<Option<R>> {
                    let pin = placer
                        .bind_thread(&CpuBinding::Cpus(std::iter::once(*cpu).collect()))
                        .and_then(|_| placer.set_thread_policy(&Policy::local()));
                    if let Err(e) = pin {
                        barrier.call_off();
                        return Err(e.into());
                    }
                    if !barrier.wait() {
                        return Ok(None);
                    }
                    Ok(Some(body(i, w, barrier)))
                });
            match h {
                Ok(h) => handles.push(h),
                Err(source) => {
                    barrier.call_off();
                    spawn_err = Some(Error::Thread {
                        what: "the measuring threads",
                        source,
                    });
                    break;
                }
            }
        }
        let mut out = Vec::with_capacity(handles.len());
        let mut first_err = spawn_err;
        for h in handles {
            match h.join() {
                Ok(Ok(Some(r))) => out.push(r),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

/// One thread's part of STREAM's arrays.
#[derive(Debug)]
pub struct Part<'a> {
    /// Its part of `a`.
    pub a: &'a mut [f64],
    /// Its part of `b`.
    pub b: &'a mut [f64],
    /// Its part of `c`.
    pub c: &'a mut [f64],
}

/// Cuts three arrays of equal length into one [`Part`] per thread.
pub fn parts<'a>(
    a: &'a mut [f64],
    b: &'a mut [f64],
    c: &'a mut [f64],
    threads: usize,
) -> Vec<Part<'a>> {
    let ranges = split_parts(a.len(), threads);
    let (mut ra, mut rb, mut rc) = (a, b, c);
    let mut out = Vec::with_capacity(threads);
    for r in ranges {
        let n = r.len();
        let (pa, ta) = std::mem::take(&mut ra).split_at_mut(n);
        let (pb, tb) = std::mem::take(&mut rb).split_at_mut(n);
        let (pc, tc) = std::mem::take(&mut rc).split_at_mut(n);
        (ra, rb, rc) = (ta, tb, tc);
        out.push(Part {
            a: pa,
            b: pb,
            c: pc,
        });
    }
    out
}

/// What a team does: optionally initialise its parts (a = 1, b = 2,
/// c = 0, STREAM's values), then run each kernel `1 + repeat` times, the
/// first untimed.
#[derive(Debug, Clone)]
pub struct Passes<'k> {
    /// Write the arrays first (and so place their pages, first touch).
    pub init: bool,
    /// The kernels, in order.
    pub kernels: &'k [Kernel],
    /// Timed runs of each.
    pub repeat: u32,
}

/// Runs `passes` on a team pinned to `cpus` over `parts` (one each);
/// returns, per kernel, the duration of each timed run.
pub fn run_passes(
    placer: &Placer,
    cpus: &[CpuId],
    parts: Vec<Part<'_>>,
    passes: &Passes<'_>,
    progress: &dyn Progress,
) -> Result<Vec<Vec<Duration>>> {
    let mut per_thread = pinned(placer, cpus, parts, |tid, part, barrier| {
        let Part { a, b, c } = part;
        if passes.init {
            a.fill(1.0);
            b.fill(2.0);
            c.fill(0.0);
            barrier.wait();
        }
        let mut times = Vec::with_capacity(passes.kernels.len());
        for k in passes.kernels {
            let mut t = Vec::with_capacity(passes.repeat as usize);
            for run in 0..=passes.repeat {
                barrier.wait();
                let start = Instant::now();
                std::hint::black_box(k.run(a, b, c));
                barrier.wait();
                if tid == 0 && run > 0 {
                    t.push(start.elapsed());
                    progress.step();
                }
            }
            times.push(t);
        }
        times
    })?;
    Ok(per_thread.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_everything_on_line_boundaries() {
        for (len, parts) in [(0, 1), (7, 2), (64, 3), (1000, 4), (1 << 20, 7), (17, 16)] {
            let r = split_parts(len, parts);
            assert_eq!(r.len(), parts);
            assert_eq!(r[0].start, 0);
            assert_eq!(r.last().unwrap().end, len);
            for w in r.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            for p in &r[1..] {
                assert!(p.start % 8 == 0 || p.start == len, "{len}/{parts}: {p:?}");
            }
            if len >= 64 * parts {
                let sizes: Vec<usize> = r.iter().map(|p| p.len()).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 16, "{sizes:?}");
            }
        }
    }

    #[test]
    fn rendezvous_releases_or_calls_off() {
        let r = Rendezvous::new(3);
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..3).map(|_| s.spawn(|| (r.wait(), r.wait()))).collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), (true, true));
            }
        });
        let r = Rendezvous::new(2);
        std::thread::scope(|s| {
            let h = s.spawn(|| r.wait());
            r.call_off();
            assert!(!h.join().unwrap());
        });
        assert!(!r.wait());
    }

    #[test]
    fn parts_split_three_arrays_alike() {
        let (mut a, mut b, mut c) = (vec![0.0; 100], vec![0.0; 100], vec![0.0; 100]);
        let p = parts(&mut a, &mut b, &mut c, 3);
        assert_eq!(p.len(), 3);
        for x in &p {
            assert_eq!(x.a.len(), x.b.len());
            assert_eq!(x.a.len(), x.c.len());
        }
        assert_eq!(p.iter().map(|x| x.a.len()).sum::<usize>(), 100);
    }
}
