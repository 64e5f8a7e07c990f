//! The `v4l2` source: a V4L2 capture device (USB webcam) read through mmap buffers on its own thread.
//!
//! Negotiation: the pixel format is the best the device offers that the
//! agent can use (`format = "auto"`: H.264 while recording, then MJPEG,
//! then YUYV), or exactly the one asked for; a missing format is an error
//! that names what the device does offer. The size is the offered one
//! nearest to `width`x`height`, the frame interval the offered one nearest
//! to `fps`; both are logged with what was asked for.
//!
//! MJPEG is passed through untouched after an SOI/EOI check; YUYV is
//! converted and encoded with jpeg-encoder. While recording, H.264 is
//! passed through to the recorder (live JPEGs are decoded from its key
//! frames), MJPEG is re-encoded by the recorder with openh264 on its own
//! thread, and YUYV feeds both the JPEG encoder and, as I420, openh264.
//!
//! Faults: sequence gaps (frames the driver dropped) are counted and logged
//! at most every few seconds. When the device fails or disappears while
//! streaming, the thread closes it, tells the recorder (which closes the
//! segment it is writing, so the file stays valid), logs once, and polls
//! for the device every second until it is back, then resumes in the same
//! process. Other failures are retried with backoff.

use std::ops::{Deref, DerefMut};
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
use media::h264::AccessUnit;

const MJPG: FourCC = FourCC { repr: *b"MJPG" };
const YUYV: FourCC = FourCC { repr: *b"YUYV" };
const H264: FourCC = FourCC { repr: *b"H264" };

/// Without a frame for this long (plus two frame periods) the device is
/// considered stalled and reopened. Also bounds how long a stop waits.
const STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// While the device is gone, look for it this often.
const DEVICE_POLL: Duration = Duration::from_secs(1);
/// Dropped-frame warnings are logged at most this often.
const DROP_LOG_EVERY: Duration = Duration::from_secs(5);

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
    #[error(
        "{device} does not offer the requested pixel format {wanted}; it offers: {offered} \
         (set source.v4l2.format to one of those the agent reads: auto, mjpeg, yuyv, h264)"
    )]
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

/// A frame size a device offers for one pixel format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeOffer {
    Discrete {
        width: u32,
        height: u32,
    },
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

/// The offered size nearest to `want` (least |dw| + |dh|; on a tie the
/// larger). `None` if nothing is offered (the driver then picks in S_FMT).
pub fn nearest_size(offers: &[SizeOffer], want: (u32, u32)) -> Option<(u32, u32)> {
    let fit = |v: u32, min: u32, max: u32, step: u32| {
        let v = v.clamp(min, max.max(min));
        let step = step.max(1);
        (min + (v - min) / step * step).min(max.max(min))
    };
    offers
        .iter()
        .map(|o| match *o {
            SizeOffer::Discrete { width, height } => (width, height),
            SizeOffer::Stepwise { min, max, step } => (
                fit(want.0, min.0, max.0, step.0),
                fit(want.1, min.1, max.1, step.1),
            ),
        })
        .min_by_key(|&(w, h)| {
            let d = want.0.abs_diff(w) as u64 + want.1.abs_diff(h) as u64;
            (d, u64::MAX - u64::from(w) * u64::from(h))
        })
}

/// The offered frame interval (seconds as `numerator/denominator`) whose
/// rate is nearest to `fps`; on a tie the faster.
pub fn nearest_interval(offers: &[(u32, u32)], fps: u32) -> Option<(u32, u32)> {
    offers
        .iter()
        .copied()
        .filter(|&(n, d)| n > 0 && d > 0)
        .min_by(|&a, &b| {
            let rate = |(n, d): (u32, u32)| f64::from(d) / f64::from(n);
            let (ra, rb) = (rate(a), rate(b));
            let (da, db) = ((ra - f64::from(fps)).abs(), (rb - f64::from(fps)).abs());
            da.total_cmp(&db).then(rb.total_cmp(&ra))
        })
}

fn size_offers(dev: &Device, fourcc: FourCC) -> Vec<SizeOffer> {
    use v4l::framesize::FrameSizeEnum;
    dev.enum_framesizes(fourcc)
        .unwrap_or_default()
        .into_iter()
        .map(|s| match s.size {
            FrameSizeEnum::Discrete(d) => SizeOffer::Discrete {
                width: d.width,
                height: d.height,
            },
            FrameSizeEnum::Stepwise(s) => SizeOffer::Stepwise {
                min: (s.min_width, s.min_height),
                max: (s.max_width, s.max_height),
                step: (s.step_width, s.step_height),
            },
        })
        .collect()
}

