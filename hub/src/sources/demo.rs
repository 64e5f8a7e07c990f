//! The built-in demo camera: a moving test pattern with a clock, rendered
//! and JPEG-encoded on a blocking thread at the configured rate, and also
//! H.264-encoded (openh264, same thread, before the JPEG) into the camera's
//! video feed, so the demo has MSE/HLS live video and recordings with no
//! hardware.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use events::{Event, Origin, What};
use testpattern::{Pattern, Stamp, encode_jpeg};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::camera::{Camera, now_ms, unix_ms};
use crate::config::DemoSettings;
use codec::{EncoderSettings, H264Encoder};

/// Produce frames until `stop` is cancelled.
pub async fn run(cam: Arc<Camera>, s: DemoSettings, stop: CancellationToken) {
    let span = tracing::info_span!("demo", camera = cam.id, name = %cam.name);
    async move {
        tracing::info!(
            width = s.width,
            height = s.height,
            fps = s.fps,
            "demo camera started"
        );
        cam.events
            .publish(Event::new(now_ms(), Origin::Hub, What::Online));
        let pattern = Arc::new(Pattern::new(s.width, s.height));
        let mut tick =
            tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(s.fps.max(1))));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut frame: u32 = 0;
        // A key frame every second, so live viewers start quickly.
        let mut encoder = match cam.video {
            Some(_) => match H264Encoder::new(EncoderSettings {
                width: s.width,
                height: s.height,
                fps: s.fps,
                // About a quarter of a bit per pixel and frame.
                bitrate_bps: (s.width * s.height * s.fps.max(1) / 4).clamp(100_000, 8_000_000),
                gop: s.fps.max(1),
            }) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(error = %e, "demo camera without H.264 video");
                    None
                }
            },
            None => None,
        };
        let start = Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let stamp = Stamp {
                frame,
                millis: unix_ms(SystemTime::now()).max(0) as u64,
            };
            let p = Arc::clone(&pattern);
            let q = s.jpeg_quality;
            let dts = media::Time90k(start.elapsed().as_micros() as i64 * 9 / 100);
            let mut enc = encoder.take();
            let feed = cam.video.clone();
            // The H.264 frame goes to the feed from the blocking thread as soon as it is
            // encoded: live video does not wait for the JPEG.
            let work = move || {
                let image = p.render(stamp);
                let video = match (enc.as_mut(), &feed) {
                    (Some(e), Some(feed)) => match e.encode_frame(&image.to_i420(), dts) {
                        Ok(Some(e)) => {
                            if let Some(t) = e.new_track {
                                feed.publish(media::VideoEvent::Track(t));
                            }
                            feed.publish(media::VideoEvent::Frame(e.frame));
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(e) => Err(e),
                    },
                    _ => Ok(()),
                };
                (encode_jpeg(&image, q), video, enc)
            };
            match tokio::task::spawn_blocking(work).await {
                Ok((jpeg, video, enc)) => {
                    cam.publish(Bytes::from(jpeg));
                    encoder = enc;
                    if let Err(e) = video {
                        tracing::warn!(error = %e, "H.264 encoding failed; demo video stopped");
                        encoder = None;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "demo frame rendering failed");
                    break;
                }
            }
            frame = frame.wrapping_add(1);
        }
        cam.events
            .publish(Event::new(now_ms(), Origin::Hub, What::offline("stopped")));
        tracing::info!("demo camera stopped");
    }
    .instrument(span)
    .await
}
