//! Media time in 90 kHz ticks: [`Time90k`] (a point on a stream's timeline) and
//! [`Duration90k`] (a span between two points). Wall-clock time never enters here.

use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

/// Ticks per second of every media timestamp in this crate (and of the MP4 timescale we write).
pub const TIMESCALE: u32 = 90_000;

const TICKS_PER_SEC: i64 = TIMESCALE as i64;

/// A point in media time, in 90 kHz ticks since an arbitrary per-stream origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time90k(pub i64);

/// A span of media time in 90 kHz ticks. May be negative (e.g. a composition offset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration90k(pub i64);

impl Time90k {
    pub const ZERO: Time90k = Time90k(0);

    /// Seconds since the stream origin, as a float (for display and tests only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / TICKS_PER_SEC as f64
    }

    /// `self + d`, or `None` on overflow (use on untrusted input).
    pub fn checked_add(self, d: Duration90k) -> Option<Time90k> {
        self.0.checked_add(d.0).map(Time90k)
    }

    /// `self - earlier`, or `None` on overflow.
    pub fn checked_sub(self, earlier: Time90k) -> Option<Duration90k> {
        self.0.checked_sub(earlier.0).map(Duration90k)
    }
}

impl Duration90k {
    pub const ZERO: Duration90k = Duration90k(0);

    /// A duration of whole seconds.
    pub const fn from_secs(secs: i64) -> Duration90k {
        Duration90k(secs.saturating_mul(TICKS_PER_SEC))
    }

    /// A duration of whole milliseconds (exact: 1 ms = 90 ticks).
    pub const fn from_millis(ms: i64) -> Duration90k {
        Duration90k(ms.saturating_mul(90))
    }

    /// Converts a [`std::time::Duration`], rounding to the nearest tick and saturating at
    /// `i64::MAX` ticks (about 3.2 million years).
    pub fn from_std(d: std::time::Duration) -> Duration90k {
        let ticks = (d.as_nanos() * 9 + 50_000) / 100_000; // 90_000 / 1e9 = 9 / 1e5
        Duration90k(i64::try_from(ticks).unwrap_or(i64::MAX))
    }

    /// Converts to a [`std::time::Duration`]; `None` if negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        let ticks = u64::try_from(self.0).ok()?;
        let secs = ticks / TICKS_PER_SEC as u64;
        let rem = ticks % TICKS_PER_SEC as u64;
        // rem < 90_000, so rem * 100_000 / 9 < 1e9 fits in u32.
        Some(std::time::Duration::new(secs, (rem * 100_000 / 9) as u32))
    }

    /// Seconds as a float (for display, tests and rough thresholds only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / TICKS_PER_SEC as f64
    }

    pub fn checked_add(self, other: Duration90k) -> Option<Duration90k> {
        self.0.checked_add(other.0).map(Duration90k)
    }
}

impl From<std::time::Duration> for Duration90k {
    /// Same as [`Duration90k::from_std`] (rounds to the nearest tick, saturates).
    fn from(d: std::time::Duration) -> Self {
        Duration90k::from_std(d)
    }
}

impl Add<Duration90k> for Time90k {
    type Output = Time90k;
    fn add(self, rhs: Duration90k) -> Time90k {
        Time90k(self.0 + rhs.0)
    }
}

impl AddAssign<Duration90k> for Time90k {
    fn add_assign(&mut self, rhs: Duration90k) {
        self.0 += rhs.0;
    }
}

impl Sub<Duration90k> for Time90k {
    type Output = Time90k;
    fn sub(self, rhs: Duration90k) -> Time90k {
        Time90k(self.0 - rhs.0)
    }
}

impl SubAssign<Duration90k> for Time90k {
    fn sub_assign(&mut self, rhs: Duration90k) {
        self.0 -= rhs.0;
    }
}

impl Sub<Time90k> for Time90k {
    type Output = Duration90k;
    fn sub(self, rhs: Time90k) -> Duration90k {
        Duration90k(self.0 - rhs.0)
    }
}

impl Add for Duration90k {
    type Output = Duration90k;
    fn add(self, rhs: Duration90k) -> Duration90k {
        Duration90k(self.0 + rhs.0)
    }
}

impl AddAssign for Duration90k {
    fn add_assign(&mut self, rhs: Duration90k) {
        self.0 += rhs.0;
    }
}

impl Sub for Duration90k {
    type Output = Duration90k;
    fn sub(self, rhs: Duration90k) -> Duration90k {
        Duration90k(self.0 - rhs.0)
    }
}

impl SubAssign for Duration90k {
    fn sub_assign(&mut self, rhs: Duration90k) {
        self.0 -= rhs.0;
    }
}

impl Neg for Duration90k {
    type Output = Duration90k;
    fn neg(self) -> Duration90k {
        Duration90k(-self.0)
    }
}

impl std::iter::Sum for Duration90k {
    fn sum<I: Iterator<Item = Duration90k>>(iter: I) -> Duration90k {
        iter.fold(Duration90k::ZERO, |a, b| a + b)
    }
}

/// Writes `ticks` as seconds with millisecond precision (truncated toward zero), e.g. `-1.500s`.
fn fmt_ticks(ticks: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sign = if ticks < 0 { "-" } else { "" };
    let abs = ticks.unsigned_abs();
    let secs = abs / TICKS_PER_SEC as u64;
    let millis = (abs % TICKS_PER_SEC as u64) / 90;
    write!(f, "{sign}{secs}.{millis:03}s")
}

impl fmt::Display for Time90k {
    /// `t=12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("t=")?;
        fmt_ticks(self.0, f)
    }
}

impl fmt::Display for Duration90k {
    /// `12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_ticks(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn std_conversions() {
        assert_eq!(
            Duration90k::from_std(Duration::from_secs(2)),
            Duration90k(180_000)
        );
        assert_eq!(Duration90k::from(Duration::from_millis(1)), Duration90k(90));
        // 1/15 s = 6000 ticks exactly; 1/30 s rounds to 3000.
        assert_eq!(
            Duration90k::from_std(Duration::from_nanos(66_666_667)),
            Duration90k(6000)
        );
        assert_eq!(
            Duration90k::from_std(Duration::from_nanos(33_333_333)),
            Duration90k(3000)
        );
        assert_eq!(
            Duration90k(135_000).to_std(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(Duration90k(-1).to_std(), None);
        assert_eq!(Duration90k::from_std(Duration::MAX), Duration90k(i64::MAX));
        assert_eq!(Duration90k::from_secs(60), Duration90k(5_400_000));
        assert_eq!(Duration90k::from_millis(1500).as_secs_f64(), 1.5);
    }

    #[test]
    fn arithmetic_and_display() {
        let t = Time90k(90_000) + Duration90k(45_000);
        assert_eq!(t, Time90k(135_000));
        assert_eq!(t - Time90k(90_000), Duration90k(45_000));
        assert_eq!(t - Duration90k(135_000), Time90k::ZERO);
        assert_eq!(t.to_string(), "t=1.500s");
        assert_eq!(Duration90k(-135_000).to_string(), "-1.500s");
        assert_eq!((-Duration90k(3)).0, -3);
        assert_eq!(
            [Duration90k(1), Duration90k(2)]
                .into_iter()
                .sum::<Duration90k>(),
            Duration90k(3)
        );
        assert_eq!(Time90k(i64::MAX).checked_add(Duration90k(1)), None);
        assert_eq!(Time90k(5).as_secs_f64(), 5.0 / 90_000.0);
    }
}
