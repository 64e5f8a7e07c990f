//! Resource samples of a process from `/proc` and their trend: first, last, maximum and
//! the least-squares growth rate per hour after a warm-up.

use std::time::Duration;

/// One sample of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Time since the run started.
    pub at: Duration,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
}

pub use testkit::process::{fd_count, rss_kib};

/// The 1-minute load average of the machine.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The trend of one quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    pub first: f64,
    pub last: f64,
    pub max: f64,
    /// The first value after the warm-up.
    pub after_warmup: f64,
    /// Least-squares slope over the samples after the warm-up, per hour.
    pub per_hour: f64,
    /// Mean of the last three samples minus mean of the first three after the warm-up.
    pub growth: f64,
    /// Samples after the warm-up.
    pub n: usize,
}

/// The trend of `value` over `samples` (ordered by time), with the slope fitted to the
/// samples at or after `warmup` only.
pub fn trend(
    samples: &[Sample],
    warmup: Duration,
    value: impl Fn(&Sample) -> f64,
) -> Option<Trend> {
    let first = samples.first()?;
    let last = samples.last()?;
    let max = samples.iter().map(&value).fold(f64::MIN, f64::max);
    let after: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at >= warmup)
        .map(|s| (s.at.as_secs_f64() / 3600.0, value(s)))
        .collect();
    let n = after.len();
    let per_hour = slope(&after);
    let k = n.min(3);
    let mean = |xs: &[(f64, f64)]| xs.iter().map(|p| p.1).sum::<f64>() / xs.len().max(1) as f64;
    let growth = if n == 0 {
        0.0
    } else {
        mean(&after[n - k..]) - mean(&after[..k])
    };
    Some(Trend {
        first: value(first),
        last: value(last),
        max,
        after_warmup: after.first().map_or(f64::NAN, |p| p.1),
        per_hour,
        growth,
        n,
    })
}

/// Least-squares slope of y over x; 0 with fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return 0.0;
    }
    points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, rss_kib: u64, fds: u64) -> Sample {
        Sample {
            at: Duration::from_secs(secs),
            rss_kib,
            fds,
        }
    }

    #[test]
    fn a_steady_leak_is_measured_per_hour_after_the_warm_up() {
        // Warm-up jumps from 1000 to 50000; then 10 KiB per 10 s = 3600 KiB per hour.
        let mut v = vec![s(0, 1000, 10), s(10, 50_000, 40)];
        for i in 0..30 {
            v.push(s(60 + i * 10, 60_000 + i * 10, 40));
        }
        let t = trend(&v, Duration::from_secs(60), |x| x.rss_kib as f64).unwrap();
        assert_eq!(t.first, 1000.0);
        assert_eq!(t.after_warmup, 60_000.0);
        assert_eq!(t.n, 30);
        assert!((t.per_hour - 3600.0).abs() < 1e-6, "{t:?}");
        assert!((t.growth - 270.0).abs() < 1e-6, "{t:?}");
        let f = trend(&v, Duration::from_secs(60), |x| x.fds as f64).unwrap();
        assert_eq!(f.per_hour, 0.0);
        assert_eq!(f.max, 40.0);
    }

    #[test]
    fn no_samples_no_trend_and_one_sample_no_slope() {
        assert!(trend(&[], Duration::ZERO, |x| x.fds as f64).is_none());
        let t = trend(&[s(5, 1, 2)], Duration::ZERO, |x| x.fds as f64).unwrap();
        assert_eq!((t.per_hour, t.growth, t.n), (0.0, 0.0, 1));
    }
}
