//! Motion detection by the hub on an RTSP camera's stream (`[camera.motion]`), for cameras
//! that report none themselves: a second RTSP session on `motion_path` (Tapo's
//! low-resolution `stream2`), every frame decoded with openh264 (P frames need their
//! references) on a thread of its own, no colour conversion, `motion.analysis_fps` frames a second analysed by
//! the `motion` crate, the same detector and settings as the agent's. Its starts and
//! ends go into the camera's event channel as motion events, with the detection zone
//! where the motion was (the event store gives them the camera's picture of the moment).
//!
//! Overflow policy: the session's bounded channel (the `rtsp` crate's); when the decoder
//! falls behind, the source drops to the next key frame, and decoding starts again there.

use std::sync::Arc;

use events::{Event, Origin, What};
use media::VideoEvent;
use motion::{Detector, FrameRef, Millis, Picture, Settings, Update};
use rtsp::{RtspConfig, RtspStatus, SourceOptions};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::{Camera, now_ms};

/// Starts the detection session of `cam` on `cfg` (its path the motion stream).
pub fn spawn(
    cam: Arc<Camera>,
    cfg: RtspConfig,
    settings: Settings,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) {
    let detector = match Detector::new(settings) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(camera = %cam.name, error = %e, "motion detection not started");
            return;
        }
    };
    let opts = SourceOptions::default();
    let (tx, rx) = mpsc::channel(opts.channel_capacity.max(1));
    let (status_tx, _status_rx) = watch::channel(RtspStatus::default());
    tracker.spawn(rtsp::run(cfg, opts, tx, status_tx, stop.clone()));
    let name = format!("motion-{}", cam.name);
    if let Err(e) = std::thread::Builder::new()
        .name(name)
        .spawn(move || run(&cam, detector, rx))
    {
        tracing::error!(error = %e, "motion detection thread not started");
    }
}

fn run(cam: &Camera, mut detector: Detector, mut rx: mpsc::Receiver<VideoEvent>) {
    let mut decoder = None;
    let mut track = None;
    let mut index = 0u64;
    let mut warned = false;
    // Ends with the session (the hub stopping).
    while let Some(ev) = rx.blocking_recv() {
        let frame = match ev {
            VideoEvent::Track(t) => {
                track = Some(t);
                decoder = None;
                continue;
            }
            VideoEvent::Frame(f) => f,
            _ => {
                decoder = None;
                continue;
            }
        };
        let Some(t) = &track else { continue };
        if decoder.is_none() {
            if !frame.is_key {
                continue;
            }
            decoder = codec::LumaDecoder::new().ok();
        }
        let Some(dec) = decoder.as_mut() else {
            continue;
        };
        let time = Millis(now_ms());
        let due = detector.due(time);
        index += 1;
        let at = FrameRef { index, time };
        // Every frame is decoded (P frames need their references); only due ones are
        // analysed, straight from the luma plane.
        let mut analysis = None;
        let mut analyse = |y: codec::Luma<'_>| {
            let picture = Picture::Luma {
                data: y.data,
                width: y.width,
                height: y.height,
                stride: y.stride,
            };
            analysis = Some(detector.analyse(&picture, at));
        };
        let decoded = t
            .h264_annexb(&frame.data)
            .map_err(|e| e.to_string())
            .and_then(|annexb| {
                let want: Option<&mut dyn FnMut(codec::Luma<'_>)> =
                    if due { Some(&mut analyse) } else { None };
                dec.decode(&annexb, want).map_err(|e| e.to_string())
            });
        if let Err(e) = decoded {
            if !warned {
                tracing::warn!(camera = %cam.name, error = %e, "motion stream frame not decoded");
                warned = true;
            }
            decoder = None;
            continue;
        }
        let analysis = match analysis {
            Some(Ok(a)) => a,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "motion analysis failed");
                continue;
            }
            None => continue,
        };
        match analysis.update {
            Some(Update::Started { start, zone, .. }) => cam.events.publish(
                Event::new(start.0, Origin::Hub, What::Motion { active: true })
                    .in_zone(zone.as_deref()),
            ),
            Some(Update::Ended(e)) => publish_end(cam, &e),
            None => {}
        }
    }
    if let Some(e) = detector.finish() {
        publish_end(cam, &e);
    }
}

/// The motion event `e` ended.
fn publish_end(cam: &Camera, e: &motion::Event) {
    cam.events.publish(
        Event::new(e.end.0, Origin::Hub, What::Motion { active: false }).in_zone(e.zone.as_deref()),
    );
}
