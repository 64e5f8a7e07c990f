//! Frame rates as pages show them: the arrival times of the latest frames, and the rate
//! over them (one decimal).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Arrivals kept for the estimate.
pub const WINDOW: usize = 32;

/// The latest frames' arrival times.
#[derive(Debug, Default)]
pub struct Arrivals(VecDeque<Instant>);

impl Arrivals {
    pub fn push(&mut self, at: Instant) {
        if self.0.len() == WINDOW {
            self.0.pop_front();
        }
        self.0.push_back(at);
    }

    /// When the latest frame arrived.
    pub fn last(&self) -> Option<Instant> {
        self.0.back().copied()
    }

    /// Frames per second over the kept arrivals, rounded to a tenth; 0 with fewer than two,
    /// or when the latest is `fresh` or more before `now` (the camera has stopped).
    pub fn fps(&self, now: Instant, fresh: Duration) -> f64 {
        let (Some(first), Some(last)) = (self.0.front(), self.0.back()) else {
            return 0.0;
        };
        if self.0.len() < 2 || now.duration_since(*last) >= fresh {
            return 0.0;
        }
        let span = last.duration_since(*first).as_secs_f64();
        if span <= 0.0 {
            return 0.0;
        }
        let fps = (self.0.len() - 1) as f64 / span;
        (fps * 10.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_the_window_and_stale() {
        let t0 = Instant::now();
        let mut a = Arrivals::default();
        assert_eq!(a.fps(t0, Duration::from_secs(5)), 0.0);
        for i in 0..100u32 {
            a.push(t0 + Duration::from_millis(u64::from(i) * 100));
        }
        let last = a.last().unwrap();
        assert_eq!(last, t0 + Duration::from_millis(9900));
        assert_eq!(a.fps(last, Duration::from_secs(5)), 10.0);
        assert_eq!(
            a.fps(last + Duration::from_secs(5), Duration::from_secs(5)),
            0.0
        );
    }
}
