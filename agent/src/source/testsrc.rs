//! The `testsrc` source: the moving test pattern, stamped with the frame number and wall-clock milliseconds.
//!
//! Frames are paced by a tokio interval at `fps` (late ticks are skipped, not
//! bunched) and rendered and encoded on the blocking pool. `Stamp.millis` is
//! wall-clock ms since the Unix epoch at capture, so a receiver can measure
//! latency; `Stamp.frame` is the sequence number (truncated to 32 bits).
//!
//! With `source.scene`, a scripted scene (`testpattern::scene`: a still room, objects on
//! timed paths, lighting changes, sensor noise) is shown instead, from its time 0 at the
//! source's start, at the source's size: what a motion detector should find is in the
//! script.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use testpattern::{Pattern, Stamp};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::{RecordTap, Source, SourceError, SourceFuture, wall_millis};
use crate::config::SourceConfig;
use crate::queue::{Frame, FrameQueue};
use crate::record::RecordItem;

/// When recording, each rendered picture feeds both the JPEG encoder (live)
/// and, as I420, the recorder (openh264 on the recorder's thread).
#[derive(Debug)]
pub struct TestSource {
    pattern: Arc<Pattern>,
    scene: Option<Arc<testpattern::scene::Renderer>>,
    period: Duration,
    quality: u8,
    record: Option<RecordTap>,
}

impl TestSource {
    pub fn new(cfg: &SourceConfig, record: Option<RecordTap>) -> Result<TestSource, SourceError> {
        let scene = match &cfg.scene {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| SourceError::Scene(format!("{}: {e}", path.display())))?;
                let mut scene: testpattern::scene::Scene = toml::from_str(&text)
                    .map_err(|e| SourceError::Scene(format!("{}: {e}", path.display())))?;
                (scene.width, scene.height) = (cfg.width, cfg.height);
                Some(Arc::new(scene.renderer()))
            }
        };
        Ok(TestSource {
            pattern: Arc::new(Pattern::new(cfg.width, cfg.height)),
            scene,
            period: Duration::from_secs(1) / cfg.fps.max(1),
            quality: cfg.jpeg_quality,
            record,
        })
    }

    async fn capture(
        self,
        out: Arc<FrameQueue>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        info!(
            width = self.pattern.width(),
            height = self.pattern.height(),
            period = ?self.period,
            "test pattern source started"
        );
        let mut ticks = tokio::time::interval(self.period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut seq: u64 = 0;
        let started = Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let captured_at = Instant::now();
            let stamp = Stamp {
                frame: seq as u32,
                millis: wall_millis(),
            };
            let pattern = self.pattern.clone();
            let scene = self.scene.clone();
            let quality = self.quality;
            let record = self.record.clone();
            let scene_ms = captured_at.duration_since(started).as_millis() as u64;
            let jpeg = tokio::task::spawn_blocking(move || {
                let image = match &scene {
                    Some(r) => r.render(seq, scene_ms),
                    None => pattern.render(stamp),
                };
                if let Some(tap) = record {
                    tap.queue.push(RecordItem::Raw {
                        i420: Bytes::from(image.to_i420()),
                        width: image.width,
                        height: image.height,
                        captured_at,
                    });
                }
                testpattern::encode_jpeg(&image, quality)
            })
            .await
            .map_err(|_| SourceError::Panicked)?;
            if out.push(Frame {
                jpeg: Bytes::from(jpeg),
                seq,
                captured_at,
            }) {
                debug!(seq, "queue full; dropped the oldest frame");
            }
            seq += 1;
        }
        info!(frames = seq, "test pattern source stopped");
        Ok(())
    }
}

impl Source for TestSource {
    fn name(&self) -> &'static str {
        "testsrc"
    }

    fn run(self: Box<Self>, out: Arc<FrameQueue>, cancel: CancellationToken) -> SourceFuture {
        Box::pin(self.capture(out, cancel))
    }
}
