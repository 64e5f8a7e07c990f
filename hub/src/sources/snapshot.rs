//! JPEG pictures for the JPEG views (snapshot, MJPEG, SSE, viewer websocket)
//! of cameras that send only encoded video: key frames, at most one per
//! `snapshot_interval`, decoded with openh264 (the `codec` crate) on a blocking thread and
//! published with [`Camera::publish`]. H.265 has no decoder here: such a
//! camera gets no JPEG pictures, and its status says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use codec::KeyFrameJpeg;
use media::{TrackConfig, VideoCodec, VideoEvent};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::camera::Camera;
use crate::video::VideoFeed;

/// JPEG quality of decoded snapshots.
pub const JPEG_QUALITY: u8 = 80;

/// What the status says for an H.265 camera.
pub const H265_NOTE: &str =
    "this camera sends H.265: no JPEG pictures (snapshot, MJPEG) are made from it";

/// Decode and JPEG-encode one key frame (an AVCC sample of `track`). Blocking.
pub fn key_frame_to_jpeg(track: &TrackConfig, avcc_frame: &[u8]) -> Result<Vec<u8>, String> {
    let annexb = track.h264_annexb(avcc_frame).map_err(|e| e.to_string())?;
    KeyFrameJpeg::new(JPEG_QUALITY)
        .and_then(|mut d| d.jpeg(&annexb))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the decoder returned no picture".to_owned())
}

/// Why a track gets no JPEG pictures, if it does not.
fn note_for(t: &TrackConfig) -> Option<String> {
    match t.codec() {
        VideoCodec::H264 => None,
        VideoCodec::H265 => Some(H265_NOTE.to_owned()),
        VideoCodec::Other(_) => Some("unknown codec: no JPEG pictures are made from it".to_owned()),
    }
}

/// Publish a JPEG of the camera's video at most once per `every`, until `stop`.
pub async fn run(cam: Arc<Camera>, feed: Arc<VideoFeed>, every: Duration, stop: CancellationToken) {
    let span = tracing::info_span!("snapshots", camera = %cam.name);
    async move {
        let (snap, mut rx) = feed.subscribe();
        let mut track = snap.track;
        if let Some(t) = &track {
            feed.set_snapshot_note(note_for(t));
        }
        let mut last: Option<Instant> = None;
        let mut failures_logged = false;
        // Start with the current GOP's key frame, if any.
        let mut pending = snap.frames.into_iter().find(|f| f.is_key);
        loop {
            if let (Some(t), Some(f)) = (track.clone(), pending.take())
                && t.codec() == VideoCodec::H264
            {
                {
                    let data = f.data.clone();
                    match tokio::task::spawn_blocking(move || key_frame_to_jpeg(&t, &data)).await {
                        Ok(Ok(jpeg)) => {
                            cam.publish(Bytes::from(jpeg));
                            failures_logged = false;
                        }
                        Ok(Err(e)) if !failures_logged => {
                            tracing::warn!(error = %e, "could not decode a key frame for the JPEG views");
                            failures_logged = true;
                        }
                        Ok(Err(_)) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "snapshot decoder panicked");
                            return;
                        }
                    }
                    last = Some(Instant::now());
                }
            }
            let ev = tokio::select! {
                _ = stop.cancelled() => return,
                ev = rx.recv() => ev,
            };
            match ev {
                Ok(ev) => match &*ev {
                    VideoEvent::Track(t) => {
                        feed.set_snapshot_note(note_for(t));
                        track = Some(t.clone());
                    }
                    VideoEvent::Frame(f) if f.is_key && last.is_none_or(|t| t.elapsed() >= every) => {
                        pending = Some(f.clone());
                    }
                    _ => {}
                },
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    }
    .instrument(span)
    .await
}
