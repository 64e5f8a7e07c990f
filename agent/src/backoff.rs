//! Exponential backoff with full jitter, and a logger that reports a failure once per change of state.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delays of `uniform(0, min(max, initial * 2^attempt))` ("full jitter").
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let seed = RandomState::new().build_hasher().finish() | 1;
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng: seed,
        }
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay; each call doubles the ceiling up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let frac = (r >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(frac)
    }

    /// Back to the initial delay, after a success that lasted.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Jump straight to the maximum ceiling, for failures that retrying
    /// soon will not fix (e.g. the hub refused the token).
    pub fn escalate(&mut self) {
        self.attempt = 20;
    }
}

/// Sleep for `d` unless `cancel` fires first; true if cancelled.
pub async fn sleep_or_cancel(d: Duration, cancel: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// Logs a recurring failure at WARN once when it starts or changes, and at
/// DEBUG while it repeats; logs at INFO when it clears.
#[derive(Debug)]
pub struct Problem {
    what: &'static str,
    last: Option<String>,
    repeats: u64,
}

impl Problem {
    pub fn new(what: &'static str) -> Problem {
        Problem {
            what,
            last: None,
            repeats: 0,
        }
    }

    /// Report a failure. Returns true if it was logged at WARN (new state).
    pub fn report(&mut self, err: &dyn std::fmt::Display, retry_in: Duration) -> bool {
        let msg = err.to_string();
        self.repeats += 1;
        if self.last.as_deref() == Some(msg.as_str()) {
            tracing::debug!(what = self.what, error = %msg, attempt = self.repeats, ?retry_in, "still failing");
            false
        } else {
            tracing::warn!(
                what = self.what,
                error = %msg,
                ?retry_in,
                "{} failed; retrying with backoff (repeats of this error are logged at debug)",
                self.what
            );
            self.last = Some(msg);
            true
        }
    }

    /// The failure is over; logs once if there was one.
    pub fn clear(&mut self) {
        if self.last.take().is_some() {
            tracing::info!(
                what = self.what,
                failures = self.repeats,
                "{} recovered",
                self.what
            );
        }
        self.repeats = 0;
    }

    pub fn is_failing(&self) -> bool {
        self.last.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_delays_stay_below() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let c = b.ceiling();
            let d = b.next_delay();
            assert!(d <= c, "{d:?} > {c:?}");
            ceilings.push(c.as_millis());
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
        b.escalate();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
        // Many attempts never overflow.
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(1));
        }
    }

    #[test]
    fn jitter_varies() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let delays: std::collections::HashSet<_> = (0..20).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 10);
    }

    #[test]
    fn problem_logs_once_per_state() {
        let mut p = Problem::new("test");
        assert!(p.report(&"refused", Duration::ZERO));
        assert!(!p.report(&"refused", Duration::ZERO));
        assert!(p.report(&"timed out", Duration::ZERO));
        assert!(p.is_failing());
        p.clear();
        assert!(!p.is_failing());
        assert!(p.report(&"timed out", Duration::ZERO));
    }
}
