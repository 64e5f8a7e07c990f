//! Real H.264 for tests: openh264 encodes a moving synthetic picture, the
//! `media` crate splits it into access units and cuts fMP4 segments exactly
//! as the recorders do. Deterministic: the same arguments give the same bytes.

use media::h264::{AccessUnit, AccessUnitAssembler, AnnexBSplitter};
use media::{
    Duration90k, Fragment, Frame, SegmentEvent, SegmentSummary, Segmenter, SegmenterConfig,
    Time90k, TrackConfig,
};
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod};
use openh264::formats::YUVBuffer;

/// Frames per second of every stream made here.
pub const FPS: i64 = 15;
/// One frame in 90 kHz ticks.
pub const FRAME_90K: i64 = 90_000 / FPS;

/// What the luma plane shows; the chroma planes drift the same way in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picture {
    /// Diagonal stripes moving 4 px a frame: small frames.
    Stripes,
    /// A moving gradient with a bright 40x40 square sliding across it.
    Square,
    /// A moving gradient under per-pixel noise: big frames (for size limits).
    Noise,
}

/// An encoding job: `frames` pictures at [`FPS`], an IDR every `gop` frames.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub gop: u32,
    pub bitrate_bps: u32,
    pub picture: Picture,
}

impl Spec {
    /// 320x240 stripes at 300 kbit/s.
    pub fn new(frames: usize, gop: u32) -> Spec {
        Spec {
            width: 320,
            height: 240,
            frames,
            gop,
            bitrate_bps: 300_000,
            picture: Picture::Stripes,
        }
    }
}

/// The Annex B byte stream openh264 makes of `spec`.
pub fn encode_annexb(spec: &Spec) -> Vec<u8> {
    let (width, height) = (spec.width, spec.height);
    let config = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(FPS as f32))
        .bitrate(BitRate::from_bps(spec.bitrate_bps))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(spec.gop));
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).expect("encoder");
    let mut out = Vec::new();
    let (cw, ch) = (width / 2, height / 2);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..spec.frames {
        let mut yuv = vec![0u8; width * height + 2 * cw * ch];
        let (y, uv) = yuv.split_at_mut(width * height);
        match spec.picture {
            Picture::Stripes => {
                for (k, px) in y.iter_mut().enumerate() {
                    let (row, col) = (k / width, k % width);
                    *px = (((row + col * 2 + i * 4) % 200) + 16) as u8;
                }
            }
            Picture::Square => {
                for (k, px) in y.iter_mut().enumerate() {
                    let (row, col) = (k / width, k % width);
                    *px = ((row + col + i * 3) % 200) as u8 + 16;
                }
                let sq = 40.min(width).min(height);
                let x0 = (i * 7) % (width - sq + 1);
                let y0 = (i * 3) % (height - sq + 1);
                for row in y0..y0 + sq {
                    y[row * width + x0..row * width + x0 + sq].fill(235);
                }
            }
            Picture::Noise => {
                for (k, px) in y.iter_mut().enumerate() {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let (row, col) = (k / width, k % width);
                    *px = (((row + col + i * 3) % 160) as u64 + 16 + (rng & 0x0f)) as u8;
                }
            }
        }
        for (k, v) in uv.iter_mut().enumerate() {
            *v = (128 + ((k / cw + i) % 64) as i64 - 32) as u8;
        }
        if (i as u32).is_multiple_of(spec.gop) {
            enc.force_intra_frame();
        }
        let buf = YUVBuffer::from_vec(yuv, width, height);
        enc.encode(&buf).expect("encode").write_vec(&mut out);
    }
    out
}

