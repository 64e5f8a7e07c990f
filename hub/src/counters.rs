//! Per-camera counters the hub's parts bump as they work and `/metrics` reads
//! (`crate::metrics`): live viewers open by kind (a guard held for a view's lifetime;
//! HLS, which holds no connection, by recent requests: [`HLS_VIEWER_WINDOW`]), frames sent
//! to them, frames dropped by reason, key frames decoded for the JPEG views and whether
//! that decoder is held now; and the MQTT publisher's state. Plain atomics, but for the
//! small bounded map of recent HLS clients.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An HLS viewer is a client (address, user agent, user) that fetched the camera's
/// playlist or a segment within this long. Players fetch the playlist about every target
/// duration (2 s here; up to the longest segment, 4 to 6 s with long key frame intervals),
/// so 10 s keeps a playing viewer counted, and one that stopped leaves within 10 s.
pub const HLS_VIEWER_WINDOW: Duration = Duration::from_secs(10);
/// Most HLS clients remembered per camera; more at once are not counted (the map stays
/// bounded whatever a LAN peer sends).
pub const MAX_HLS_CLIENTS: usize = 256;

/// How a live viewer watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerKind {
    /// `multipart/x-mixed-replace` JPEG streams.
    Mjpeg,
    /// The seed API's server-sent events of base64 JPEGs.
    Sse,
    /// The seed viewer websocket (binary JPEG messages).
    Websocket,
    /// The MSE websocket (fragmented MP4).
    Mse,
    /// HLS playlists and segments ([`HLS_VIEWER_WINDOW`]).
    Hls,
}

impl ViewerKind {
    pub const ALL: [ViewerKind; 5] = [
        ViewerKind::Mjpeg,
        ViewerKind::Sse,
        ViewerKind::Websocket,
        ViewerKind::Mse,
        ViewerKind::Hls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ViewerKind::Mjpeg => "mjpeg",
            ViewerKind::Sse => "sse",
            ViewerKind::Websocket => "websocket",
            ViewerKind::Mse => "mse",
            ViewerKind::Hls => "hls",
        }
    }
}

/// Why frames were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// An agent sent something that is not a JPEG.
    Rejected,
    /// The recorder fell behind the camera and skipped to the next key frame.
    RecorderLag,
    /// A live video viewer fell behind and skipped to the next key frame.
    ViewerLag,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::Rejected,
        DropReason::RecorderLag,
        DropReason::ViewerLag,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Rejected => "rejected",
            DropReason::RecorderLag => "recorder_lag",
            DropReason::ViewerLag => "viewer_lag",
        }
    }
}

/// One camera's counters.
#[derive(Debug, Default)]
pub struct CameraCounters {
    viewers: [AtomicI64; 5],
    frames_out: [AtomicU64; 5],
    dropped: [AtomicU64; 3],
    /// HLS clients by key, with their latest request.
    hls: Mutex<HashMap<u64, Instant>>,
    jpeg_decodes: AtomicU64,
    jpeg_decoder_bytes: AtomicU64,
}

impl CameraCounters {
    /// Counts a viewer of `kind` as open until the guard is dropped.
    pub fn viewer(self: &Arc<Self>, kind: ViewerKind) -> ViewerGuard {
        self.viewers[kind as usize].fetch_add(1, Ordering::Relaxed);
        ViewerGuard {
            counters: Arc::clone(self),
            kind,
        }
    }

    pub fn viewers(&self, kind: ViewerKind) -> i64 {
        if kind == ViewerKind::Hls {
            return self.hls_viewers(Instant::now()) as i64;
        }
        self.viewers[kind as usize].load(Ordering::Relaxed)
    }

