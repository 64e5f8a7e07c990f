//! Shared helpers: real H.264 from openh264 cut into fMP4 segments by `media::Segmenter`,
//! writing them through the store, ffprobe (skipped when absent), and segment listings.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use media::h264::{AccessUnitAssembler, AnnexBSplitter};
use media::{
    Duration90k, Fragment, Frame, SegmentEvent, SegmentSummary, Segmenter, SegmenterConfig,
    Time90k, TrackConfig,
};
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod};
use openh264::formats::YUVBuffer;
use store::{FinishedSegment, SegmentDir, SegmentInfo};

pub const FPS: i64 = 15;
pub const FRAME_90K: i64 = 90_000 / FPS;
pub const FFPROBE: &str = "/usr/bin/ffprobe";

/// One segment as the segmenter emitted it.
#[derive(Clone, Debug)]
pub struct Seg {
    pub init: Vec<u8>,
    pub fragments: Vec<Fragment>,
    pub summary: SegmentSummary,
}

impl Seg {
    /// The whole file.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.init.clone();
        for f in &self.fragments {
            out.extend_from_slice(&f.bytes);
        }
        out
    }

    /// File offsets where the init segment and each fragment end.
    pub fn boundaries(&self) -> Vec<usize> {
        let mut end = self.init.len();
        let mut out = vec![end];
        for f in &self.fragments {
            end += f.bytes.len();
            out.push(end);
        }
        out
    }
}

/// Encodes `frames` moving, noisy 320x240 I420 frames at 15 fps with an IDR every `gop`
/// frames and cuts them into segments of `target_secs`.
pub fn make_segments(frames: usize, gop: u32, target_secs: i64, bitrate_bps: u32) -> Vec<Seg> {
    let (width, height) = (320usize, 240usize);
    let config = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(FPS as f32))
        .bitrate(BitRate::from_bps(bitrate_bps))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(gop));
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).expect("encoder");
    let mut stream = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let (cw, ch) = (width / 2, height / 2);
    for i in 0..frames {
        let mut yuv = vec![0u8; width * height + 2 * cw * ch];
        let (y, uv) = yuv.split_at_mut(width * height);
        for (k, px) in y.iter_mut().enumerate() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let (row, col) = (k / width, k % width);
            *px = (((row + col + i * 3) % 160) as u64 + 16 + (rng & 0x0f)) as u8;
        }
        for (k, v) in uv.iter_mut().enumerate() {
            *v = (128 + ((k / cw + i) % 64) as i64 - 32) as u8;
        }
        if (i as u32).is_multiple_of(gop) {
            enc.force_intra_frame();
        }
        let buf = YUVBuffer::from_vec(yuv, width, height);
        enc.encode(&buf).expect("encode").write_vec(&mut stream);
    }

    let mut splitter = AnnexBSplitter::new();
    let mut asm = AccessUnitAssembler::new();
    let mut aus = Vec::new();
    splitter.push(&stream);
    while let Some(nal) = splitter.pop().expect("split") {
        aus.extend(asm.push(nal).expect("assemble"));
    }
    if let Some(nal) = splitter.finish() {
        aus.extend(asm.push(nal).expect("assemble"));
    }
    aus.extend(asm.finish());
    let track = TrackConfig::h264(asm.sps().expect("sps"), asm.pps().expect("pps")).expect("track");
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(target_secs),
        ..Default::default()
    };
    let mut segmenter = Segmenter::new(track, cfg);
    let mut events = Vec::new();
    for (i, au) in aus.iter().enumerate() {
        let frame = Frame::from_access_unit(au, Time90k(i as i64 * FRAME_90K)).expect("avcc");
        segmenter.push(frame, &mut events).expect("push");
    }
    segmenter.finish(&mut events).expect("finish");
    let mut segs: Vec<Seg> = Vec::new();
    let mut cur: Option<(Vec<u8>, Vec<Fragment>)> = None;
    for e in events {
        match e {
            SegmentEvent::Start { init, .. } => cur = Some((init, Vec::new())),
            SegmentEvent::Fragment(f) => cur.as_mut().expect("open").1.push(f),
            SegmentEvent::End(summary) => {
                let (init, fragments) = cur.take().expect("open");
                segs.push(Seg {
                    init,
                    fragments,
                    summary,
                });
            }
        }
    }
    segs
}

/// Writes `seg` as a segment starting at `start_ms` through the store.
pub fn write_segment(dir: &SegmentDir, start_ms: i64, seg: &Seg) -> FinishedSegment {
    let mut w = dir.begin(start_ms).expect("begin");
    w.append(&seg.init).expect("init");
    for f in &seg.fragments {
        w.write_fragment(f).expect("fragment");
    }
    w.finish(&seg.summary).expect("finish")
}

/// Frames ffprobe decodes in `path` (`-count_frames`); `None` (with a SKIP message) if
/// ffprobe is not installed.
pub fn ffprobe_frames(path: &Path) -> Option<u64> {
    if !Path::new(FFPROBE).exists() {
        println!("SKIP: {FFPROBE} not installed; not checking files with ffprobe");
        return None;
    }
    let out = Command::new(FFPROBE)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "default=noprint_wrappers=1:nokey=1",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("frame count"),
    )
}

/// A listed segment for the pure retention tests.
pub fn info(start_ms: i64, duration_ms: i64, size_bytes: u64, uploaded: bool) -> SegmentInfo {
    SegmentInfo {
        name: store::segment_name(start_ms).unwrap(),
        start_ms,
        duration_ms: Some(duration_ms),
        size_bytes,
        uploaded,
        partial: false,
    }
}

/// Names of the listed segments.
pub fn names(segments: &[SegmentInfo]) -> Vec<String> {
    segments.iter().map(|s| s.name.clone()).collect()
}
