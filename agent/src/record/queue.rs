//! The bounded queue between capture and the recorder thread.
//!
//! Overflow policy [`Overflow::DropUntilKeyFrame`]: when the queue is full
//! (the recorder is behind, e.g. a slow disk), the incoming item is dropped
//! and so is every following item until the next key frame, which is
//! enqueued again as soon as there is room. Coded H.264 cannot be decoded
//! across a hole, so the recording resumes cleanly at that key frame. A raw
//! picture (encoded on the recorder thread) is its own key frame: only the
//! pictures that do not fit are dropped. Each overflow episode is logged
//! once when it starts and once when it ends, with the count. Pushing never
//! blocks, so capture (and so the live stream) never waits for the disk.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::h264::AccessUnit;

/// The named overflow policy of [`RecordQueue`] (the only one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the item that does not fit and everything after it up to the
    /// next key frame.
    DropUntilKeyFrame,
}

/// What capture hands the recorder.
#[derive(Clone)]
pub enum RecordItem {
    /// A raw I420 picture for the software encoder.
    Raw {
        i420: Bytes,
        width: u32,
        height: u32,
        captured_at: Instant,
    },
    /// A JPEG from an MJPEG camera, decoded and encoded on the recorder thread.
    Jpeg { jpeg: Bytes, captured_at: Instant },
    /// A coded H.264 picture (from the camera's or rpicam-vid's encoder).
    H264 {
        au: AccessUnit,
        captured_at: Instant,
    },
    /// The source lost its camera (unplugged, driver error): the recorder
    /// closes the segment it is writing, so it stays valid however long the
    /// outage lasts, and starts the next one at the first key frame after.
    SourceLost { at: Instant },
}

impl RecordItem {
    /// Whether decoding (or encoding) can start at this item.
    pub fn is_key(&self) -> bool {
        match self {
            RecordItem::Raw { .. } | RecordItem::Jpeg { .. } | RecordItem::SourceLost { .. } => {
                true
            }
            RecordItem::H264 { au, .. } => au.is_key,
        }
    }

    pub fn captured_at(&self) -> Instant {
        match self {
            RecordItem::Raw { captured_at, .. }
            | RecordItem::Jpeg { captured_at, .. }
            | RecordItem::H264 { captured_at, .. } => *captured_at,
            RecordItem::SourceLost { at } => *at,
        }
    }

    /// Bytes held (for the queue's byte budget).
    pub fn len_bytes(&self) -> usize {
        match self {
            RecordItem::Raw { i420, .. } => i420.len(),
            RecordItem::Jpeg { jpeg, .. } => jpeg.len(),
            RecordItem::H264 { au, .. } => au.len_bytes(),
            RecordItem::SourceLost { .. } => 0,
        }
    }
}

impl std::fmt::Debug for RecordItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordItem::Raw { width, height, .. } => {
                write!(f, "Raw({width}x{height})")
            }
            RecordItem::Jpeg { jpeg, .. } => write!(f, "Jpeg({} bytes)", jpeg.len()),
            RecordItem::H264 { au, .. } => {
                write!(f, "H264(key={}, {} bytes)", au.is_key, au.len_bytes())
            }
            RecordItem::SourceLost { .. } => write!(f, "SourceLost"),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<RecordItem>,
    bytes: usize,
    /// Dropping until the next key frame.
    dropping: bool,
    /// Dropped in the current episode.
    episode: u64,
    closed: bool,
}

/// Bounded by item count and bytes; see the module docs for the policy.
#[derive(Debug)]
pub struct RecordQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
    max_items: usize,
    max_bytes: usize,
    pushed: AtomicU64,
    dropped: AtomicU64,
}

/// What [`RecordQueue::push`] did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Dropped by [`Overflow::DropUntilKeyFrame`].
    Dropped,
    /// The recorder has stopped.
    Closed,
}

