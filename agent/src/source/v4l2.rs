//! The `v4l2` source: a V4L2 capture device (USB webcam) read through mmap buffers on its own thread.
//!
//! Format negotiation prefers MJPEG (passed through untouched after an
//! SOI/EOI check) when `format = "auto"` or `"mjpeg"`, else YUYV (converted
//! and encoded with jpeg-encoder). If the device fails or disappears the
//! thread logs once, waits with backoff and opens it again; the agent keeps
//! running.
//!
//! While recording, `format = "auto"` prefers H.264 (passed through to the
//! recorder untouched; live JPEGs are decoded from its key frames), then
//! MJPEG (passed through to live; the recorder decodes and re-encodes it
//! with openh264 on its own thread), then YUYV (one picture feeds the JPEG
//! encoder and, as I420, openh264).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use v4l::buffer::Type;
use v4l::io::traits::CaptureStream;
use v4l::prelude::MmapStream;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use super::live::KeyFrameLive;
use super::{
    RESTART_BACKOFF_INITIAL, RESTART_BACKOFF_MAX, RecordTap, STABLE_AFTER, Source, SourceError,
    SourceFuture, mjpeg, yuyv,
};
use crate::backoff::{Backoff, Problem};
use crate::config::{SourceConfig, V4l2Format};
use crate::queue::{Frame, FrameQueue};
use crate::record::RecordItem;
use crate::record::codec::{access_unit_from_annexb, access_unit_to_annexb};

const MJPG: FourCC = FourCC { repr: *b"MJPG" };
const YUYV: FourCC = FourCC { repr: *b"YUYV" };
const H264: FourCC = FourCC { repr: *b"H264" };

/// Without a frame for this long (plus two frame periods) the device is
/// considered stalled and reopened. Also bounds how long a stop waits.
const STALL_TIMEOUT: Duration = Duration::from_secs(2);

/// What the device will deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pixels {
    Mjpeg,
    Yuyv,
    H264,
}

impl Pixels {
    fn fourcc(self) -> FourCC {
        match self {
            Pixels::Mjpeg => MJPG,
            Pixels::Yuyv => YUYV,
            Pixels::H264 => H264,
        }
    }
}

/// Why a capture session ended.
#[derive(Debug, thiserror::Error)]
pub enum V4l2Error {
    #[error("cannot open {device}: {source}")]
    Open {
        device: String,
        source: std::io::Error,
    },
    #[error("{device}: {what} failed: {source}")]
    Ioctl {
        device: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{device} does not offer the requested format {wanted} (it offers: {offered})")]
    FormatMissing {
        device: String,
        wanted: &'static str,
        offered: String,
    },
    #[error("{device} refused {wanted}; it set {got}")]
    FormatRefused {
        device: String,
        wanted: String,
        got: String,
    },
    #[error("{device}: capture failed: {source}")]
    Capture {
        device: String,
        source: std::io::Error,
    },
}

/// Pick the pixel format from what the device offers. While `recording`,
/// `auto` prefers the device's own H.264.
pub fn choose_format(
    pref: V4l2Format,
    offered: &[[u8; 4]],
    recording: bool,
) -> Result<Pixels, &'static str> {
    let has = |f: &[u8; 4]| offered.iter().any(|o| o == f);
    match pref {
        V4l2Format::Auto if recording && has(b"H264") => Ok(Pixels::H264),
        V4l2Format::H264 if has(b"H264") => Ok(Pixels::H264),
        V4l2Format::H264 => Err("H264"),
        V4l2Format::Auto if has(b"MJPG") => Ok(Pixels::Mjpeg),
        V4l2Format::Auto if has(b"YUYV") => Ok(Pixels::Yuyv),
        V4l2Format::Auto => Err("MJPEG or YUYV"),
        V4l2Format::Mjpeg if has(b"MJPG") => Ok(Pixels::Mjpeg),
        V4l2Format::Mjpeg => Err("MJPEG"),
        V4l2Format::Yuyv if has(b"YUYV") => Ok(Pixels::Yuyv),
        V4l2Format::Yuyv => Err("YUYV"),
    }
}

fn fourcc_str(f: FourCC) -> String {
    String::from_utf8_lossy(&f.repr).into_owned()
}

#[derive(Debug, Clone)]
pub struct V4l2Source {
    device: std::path::PathBuf,
    pref: V4l2Format,
    width: u32,
    height: u32,
    fps: u32,
    quality: u8,
    buffers: u32,
    record: Option<RecordTap>,
}

impl V4l2Source {
    pub fn new(cfg: &SourceConfig, record: Option<RecordTap>) -> V4l2Source {
        V4l2Source {
            device: cfg.v4l2.device.clone(),
            pref: cfg.v4l2.format,
            width: cfg.width,
            height: cfg.height,
            fps: cfg.fps,
            quality: cfg.jpeg_quality,
            buffers: cfg.v4l2.buffers,
            record,
        }
    }

