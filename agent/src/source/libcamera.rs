//! The `libcamera` source: any camera libcamera knows, through libcamera's own `cam` tool.
//!
//! The agent does not link libcamera: libcamera's 0.x releases are not ABI
//! compatible with each other (Debian 12 ships 0.0.3, Raspberry Pi OS 0.5),
//! and the Rust bindings have dropped versions before 0.4. Instead it runs
//! `cam --camera C --capture --stream width=W,height=H,pixelformat=F
//! --file FIFO`, like the `rpicam` source runs `rpicam-vid`: the child is in
//! its own process group, restarted with backoff when it exits, and stopped
//! with SIGTERM then SIGKILL.
//!
//! Before capturing, `cam --info` with the same stream settings tells which
//! configuration libcamera adjusted the request to (it may change the size).
//! `cam` then opens the FIFO once per frame and writes the frame's bytes;
//! its stdout line for each frame carries `bytesused: N`, which is how the
//! byte stream is cut into frames. The agent holds the FIFO open for
//! reading and writing, so it never sees end-of-file between frames and
//! `cam` never blocks opening it.
//!
//! Frames are converted (BGR888/RGB888/YUYV to RGB, and to I420 when
//! recording) and JPEG-encoded on a thread of their own behind a two-frame
//! hand-over: when conversion falls behind, frames are skipped and counted.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::child::CameraTool;
use super::{RecordTap, Restarts, Source, SourceError, SourceFuture, yuyv};
use crate::backoff::Problem;
use crate::config::{LibcameraFormat, SourceConfig};
use crate::queue::{Frame, FrameQueue};
use crate::record::RecordItem;

/// Largest frame accepted (a `bytesused` above this is an error): 8K RGB.
pub const MAX_FRAME_BYTES: usize = 7680 * 4320 * 3;
/// How long `cam --info` may take.
const INFO_TIMEOUT: Duration = Duration::from_secs(20);
const READ_CHUNK: usize = 256 * 1024;

/// What libcamera configured the stream to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    pub width: u32,
    pub height: u32,
}

/// The `--stream` argument: the size and pixel format asked for.
fn stream_arg(cfg: &SourceConfig) -> String {
    format!(
        "width={},height={},pixelformat={}",
        cfg.width,
        cfg.height,
        cfg.libcamera.pixel_format.as_str()
    )
}

/// The arguments of `cam` for capturing into `fifo` (without the binary).
pub fn capture_args(cfg: &SourceConfig, fifo: &Path) -> Vec<String> {
    vec![
        "--camera".to_owned(),
        cfg.libcamera.camera.clone(),
        "--capture".to_owned(),
        "--stream".to_owned(),
        stream_arg(cfg),
        format!("--file={}", fifo.display()),
    ]
}

/// The arguments of `cam` that print the configuration it would use.
pub fn info_args(cfg: &SourceConfig) -> Vec<String> {
    vec![
        "--camera".to_owned(),
        cfg.libcamera.camera.clone(),
        "--stream".to_owned(),
        stream_arg(cfg),
        "--info".to_owned(),
    ]
}

/// The stream configuration in `cam --info` output: the first line like
/// `0: 636x480-BGR888`.
pub fn parse_info(text: &str, format: LibcameraFormat) -> Option<StreamConfig> {
    text.lines().find_map(|line| {
        let (index, rest) = line.trim().split_once(": ")?;
        index.parse::<u32>().ok()?;
        let (size, fourcc) = rest.split_once('-')?;
        if fourcc.trim() != format.as_str() {
            return None;
        }
        let (w, h) = size.split_once('x')?;
        Some(StreamConfig {
            width: w.parse().ok()?,
            height: h.parse().ok()?,
        })
    })
}

