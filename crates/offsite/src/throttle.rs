//! The upload bandwidth cap: a token bucket over the request body bytes sent, shared by
//! every upload of one hub. Bodies are fed to the connection in small pieces, each
//! waiting for its tokens, so the rate holds at sub-second scale (no multi-megabyte
//! bursts that would fill a home uplink's buffer).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes a body is cut into before each piece waits for its tokens.
pub const PIECE_LEN: usize = 16 << 10;

/// The pure token bucket: `rate` bytes per second, at most `burst` saved up. Taking
/// more than is there is allowed (the debt is paid by waiting), so large pieces never
/// starve and the long-run average is exactly `rate`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(bytes_per_sec: u64, burst_bytes: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: bytes_per_sec.max(1) as f64,
            burst: burst_bytes.max(1) as f64,
            tokens: burst_bytes.max(1) as f64,
            last: now,
        }
    }

    /// Takes `n` tokens at `now`: how long the caller must wait before sending them.
    pub fn take(&mut self, n: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// A [`TokenBucket`] shared by concurrent uploads.
#[derive(Debug)]
pub struct Limiter {
    bucket: Mutex<TokenBucket>,
    bytes_per_sec: u64,
}

impl Limiter {
    /// A cap of `bytes_per_sec`, with a burst of a tenth of a second (at least one piece).
    pub fn new(bytes_per_sec: u64) -> Limiter {
        let burst = (bytes_per_sec / 10).max(PIECE_LEN as u64);
        Limiter {
            bucket: Mutex::new(TokenBucket::new(bytes_per_sec, burst, Instant::now())),
            bytes_per_sec,
        }
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }

    /// Waits until `n` bytes may be sent.
    pub async fn acquire(&self, n: usize) {
        let wait = self
            .bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(n as u64, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sending 10 MB in pieces at 1 MB/s takes 10 s of waits (less the initial burst).
    #[test]
    fn average_rate_is_exact() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1_000_000, 100_000, t0);
        let mut now = t0;
        for _ in 0..(10_000_000 / PIECE_LEN as u64) {
            now += b.take(PIECE_LEN as u64, now);
        }
        let sent = (10_000_000 / PIECE_LEN as u64) * PIECE_LEN as u64;
        let expected = (sent - 100_000) as f64 / 1e6;
        let got = now.duration_since(t0).as_secs_f64();
        assert!((got - expected).abs() < 0.001, "{got} vs {expected}");
    }

    /// Idle time refills at most `burst`.
    #[test]
    fn burst_is_bounded() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 500, t0);
        assert_eq!(b.take(500, t0), Duration::ZERO);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.take(500, later), Duration::ZERO);
        assert_eq!(b.take(1000, later), Duration::from_secs(1));
    }
}
