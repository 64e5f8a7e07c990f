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

/// Uploads segment `file` of camera 1 ("porch") as recorded from `start_ms`;
/// returns its public name.
pub async fn upload(h: &crate::common::TestHub, start_ms: i64, file: &[u8]) -> String {
    let name = store::segment_name(start_ms).unwrap();
    let r = put_segment(h, 1, &name, file, &sha256_hex(file)).await;
    assert_eq!(r.status(), 201);
    format!("porch_{name}")
}

/// Uploads two contiguous 3 s segments starting at T0; returns their public names.
pub async fn upload_two(h: &crate::common::TestHub) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut names = Vec::new();
    let mut files = Vec::new();
    // One continuous run cut at 3 s, as an agent cuts its files (each one's media
    // time starts at 0).
    let (track, frames) = encode(105, FPS as u32);
    let mut run = segment_files(&track, &frames[..45], 60);
    run.extend(segment_files(&track, &frames[45..], 60));
    assert_eq!(run.len(), 2);
    for (file, start) in run.into_iter().zip([T0, T0 + 3000]) {
        names.push(upload(h, start, &file).await);
        files.push(file);
    }
    (names, files)
}

/// The same cuts as [`segment_files`], written the way segments were before every
/// file's media time started at 0: each file's decode times continue the run's, so a
/// later file's first `tfdt` is where it starts in the run (e.g. 3 s for the second of
/// 3 s segments).
pub fn old_style_segment_files(
    track: &TrackConfig,
    frames: &[Frame],
    target_secs: i64,
) -> Vec<Vec<u8>> {
    use media::Duration90k;
    use media::fmp4::{FragmentPolicy, Fragmenter, Sample, init_segment};
    // Where the segmenter cuts: the frame counts of its segments.
    let counts: Vec<u64> = h264::segments_of(track, frames, target_secs)
        .iter()
        .map(|s| s.summary.frames)
        .collect();
    let frame_90k = 90_000 / FPS;
    let mut files = Vec::new();
    let mut i = 0;
    for n in counts {
        let mut file = init_segment(track).expect("init");
        let mut fr = Fragmenter::new(FragmentPolicy::default());
        for _ in 0..n {
            let f = &frames[i];
            let duration = frames
                .get(i + 1)
                .map_or(Duration90k(frame_90k), |next| next.dts - f.dts);
            let sample = Sample {
                data: f.data.clone(),
                dts: f.dts,
                pts: f.pts,
                duration,
                is_key: f.is_key,
            };
            if let Some(frag) = fr.push(sample).expect("sample") {
                frag.append_to(&mut file);
            }
            i += 1;
        }
        if let Some(frag) = fr.flush().expect("flush") {
            frag.append_to(&mut file);
        }
        files.push(file);
    }
    files
}

/// (`start_time`, container `duration`) as ffprobe reads `path`: where the file's
/// media time starts and ends, in seconds (what a player's seek bar shows).
pub fn ffprobe_times(path: &Path) -> (f64, f64) {
    let p = testkit::ffprobe::run(path, false, &[]).unwrap_or_else(|e| panic!("{e:#}"));
    (p.start_time, p.format_duration)
}

/// The longest key frame interval (GOP) in `path` as ffprobe reads it, in seconds.
pub fn ffprobe_longest_gop(path: &Path) -> f64 {
    testkit::ffprobe::longest_gop(path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `PUT`s a whole segment file as camera `id`'s agent, announcing `sha256`.
pub async fn put_segment(
    h: &crate::common::TestHub,
    id: u32,
    name: &str,
    file: &[u8],
    sha256: &str,
) -> reqwest::Response {
    h.client()
        .put(h.url(&format!("/api/v1/agents/{id}/segments/{name}")))
        .bearer_auth(agent_token(id))
        .header("X-Content-SHA256", sha256)
        .body(file.to_vec())
        .send()
        .await
        .unwrap()
}

/// `/api/recordings?camera=CAMERA`: the camera's segments, oldest first.
pub async fn segments(h: &crate::common::TestHub, camera: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = h
        .get_auth(&format!("/api/recordings?camera={camera}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["segments"].as_array().cloned().unwrap_or_default()
}
