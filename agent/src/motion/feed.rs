//! The motion detector's inbox: the newest live JPEG (one slot) or, for a source with an
//! H.264 stream, its access units in order (a bounded queue).
//!
//! Overflow policy, JPEG: a frame offered while the slot is full is skipped (the detector
//! wants the newest picture, never a backlog). H.264: the queue holds at most
//! [`MAX_UNITS`] access units and [`MAX_BYTES`]; when a unit does not fit, everything
//! queued is dropped and so is every unit up to the next key frame (a P frame cannot be
//! decoded without its predecessors), each counted in [`Feed::dropped`]. Once a source has
//! offered H.264, its live JPEGs (decoded from key frames only) are no longer analysed:
//! the stream itself is.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use media::h264::AccessUnit;

use crate::queue::{Frame, FrameTap};

/// Access units queued at most: 2 s at 15 fps, more than a detector that keeps up ever
/// holds.
pub const MAX_UNITS: usize = 30;
/// Bytes of access units queued at most.
pub const MAX_BYTES: usize = 8 << 20;

/// One access unit of the source's H.264 stream.
#[derive(Debug)]
pub struct Unit {
    pub au: AccessUnit,
    pub seq: u64,
    pub captured_at: Instant,
}

/// What the detector takes next.
#[derive(Debug)]
pub enum Input {
    Jpeg(Frame),
    H264(Unit),
}

#[derive(Debug, Default)]
struct State {
    jpeg: Option<Frame>,
    units: VecDeque<Unit>,
    bytes: usize,
    /// Dropping up to the next key frame.
    resync: bool,
    /// The source has offered H.264: its JPEGs are not analysed.
    h264: bool,
    closed: bool,
}

/// The inbox ([`FrameTap`] for the frame queue, [`Feed::next`] for the detector thread).
#[derive(Debug)]
pub struct Feed {
    state: Mutex<State>,
    ready: Condvar,
    max_units: usize,
    max_bytes: usize,
    dropped: AtomicU64,
    overflows: AtomicU64,
}