fn interval_offers(dev: &Device, fourcc: FourCC, width: u32, height: u32) -> Vec<(u32, u32)> {
    use v4l::frameinterval::FrameIntervalEnum;
    dev.enum_frameintervals(fourcc, width, height)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| match i.interval {
            FrameIntervalEnum::Discrete(f) => Some((f.numerator, f.denominator)),
            // A continuous range: S_PARM with the wanted rate is clamped by the driver.
            FrameIntervalEnum::Stepwise(_) => None,
        })
        .collect()
}

fn offered_list(offered: &[[u8; 4]]) -> String {
    if offered.is_empty() {
        return "nothing".to_owned();
    }
    offered
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim_end().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
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
        let mut losses = 0u64;
        info!(device = %self.device.display(), "v4l2 source started");
        while !cancel.is_cancelled() {
            let started = Instant::now();
            let before = seq;
            match self.session(&out, &cancel, &mut seq, &mut problem) {
                Ok(()) => break,
                Err(e) => {
                    if seq > before {
                        // It was streaming: the camera was lost mid-recording.
                        losses += 1;
                        warn!(
                            device = %self.device.display(),
                            error = %e,
                            frames = seq,
                            losses,
                            "v4l2 device lost; the current segment is closed, waiting for the device to return"
                        );
                        if let Some(tap) = &self.record {
                            tap.queue
                                .push(RecordItem::SourceLost { at: Instant::now() });
                        }
                    }
                    if started.elapsed() >= STABLE_AFTER || seq > before {
                        backoff.reset();
                    }
                    let delay = match e {
                        // The node is missing or unplugged: poll for it.
                        V4l2Error::Open { .. } => DEVICE_POLL,
                        _ => backoff.next_delay(),
                    };
                    problem.report(&e, delay);
                    if sleep_blocking_or_cancel(delay, &cancel) {
                        break;
                    }
                }
            }
        }
        info!(frames = seq, losses, "v4l2 source stopped");
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
                    offered: offered_list(&offered),
                }
            })?;
        let size = nearest_size(
            &size_offers(&dev, pixels.fourcc()),
            (self.width, self.height),
        )
        .unwrap_or((self.width, self.height));
        let fmt = dev
            .set_format(&Format::new(size.0, size.1, pixels.fourcc()))
            .map_err(ioctl("VIDIOC_S_FMT"))?;
        if fmt.fourcc != pixels.fourcc() {
            return Err(V4l2Error::FormatRefused {
                device,
                wanted: fourcc_str(pixels.fourcc()),
                got: fourcc_str(fmt.fourcc),
            });
        }
        let interval = nearest_interval(
            &interval_offers(&dev, fmt.fourcc, fmt.width, fmt.height),
            self.fps,
        );
        let params = dev
            .set_params(&match interval {
                Some((n, d)) => v4l::video::capture::Parameters::new(v4l::Fraction::new(n, d)),
                None => v4l::video::capture::Parameters::with_fps(self.fps),
            })
            .map_err(ioctl("VIDIOC_S_PARM"))?;
        let negotiated = (fmt.width, fmt.height) != (self.width, self.height)
            || params.interval.numerator.saturating_mul(self.fps) != params.interval.denominator;
        info!(
            driver = %caps.driver,
            card = %caps.card,
            format = %fourcc_str(fmt.fourcc),
            width = fmt.width,
            height = fmt.height,
            interval = %params.interval,
            requested = %format_args!("{:?} {}x{} at {} fps", self.pref, self.width, self.height, self.fps),
            offered = %offered_list(&offered),
            "v4l2 device opened{}",
            if negotiated { " (nearest the device offers to what was requested)" } else { "" }
        );
        let mut stream = StoppedOnDrop(Some(
            MmapStream::with_buffers(&dev, Type::VideoCapture, self.buffers)
                .map_err(ioctl("VIDIOC_REQBUFS"))?,
        ));
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
        let mut drops = DropCounter::default();
        while !cancel.is_cancelled() {
            let (buf, meta) = stream.next().map_err(|source| V4l2Error::Capture {
                device: device.clone(),
                source,
            })?;
            let captured_at = Instant::now();
            drops.saw(meta.sequence, captured_at);
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
                    let au = AccessUnit::from_annexb(data);
                    if au.has_picture() {
                        if first {
                            first = false;
                            problem.clear();
                            info!(bytes = data.len(), "v4l2: first H.264 frame");
                        }
                        out.offer_h264(&au, *seq, captured_at);
                        if au.is_key
                            && let Some(live) = &live
                        {
                            live.offer(au.to_annexb(), captured_at);
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

/// An mmap stream whose STREAMOFF failure cannot abort the process.
///
/// `v4l`'s own `Drop` panics when STREAMOFF fails with anything but ENODEV,
/// and the Pi profile aborts on panic. This stops the stream first: on
/// success or ENODEV the inner stream is dropped normally (a second
/// STREAMOFF is a no-op); on any other error its buffers are leaked, once,
/// with a warning, and the device is reopened as after any capture error.
struct StoppedOnDrop<'a>(Option<MmapStream<'a>>);

impl<'a> Deref for StoppedOnDrop<'a> {
    type Target = MmapStream<'a>;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("present until dropped")
    }
}

impl DerefMut for StoppedOnDrop<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("present until dropped")
    }
}

