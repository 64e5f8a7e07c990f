//! Motion detection on the agent: every frame the source hands the uplink is offered to a
//! detector thread (the `motion` crate) that reads the live JPEG at reduced scale (its DC
//! coefficients only). Each event is written to the event spool ([`crate::event_upload`])
//! when it starts and again when it ends, with its score, its detection zone and a small
//! JPEG of the moment with the most motion; the sender takes it to the hub from there.
//!
//! Overflow policy: the hand-over to the detector holds one frame; a frame offered while
//! it is full is skipped (the detector analyses a few frames a second and wants the
//! newest, never a backlog). Capture never waits for detection.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use motion::{Detector, FrameRef, Millis, Picture, Settings, Update};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use wire::events::AgentEvent;

use crate::event_upload::Spool;
use crate::queue::Frame;

/// Thumbnails are made at most this wide (halved until they fit).
const THUMBNAIL_MAX_WIDTH: usize = 320;

/// Starts the detector thread; returns the hand-over to give the frame queue
/// ([`crate::queue::FrameQueue::set_tap`]).
pub fn spawn(
    settings: Settings,
    spool: Spool,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) -> std::io::Result<(SyncSender<Frame>, std::thread::JoinHandle<()>)> {
    let detector = Detector::new(settings).map_err(std::io::Error::other)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let handle = std::thread::Builder::new()
        .name("motion".into())
        .spawn(move || run(detector, rx, &spool, &wake, &cancel))?;
    Ok((tx, handle))
}

/// The wall-clock time a frame was captured, in unix ms.
fn capture_ms(frame: &Frame) -> i64 {
    let now = crate::source::wall_millis() as i64;
    now - frame.captured_at.elapsed().as_millis() as i64
}

/// The id an event keeps from its start to its delivery.
fn event_id(start: Millis) -> String {
    format!("motion-{}", start.0)
}

fn run(
    mut detector: Detector,
    rx: Receiver<Frame>,
    spool: &Spool,
    wake: &Notify,
    cancel: &CancellationToken,
) {
    let mut best: Option<Bytes> = None;
    let mut failed = crate::backoff::Problem::new("motion detection");
    loop {
        let frame = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) if !cancel.is_cancelled() => continue,
            Err(_) => break,
        };
        let time = Millis(capture_ms(&frame));
        if !detector.due(time) {
            continue;
        }
        let at = FrameRef {
            index: frame.seq,
            time,
        };
        let analysis = match analyse(&mut detector, &frame.jpeg, at) {
            Ok(a) => {
                failed.clear();
                a
            }
            Err(e) => {
                failed.report(&e, Duration::ZERO);
                continue;
            }
        };
        if analysis.thumbnail_candidate {
            best = Some(frame.jpeg.clone());
        }
        match analysis.update {
            Some(Update::Started { start, zone, .. }) => {
                tracing::info!(start_ms = start.0, zone, "motion started");
                save(spool, wake, started(start, zone, best.as_deref()));
            }
            Some(Update::Ended(event)) => {
                tracing::info!(
                    start_ms = event.start.0,
                    end_ms = event.end.0,
                    score = event.score,
                    zone = event.zone,
                    "motion ended"
                );
                save(spool, wake, ended(&event, best.take().as_deref()));
            }
            None => {}
        }
    }
    if let Some(event) = detector.finish() {
        save(spool, wake, ended(&event, best.as_deref()));
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

fn started(start: Millis, zone: Option<String>, picture: Option<&[u8]>) -> AgentEvent {
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

fn ended(event: &motion::Event, picture: Option<&[u8]>) -> AgentEvent {
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

fn save(spool: &Spool, wake: &Notify, event: AgentEvent) {
    match spool.put(&event) {
        Ok(()) => wake.notify_one(),
        Err(e) => tracing::warn!(error = %e, id = %event.id, "motion event not kept"),
    }
}

/// A small JPEG of `jpeg` (halved until at most [`THUMBNAIL_MAX_WIDTH`] wide), base64.
fn thumbnail(jpeg: &[u8]) -> Option<String> {
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
    let image = testpattern::Image {
        width: w as u32,
        height: h as u32,
        rgb: pixels,
    };
    let small = testpattern::encode_jpeg(&image, 75);
    (small.len() <= wire::events::MAX_THUMBNAIL)
        .then(|| base64::engine::general_purpose::STANDARD.encode(small))
}