    fn hls_lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Instant>> {
        self.hls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An HLS request from client `key` at `now`, sending `frames` video frames (0 for a
    /// playlist or an init segment).
    pub fn hls_request(&self, key: u64, frames: u32, now: Instant) {
        self.frames_out[ViewerKind::Hls as usize].fetch_add(u64::from(frames), Ordering::Relaxed);
        let mut m = self.hls_lock();
        if !m.contains_key(&key) && m.len() >= MAX_HLS_CLIENTS {
            m.retain(|_, t| now.saturating_duration_since(*t) < HLS_VIEWER_WINDOW);
            if m.len() >= MAX_HLS_CLIENTS {
                return;
            }
        }
        m.insert(key, now);
    }

    /// HLS clients with a request within [`HLS_VIEWER_WINDOW`] of `now`.
    pub fn hls_viewers(&self, now: Instant) -> usize {
        let mut m = self.hls_lock();
        m.retain(|_, t| now.saturating_duration_since(*t) < HLS_VIEWER_WINDOW);
        m.len()
    }

    /// Frames (or video messages, for MSE) sent to viewers of `kind`.
    pub fn frames_out(&self, kind: ViewerKind) -> u64 {
        self.frames_out[kind as usize].load(Ordering::Relaxed)
    }

    pub fn drop_frames(&self, reason: DropReason, n: u64) {
        self.dropped[reason as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// One key frame decoded (and JPEG-encoded) for the JPEG views.
    pub fn jpeg_decoded(&self) {
        self.jpeg_decodes.fetch_add(1, Ordering::Relaxed);
    }

    /// Key frames decoded for the JPEG views since start.
    pub fn jpeg_decodes(&self) -> u64 {
        self.jpeg_decodes.load(Ordering::Relaxed)
    }

    /// The picture buffers the key-frame decoder holds now (0: no decoder).
    pub fn set_jpeg_decoder_bytes(&self, bytes: u64) {
        self.jpeg_decoder_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn jpeg_decoder_bytes(&self) -> u64 {
        self.jpeg_decoder_bytes.load(Ordering::Relaxed)
    }
}

/// An outbox's counters (`crate::outbox`).
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Items waiting now.
    pub queued: AtomicU64,
    /// Items dropped from a full queue (the oldest first).
    pub dropped: AtomicU64,
}

/// The MQTT publisher's state (all zero without `[mqtt]`).
#[derive(Debug, Default)]
pub struct MqttStats {
    /// 1 while connected to the broker.
    pub connected: AtomicU64,
    /// Its outbox.
    pub queue: Arc<QueueStats>,
    /// Messages handed to the broker connection.
    pub published: AtomicU64,
    /// Connections to the broker made (the first and every reconnect).
    pub connects: AtomicU64,
}

/// An open live view; counts its frames, and closes the count when dropped.
#[derive(Debug)]
pub struct ViewerGuard {
    counters: Arc<CameraCounters>,
    kind: ViewerKind,
}

impl ViewerGuard {
    /// One frame sent to this viewer.
    pub fn sent(&self) {
        self.counters.frames_out[self.kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `n` frames this viewer skipped.
    pub fn dropped(&self, reason: DropReason, n: u64) {
        self.counters.drop_frames(reason, n);
    }
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.counters.viewers[self.kind as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_open_and_close_frames_count() {
        let c = Arc::new(CameraCounters::default());
        {
            let a = c.viewer(ViewerKind::Mjpeg);
            let _b = c.viewer(ViewerKind::Mjpeg);
            a.sent();
            a.sent();
            assert_eq!(c.viewers(ViewerKind::Mjpeg), 2);
            assert_eq!(c.viewers(ViewerKind::Mse), 0);
        }
        assert_eq!(c.viewers(ViewerKind::Mjpeg), 0);
        assert_eq!(c.frames_out(ViewerKind::Mjpeg), 2);
        c.drop_frames(DropReason::RecorderLag, 5);
        assert_eq!(c.dropped(DropReason::RecorderLag), 5);
    }

    #[test]
    fn hls_viewers_are_recent_clients_bounded() {
        let c = CameraCounters::default();
        let t0 = Instant::now();
        c.hls_request(1, 0, t0);
        c.hls_request(1, 30, t0 + Duration::from_secs(2));
        c.hls_request(2, 30, t0 + Duration::from_secs(3));
        assert_eq!(c.hls_viewers(t0 + Duration::from_secs(4)), 2);
        assert_eq!(c.frames_out(ViewerKind::Hls), 60);
        // Client 1 last asked at 2 s: gone at 12 s; client 2 at 13 s.
        assert_eq!(c.hls_viewers(t0 + Duration::from_secs(12)), 1);
        assert_eq!(c.hls_viewers(t0 + Duration::from_secs(13)), 0);
        // Many clients at once: at most MAX_HLS_CLIENTS remembered.
        let t1 = t0 + Duration::from_secs(20);
        for k in 0..(MAX_HLS_CLIENTS as u64 + 50) {
            c.hls_request(k, 0, t1);
        }
        assert_eq!(c.hls_viewers(t1), MAX_HLS_CLIENTS);
    }
}

/// One webhook's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookStats {
    pub queue: Arc<QueueStats>,
    /// Deliveries the receiver accepted.
    pub delivered: AtomicU64,
    /// Attempts that failed and will be tried again.
    pub failed_attempts: AtomicU64,
    /// Deliveries given up: refused (4xx) or older than `max_age`.
    pub given_up: AtomicU64,
}
