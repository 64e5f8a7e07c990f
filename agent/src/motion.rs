//! Motion detection on the agent: a detector thread (the `motion` crate) fed by
//! [`feed::Feed`], which the frame queue offers everything the source produces.
//!
//! - **JPEG sources** (test pattern, YUYV and MJPEG webcams, libcamera, rpicam
//!   `--codec mjpeg`): the live JPEG, read at reduced scale (its DC coefficients only).
//! - **H.264 sources** (rpicam while recording, V4L2 H.264): every access unit of the
//!   encoded stream is decoded with openh264 ([`codec::LumaDecoder`]; P frames need their
//!   predecessors) and the due ones (`analysis_fps`) are analysed from the luma plane, so
//!   motion is seen between key frames, not only on the key-frame live JPEGs.
//!
//! Each event is written to the event spool ([`crate::event_upload`]) when it starts and
//! again when it ends, with its score, its detection zone and a small JPEG of the moment
//! with the most motion; the sender takes it to the hub from there.
//!
//! Overflow policy: [`feed`]'s (one JPEG slot, skip while full; a bounded access unit
//! queue that drops up to the next key frame when the thread falls behind). Capture
//! never waits for detection.

pub mod feed;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use motion::{Analysis, Detector, FrameRef, Millis, Picture, Settings, Update};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use wire::events::AgentEvent;

use crate::event_upload::Spool;
use feed::{Feed, Input};

/// Thumbnails are made at most this wide (halved until they fit).
const THUMBNAIL_MAX_WIDTH: usize = 320;

/// Starts the detector thread; returns the inbox to give the frame queue
/// ([`crate::queue::FrameQueue::set_tap`]).
pub fn spawn(
    settings: Settings,
    spool: Spool,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) -> std::io::Result<(Arc<Feed>, std::thread::JoinHandle<()>)> {
    let detector = Detector::new(settings).map_err(std::io::Error::other)?;
    let feed = Arc::new(Feed::new(feed::MAX_UNITS, feed::MAX_BYTES));
    let inbox = feed.clone();
    let handle = std::thread::Builder::new()
        .name("motion".into())
        .spawn(move || {
            let out = Out {
                spool: &spool,
                wake: &wake,
            };
            run(detector, &inbox, out, &cancel);
            inbox.close();
        })?;
    Ok((feed, handle))
}

/// The wall-clock time of a capture, in unix ms.
fn capture_ms(captured_at: Instant) -> i64 {
    let now = crate::source::wall_millis() as i64;
    now - captured_at.elapsed().as_millis() as i64
}

/// The id an event keeps from its start to its delivery.
fn event_id(start: Millis) -> String {
    format!("motion-{}", start.0)
}

/// Where events go.
#[derive(Clone, Copy)]
struct Out<'a> {
    spool: &'a Spool,
    wake: &'a Notify,
}

/// The picture an event's thumbnail is made of: the live JPEG, or (H.264) the decoded
/// frame already reduced to thumbnail size.
pub(crate) enum Best {
    Jpeg(Bytes),
    Image(testpattern::Image),
}

fn run(mut detector: Detector, feed: &Feed, out: Out<'_>, cancel: &CancellationToken) {
    let mut best: Option<Best> = None;
    let mut failed = crate::backoff::Problem::new("motion detection");
    let mut h264 = H264::default();
    loop {
        if cancel.is_cancelled() {
            // What is queued is analysed; nothing new is taken.
            feed.close();
        }
        let input = match feed.next(Duration::from_millis(250)) {
            Some(i) => i,
            None if !cancel.is_cancelled() => continue,
            None => break,
        };
        let analysed = match input {
            Input::Jpeg(frame) => {
                let time = Millis(capture_ms(frame.captured_at));
                if !detector.due(time) {
                    continue;
                }
                let at = FrameRef {
                    index: frame.seq,
                    time,
                };
                analyse(&mut detector, &frame.jpeg, at)
                    .map(|a| {
                        if a.thumbnail_candidate {
                            best = Some(Best::Jpeg(frame.jpeg.clone()));
                        }
                        Some(a)
                    })
                    .map_err(AnalysisError::from)
            }
            Input::H264(unit) => {
                let time = Millis(capture_ms(unit.captured_at));
                h264.step(&mut detector, &unit.au, (unit.seq, time), &mut best)
            }
        };
        let analysis = match analysed {
            Ok(Some(a)) => {
                failed.clear();
                a
            }
            Ok(None) => continue,
            Err(e) => {
                failed.report(&e, Duration::ZERO);
                continue;
            }
        };
        match analysis.update {
            Some(Update::Started { start, zone, .. }) => {
                tracing::info!(start_ms = start.0, zone, "motion started");
                save(out, started(start, zone, best.as_ref()));
            }
            Some(Update::Ended(event)) => {
                tracing::info!(
                    start_ms = event.start.0,
                    end_ms = event.end.0,
                    score = event.score,
                    zone = event.zone,
                    "motion ended"
                );
                save(out, ended(&event, best.take().as_ref()));
            }
            None => {}
        }
    }
    if let Some(event) = detector.finish() {
        save(out, ended(&event, best.as_ref()));
    }
    if h264.decoded > 0 {
        tracing::info!(
            decoded = h264.decoded,
            dropped = feed.dropped(),
            "motion detection on the H.264 stream stopped"
        );
    }
}

