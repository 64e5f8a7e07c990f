//! The built-in demo camera: a moving test pattern with a clock, rendered
//! and JPEG-encoded on a blocking thread at the configured rate.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use testpattern::{Pattern, Stamp, encode_jpeg};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::camera::{Camera, unix_ms};

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub jpeg_quality: u8,
}

/// Produce frames until `stop` is cancelled.
pub async fn run(cam: Arc<Camera>, s: Settings, stop: CancellationToken) {
    let span = tracing::info_span!("demo", camera = cam.id, name = %cam.name);
    async move {
        tracing::info!(width = s.width, height = s.height, fps = s.fps, "demo camera started");
        let pattern = Arc::new(Pattern::new(s.width, s.height));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(s.fps.max(1))));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut frame: u32 = 0;
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
            match tokio::task::spawn_blocking(move || encode_jpeg(&p.render(stamp), q)).await {
                Ok(jpeg) => cam.publish(Bytes::from(jpeg)),
                Err(e) => {
                    tracing::error!(error = %e, "demo frame rendering failed");
                    break;
                }
            }
            frame = frame.wrapping_add(1);
        }
        tracing::info!("demo camera stopped");
    }
    .instrument(span)
    .await
}
