//! Shared helpers: segments from `testkit::h264` written through the store, ffprobe's
//! frame count (skipped when absent), and segment listings.
#![allow(dead_code)]

use std::path::Path;

use store::{FinishedSegment, SegmentDir, SegmentInfo};
use testkit::h264::{self, Picture, Spec};

pub use testkit::h264::FRAME_90K;

/// One segment as the segmenter emitted it.
pub type Seg = h264::Segment;

/// Encodes `frames` moving, noisy 320x240 I420 frames at 15 fps with an IDR every `gop`
/// frames and cuts them into segments of `target_secs`.
pub fn make_segments(frames: usize, gop: u32, target_secs: i64, bitrate_bps: u32) -> Vec<Seg> {
    let (track, frames) = h264::encode(&Spec {
        bitrate_bps,
        picture: Picture::Noise,
        ..Spec::new(frames, gop)
    });
    h264::segments_of(&track, &frames, target_secs)
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

/// Frames ffprobe decodes in `path` (`-count_frames`, no error output allowed);
/// `None` (with a SKIP message) if ffprobe is not installed.
pub fn ffprobe_frames(path: &Path) -> Option<u64> {
    if !testkit::ffprobe::available() {
        return None;
    }
    Some(
        testkit::ffprobe::probe(path)
            .unwrap_or_else(|e| panic!("{e:#}"))
            .frames,
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