/// Why a picture was not analysed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AnalysisError {
    #[error("H.264 decoder: {0}")]
    Codec(#[from] codec::CodecError),
    #[error(transparent)]
    Motion(#[from] motion::Error),
}

/// Decoding state of an H.264 source's stream.
#[derive(Default)]
pub(crate) struct H264 {
    decoder: Option<codec::LumaDecoder>,
    /// Access units decoded so far.
    decoded: u64,
}

impl H264 {
    /// Decodes `au` (every one: P frames need their predecessors), picture number `index`
    /// captured at `time`; analyses its luma if the detector is due. After a decoding
    /// error the stream is taken up again at the next key frame, with a fresh decoder.
    pub(crate) fn step(
        &mut self,
        detector: &mut Detector,
        au: &media::h264::AccessUnit,
        (index, time): (u64, Millis),
        best: &mut Option<Best>,
    ) -> Result<Option<Analysis>, AnalysisError> {
        if self.decoder.is_none() {
            if !au.is_key {
                return Ok(None);
            }
            self.decoder = Some(codec::LumaDecoder::new()?);
        }
        let dec = self.decoder.as_mut().expect("set above");
        let at = FrameRef { index, time };
        let due = detector.due(time);
        let mut analysis = None;
        let mut analyse = |y: codec::Luma<'_>| {
            let picture = Picture::Luma {
                data: y.data,
                width: y.width,
                height: y.height,
                stride: y.stride,
            };
            let a = detector.analyse(&picture, at);
            if let Ok(a) = &a
                && a.thumbnail_candidate
            {
                *best = Some(Best::Image(y.small_rgb(THUMBNAIL_MAX_WIDTH as u32)));
            }
            analysis = Some(a);
        };
        let want: Option<&mut dyn FnMut(codec::Luma<'_>)> =
            if due { Some(&mut analyse) } else { None };
        let decoded = dec.decode(&au.to_annexb(), want);
        if let Err(e) = decoded {
            self.decoder = None;
            return Err(e.into());
        }
        self.decoded += 1;
        Ok(analysis.transpose()?)
    }
}

/// One analysed frame: the live JPEG, read at reduced scale (DC coefficients only).
pub fn analyse(
    detector: &mut Detector,
    jpeg: &[u8],
    at: FrameRef,
) -> Result<motion::Analysis, motion::Error> {
    detector.analyse(&Picture::Jpeg(jpeg), at)
}

fn started(start: Millis, zone: Option<String>, picture: Option<&Best>) -> AgentEvent {
    AgentEvent {
        id: event_id(start),
        kind: "motion".into(),
        start_ms: start.0,
        end_ms: None,
        score: None,
        thumbnail_jpeg: picture.and_then(thumbnail),
        zone,
    }
}

fn ended(event: &motion::Event, picture: Option<&Best>) -> AgentEvent {
    AgentEvent {
        id: event_id(event.start),
        kind: "motion".into(),
        start_ms: event.start.0,
        end_ms: Some(event.end.0),
        score: Some(event.score.clamp(0.0, 1.0)),
        thumbnail_jpeg: picture.and_then(thumbnail),
        zone: event.zone.clone(),
    }
}

fn save(out: Out<'_>, event: AgentEvent) {
    match out.spool.put(&event) {
        Ok(()) => out.wake.notify_one(),
        Err(e) => tracing::warn!(error = %e, id = %event.id, "motion event not kept"),
    }
}

/// A small JPEG of `best` (halved until at most [`THUMBNAIL_MAX_WIDTH`] wide), base64.
fn thumbnail(best: &Best) -> Option<String> {
    let small = match best {
        Best::Jpeg(jpeg) => testpattern::encode_jpeg(&small_image(jpeg)?, 75),
        Best::Image(image) => testpattern::encode_jpeg(image, 75),
    };
    (small.len() <= wire::events::MAX_THUMBNAIL)
        .then(|| base64::engine::general_purpose::STANDARD.encode(small))
}

/// `jpeg` decoded and halved until at most [`THUMBNAIL_MAX_WIDTH`] wide.
fn small_image(jpeg: &[u8]) -> Option<testpattern::Image> {
    let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(jpeg));
    let rgb = d.decode().ok()?;
    let (mut w, mut h) = d.dimensions()?;
    let mut pixels = rgb;
    if pixels.len() != w * h * 3 {
        return None;
    }
    while w > THUMBNAIL_MAX_WIDTH && h >= 2 {
        let (nw, nh) = (w / 2, h / 2);
        let mut out = vec![0u8; nw * nh * 3];
        for y in 0..nh {
            for x in 0..nw {
                for c in 0..3 {
                    let at = |xx: usize, yy: usize| u16::from(pixels[(yy * w + xx) * 3 + c]);
                    let sum = at(2 * x, 2 * y)
                        + at(2 * x + 1, 2 * y)
                        + at(2 * x, 2 * y + 1)
                        + at(2 * x + 1, 2 * y + 1);
                    out[(y * nw + x) * 3 + c] = (sum / 4) as u8;
                }
            }
        }
        (pixels, w, h) = (out, nw, nh);
    }
    Some(testpattern::Image {
        width: w as u32,
        height: h as u32,
        rgb: pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::FrameTap;

    /// After the inbox overflowed, decoding takes the stream up again at the key frame it
    /// kept: every unit after it decodes, and the due ones are analysed.
    #[test]
    fn decoding_resumes_at_the_key_frame_after_an_overflow() {
        let (w, h) = (320u32, 240u32);
        let pattern = testpattern::Pattern::new(w, h);
        let mut enc = codec::H264Encoder::new(codec::EncoderSettings {
            width: w,
            height: h,
            fps: 10,
            bitrate_bps: 300_000,
            gop: 5,
        })
        .unwrap();
        let feed = Feed::new(4, feed::MAX_BYTES);
        let now = Instant::now();
        for i in 0..12u32 {
            let img = pattern.render(testpattern::Stamp {
                frame: i,
                millis: u64::from(i) * 100,
            });
            let au = enc.encode(&img.to_i420()).unwrap().unwrap();
            feed.offer_h264(&au, u64::from(i), now);
        }
        assert_eq!(feed.dropped(), 10);
        let mut detector = Detector::new(Settings::default()).unwrap();
        let mut h264 = H264::default();
        let mut best = None;
        let mut analysed = Vec::new();
        while let Some(Input::H264(unit)) = feed.next(Duration::ZERO) {
            let time = Millis(unit.seq as i64 * 100);
            let a = h264
                .step(&mut detector, &unit.au, (unit.seq, time), &mut best)
                .unwrap();
            analysed.extend(a.map(|a| a.frame.index));
        }
        assert_eq!(h264.decoded, 2);
        // 10 is analysed; 11 comes 0.1 s later, before the next is due at 5 fps.
        assert_eq!(analysed, vec![10]);
    }

    /// A stream taken up between key frames waits for one: P frames before it are not
    /// decoded (they would fail or show garbage).
    #[test]
    fn a_stream_starts_at_a_key_frame() {
        let mut enc = codec::H264Encoder::new(codec::EncoderSettings {
            width: 160,
            height: 120,
            fps: 10,
            bitrate_bps: 200_000,
            gop: 3,
        })
        .unwrap();
        let pattern = testpattern::Pattern::new(160, 120);
        let mut units = Vec::new();
        for i in 0..4u32 {
            let img = pattern.render(testpattern::Stamp {
                frame: i,
                millis: 0,
            });
            units.push(enc.encode(&img.to_i420()).unwrap().unwrap());
        }
        let mut detector = Detector::new(Settings::default()).unwrap();
        let mut h264 = H264::default();
        let mut best = None;
        for (i, au) in units.iter().enumerate().skip(1) {
            let at = (i as u64, Millis(i as i64 * 100));
            let _ = h264.step(&mut detector, au, at, &mut best).unwrap();
        }
        // 1 and 2 are P frames before the key frame at 3.
        assert_eq!(h264.decoded, 1);
    }
}
