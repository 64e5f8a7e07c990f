//! Pure timing logic of a session, kept free of I/O so it can be tested exhaustively:
//! RTP timestamps to a strictly increasing 90 kHz decode time ([`DtsMapper`]) and the
//! reconnect schedule ([`Backoff`]).

use std::time::Duration;

use media::{Duration90k, Time90k};

/// The clock of H.264/H.265 RTP streams and of the media crate.
const CLOCK_90K: u32 = 90_000;

/// A step backwards larger than this is a timeline jump (camera clock reset), not jitter.
pub const MAX_BACKSTEP: Duration90k = Duration90k::from_secs(1);

/// A step forwards larger than this is a timeline jump. Longer real outages end the session
/// first ([`crate::SourceOptions::stall_timeout`]), so this only fires on a camera clock jump.
pub const MAX_FORWARD_JUMP: Duration90k = Duration90k::from_secs(20);

/// The frame duration assumed before two frames have been seen (1/30 s).
const DEFAULT_STEP: Duration90k = Duration90k(3000);

/// Maps one session's RTP timestamps (retina's [`retina::Timestamp::timestamp`], which already
/// extends the 32-bit RTP time to 64 bits) to decode times that start at 0 and strictly
/// increase, as [`media::Segmenter`] requires.
///
/// * A repeated or slightly earlier timestamp (cameras repeat them across a GOP boundary) is
///   nudged to one tick after the previous frame and counted in [`nudged`](Self::nudged).
/// * A jump beyond [`MAX_BACKSTEP`] back or [`MAX_FORWARD_JUMP`] forward (a 32-bit wrap the
///   extension misread, a camera clock reset) re-bases the timeline: the frame gets the
///   previous frame's duration and later frames follow it; counted in [`jumps`](Self::jumps).
#[derive(Clone, Debug)]
pub struct DtsMapper {
    clock_rate: u32,
    base: Option<i64>,
    /// Added to the mapped time after re-basing at jumps, in 90 kHz ticks.
    offset: Duration90k,
    last: Option<Time90k>,
    last_step: Duration90k,
    nudged: u64,
    jumps: u64,
}

impl DtsMapper {
    /// A mapper for a stream with the given RTP clock rate (90000 for video; 0 is taken as
    /// 90000).
    pub fn new(clock_rate: u32) -> DtsMapper {
        DtsMapper {
            clock_rate: if clock_rate == 0 {
                CLOCK_90K
            } else {
                clock_rate
            },
            base: None,
            offset: Duration90k::ZERO,
            last: None,
            last_step: DEFAULT_STEP,
            nudged: 0,
            jumps: 0,
        }
    }

    /// The decode time of a frame with RTP timestamp `ts` (in the stream's clock units).
    pub fn map(&mut self, ts: i64) -> Time90k {
        let base = *self.base.get_or_insert(ts);
        let rel = Time90k(to_90k(ts.saturating_sub(base), self.clock_rate)) + self.offset;
        let Some(last) = self.last else {
            self.last = Some(rel);
            return rel;
        };
        let step = rel - last;
        let dts = if step > Duration90k::ZERO && step <= MAX_FORWARD_JUMP {
            self.last_step = step;
            rel
        } else if step <= Duration90k::ZERO && -step <= MAX_BACKSTEP {
            self.nudged += 1;
            last + Duration90k(1)
        } else {
            self.jumps += 1;
            let dts = last + self.last_step;
            self.offset += dts - rel;
            dts
        };
        self.last = Some(dts);
        dts
    }

    /// Frames whose timestamp was repeated or went backwards a little, moved by one tick.
    pub fn nudged(&self) -> u64 {
        self.nudged
    }

    /// Timeline jumps re-based.
    pub fn jumps(&self) -> u64 {
        self.jumps
    }
}