impl Drop for StoppedOnDrop<'_> {
    fn drop(&mut self) {
        use v4l::io::traits::Stream as _;
        let Some(mut stream) = self.0.take() else {
            return;
        };
        match stream.stop() {
            Err(e) if e.raw_os_error() != Some(ENODEV) => {
                warn!(error = %e, "v4l2: STREAMOFF failed; leaking this session's buffers");
                std::mem::forget(stream);
            }
            _ => drop(stream),
        }
    }
}

/// ENODEV (Linux): the device is gone, which `v4l`'s own drop tolerates.
const ENODEV: i32 = 19;

/// Counts frames the driver dropped (gaps in the buffer sequence numbers)
/// and logs them at most every [`DROP_LOG_EVERY`].
#[derive(Debug, Default)]
struct DropCounter {
    last_sequence: Option<u32>,
    total: u64,
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl DropCounter {
    fn saw(&mut self, sequence: u32, now: Instant) {
        if let Some(prev) = self.last_sequence {
            let gap = sequence.wrapping_sub(prev).wrapping_sub(1);
            // A huge "gap" is a sequence reset (e.g. after STREAMON), not drops.
            if gap > 0 && gap < 1 << 16 {
                self.total += u64::from(gap);
                self.unlogged += u64::from(gap);
            }
        }
        self.last_sequence = Some(sequence);
        let due = self
            .logged_at
            .is_none_or(|t| now.duration_since(t) >= DROP_LOG_EVERY);
        if self.unlogged > 0 && due {
            warn!(
                dropped = self.unlogged,
                dropped_total = self.total,
                sequence,
                "v4l2: the driver dropped frames (gaps in the buffer sequence)"
            );
            self.unlogged = 0;
            self.logged_at = Some(now);
        }
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
    fn nearest_size_and_rate() {
        // vivid's webcam sizes.
        let vivid: Vec<SizeOffer> = [(320, 180), (640, 360), (640, 480), (1280, 720)]
            .map(|(width, height)| SizeOffer::Discrete { width, height })
            .to_vec();
        assert_eq!(nearest_size(&vivid, (640, 480)), Some((640, 480)));
        assert_eq!(nearest_size(&vivid, (352, 200)), Some((320, 180)));
        assert_eq!(nearest_size(&vivid, (1920, 1080)), Some((1280, 720)));
        assert_eq!(nearest_size(&[], (640, 480)), None);
        let step = [SizeOffer::Stepwise {
            min: (16, 16),
            max: (1920, 1080),
            step: (8, 2),
        }];
        assert_eq!(nearest_size(&step, (643, 481)), Some((640, 480)));
        assert_eq!(nearest_size(&step, (4000, 8)), Some((1920, 16)));
        // Intervals are seconds per frame.
        let rates = [(1, 25), (1, 15), (1, 5), (2, 25)];
        assert_eq!(nearest_interval(&rates, 25), Some((1, 25)));
        assert_eq!(nearest_interval(&rates, 12), Some((2, 25)));
        assert_eq!(nearest_interval(&rates, 60), Some((1, 25)));
        assert_eq!(nearest_interval(&rates, 10), Some((2, 25)));
        assert_eq!(nearest_interval(&[(0, 1)], 10), None);
    }

    #[test]
    fn sequence_gaps_are_counted_as_drops() {
        let t = Instant::now();
        let mut d = DropCounter::default();
        for s in [7, 8, 10, 11, 15] {
            d.saw(s, t);
        }
        assert_eq!(d.total, 1 + 3);
        // A restart of the sequence is not a drop.
        d.saw(0, t);
        d.saw(1, t);
        assert_eq!(d.total, 4);
        d.saw(u32::MAX, t);
        d.saw(0, t);
        assert_eq!(d.total, 4, "wrap-around");
    }

    #[test]
    fn a_missing_format_names_what_the_device_offers() {
        let e = V4l2Error::FormatMissing {
            device: "/dev/video0".into(),
            wanted: "MJPEG",
            offered: offered_list(&[*b"YUYV", *b"NV12", *b"Y16 "]),
        };
        let text = e.to_string();
        assert!(
            text.contains(
                "does not offer the requested pixel format MJPEG; it offers: YUYV, NV12, Y16"
            ),
            "{text}"
        );
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
