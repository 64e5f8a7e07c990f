//! JPEG pictures for the JPEG views (snapshot, MJPEG, SSE, viewer websocket, MQTT
//! snapshots, event pictures) of cameras that send only encoded video: key frames, at
//! most one per `snapshot_interval`, decoded with openh264 (the `codec` crate) on a
//! blocking thread and published with [`Camera::publish`]. H.265 has no decoder here:
//! such a camera gets no JPEG pictures, and its status says so.
//!
//! Only while someone looks: the task sleeps, subscribed to nothing, until a JPEG consumer
//! subscribes to the camera ([`Camera::jpeg_wanted`]). It then decodes the key frame of the
//! current GOP at once (so a snapshot request waits for one decode, never for the next
//! key frame, and gets a picture at most one GOP old), then each key frame at most once
//! per `snapshot_interval`, keeping the decoder and its picture buffer between key frames.
//! When the last consumer leaves ([`Camera::jpeg_unwanted`]) it drops the decoder and
//! its buffers and goes back to sleep.

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

/// Why a track gets no JPEG pictures, if it does not (the bridge sets it on the feed
/// with each track, whether or not anyone looks).
pub fn note_for(t: &TrackConfig) -> Option<String> {
    match t.codec() {
        VideoCodec::H264 => None,
        VideoCodec::H265 => Some(H265_NOTE.to_owned()),
        VideoCodec::Other(_) => Some("unknown codec: no JPEG pictures are made from it".to_owned()),
    }
}

/// Publish a JPEG of the camera's video at most once per `every` while a JPEG consumer
/// exists, until `stop`.
pub async fn run(cam: Arc<Camera>, feed: Arc<VideoFeed>, every: Duration, stop: CancellationToken) {
    let span = tracing::info_span!("snapshots", camera = %cam.name);
    async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = cam.jpeg_wanted() => {}
            }
            tracing::debug!("a JPEG consumer arrived: decoding key frames");
            let go_on = serve(&cam, &feed, every, &stop).await;
            cam.set_picture_current(false);
            cam.counters.set_jpeg_decoder_bytes(0);
            if !go_on {
                return;
            }
            tracing::debug!("no JPEG consumer left: decoder released");
        }
    }
    .instrument(span)
    .await
}

/// Decodes key frames while a JPEG consumer exists; false when the task should end.
async fn serve(
    cam: &Arc<Camera>,
    feed: &VideoFeed,
    every: Duration,
    stop: &CancellationToken,
) -> bool {
    let (snap, mut rx) = feed.subscribe();
    let mut track = snap.track;
    // Kept between key frames while someone looks; dropped with this function.
    let mut decoder: Option<KeyFrameJpeg> = None;
    let mut last: Option<Instant> = None;
    let mut failures_logged = false;
    // Start with the current GOP's key frame, if any.
    let mut pending = snap.frames.into_iter().find(|f| f.is_key);
    loop {
        if let (Some(t), Some(f)) = (track.clone(), pending.take())
            && t.codec() == VideoCodec::H264
        {
            let dec = decoder.take();
            // The error hands the decoder back (or drops it when its state is suspect).
            #[allow(clippy::result_large_err)]
            let job = tokio::task::spawn_blocking(move || {
                let mut dec = match dec {
                    Some(d) => d,
                    None => KeyFrameJpeg::new(JPEG_QUALITY).map_err(|e| (None, e.to_string()))?,
                };
                let jpeg = t
                    .h264_annexb(&f.data)
                    .map_err(|e| e.to_string())
                    .and_then(|annexb| dec.jpeg(&annexb).map_err(|e| e.to_string()));
                match jpeg {
                    Ok(Some(j)) => Ok((dec, j)),
                    Ok(None) => Err((Some(dec), "the decoder returned no picture".to_owned())),
                    // A decoder that failed may hold a broken state: start afresh.
                    Err(e) => Err((None, e)),
                }
            });
            match job.await {
                Ok(Ok((dec, jpeg))) => {
                    cam.counters.jpeg_decoded();
                    cam.counters.set_jpeg_decoder_bytes(dec.held_bytes() as u64);
                    decoder = Some(dec);
                    cam.publish(Bytes::from(jpeg));
                    cam.set_picture_current(true);
                    failures_logged = false;
                }
                Ok(Err((dec, e))) => {
                    decoder = dec;
                    if !failures_logged {
                        tracing::warn!(error = %e, "could not decode a key frame for the JPEG views");
                        failures_logged = true;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "snapshot decoder panicked");
                    return false;
                }
            }
            last = Some(Instant::now());
        }
        let ev = tokio::select! {
            _ = stop.cancelled() => return false,
            _ = cam.jpeg_unwanted() => return true,
            ev = rx.recv() => ev,
        };
        match ev {
            Ok(ev) => match &*ev {
                VideoEvent::Track(t) => {
                    track = Some(t.clone());
                    // New parameters: a new decoder for them.
                    decoder = None;
                }
                VideoEvent::Frame(f) if f.is_key && last.is_none_or(|t| t.elapsed() >= every) => {
                    pending = Some(f.clone());
                }
                _ => {}
            },
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return false,
        }
    }
}
