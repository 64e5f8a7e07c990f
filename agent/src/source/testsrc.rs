//! The `testsrc` source: the moving test pattern, stamped with the frame number and wall-clock milliseconds.
//!
//! Frames are paced by a tokio interval at `fps` (late ticks are skipped, not
//! bunched) and rendered and encoded on the blocking pool. `Stamp.millis` is
//! wall-clock ms since the Unix epoch at capture, so a receiver can measure
//! latency; `Stamp.frame` is the sequence number (truncated to 32 bits).

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
    period: Duration,
    quality: u8,
    record: Option<RecordTap>,
}

impl TestSource {
    pub fn new(cfg: &SourceConfig, record: Option<RecordTap>) -> TestSource {
        TestSource {
            pattern: Arc::new(Pattern::new(cfg.width, cfg.height)),
            period: Duration::from_secs(1) / cfg.fps.max(1),
            quality: cfg.jpeg_quality,
            record,
        }
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
            let quality = self.quality;
            let record = self.record.clone();
            let jpeg = tokio::task::spawn_blocking(move || {
                let image = pattern.render(stamp);
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
