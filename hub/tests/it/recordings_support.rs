//! Helpers for the recordings tests: segment files from `testkit::h264`, agent
//! tokens, uploads, and ffprobe's reading of a file.
#![allow(dead_code)]

use std::path::Path;

use media::{Frame, TrackConfig};
use sha2::{Digest, Sha256};
use testkit::h264::{self, Spec};

pub use testkit::h264::FPS;
pub const WIDTH: usize = 320;
pub const HEIGHT: usize = 240;

/// `n` frames of a moving 320x240 picture at 15 fps, a key frame every `gop`,
/// with dts from 0.
pub fn encode(n: usize, gop: u32) -> (TrackConfig, Vec<Frame>) {
    h264::encode(&Spec::new(n, gop))
}

/// The frames cut into segment files of `target_secs`.
pub fn segment_files(track: &TrackConfig, frames: &[Frame], target_secs: i64) -> Vec<Vec<u8>> {
    h264::segments_of(track, frames, target_secs)
        .iter()
        .map(h264::Segment::bytes)
        .collect()
}

/// One segment file of `secs` seconds (key frame every second).
pub fn one_segment(secs: usize) -> Vec<u8> {
    let (track, frames) = encode(secs * FPS as usize, FPS as u32);
    let mut files = segment_files(&track, &frames, 3600);
    assert_eq!(files.len(), 1);
    files.remove(0)
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The token camera `id`'s agent presents (test secret, hmac-sha256).
pub fn agent_token(id: u32) -> String {
    wire::make_token(
        wire::TokenScheme::HmacSha256,
        crate::common::SECRET.as_bytes(),
        id,
    )
}

pub fn have_ffprobe() -> bool {
    testkit::ffprobe::available()
}

/// (duration in seconds from the first frame, width, height, decoded frames) as
/// ffprobe reads `path`; panics if ffprobe reports an error.
pub fn ffprobe(path: &Path) -> (f64, u64, u64, u64) {
    let p = testkit::ffprobe::probe(path).unwrap_or_else(|e| panic!("{e:#}"));
    (
        p.format_duration
            - if p.start_time.is_finite() {
                p.start_time
            } else {
                0.0
            },
        p.width,
        p.height,
        p.frames,
    )
}

/// 2026-11-21T07:31:50.000Z
pub const T0: i64 = 1_795_246_310_000;

/// Uploads two contiguous 3 s segments starting at T0; returns their public names.
pub async fn upload_two(h: &crate::common::TestHub) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut names = Vec::new();
    let mut files = Vec::new();
    // One continuous run cut at 3 s: the second file's media time starts at 3 s,
    // as an agent's files do.
    let (track, frames) = encode(105, FPS as u32);
    let mut run = segment_files(&track, &frames[..45], 60);
    run.extend(segment_files(&track, &frames[45..], 60));
    assert_eq!(run.len(), 2);
    for (file, start) in run.into_iter().zip([T0, T0 + 3000]) {
        let name = store::segment_name(start).unwrap();
        let r = h
            .client()
            .put(h.url(&format!("/api/v1/agents/1/segments/{name}")))
            .bearer_auth(agent_token(1))
            .header("X-Content-SHA256", sha256_hex(&file))
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        names.push(format!("porch_{name}"));
        files.push(file);
    }
    (names, files)
}
