//! Shared helpers for the integration tests: a real H.264 stream from `testkit::h264`
//! (a bright square sliding over a gradient), the Annex B -> fMP4 pipeline as a recorder
//! runs it, and ffprobe/ffmpeg (`testkit::ffprobe`) that skip when absent.
#![allow(dead_code)]

use std::path::Path;

use media::{Duration90k, SegmenterConfig, TrackConfig};
use testkit::ffprobe::Probe;
use testkit::h264::{self, Picture, Spec};

pub use testkit::h264::{FPS, FRAME_90K, access_units};

/// Encodes `frames` synthetic moving I420 frames (a gradient with a bright square sliding
/// across) at 15 fps with an IDR every `gop` frames; returns the Annex B byte stream.
pub fn encode_annexb(width: usize, height: usize, frames: usize, gop: u32) -> Vec<u8> {
    h264::encode_annexb(&Spec {
        width,
        height,
        picture: Picture::Square,
        ..Spec::new(frames, gop)
    })
}

/// One written segment file.
#[derive(Debug)]
pub struct Written {
    pub bytes: Vec<u8>,
    pub frames: u64,
    pub duration: Duration90k,
    pub media_bytes: u64,
    /// File offsets where each fragment ends (the first entry is the init segment's end).
    pub boundaries: Vec<usize>,
}

/// Annex B bytes in -> segment files out (in memory), the way a recorder would do it.
pub fn segment_stream(stream: &[u8], cfg: SegmenterConfig) -> (TrackConfig, Vec<Written>) {
    let (track, frames) = h264::frames(stream);
    let files = h264::segments(&track, &frames, cfg)
        .into_iter()
        .map(|s| {
            let bytes = s.bytes();
            assert_eq!(s.summary.file_bytes as usize, bytes.len());
            Written {
                boundaries: s.boundaries(),
                bytes,
                frames: s.summary.frames,
                duration: s.summary.duration,
                media_bytes: s.summary.media_bytes,
            }
        })
        .collect();
    (track, files)
}

pub fn have(tool: &str) -> bool {
    Path::new(tool).exists()
}

/// ffprobe's strict reading of `path` (no error output allowed); `None` if ffprobe is absent.
pub fn ffprobe(path: &Path) -> Option<Probe> {
    if !testkit::ffprobe::available() {
        return None;
    }
    Some(testkit::ffprobe::probe(path).unwrap_or_else(|e| panic!("{e:#}")))
}

/// Key-frame flags of every video frame, via `ffprobe -show_frames`.
pub fn ffprobe_key_flags(path: &Path) -> Vec<bool> {
    testkit::ffprobe::key_frames(path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Decodes the whole file with `ffmpeg -f null`; returns its stderr (empty = clean).
pub fn ffmpeg_decode_errors(path: &Path) -> String {
    testkit::ffprobe::decode_errors(path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The facts of the first video stream and the format.
pub struct Probed {
    pub codec: String,
    pub width: i64,
    pub height: i64,
    pub frames: i64,
    pub duration: f64,
    /// Where the media time starts (0 for every segment file).
    pub start_time: f64,
}

pub fn probed(p: &Probe) -> Probed {
    Probed {
        codec: p.codec.clone(),
        width: p.width as i64,
        height: p.height as i64,
        frames: p.frames as i64,
        duration: p.format_duration,
        start_time: p.start_time,
    }
}