/// `ticks` at `clock_rate` Hz as 90 kHz ticks (rounded toward zero, saturating).
fn to_90k(ticks: i64, clock_rate: u32) -> i64 {
    if clock_rate == CLOCK_90K {
        return ticks;
    }
    let v = i128::from(ticks) * i128::from(CLOCK_90K) / i128::from(clock_rate);
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Exponential backoff with jitter for reconnecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure. Default 1 s.
    pub initial: Duration,
    /// Upper bound of the delay. Default 60 s.
    pub max: Duration,
    /// A session that played at least this long resets the schedule. Default 30 s.
    pub stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            stable_after: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before reconnect attempt number `failures` (0 after the first failure):
    /// `initial * 2^failures` capped at `max`, then "equal jitter": a uniformly chosen point in
    /// the upper half, so `jitter` (in `[0, 1)`) spreads cameras that dropped together (a
    /// switch or Wi-Fi outage) without ever retrying faster than half the nominal delay.
    pub fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let nominal = self
            .initial
            .checked_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        let half = nominal / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// A random number in `[0, 1)` for jitter, from the standard library's per-process random
/// hash keys (jitter needs spread, not cryptographic quality).
pub fn random_jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maps `input` timestamps and checks the decode times, nudges and jumps.
    fn check(clock_rate: u32, input: &[i64], want: &[i64], nudged: u64, jumps: u64) {
        let mut m = DtsMapper::new(clock_rate);
        let got: Vec<i64> = input.iter().map(|&t| m.map(t).0).collect();
        assert_eq!(got, want, "input {input:?}");
        assert_eq!((m.nudged(), m.jumps()), (nudged, jumps), "input {input:?}");
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "not increasing: {got:?}"
        );
    }

    #[test]
    fn regular_stream_starts_at_zero() {
        check(
            90_000,
            &[1000, 7000, 13000, 19000],
            &[0, 6000, 12000, 18000],
            0,
            0,
        );
    }

    #[test]
    fn repeated_and_slightly_backwards_are_nudged() {
        check(
            90_000,
            &[0, 6000, 6000, 12000],
            &[0, 6000, 6001, 12000],
            1,
            0,
        );
        check(
            90_000,
            &[0, 6000, 6000, 6000, 12000],
            &[0, 6000, 6001, 6002, 12000],
            2,
            0,
        );
        // One second back is still jitter-sized: nudged, and the stream resumes once the
        // camera's time passes the last emitted one.
        check(
            90_000,
            &[0, 90_000, 80_000, 96_000],
            &[0, 90_000, 90_001, 96_000],
            1,
            0,
        );
    }

    #[test]
    fn jumps_rebase_with_the_last_frame_duration() {
        // Camera clock reset: back by an hour.
        let h = 3600 * 90_000;
        check(
            90_000,
            &[h, h + 6000, 0, 6000],
            &[0, 6000, 12000, 18000],
            0,
            1,
        );
        // Forward by an hour: continues as if one frame had passed.
        check(
            90_000,
            &[0, 3000, h, h + 3000],
            &[0, 3000, 6000, 9000],
            0,
            1,
        );
        // The first step can jump too: uses the default 1/30 s.
        check(90_000, &[0, -h], &[0, 3000], 0, 1);
    }

    #[test]
    fn negative_and_extended_timestamps() {
        // retina's extended timestamps may start anywhere, including past 2^32.
        let s = (1i64 << 32) - 3000;
        check(90_000, &[s, s + 3000, s + 6000], &[0, 3000, 6000], 0, 0);
        check(90_000, &[-6000, -3000, 0], &[0, 3000, 6000], 0, 0);
    }

    #[test]
    fn other_clock_rates_are_scaled() {
        check(1000, &[500, 600, 700], &[0, 9000, 18000], 0, 0);
        check(0, &[10, 3010], &[0, 3000], 0, 0);
    }

    #[test]
    fn backoff_schedule() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            stable_after: Duration::from_secs(30),
        };
        let secs = |f, j| b.delay(f, j).as_secs_f64();
        // With jitter 0 the delay is half the nominal one; just under 1, the whole of it.
        let nominal = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0];
        for (f, n) in nominal.iter().enumerate() {
            assert_eq!(secs(f as u32, 0.0), n / 2.0, "failures {f}");
            assert!((secs(f as u32, 0.999_999) - n).abs() < 1e-3, "failures {f}");
        }
        assert_eq!(secs(1000, 0.5), 45.0);
        assert_eq!(secs(u32::MAX, 2.0), 60.0); // jitter clamped
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let v: Vec<f64> = (0..32).map(|_| random_jitter()).collect();
        assert!(v.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(v.windows(2).any(|w| w[0] != w[1]));
    }
}
