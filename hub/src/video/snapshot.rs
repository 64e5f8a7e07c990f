//! JPEG pictures for the JPEG views (snapshot, MJPEG, SSE, viewer websocket)
//! of cameras that send only encoded video: key frames, at most one per
//! `snapshot_interval`, decoded with openh264 on a blocking thread and
//! published with [`Camera::publish`]. H.265 has no decoder here: such a
//! camera gets no JPEG pictures, and its status says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::{TrackConfig, VideoCodec, VideoEvent};
use openh264::decoder::Decoder;
use openh264::formats::YUVSource;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::VideoFeed;
use crate::camera::Camera;

/// JPEG quality of decoded snapshots.
pub const JPEG_QUALITY: u8 = 80;

/// What the status says for an H.265 camera.
pub const H265_NOTE: &str =
    "this camera sends H.265: no JPEG pictures (snapshot, MJPEG) are made from it";

/// The `avcC` record inside an `avc1` sample entry.
fn avcc_record(entry: &[u8]) -> Option<&[u8]> {
    let at = entry.windows(4).position(|w| w == b"avcC")?;
    let size = u32::from_be_bytes(entry.get(at - 4..at)?.try_into().ok()?) as usize;
    entry.get(at + 4..(at - 4).checked_add(size)?)
}

/// Annex B bytes of the parameter sets plus one AVCC frame.
pub fn annexb_for(track: &TrackConfig, avcc_frame: &[u8]) -> Result<Vec<u8>, String> {
    let record = avcc_record(track.sample_entry()).ok_or("no avcC in the sample entry")?;
    let info = media::h264::parse_avcc(record).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(avcc_frame.len() + 128);
    for nal in info.sps.iter().chain(info.pps.iter()) {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    let n = info.length_size;
    let mut rest = avcc_frame;
    while !rest.is_empty() {
        if rest.len() < n {
            return Err("truncated NAL length".into());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        let nal = rest.get(n..n + len).ok_or("NAL longer than the frame")?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        rest = &rest[n + len..];
    }
    Ok(out)
}

/// Decode one H.264 key frame to packed RGB. Blocking.
pub fn decode_key_frame(
    track: &TrackConfig,
    avcc_frame: &[u8],
) -> Result<testpattern::Image, String> {
    let annexb = annexb_for(track, avcc_frame)?;
    let mut dec = Decoder::new().map_err(|e| format!("openh264 decoder: {e}"))?;
    let image = |yuv: &openh264::decoder::DecodedYUV<'_>| {
        let (w, h) = yuv.dimensions();
        let mut rgb = vec![0u8; w * h * 3];
        yuv.write_rgb8(&mut rgb);
        testpattern::Image {
            width: w as u32,
            height: h as u32,
            rgb,
        }
    };
    if let Some(yuv) = dec.decode(&annexb).map_err(|e| format!("decode: {e}"))? {
        return Ok(image(&yuv));
    }
    let rest = dec.flush_remaining().map_err(|e| format!("decode: {e}"))?;
    rest.last()
        .map(image)
        .ok_or_else(|| "the decoder returned no picture".into())
}

/// Decode and JPEG-encode one key frame. Blocking.
pub fn key_frame_to_jpeg(track: &TrackConfig, avcc_frame: &[u8]) -> Result<Vec<u8>, String> {
    let img = decode_key_frame(track, avcc_frame)?;
    Ok(testpattern::encode_jpeg(&img, JPEG_QUALITY))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::encoder::H264Encoder;

    #[test]
    fn a_key_frame_decodes_to_the_pattern_and_its_stamp() {
        let p = testpattern::Pattern::new(320, 240);
        let stamp = testpattern::Stamp {
            frame: 7,
            millis: 123_456,
        };
        let mut enc = H264Encoder::new(320, 240, 10, 10).unwrap();
        let e = enc
            .encode_i420(p.render(stamp).to_i420(), media::Time90k(0))
            .unwrap()
            .unwrap();
        let track = e.new_track.unwrap();
        assert!(e.frame.is_key);
        let img = decode_key_frame(&track, &e.frame.data).unwrap();
        assert_eq!((img.width, img.height), (320, 240));
        assert_eq!(testpattern::read_stamp(&img.rgb, 320, 240), Some(stamp));
        let jpeg = key_frame_to_jpeg(&track, &e.frame.data).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    }
}
