//! Repeated measurements summarised: median, best, worst and spread.

use serde::Serialize;

/// The figures of repeated runs of one measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// `(max - min) / median`, in percent: how far the runs disagree.
    pub spread_pct: f64,
    /// Every sample, in the order measured.
    pub samples: Vec<f64>,
}

impl Stats {
    /// Summarises samples; `None` when there are none or one is not finite.
    ///
    /// ```
    /// use numakit_bench::Stats;
    /// let s = Stats::from_samples(vec![10.0, 12.0, 11.0, 30.0]).unwrap();
    /// assert_eq!((s.median, s.min, s.max), (11.5, 10.0, 30.0));
    /// assert!((s.spread_pct - 20.0 / 11.5 * 100.0).abs() < 1e-9);
    /// ```
    pub fn from_samples(samples: Vec<f64>) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut s = samples.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        let (min, max) = (s[0], s[n - 1]);
        let spread_pct = if median > 0.0 {
            (max - min) / median * 100.0
        } else {
            0.0
        };
        Some(Stats {
            median,
            min,
            max,
            spread_pct,
            samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let s = Stats::from_samples(vec![3.0]).unwrap();
        assert_eq!((s.median, s.spread_pct), (3.0, 0.0));
        let s = Stats::from_samples(vec![5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(s.samples, [5.0, 1.0, 3.0]);
        assert!(Stats::from_samples(vec![]).is_none());
        assert!(Stats::from_samples(vec![1.0, f64::NAN]).is_none());
        assert_eq!(Stats::from_samples(vec![0.0, 0.0]).unwrap().spread_pct, 0.0);
    }
}
