//! Frame sources behind one trait: the test pattern, V4L2 devices, `rpicam-vid` and libcamera's `cam`.
//!
//! A source runs until its cancellation token fires, pushing complete JPEGs
//! into the shared [`FrameQueue`]. Camera failures (a device unplugged,
//! `rpicam-vid` exiting) are handled inside the source: it logs once per
//! change of state and retries with backoff. An error return means the
//! source cannot work at all with this configuration or build. Blocking
//! capture (V4L2) runs on its own thread, never on the async runtime.

mod child;
pub mod libcamera;
pub mod live;
pub mod mjpeg;
pub mod rpicam;
pub mod testsrc;
#[cfg(feature = "v4l2")]
pub mod v4l2;
pub mod yuyv;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{SourceConfig, SourceKind};
use crate::queue::FrameQueue;
use crate::record::RecordQueue;

/// Camera restarts back off from this...
pub const RESTART_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// ...to this.
pub const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A camera that ran this long before failing restarts from the initial
/// backoff again.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Why a source cannot run at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source kind `{0}` is not available in this build (built without the `v4l2` feature)")]
    NotBuilt(&'static str),
    #[error("the capture thread could not be started: {0}")]
    Thread(std::io::Error),
    #[error("the capture thread panicked")]
    Panicked,
    #[error("source.scene: {0}")]
    Scene(String),
}

/// The future a source runs as.
pub type SourceFuture = Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>;

/// Something that produces frames until cancelled.
pub trait Source: Send {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    /// Capture into `out` until `cancel` fires.
    fn run(self: Box<Self>, out: Arc<FrameQueue>, cancel: CancellationToken) -> SourceFuture;
}

/// Where a source also sends what the recorder needs (when recording is
/// on): raw pictures, or H.264 access units from the camera's encoder.
#[derive(Debug, Clone)]
pub struct RecordTap {
    pub queue: Arc<RecordQueue>,
    /// For a camera-side encoder (rpicam-vid): target bits per second.
    pub bitrate_bps: u32,
    /// For a camera-side encoder: key frame interval in frames.
    pub gop: u32,
}

/// The source the configuration asks for (live only).
pub fn from_config(cfg: &SourceConfig) -> Result<Box<dyn Source>, SourceError> {
    from_config_with(cfg, None)
}

/// The source the configuration asks for, also feeding the recorder if
/// `record` is given.
pub fn from_config_with(
    cfg: &SourceConfig,
    record: Option<RecordTap>,
) -> Result<Box<dyn Source>, SourceError> {
    match cfg.kind {
        SourceKind::Testsrc => Ok(Box::new(testsrc::TestSource::new(cfg, record)?)),
        SourceKind::Rpicam => Ok(Box::new(rpicam::RpicamSource::new(cfg, record))),
        SourceKind::Libcamera => Ok(Box::new(libcamera::LibcameraSource::new(cfg, record))),
        #[cfg(feature = "v4l2")]
        SourceKind::V4l2 => Ok(Box::new(v4l2::V4l2Source::new(cfg, record))),
        #[cfg(not(feature = "v4l2"))]
        SourceKind::V4l2 => Err(SourceError::NotBuilt("v4l2")),
    }
}

/// The restart policy of a camera child process (`rpicam-vid`, `cam`):
/// after a run that ended with an error, the recorder is told the source was
/// lost if frames had flowed (it closes the segment; the next process starts
/// a new one at its first key frame), the error is reported once per change,
/// and the restart backs off, from the start again after a run of
/// [`STABLE_AFTER`].
pub(crate) struct Restarts {
    backoff: crate::backoff::Backoff,
    pub problem: crate::backoff::Problem,
    record: Option<RecordTap>,
}

impl Restarts {
    pub fn new(what: &'static str, record: Option<RecordTap>) -> Restarts {
        Restarts {
            backoff: crate::backoff::Backoff::new(RESTART_BACKOFF_INITIAL, RESTART_BACKOFF_MAX),
            problem: crate::backoff::Problem::new(what),
            record,
        }
    }

    /// A run that started at `started` failed with `err` (`produced`: it
    /// delivered frames). Returns true if cancelled while waiting to restart.
    pub async fn failed(
        &mut self,
        err: &(dyn std::fmt::Display + Sync),
        started: std::time::Instant,
        produced: bool,
        cancel: &CancellationToken,
    ) -> bool {
        if produced && let Some(tap) = &self.record {
            tap.queue.push(crate::record::RecordItem::SourceLost {
                at: std::time::Instant::now(),
            });
        }
        if started.elapsed() >= STABLE_AFTER {
            self.backoff.reset();
        }
        let delay = self.backoff.next_delay();
        self.problem.report(err, delay);
        crate::backoff::sleep_or_cancel(delay, cancel).await
    }
}

/// Milliseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn wall_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