    fn thread_main(self, out: Arc<FrameQueue>, cancel: CancellationToken) {
        let mut backoff = Backoff::new(RESTART_BACKOFF_INITIAL, RESTART_BACKOFF_MAX);
        let mut problem = Problem::new("v4l2 capture");
        let mut seq = 0u64;
        info!(device = %self.device.display(), "v4l2 source started");
        while !cancel.is_cancelled() {
            let started = Instant::now();
            match self.session(&out, &cancel, &mut seq, &mut problem) {
                Ok(()) => break,
                Err(e) => {
                    if started.elapsed() >= STABLE_AFTER {
                        backoff.reset();
                    }
                    let delay = backoff.next_delay();
                    problem.report(&e, delay);
                    if sleep_blocking_or_cancel(delay, &cancel) {
                        break;
                    }
                }
            }
        }
        info!(frames = seq, "v4l2 source stopped");
    }

    /// Open, negotiate and stream until cancelled (Ok) or failed (Err).
    fn session(
        &self,
        out: &Arc<FrameQueue>,
        cancel: &CancellationToken,
        seq: &mut u64,
        problem: &mut Problem,
    ) -> Result<(), V4l2Error> {
        let device = self.device.display().to_string();
        let ioctl = |what: &'static str| {
            let device = device.clone();
            move |source| V4l2Error::Ioctl {
                device,
                what,
                source,
            }
        };
        let dev = Device::with_path(&self.device).map_err(|source| V4l2Error::Open {
            device: device.clone(),
            source,
        })?;
        let caps = dev.query_caps().map_err(ioctl("VIDIOC_QUERYCAP"))?;
        let offered: Vec<[u8; 4]> = dev
            .enum_formats()
            .map_err(ioctl("VIDIOC_ENUM_FMT"))?
            .iter()
            .map(|d| d.fourcc.repr)
            .collect();
        let pixels =
            choose_format(self.pref, &offered, self.record.is_some()).map_err(|wanted| {
                V4l2Error::FormatMissing {
                    device: device.clone(),
                    wanted,
                    offered: offered
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
        let fmt = dev
            .set_format(&Format::new(self.width, self.height, pixels.fourcc()))
            .map_err(ioctl("VIDIOC_S_FMT"))?;
        if fmt.fourcc != pixels.fourcc() {
            return Err(V4l2Error::FormatRefused {
                device,
                wanted: fourcc_str(pixels.fourcc()),
                got: fourcc_str(fmt.fourcc),
            });
        }
        if (fmt.width, fmt.height) != (self.width, self.height) {
            warn!(
                requested = format_args!("{}x{}", self.width, self.height),
                got = format_args!("{}x{}", fmt.width, fmt.height),
                "device chose a different size"
            );
        }
        let params = dev
            .set_params(&v4l::video::capture::Parameters::with_fps(self.fps))
            .map_err(ioctl("VIDIOC_S_PARM"))?;
        info!(
            driver = %caps.driver,
            card = %caps.card,
            format = %fourcc_str(fmt.fourcc),
            width = fmt.width,
            height = fmt.height,
            interval = %params.interval,
            "v4l2 device opened"
        );
        let mut stream = MmapStream::with_buffers(&dev, Type::VideoCapture, self.buffers)
            .map_err(ioctl("VIDIOC_REQBUFS"))?;
        // v4l re-queues the previous buffer on every next(), so a timeout
        // cannot be retried in place: it ends the session and reopens.
        stream.set_timeout(STALL_TIMEOUT + Duration::from_secs(2) / self.fps.max(1));
        let (w, h) = (fmt.width as usize, fmt.height as usize);
        let stride = (fmt.stride as usize).max(w * 2);
        let mut first = true;
        let mut bad = 0u64;
        let live = match (pixels, &self.record) {
            (Pixels::H264, Some(_)) => KeyFrameLive::spawn(out.clone(), self.quality)
                .map_err(|e| warn!(error = %e, "cannot start the live key frame decoder"))
                .ok(),
            _ => None,
        };
        while !cancel.is_cancelled() {
            let (buf, meta) = stream.next().map_err(|source| V4l2Error::Capture {
                device: device.clone(),
                source,
            })?;
            let captured_at = Instant::now();
            let data = &buf[..(meta.bytesused as usize).min(buf.len())];
            let jpeg = match pixels {
                Pixels::Mjpeg => {
                    mjpeg::trim_jpeg(data)
                        .map(Bytes::copy_from_slice)
                        .inspect(|jpeg| {
                            if let Some(tap) = &self.record {
                                tap.queue.push(RecordItem::Jpeg {
                                    jpeg: jpeg.clone(),
                                    captured_at,
                                });
                            }
                        })
                }
                Pixels::Yuyv => yuyv::yuyv_to_rgb(data, w, h, stride).map(|rgb| {
                    if let Some(tap) = &self.record
                        && let Some(i420) = yuyv::yuyv_to_i420(data, w, h, stride)
                    {
                        tap.queue.push(RecordItem::Raw {
                            i420: Bytes::from(i420),
                            width: w as u32,
                            height: h as u32,
                            captured_at,
                        });
                    }
                    let image = testpattern::Image {
                        width: w as u32,
                        height: h as u32,
                        rgb,
                    };
                    Bytes::from(testpattern::encode_jpeg(&image, self.quality))
                }),
                Pixels::H264 => {
                    let au = access_unit_from_annexb(data);
                    if au.has_picture() {
                        if first {
                            first = false;
                            problem.clear();
                            info!(bytes = data.len(), "v4l2: first H.264 frame");
                        }
                        if au.is_key
                            && let Some(live) = &live
                        {
                            live.offer(access_unit_to_annexb(&au), captured_at);
                        }
                        if let Some(tap) = &self.record {
                            tap.queue.push(RecordItem::H264 { au, captured_at });
                        }
                        *seq += 1;
                    } else {
                        bad += 1;
                    }
                    continue;
                }
            };
            let Some(jpeg) = jpeg else {
                bad += 1;
                debug!(bytes = data.len(), bad, "skipped a corrupt or short frame");
                continue;
            };
            if first {
                first = false;
                problem.clear();
                info!(bytes = jpeg.len(), "v4l2: first frame");
            }
            out.push(Frame {
                jpeg,
                seq: *seq,
                captured_at,
            });
            *seq += 1;
        }
        Ok(())
    }
}

fn sleep_blocking_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if cancel.is_cancelled() {
            return true;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    cancel.is_cancelled()
}

impl Source for V4l2Source {
    fn name(&self) -> &'static str {
        "v4l2"
    }

    fn run(self: Box<Self>, out: Arc<FrameQueue>, cancel: CancellationToken) -> SourceFuture {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let spawned = std::thread::Builder::new()
            .name("v4l2-capture".into())
            .spawn(move || {
                let _enter = span.enter();
                self.thread_main(out, cancel);
                let _ = done_tx.send(());
            });
        Box::pin(async move {
            spawned.map_err(SourceError::Thread)?;
            done_rx.await.map_err(|_| SourceError::Panicked)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_choice() {
        let both = [*b"YUYV", *b"MJPG"];
        let yuyv_only = [*b"YUYV"];
        let neither = [*b"NV12"];
        let with_h264 = [*b"YUYV", *b"MJPG", *b"H264"];
        let c = |p, o: &[[u8; 4]]| choose_format(p, o, false);
        assert_eq!(c(V4l2Format::Auto, &both), Ok(Pixels::Mjpeg));
        assert_eq!(c(V4l2Format::Auto, &yuyv_only), Ok(Pixels::Yuyv));
        assert_eq!(c(V4l2Format::Auto, &neither), Err("MJPEG or YUYV"));
        assert_eq!(c(V4l2Format::Mjpeg, &yuyv_only), Err("MJPEG"));
        assert_eq!(c(V4l2Format::Yuyv, &both), Ok(Pixels::Yuyv));
        assert_eq!(c(V4l2Format::Yuyv, &neither), Err("YUYV"));
        assert_eq!(c(V4l2Format::Auto, &with_h264), Ok(Pixels::Mjpeg));
        assert_eq!(c(V4l2Format::H264, &both), Err("H264"));
        assert_eq!(c(V4l2Format::H264, &with_h264), Ok(Pixels::H264));
        // Recording: the device's own H.264 first.
        let r = |p, o: &[[u8; 4]]| choose_format(p, o, true);
        assert_eq!(r(V4l2Format::Auto, &with_h264), Ok(Pixels::H264));
        assert_eq!(r(V4l2Format::Auto, &both), Ok(Pixels::Mjpeg));
        assert_eq!(r(V4l2Format::Mjpeg, &with_h264), Ok(Pixels::Mjpeg));
    }

    #[test]
    fn a_missing_device_is_an_open_error() {
        let src = V4l2Source {
            device: "/dev/video-does-not-exist".into(),
            pref: V4l2Format::Auto,
            width: 640,
            height: 480,
            fps: 10,
            quality: 80,
            buffers: 4,
            record: None,
        };
        let q = Arc::new(FrameQueue::new(2));
        let err = src
            .session(
                &q,
                &CancellationToken::new(),
                &mut 0,
                &mut Problem::new("t"),
            )
            .unwrap_err();
        assert!(matches!(err, V4l2Error::Open { .. }), "{err}");
        assert!(err.to_string().contains("/dev/video-does-not-exist"));
    }
}
