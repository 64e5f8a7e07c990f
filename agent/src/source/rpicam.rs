//! The `rpicam` source: `rpicam-vid --codec mjpeg -o -` as a child process, its stdout split into JPEGs.
//!
//! While recording, the camera (which libcamera gives to one process only)
//! runs `rpicam-vid --codec h264 --inline` instead: the Pi's hardware
//! encoder makes the H.264 that is recorded as is, and live JPEGs are made
//! from its key frames (openh264's decoder on a thread of its own), so the
//! live rate is one frame per GOP. See the agent README for why. Every access
//! unit is also offered to motion detection ([`FrameQueue::offer_h264`]).
//!
//! The child runs in its own process group, so stopping kills everything it
//! started: SIGTERM to the group, SIGKILL after a grace period, and SIGKILL
//! from a guard if this task is dropped. When it exits on its own it is
//! restarted with backoff, and its last stderr lines are logged once.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use media::h264::{AccessUnitAssembler, AnnexBSplitter};

use super::child::CameraTool;
use super::live::KeyFrameLive;
use super::mjpeg::MjpegSplitter;
use super::{RecordTap, Restarts, Source, SourceError, SourceFuture};
use crate::backoff::Problem;
use crate::config::SourceConfig;
use crate::queue::{Frame, FrameQueue};
use crate::record::RecordItem;

/// Read size for stdout.
const READ_CHUNK: usize = 64 * 1024;

/// The arguments for `rpicam-vid` when recording: H.264 from the hardware
/// encoder, SPS/PPS with every key frame (`--inline`), baseline profile
/// (plays everywhere), a key frame every `gop` frames.
pub fn command_args_h264(cfg: &SourceConfig, tap: &RecordTap) -> Vec<String> {
    let codec = [
        "--codec".to_owned(),
        "h264".to_owned(),
        "--inline".to_owned(),
        "--profile".to_owned(),
        "baseline".to_owned(),
        "--intra".to_owned(),
        tap.gop.to_string(),
        "--bitrate".to_owned(),
        tap.bitrate_bps.to_string(),
    ];
    args_with(cfg, &codec, &[])
}

/// The arguments for `rpicam-vid` (without the binary).
pub fn command_args(cfg: &SourceConfig) -> Vec<String> {
    let codec = ["--codec".to_owned(), "mjpeg".to_owned()];
    let quality = ["-q".to_owned(), cfg.jpeg_quality.to_string()];
    args_with(cfg, &codec, &quality)
}

/// Run forever, no preview, the codec's arguments, the picture size and
/// rate, `after_size`, the user's extra arguments, and the stream on stdout.
fn args_with(cfg: &SourceConfig, codec: &[String], after_size: &[String]) -> Vec<String> {
    let mut args: Vec<String> = ["-t", "0", "-n"].map(str::to_owned).to_vec();
    args.extend_from_slice(codec);
    for (flag, value) in [
        ("--width", cfg.width),
        ("--height", cfg.height),
        ("--framerate", cfg.fps),
    ] {
        args.push(flag.to_owned());
        args.push(value.to_string());
    }
    args.extend_from_slice(after_size);
    args.push("--flush".to_owned());
    args.extend(cfg.rpicam.extra_args.iter().cloned());
    args.extend(["-o".to_owned(), "-".to_owned()]);
    args
}

#[derive(Debug)]
pub struct RpicamSource {
    binary: PathBuf,
    args: Vec<String>,
    max_frame: usize,
    quality: u8,
    record: Option<RecordTap>,
}

impl RpicamSource {
    pub fn new(cfg: &SourceConfig, record: Option<RecordTap>) -> RpicamSource {
        RpicamSource {
            binary: cfg.rpicam.binary.clone(),
            args: match &record {
                Some(tap) => command_args_h264(cfg, tap),
                None => command_args(cfg),
            },
            max_frame: usize::try_from(cfg.rpicam.max_frame_size.0).unwrap_or(usize::MAX),
            quality: cfg.jpeg_quality,
            record,
        }
    }

    async fn capture(
        self,
        out: Arc<FrameQueue>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        let mut restarts = Restarts::new("rpicam-vid", self.record.clone());
        let mut seq = 0u64;
        info!(binary = %self.binary.display(), args = ?self.args, "rpicam source started");
        while !cancel.is_cancelled() {
            let started = Instant::now();
            let before = seq;
            let err = match self
                .run_once(&out, &cancel, &mut seq, &mut restarts.problem)
                .await
            {
                Ok(Ended::Cancelled) => break,
                Ok(Ended::Exited { status, stderr }) => RpicamError::Exited { status, stderr },
                Err(e) => e,
            };
            if restarts.failed(&err, started, seq > before, &cancel).await {
                break;
            }
        }
        info!(frames = seq, "rpicam source stopped");
        Ok(())
    }

