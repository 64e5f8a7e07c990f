//! Live JPEGs for a camera that only delivers H.264 (rpicam-vid `--codec h264` while
//! recording, a V4L2 H.264 device): key frames are decoded with openh264 and encoded as JPEG
//! on a thread of their own. The hand-over holds one key frame; if the thread is still busy
//! with the previous one, the new one is skipped (live wants the newest picture, and capture
//! must never wait).

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Instant;

use bytes::Bytes;
use tracing::{info, warn};

use crate::queue::{Frame, FrameQueue};
use codec::KeyFrameJpeg;

/// The decoding thread; it stops when this is dropped.
#[derive(Debug)]
pub struct KeyFrameLive {
    tx: SyncSender<(Vec<u8>, Instant)>,
}

impl KeyFrameLive {
    /// Start the thread, pushing JPEGs (quality `quality`) into `out`.
    pub fn spawn(out: Arc<FrameQueue>, quality: u8) -> std::io::Result<KeyFrameLive> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, Instant)>(1);
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name("live-keyframes".into())
            .spawn(move || {
                let _enter = span.enter();
                let mut dec = match KeyFrameJpeg::new(quality) {
                    Ok(d) => d,
                    Err(e) => {
                        warn!(error = %e, "cannot create the H.264 decoder: no live frames while recording");
                        return;
                    }
                };
                let mut seq = 0u64;
                let mut failing = false;
                while let Ok((annexb, captured_at)) = rx.recv() {
                    match dec.jpeg(&annexb) {
                        Ok(Some(jpeg)) => {
                            if seq == 0 {
                                info!(bytes = jpeg.len(), "first live frame decoded from a key frame");
                            }
                            failing = false;
                            out.push(Frame {
                                jpeg: Bytes::from(jpeg),
                                seq,
                                captured_at,
                            });
                            seq += 1;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            if !failing {
                                warn!(error = %e, "decoding a key frame for live view failed");
                                failing = true;
                            }
                        }
                    }
                }
            })?;
        Ok(KeyFrameLive { tx })
    }

    /// Offer a key frame (Annex B, with its SPS/PPS). False if the thread
    /// was busy and the frame was skipped.
    pub fn offer(&self, annexb: Vec<u8>, captured_at: Instant) -> bool {
        match self.tx.try_send((annexb, captured_at)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }
}
