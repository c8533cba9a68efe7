//! How a benchmark tells its caller how far it is. The library never
//! draws anything: the command line turns these calls into a progress bar.

/// Receives progress. Calls come from measuring threads too, so
/// implementations must be cheap and thread-safe.
pub trait Progress: Sync {
    /// A benchmark starts; `steps` calls of [`step`](Self::step) will follow.
    fn begin(&self, steps: u64, what: &str) {
        let _ = (steps, what);
    }
    /// Says what is being measured now (`latency 0 -> 1`).
    fn phase(&self, what: &str) {
        let _ = what;
    }
    /// One timed run is done.
    fn step(&self) {}
    /// The benchmark is done.
    fn end(&self) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