    /// Run one `rpicam-vid` process until it exits or we are cancelled.
    async fn run_once(
        &self,
        out: &Arc<FrameQueue>,
        cancel: &CancellationToken,
        seq: &mut u64,
        problem: &mut Problem,
    ) -> Result<Ended, RpicamError> {
        let mut tool = CameraTool::spawn(&self.binary, &self.args, "rpicam-vid").map_err(|e| {
            RpicamError::Spawn {
                binary: self.binary.clone(),
                source: e,
            }
        })?;
        debug!(pid = ?tool.child.id(), "rpicam-vid started");
        let mut stdout = tool.take_stdout().expect("stdout is piped");

        let mut output = match &self.record {
            None => Output::Mjpeg(MjpegSplitter::new(self.max_frame)),
            Some(tap) => Output::H264(H264Output {
                splitter: AnnexBSplitter::new(),
                assembler: AccessUnitAssembler::new(),
                live: KeyFrameLive::spawn(out.clone(), self.quality)
                    .map_err(|e| warn!(error = %e, "cannot start the live key frame decoder"))
                    .ok(),
                tap: tap.clone(),
                out: out.clone(),
                last_read: None,
            }),
        };
        let mut buf = vec![0u8; READ_CHUNK];
        let mut first = true;
        let read_error = loop {
            let n = tokio::select! {
                _ = cancel.cancelled() => {
                    tool.terminate().await;
                    return Ok(Ended::Cancelled);
                }
                r = stdout.read(&mut buf) => r,
            };
            match n {
                Ok(0) => break None,
                Ok(n) => output.push(&buf[..n], out, seq, &mut first, problem),
                Err(e) => break Some(e),
            }
        };
        output.finish(seq, &mut first, problem);
        // stdout closed: the process is exiting (or closed it on purpose); children it
        // left behind in its group go too.
        let (status, stderr) = tool.exited().await;
        let status = status.map_err(RpicamError::Wait)?;
        if let Some(e) = read_error {
            warn!(error = %e, "reading rpicam-vid's output failed");
        }
        Ok(Ended::Exited { status, stderr })
    }
}

impl Source for RpicamSource {
    fn name(&self) -> &'static str {
        "rpicam"
    }

    fn run(self: Box<Self>, out: Arc<FrameQueue>, cancel: CancellationToken) -> SourceFuture {
        Box::pin(self.capture(out, cancel))
    }
}

/// How `rpicam-vid`'s stdout is read.
enum Output {
    /// Live only: JPEGs.
    Mjpeg(MjpegSplitter),
    /// Recording: H.264 access units to the recorder, key frames to live.
    H264(H264Output),
}

/// `rpicam-vid`'s H.264: Annex B split into NAL units, grouped into access units.
struct H264Output {
    splitter: AnnexBSplitter,
    assembler: AccessUnitAssembler,
    live: Option<KeyFrameLive>,
    tap: RecordTap,
    out: Arc<FrameQueue>,
    /// When the previous read arrived.
    last_read: Option<Instant>,
}

impl H264Output {
    /// An access unit is complete only when the next one's first NAL unit starts, so the
    /// first one a read completes arrived with the read before it (`rpicam-vid --flush`
    /// writes a picture at a time): it gets that read's time, the capture time; any
    /// further ones (a backlog read at once) this read's.
    fn push(&mut self, data: &[u8], seq: &mut u64, first: &mut bool, problem: &mut Problem) {
        self.splitter.push(data);
        let now = Instant::now();
        let mut captured_at = self.last_read.replace(now).unwrap_or(now);
        loop {
            let nal = match self.splitter.pop() {
                Ok(Some(nal)) => nal,
                Ok(None) => break,
                Err(e) => {
                    debug!(error = %e, "H.264 splitter");
                    continue;
                }
            };
            match self.assembler.push(nal) {
                Ok(Some(au)) => {
                    self.access_unit(au, captured_at, seq, first, problem);
                    captured_at = now;
                }
                Ok(None) => {}
                Err(e) => debug!(error = %e, "H.264 access unit assembler"),
            }
        }
    }