/// I420 pictures encoded as a camera's encoder set to a fixed key frame period makes
/// them: an IDR every `gop` pictures and nowhere else (openh264's scene-change IDRs off),
/// SPS and PPS with each IDR, one Annex B access unit per picture.
pub fn encode_pictures(
    pictures: impl IntoIterator<Item = Vec<u8>>,
    (width, height): (usize, usize),
    fps: u32,
    gop: u32,
    bitrate_bps: u32,
) -> Vec<Vec<u8>> {
    let config = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .bitrate(BitRate::from_bps(bitrate_bps))
        .skip_frames(false)
        .scene_change_detect(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(gop));
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).expect("encoder");
    pictures
        .into_iter()
        .enumerate()
        .map(|(i, i420)| {
            if (i as u32).is_multiple_of(gop) {
                enc.force_intra_frame();
            }
            let buf = YUVBuffer::from_vec(i420, width, height);
            enc.encode(&buf).expect("encode").to_vec()
        })
        .collect()
}

/// Splits an Annex B stream, pushed in `chunk`-byte pieces, into access units;
/// the assembler is returned for its SPS and PPS.
pub fn access_units(stream: &[u8], chunk: usize) -> (Vec<AccessUnit>, AccessUnitAssembler) {
    let mut splitter = AnnexBSplitter::new();
    let mut asm = AccessUnitAssembler::new();
    let mut aus = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        splitter.push(piece);
        while let Some(nal) = splitter.pop().expect("split") {
            aus.extend(asm.push(nal).expect("assemble"));
        }
    }
    if let Some(nal) = splitter.finish() {
        aus.extend(asm.push(nal).expect("assemble"));
    }
    aus.extend(asm.finish());
    (aus, asm)
}

/// The stream's track and its frames, decode times from 0 one frame apart.
pub fn frames(stream: &[u8]) -> (TrackConfig, Vec<Frame>) {
    let (aus, asm) = access_units(stream, stream.len());
    let track = TrackConfig::h264(asm.sps().expect("sps"), asm.pps().expect("pps")).expect("track");
    let frames = aus
        .iter()
        .enumerate()
        .map(|(i, au)| Frame::from_access_unit(au, Time90k(i as i64 * FRAME_90K)).expect("avcc"))
        .collect();
    (track, frames)
}

/// [`encode_annexb`] then [`frames`].
pub fn encode(spec: &Spec) -> (TrackConfig, Vec<Frame>) {
    frames(&encode_annexb(spec))
}

/// One segment as the segmenter emitted it.
#[derive(Clone, Debug)]
pub struct Segment {
    pub init: Vec<u8>,
    pub fragments: Vec<Fragment>,
    pub summary: SegmentSummary,
}

impl Segment {
    /// The whole file.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.init.clone();
        for f in &self.fragments {
            f.append_to(&mut out);
        }
        out
    }

    /// File offsets where the init segment and each fragment end.
    pub fn boundaries(&self) -> Vec<usize> {
        let mut end = self.init.len();
        let mut out = vec![end];
        for f in &self.fragments {
            end += f.len();
            out.push(end);
        }
        out
    }
}

/// `frames` cut by a [`Segmenter`] with `cfg`.
pub fn segments(track: &TrackConfig, frames: &[Frame], cfg: SegmenterConfig) -> Vec<Segment> {
    let mut segmenter = Segmenter::new(track.clone(), cfg);
    let mut events = Vec::new();
    for f in frames {
        segmenter.push(f.clone(), &mut events).expect("push");
    }
    segmenter.finish(&mut events).expect("finish");
    let mut out = Vec::new();
    let mut open: Option<(Vec<u8>, Vec<Fragment>)> = None;
    for e in events {
        match e {
            SegmentEvent::Start { init, .. } => open = Some((init, Vec::new())),
            SegmentEvent::Fragment(f) => open.as_mut().expect("an open segment").1.push(f),
            SegmentEvent::End(summary) => {
                let (init, fragments) = open.take().expect("an open segment");
                out.push(Segment {
                    init,
                    fragments,
                    summary,
                });
            }
        }
    }
    out
}

/// `frames` cut into segments of `target_secs` (the segmenter's defaults otherwise).
pub fn segments_of(track: &TrackConfig, frames: &[Frame], target_secs: i64) -> Vec<Segment> {
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(target_secs),
        ..Default::default()
    };
    segments(track, frames, cfg)
}