impl RecordQueue {
    /// Holds at most `max_items` items and `max_bytes` bytes (but always
    /// at least one item).
    pub fn new(max_items: usize, max_bytes: usize) -> RecordQueue {
        RecordQueue {
            inner: Mutex::new(Inner::default()),
            ready: Condvar::new(),
            max_items: max_items.max(1),
            max_bytes,
            pushed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn policy(&self) -> Overflow {
        Overflow::DropUntilKeyFrame
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offer an item; never blocks.
    pub fn push(&self, item: RecordItem) -> Pushed {
        let mut q = self.lock();
        if q.closed {
            return Pushed::Closed;
        }
        let marker = matches!(item, RecordItem::SourceLost { .. });
        if marker {
            // Not a frame: never counted or dropped, whatever the queue holds.
            q.items.push_back(item);
            drop(q);
            self.ready.notify_one();
            return Pushed::Queued;
        }
        self.pushed.fetch_add(1, Ordering::Relaxed);
        let len = item.len_bytes();
        let fits = q.items.is_empty()
            || (q.items.len() < self.max_items && q.bytes + len <= self.max_bytes);
        let drop_it = !fits || (q.dropping && !item.is_key());
        if drop_it {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if !q.dropping {
                q.dropping = true;
                q.episode = 0;
                tracing::warn!(
                    queued = q.items.len(),
                    queued_bytes = q.bytes,
                    "recorder queue full (recorder behind): dropping frames until the next key frame"
                );
            }
            q.episode += 1;
            return Pushed::Dropped;
        }
        if q.dropping {
            tracing::info!(
                dropped = q.episode,
                "recorder queue: resumed at a key frame"
            );
            q.dropping = false;
        }
        q.bytes += len;
        q.items.push_back(item);
        drop(q);
        self.ready.notify_one();
        Pushed::Queued
    }

    /// Take the oldest item, waiting up to `timeout`. `None` on timeout;
    /// `Some(None)` once closed and drained.
    pub fn pop_timeout(&self, timeout: Duration) -> Option<Option<RecordItem>> {
        let deadline = Instant::now() + timeout;
        let mut q = self.lock();
        loop {
            if let Some(item) = q.items.pop_front() {
                q.bytes -= item.len_bytes();
                return Some(Some(item));
            }
            if q.closed {
                return Some(None);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            q = self
                .ready
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Refuse further items; the recorder drains what is queued and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items offered so far (while recording was on).
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    /// Items dropped by the overflow policy so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(key: bool) -> RecordItem {
        RecordItem::H264 {
            au: AccessUnit {
                nals: vec![Bytes::from_static(if key {
                    b"\x65\x88"
                } else {
                    b"\x41\x9a"
                })],
                is_key: key,
                params_changed: false,
            },
            captured_at: Instant::now(),
        }
    }

    #[test]
    fn overflow_drops_until_the_next_key_frame() {
        let q = RecordQueue::new(3, 1 << 20);
        assert_eq!(q.push(au(true)), Pushed::Queued);
        assert_eq!(q.push(au(false)), Pushed::Queued);
        assert_eq!(q.push(au(false)), Pushed::Queued);
        assert_eq!(q.push(au(false)), Pushed::Dropped, "full");
        // Room again, but still no key frame: keep dropping.
        q.pop_timeout(Duration::ZERO).unwrap().unwrap();
        q.pop_timeout(Duration::ZERO).unwrap().unwrap();
        assert_eq!(q.push(au(false)), Pushed::Dropped);
        assert_eq!(q.push(au(true)), Pushed::Queued, "a key frame resumes");
        assert_eq!(q.push(au(false)), Pushed::Queued);
        assert_eq!((q.pushed(), q.dropped()), (7, 2));
        q.close();
        assert_eq!(q.push(au(true)), Pushed::Closed);
        let mut n = 0;
        while let Some(Some(_)) = q.pop_timeout(Duration::ZERO) {
            n += 1;
        }
        assert_eq!(n, 3);
        assert!(matches!(q.pop_timeout(Duration::ZERO), Some(None)));
    }

    #[test]
    fn byte_budget_and_one_item_always_fits() {
        let q = RecordQueue::new(10, 4);
        let big = RecordItem::Raw {
            i420: Bytes::from(vec![0u8; 100]),
            width: 8,
            height: 8,
            captured_at: Instant::now(),
        };
        assert_eq!(q.push(big.clone()), Pushed::Queued);
        assert_eq!(q.push(big.clone()), Pushed::Dropped);
        q.pop_timeout(Duration::ZERO).unwrap().unwrap();
        // Raw pictures are key frames: the next one is taken.
        assert_eq!(q.push(big), Pushed::Queued);
        assert!(q.pop_timeout(Duration::from_millis(1)).is_some());
        assert!(q.pop_timeout(Duration::from_millis(1)).is_none(), "timeout");
    }
}