    /// The stream ended: hand over the last access unit.
    fn finish(&mut self, seq: &mut u64, first: &mut bool, problem: &mut Problem) {
        let captured_at = self.last_read.unwrap_or_else(Instant::now);
        if let Some(nal) = self.splitter.finish()
            && let Ok(Some(au)) = self.assembler.push(nal)
        {
            self.access_unit(au, captured_at, seq, first, problem);
        }
        if let Some(au) = self.assembler.finish() {
            self.access_unit(au, captured_at, seq, first, problem);
        }
    }

    fn access_unit(
        &self,
        au: media::h264::AccessUnit,
        captured_at: Instant,
        seq: &mut u64,
        first: &mut bool,
        problem: &mut Problem,
    ) {
        on_access_unit(
            au,
            captured_at,
            (&self.tap, &self.out),
            self.live.as_ref(),
            seq,
            first,
            problem,
        );
    }
}

impl Output {
    fn push(
        &mut self,
        data: &[u8],
        out: &FrameQueue,
        seq: &mut u64,
        first: &mut bool,
        problem: &mut Problem,
    ) {
        match self {
            Output::Mjpeg(splitter) => splitter.push(data, |jpeg| {
                if *first {
                    *first = false;
                    problem.clear();
                    info!(bytes = jpeg.len(), "rpicam-vid: first frame");
                }
                out.push(Frame {
                    jpeg,
                    seq: *seq,
                    captured_at: Instant::now(),
                });
                *seq += 1;
            }),
            Output::H264(h) => h.push(data, seq, first, problem),
        }
    }

    /// The stream ended: hand over the last access unit.
    fn finish(&mut self, seq: &mut u64, first: &mut bool, problem: &mut Problem) {
        match self {
            Output::Mjpeg(splitter) => {
                let stats = splitter.stats();
                if stats.corrupt + stats.oversize > 0 || stats.garbage_bytes > 0 {
                    debug!(?stats, "MJPEG splitter counters for this run");
                }
            }
            Output::H264(h) => h.finish(seq, first, problem),
        }
    }
}

/// One H.264 picture from `rpicam-vid`: to motion detection and the recorder; a key
/// frame also to the live decoder.
fn on_access_unit(
    au: media::h264::AccessUnit,
    captured_at: Instant,
    (tap, out): (&RecordTap, &FrameQueue),
    live: Option<&KeyFrameLive>,
    seq: &mut u64,
    first: &mut bool,
    problem: &mut Problem,
) {
    if !au.has_picture() {
        return;
    }
    if *first {
        *first = false;
        problem.clear();
        info!(
            bytes = au.len_bytes(),
            key = au.is_key,
            "rpicam-vid: first H.264 frame"
        );
    }
    out.offer_h264(&au, *seq, captured_at);
    if au.is_key
        && let Some(live) = live
    {
        live.offer(au.to_annexb(), captured_at);
    }
    tap.queue.push(RecordItem::H264 { au, captured_at });
    *seq += 1;
}

enum Ended {
    Cancelled,
    Exited { status: ExitStatus, stderr: String },
}

#[derive(Debug, thiserror::Error)]
enum RpicamError {
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("rpicam-vid exited ({status}); last stderr: {stderr}")]
    Exited { status: ExitStatus, stderr: String },
    #[error("waiting for rpicam-vid failed: {0}")]
    Wait(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn command_line() {
        let cfg = Config::parse(
            r#"
            hub_url = "ws://h/video-input-stream"
            camera_id = 1
            token = "t"
            [source]
            kind = "rpicam"
            width = 640
            height = 480
            fps = 15
            jpeg_quality = 70
            [source.rpicam]
            extra_args = ["--hflip", "--vflip"]
            "#,
        )
        .unwrap();
        assert_eq!(
            command_args(&cfg.source).join(" "),
            "-t 0 -n --codec mjpeg --width 640 --height 480 --framerate 15 -q 70 --flush --hflip --vflip -o -"
        );
        let tap = RecordTap {
            queue: Arc::new(crate::record::RecordQueue::new(2, 1 << 20)),
            bitrate_bps: 800_000,
            gop: 15,
        };
        assert_eq!(
            command_args_h264(&cfg.source, &tap).join(" "),
            "-t 0 -n --codec h264 --inline --profile baseline --intra 15 --bitrate 800000 --width 640 --height 480 --framerate 15 --flush --hflip --vflip -o -"
        );
    }
}
