//! Seeded datagram faults for the UDP simulator: loss, reordering (a packet is held back
//! and sent after the next one, or after 20 ms), duplication.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// Fault probabilities per datagram, applied independently in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is held back and delivered after a later one.
    pub reorder: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// RNG seed (directions use `seed` and `seed + 1`).
    pub seed: u64,
}

impl Faults {
    /// No faults.
    pub const NONE: Faults = Faults {
        loss: 0.0,
        reorder: 0.0,
        duplicate: 0.0,
        seed: 1,
    };

    fn any(&self) -> bool {
        self.loss > 0.0 || self.reorder > 0.0 || self.duplicate > 0.0
    }
}

/// Counters of injected faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Dropped.
    pub dropped: u64,
    /// Held back.
    pub reordered: u64,
    /// Duplicated.
    pub duplicated: u64,
}

const HOLD_MAX: Duration = Duration::from_millis(20);

/// One direction of a faulty link.
#[derive(Debug)]
pub(crate) struct FaultLink {
    f: Faults,
    rng: fastrand::Rng,
    held: Option<(Bytes, Instant)>,
    pub(crate) counts: FaultCounts,
}

impl FaultLink {
    pub(crate) fn new(f: Faults, seed: u64) -> Self {
        FaultLink {
            f,
            rng: fastrand::Rng::with_seed(seed),
            held: None,
            counts: FaultCounts::default(),
        }
    }

    /// Passes one datagram; what to deliver now is appended to `out`.
    pub(crate) fn pass(&mut self, d: Bytes, out: &mut Vec<Bytes>) {
        if !self.f.any() {
            out.push(d);
            return;
        }
        if chance(&mut self.rng, self.f.loss) {
            self.counts.dropped += 1;
            return;
        }
        let dup = chance(&mut self.rng, self.f.duplicate);
        if dup {
            self.counts.duplicated += 1;
        }
        if self.held.is_none() && chance(&mut self.rng, self.f.reorder) {
            self.counts.reordered += 1;
            if dup {
                out.push(d.clone());
            }
            self.held = Some((d, Instant::now()));
            return;
        }
        if dup {
            out.push(d.clone());
        }
        out.push(d);
        if let Some((h, _)) = self.held.take() {
            out.push(h);
        }
    }

    /// Releases a held datagram that waited long enough.
    pub(crate) fn flush(&mut self, out: &mut Vec<Bytes>) {
        if self
            .held
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= HOLD_MAX)
            && let Some((h, _)) = self.held.take()
        {
            out.push(h);
        }
    }
}

/// True with probability `p`.
fn chance(rng: &mut fastrand::Rng, p: f64) -> bool {
    p > 0.0 && rng.f64() < p
}