impl Feed {
    /// An inbox holding at most `max_units` access units of `max_bytes` in all.
    pub fn new(max_units: usize, max_bytes: usize) -> Feed {
        Feed {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            max_units: max_units.max(1),
            max_bytes,
            dropped: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next input, access units first and in order; `None` after `timeout` with
    /// nothing, or once closed and empty.
    pub fn next(&self, timeout: Duration) -> Option<Input> {
        let mut st = self.lock();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(unit) = st.units.pop_front() {
                st.bytes -= unit.au.len_bytes();
                return Some(Input::H264(unit));
            }
            if let Some(frame) = st.jpeg.take() {
                return Some(Input::Jpeg(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if st.closed || left.is_zero() {
                return None;
            }
            st = self
                .ready
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// No more offers are taken; [`next`](Self::next) returns what is queued, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Access units dropped so far (overflow and the P frames after it).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn drop_units(&self, n: usize) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl FrameTap for Feed {
    fn offer_jpeg(&self, frame: &Frame) {
        let mut st = self.lock();
        if st.h264 || st.closed || st.jpeg.is_some() {
            return;
        }
        st.jpeg = Some(frame.clone());
        drop(st);
        self.ready.notify_one();
    }

    fn offer_h264(&self, au: &AccessUnit, seq: u64, captured_at: Instant) {
        if !au.has_picture() {
            return;
        }
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.h264 = true;
        st.jpeg = None;
        if st.resync {
            if !au.is_key {
                drop(st);
                self.drop_units(1);
                return;
            }
            st.resync = false;
        }
        let len = au.len_bytes();
        if st.units.len() >= self.max_units || st.bytes + len > self.max_bytes {
            let queued = st.units.len();
            st.units.clear();
            st.bytes = 0;
            let overflows = self.overflows.fetch_add(1, Ordering::Relaxed) + 1;
            if !au.is_key {
                st.resync = true;
            }
            drop(st);
            let dropped = queued + usize::from(!au.is_key);
            self.drop_units(dropped);
            if overflows == 1 || overflows.is_multiple_of(100) {
                tracing::warn!(
                    overflows,
                    dropped_total = self.dropped(),
                    "motion detection fell behind the H.264 stream: access units dropped up to the next key frame"
                );
            }
            if !au.is_key {
                return;
            }
            st = self.lock();
        }
        st.bytes += len;
        st.units.push_back(Unit {
            au: au.clone(),
            seq,
            captured_at,
        });
        drop(st);
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(key: bool) -> AccessUnit {
        // A slice NAL unit: type 5 (IDR) or 1 (non-IDR).
        let nal: &[u8] = if key {
            &[0, 0, 0, 1, 0x65, 0x88, 0x84]
        } else {
            &[0, 0, 0, 1, 0x41, 0x9a, 0x02]
        };
        let au = AccessUnit::from_annexb(nal);
        assert_eq!(au.is_key, key);
        au
    }

    fn drain(feed: &Feed) -> Vec<u64> {
        let mut seqs = Vec::new();
        while let Some(Input::H264(u)) = feed.next(Duration::ZERO) {
            seqs.push(u.seq);
        }
        seqs
    }

    /// Falling behind drops the queue and every P frame up to the next key frame, counted;
    /// decoding resumes at that key frame.
    #[test]
    fn overflow_drops_up_to_the_next_key_frame() {
        let feed = Feed::new(4, MAX_BYTES);
        let now = Instant::now();
        // GOP of 5: key frames at 0, 5, 10.
        for seq in 0..12u64 {
            feed.offer_h264(&au(seq % 5 == 0), seq, now);
        }
        // 0..=3 queued; 4 overflows: 0..=3 and 4 dropped; 5 (key) queued, 6..=8 fit,
        // 9 overflows: 5..=8 and 9 dropped; 10 (key) and 11 queued.
        assert_eq!(drain(&feed), vec![10, 11]);
        assert_eq!(feed.dropped(), 10);
        // Kept up with: nothing more is dropped.
        for seq in 12..16u64 {
            feed.offer_h264(&au(false), seq, now);
            assert_eq!(drain(&feed), vec![seq]);
        }
        assert_eq!(feed.dropped(), 10);
    }

    /// A key frame that arrives at a full queue starts it afresh.
    #[test]
    fn a_key_frame_at_a_full_queue_is_kept() {
        let feed = Feed::new(2, MAX_BYTES);
        let now = Instant::now();
        for (seq, key) in [(0, true), (1, false), (2, true), (3, false)] {
            feed.offer_h264(&au(key), seq, now);
        }
        assert_eq!(drain(&feed), vec![2, 3]);
        assert_eq!(feed.dropped(), 2);
    }

    /// The byte bound applies as well as the count.
    #[test]
    fn the_byte_bound_applies() {
        let one = au(true).len_bytes();
        let feed = Feed::new(100, one * 2);
        let now = Instant::now();
        for seq in 0..3 {
            feed.offer_h264(&au(false), seq, now);
        }
        assert_eq!(drain(&feed), Vec::<u64>::new());
        assert_eq!(feed.dropped(), 3);
    }

    /// JPEGs: one slot, skipped while full, and no longer taken once H.264 is offered.
    #[test]
    fn jpegs_are_ignored_once_the_stream_is_h264() {
        let feed = Feed::new(4, MAX_BYTES);
        let frame = |seq| Frame {
            jpeg: bytes::Bytes::from_static(b"\xff\xd8\xff\xd9"),
            seq,
            captured_at: Instant::now(),
        };
        feed.offer_jpeg(&frame(0));
        feed.offer_jpeg(&frame(1));
        match feed.next(Duration::ZERO) {
            Some(Input::Jpeg(f)) => assert_eq!(f.seq, 0),
            other => panic!("{other:?}"),
        }
        feed.offer_h264(&au(true), 0, Instant::now());
        feed.offer_jpeg(&frame(2));
        assert!(matches!(feed.next(Duration::ZERO), Some(Input::H264(_))));
        assert!(feed.next(Duration::ZERO).is_none());
        feed.close();
        assert!(feed.next(Duration::from_secs(5)).is_none());
    }
}
