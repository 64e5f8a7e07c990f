//! The bounded frame queue between capture and uplink: drop-oldest when full, with counters.
//!
//! Live view wants the newest frames, so a full queue sheds its oldest frame
//! rather than stalling capture. Pushing never blocks and may be called from
//! any thread (the V4L2 source pushes from its capture thread); the lock is
//! never held across an `.await`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use media::h264::AccessUnit;
use tokio::sync::Notify;

/// One captured picture.
#[derive(Clone)]
pub struct Frame {
    /// A complete JPEG (SOI .. EOI).
    pub jpeg: Bytes,
    /// Per-source sequence number, from 0; restarts of the camera continue
    /// the count.
    pub seq: u64,
    /// Monotonic capture time (when the agent got the frame).
    pub captured_at: Instant,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("seq", &self.seq)
            .field("jpeg_len", &self.jpeg.len())
            .finish()
    }
}

/// A consumer beside the uplink that is offered what the source produces. Offers never
/// block; what the consumer cannot take it skips by its own policy.
pub trait FrameTap: Send + Sync + std::fmt::Debug {
    /// A live frame, as pushed to the queue.
    fn offer_jpeg(&self, frame: &Frame);
    /// An access unit of the source's H.264 stream, in stream order (`seq`: the source's
    /// picture count).
    fn offer_h264(&self, au: &AccessUnit, seq: u64, captured_at: Instant);
}

/// A bounded, drop-oldest, multi-producer queue of frames.
#[derive(Debug)]
pub struct FrameQueue {
    frames: Mutex<VecDeque<Frame>>,
    capacity: usize,
    notify: Notify,
    pushed: AtomicU64,
    dropped: AtomicU64,
    /// A second consumer offered every frame, and every H.264 access unit of a source that
    /// has them, without waiting (motion detection; it has its own overflow policy).
    tap: std::sync::OnceLock<std::sync::Arc<dyn FrameTap>>,
}

impl FrameQueue {
    /// A queue holding at most `capacity` frames (at least 1).
    pub fn new(capacity: usize) -> FrameQueue {
        let capacity = capacity.max(1);
        FrameQueue {
            frames: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            notify: Notify::new(),
            pushed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            tap: std::sync::OnceLock::new(),
        }
    }

    /// Offers every frame pushed from now on to `tap` too (once; later calls are ignored).
    pub fn set_tap(&self, tap: std::sync::Arc<dyn FrameTap>) {
        let _ = self.tap.set(tap);
    }

    /// Offers one H.264 access unit of the source's encoded stream (rpicam while
    /// recording, a V4L2 H.264 device) to the tap, if there is one; never waits.
    pub fn offer_h264(&self, au: &AccessUnit, seq: u64, captured_at: Instant) {
        if let Some(tap) = self.tap.get() {
            tap.offer_h264(au, seq, captured_at);
        }
    }

    /// Add a frame, dropping the oldest if full. Returns true if a frame
    /// was dropped.
    pub fn push(&self, frame: Frame) -> bool {
        if let Some(tap) = self.tap.get() {
            tap.offer_jpeg(&frame);
        }
        let dropped = {
            let mut q = self.frames.lock().unwrap_or_else(|p| p.into_inner());
            let dropped = if q.len() >= self.capacity {
                q.pop_front();
                true
            } else {
                false
            };
            q.push_back(frame);
            dropped
        };
        self.pushed.fetch_add(1, Ordering::Relaxed);
        if dropped {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.notify.notify_one();
        dropped
    }

    /// Take the oldest frame if there is one.
    pub fn try_pop(&self) -> Option<Frame> {
        self.frames
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// Wait for a frame. Cancel-safe: dropping the future loses nothing.
    pub async fn pop(&self) -> Frame {
        loop {
            if let Some(f) = self.try_pop() {
                return f;
            }
            // notify_one stores a permit when nobody waits, so a push
            // between the check above and this await is not lost.
            self.notify.notified().await;
        }
    }

    /// Drop everything queued (counted as dropped).
    pub fn clear(&self) -> usize {
        let n = {
            let mut q = self.frames.lock().unwrap_or_else(|p| p.into_inner());
            let n = q.len();
            q.clear();
            n
        };
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    pub fn len(&self) -> usize {
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Frames pushed so far (= frames captured).
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }

    /// Frames dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> Frame {
        Frame {
            jpeg: Bytes::from_static(b"\xff\xd8\xff\xd9"),
            seq,
            captured_at: Instant::now(),
        }
    }

    #[test]
    fn drops_the_oldest_when_full() {
        let q = FrameQueue::new(3);
        for i in 0..10 {
            q.push(frame(i));
            assert!(q.len() <= 3);
        }
        assert_eq!(q.pushed(), 10);
        assert_eq!(q.dropped(), 7);
        let seqs: Vec<u64> = std::iter::from_fn(|| q.try_pop()).map(|f| f.seq).collect();
        assert_eq!(seqs, vec![7, 8, 9]);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let q = std::sync::Arc::new(FrameQueue::new(2));
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.pop().await.seq });
        tokio::task::yield_now().await;
        q.push(frame(5));
        assert_eq!(waiter.await.unwrap(), 5);
        // A push with nobody waiting is not lost either.
        q.push(frame(6));
        assert_eq!(q.pop().await.seq, 6);
    }
}
