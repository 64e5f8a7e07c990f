//! Per-camera counters the hub's parts bump as they work and `/metrics` reads
//! (`crate::metrics`): live viewers open by kind (a guard held for a view's lifetime),
//! frames sent to them, frames dropped by reason, key frames decoded for the JPEG views
//! and whether that decoder is held now; and the MQTT publisher's state. Plain atomics: counting never takes a lock or waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

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
}

impl ViewerKind {
    pub const ALL: [ViewerKind; 4] = [
        ViewerKind::Mjpeg,
        ViewerKind::Sse,
        ViewerKind::Websocket,
        ViewerKind::Mse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ViewerKind::Mjpeg => "mjpeg",
            ViewerKind::Sse => "sse",
            ViewerKind::Websocket => "websocket",
            ViewerKind::Mse => "mse",
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
    viewers: [AtomicI64; 4],
    frames_out: [AtomicU64; 4],
    dropped: [AtomicU64; 3],
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
        self.viewers[kind as usize].load(Ordering::Relaxed)
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
}