/// The frame length in one of `cam`'s per-frame lines
/// (`21.828094 (13.22 fps) cam0-stream0 seq: 000001 bytesused: 915840`).
pub fn parse_bytesused(line: &str) -> Option<usize> {
    let rest = line.split("bytesused: ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// One raw frame as RGB (rows without padding). `None` if it is too short
/// for the configuration.
pub fn to_rgb(frame: &[u8], format: LibcameraFormat, s: StreamConfig) -> Option<Vec<u8>> {
    let (w, h) = (s.width as usize, s.height as usize);
    let bpp = match format {
        LibcameraFormat::Yuyv => 2,
        _ => 3,
    };
    if h == 0 || frame.len() < w * bpp * h {
        return None;
    }
    // The stride is what the buffer holds per row (libcamera may pad rows).
    let stride = frame.len() / h;
    match format {
        LibcameraFormat::Yuyv => yuyv::yuyv_to_rgb(frame, w, h, stride),
        LibcameraFormat::Bgr888 | LibcameraFormat::Rgb888 => {
            let mut rgb = Vec::with_capacity(w * h * 3);
            for row in frame.chunks(stride).take(h) {
                let row = row.get(..w * 3)?;
                if format == LibcameraFormat::Bgr888 {
                    rgb.extend_from_slice(row);
                } else {
                    for px in row.chunks_exact(3) {
                        rgb.extend_from_slice(&[px[2], px[1], px[0]]);
                    }
                }
            }
            Some(rgb)
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CamError {
    #[error("cannot start {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("cam --info failed or timed out: {0}")]
    Info(String),
    #[error("cannot make the frame FIFO {path}: {source}")]
    Fifo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cam reported a frame of {0} bytes, more than the {MAX_FRAME_BYTES} accepted")]
    FrameTooLarge(usize),
    #[error("cam exited ({status}); last stderr: {stderr}")]
    Exited { status: String, stderr: String },
}

#[derive(Debug)]
pub struct LibcameraSource {
    cfg: SourceConfig,
    record: Option<RecordTap>,
}

impl LibcameraSource {
    pub fn new(cfg: &SourceConfig, record: Option<RecordTap>) -> LibcameraSource {
        LibcameraSource {
            cfg: cfg.clone(),
            record,
        }
    }

    async fn capture(
        self,
        out: Arc<FrameQueue>,
        cancel: CancellationToken,
    ) -> Result<(), SourceError> {
        let mut restarts = Restarts::new("libcamera", self.record.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel::<RawFrame>(2);
        let converter = Converter {
            format: self.cfg.libcamera.pixel_format,
            quality: self.cfg.jpeg_quality,
            record: self.record.clone(),
            out: out.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("libcamera-convert".into())
            .spawn(move || converter.run(rx))
            .map_err(SourceError::Thread)?;
        let fifo = std::env::temp_dir().join(format!("camera-agent-{}.fifo", std::process::id()));
        let mut seq = 0u64;
        info!(binary = %self.cfg.libcamera.binary.display(), camera = %self.cfg.libcamera.camera, "libcamera source started");
        while !cancel.is_cancelled() {
            let started = Instant::now();
            let before = seq;
            let outcome = self
                .run_once(&fifo, &tx, &cancel, &mut seq, &mut restarts.problem)
                .await;
            let _ = std::fs::remove_file(&fifo);
            let Err(err) = outcome else { break };
            if restarts.failed(&err, started, seq > before, &cancel).await {
                break;
            }
        }
        drop(tx);
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        info!(frames = seq, "libcamera source stopped");
        Ok(())
    }

    /// What libcamera makes of the requested stream.
    async fn stream_config(&self) -> Result<StreamConfig, CamError> {
        let cfg = &self.cfg;
        let run = Command::new(&cfg.libcamera.binary)
            .args(info_args(cfg))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(INFO_TIMEOUT, run).await {
            Err(_) => return Err(CamError::Info("timed out".into())),
            Ok(Err(source)) => {
                return Err(CamError::Spawn {
                    binary: cfg.libcamera.binary.clone(),
                    source,
                });
            }
            Ok(Ok(o)) => o,
        };
        let text = String::from_utf8_lossy(&output.stdout);
        parse_info(&text, cfg.libcamera.pixel_format).ok_or_else(|| {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            CamError::Info(format!(
                "no {} stream in its output ({}): {} {last}",
                cfg.libcamera.pixel_format.as_str(),
                output.status,
                text.trim()
            ))
        })
    }

    /// One `cam` process, until it exits (Err) or we are cancelled (Ok).
    async fn run_once(
        &self,
        fifo: &Path,
        tx: &SyncSender<RawFrame>,
        cancel: &CancellationToken,
        seq: &mut u64,
        problem: &mut Problem,
    ) -> Result<(), CamError> {
        let stream = self.stream_config().await?;
        if (stream.width, stream.height) != (self.cfg.width, self.cfg.height) {
            info!(
                requested = %format_args!("{}x{}", self.cfg.width, self.cfg.height),
                configured = %format_args!("{}x{}", stream.width, stream.height),
                "libcamera adjusted the stream size"
            );
        }
        let _ = std::fs::remove_file(fifo);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(|e| CamError::Fifo {
            path: fifo.to_owned(),
            source: e.into(),
        })?;
        // Read and write: no end-of-file between frames, and `cam`'s open
        // for writing never waits for a reader.
        let mut frames_in = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(fifo)
            .map_err(|source| CamError::Fifo {
                path: fifo.to_owned(),
                source,
            })?;
        let args = capture_args(&self.cfg, fifo);
        let mut tool =
            CameraTool::spawn(&self.cfg.libcamera.binary, &args, "cam").map_err(|source| {
                CamError::Spawn {
                    binary: self.cfg.libcamera.binary.clone(),
                    source,
                }
            })?;
        info!(args = ?args, width = stream.width, height = stream.height, "cam started");
        let stdout = tool.take_stdout().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut lengths: VecDeque<usize> = VecDeque::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut stdout_open = true;
        let mut skipped = 0u64;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    tool.terminate().await;
                    return Ok(());
                }
                line = lines.next_line(), if stdout_open => match line {
                    Ok(Some(line)) => {
                        if let Some(n) = parse_bytesused(&line) {
                            if n > MAX_FRAME_BYTES {
                                tool.terminate().await;
                                return Err(CamError::FrameTooLarge(n));
                            }
                            lengths.push_back(n);
                        } else {
                            debug!(target: "cam", "{line}");
                        }
                    }
                    _ => stdout_open = false,
                },
                n = frames_in.read(&mut buf) => match n {
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) => warn!(error = %e, "reading the frame FIFO failed"),
                },
                _ = tool.child.wait(), if !stdout_open => {
                    let (status, stderr) = tool.exited().await;
                    return Err(CamError::Exited {
                        status: status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                        stderr,
                    });
                }
            }
            // Cut complete frames off the byte stream.
            while let Some(&n) = lengths.front() {
                if pending.len() < n {
                    break;
                }
                lengths.pop_front();
                let rest = pending.split_off(n);
                let data = std::mem::replace(&mut pending, rest);
                if *seq == 0 || problem.is_failing() {
                    problem.clear();
                    info!(bytes = n, "libcamera: first frame");
                }
                let frame = RawFrame {
                    data,
                    stream,
                    seq: *seq,
                    captured_at: Instant::now(),
                };
                *seq += 1;
                match tx.try_send(frame) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        skipped += 1;
                        if skipped.is_power_of_two() {
                            warn!(skipped, "libcamera: conversion is behind; skipping frames");
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => return Ok(()),
                }
            }
            // A frame that never gets its length line is not kept forever.
            if lengths.is_empty() && pending.len() > MAX_FRAME_BYTES {
                pending.clear();
            }
        }
    }
}

impl Source for LibcameraSource {
    fn name(&self) -> &'static str {
        "libcamera"
    }

    fn run(self: Box<Self>, out: Arc<FrameQueue>, cancel: CancellationToken) -> SourceFuture {
        Box::pin(self.capture(out, cancel))
    }
}

struct RawFrame {
    data: Vec<u8>,
    stream: StreamConfig,
    seq: u64,
    captured_at: Instant,
}

/// Turns raw frames into live JPEGs (and recorder pictures) off the runtime.
struct Converter {
    format: LibcameraFormat,
    quality: u8,
    record: Option<RecordTap>,
    out: Arc<FrameQueue>,
}

impl Converter {
    fn run(self, rx: Receiver<RawFrame>) {
        let mut bad = 0u64;
        while let Ok(f) = rx.recv() {
            let Some(rgb) = to_rgb(&f.data, self.format, f.stream) else {
                bad += 1;
                if bad.is_power_of_two() {
                    warn!(
                        bad,
                        bytes = f.data.len(),
                        "libcamera: a frame too short for its configuration"
                    );
                }
                continue;
            };
            let image = testpattern::Image {
                width: f.stream.width,
                height: f.stream.height,
                rgb,
            };
            if let Some(tap) = &self.record
                && image.width.is_multiple_of(2)
                && image.height.is_multiple_of(2)
            {
                tap.queue.push(RecordItem::Raw {
                    i420: Bytes::from(image.to_i420()),
                    width: image.width,
                    height: image.height,
                    captured_at: f.captured_at,
                });
            }
            self.out.push(Frame {
                jpeg: Bytes::from(testpattern::encode_jpeg(&image, self.quality)),
                seq: f.seq,
                captured_at: f.captured_at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cam_output_is_parsed() {
        let info = "Using camera platform/vimc.0 Sensor B as cam0\n0: 636x480-BGR888\n * Pixelformat: BGR888 (48x48)-(4096x2160)/(+1,+1)\n  - 160x120\n";
        assert_eq!(
            parse_info(info, LibcameraFormat::Bgr888),
            Some(StreamConfig {
                width: 636,
                height: 480
            })
        );
        assert_eq!(parse_info(info, LibcameraFormat::Yuyv), None);
        assert_eq!(
            parse_info("Available cameras:\n", LibcameraFormat::Bgr888),
            None
        );
        assert_eq!(
            parse_bytesused("21.828094 (13.22 fps) cam0-stream0 seq: 000001 bytesused: 915840"),
            Some(915_840)
        );
        assert_eq!(parse_bytesused("cam0: Capture 6 frames"), None);
    }

    #[test]
    fn raw_frames_become_rgb() {
        let s = StreamConfig {
            width: 2,
            height: 2,
        };
        // Rows of two pixels, padded to a stride of 8 bytes.
        let frame = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        assert_eq!(
            to_rgb(&frame, LibcameraFormat::Bgr888, s).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        assert_eq!(
            to_rgb(&frame, LibcameraFormat::Rgb888, s).unwrap(),
            vec![3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]
        );
        assert_eq!(to_rgb(&frame[..10], LibcameraFormat::Bgr888, s), None);
    }
}
