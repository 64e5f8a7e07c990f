//! Helpers for the recordings tests: real H.264 from openh264, cut into fMP4
//! segment files by `media::Segmenter`, agent tokens, uploads and ffprobe.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use media::h264::{AccessUnitAssembler, AnnexBSplitter};
use media::{Duration90k, Frame, SegmentEvent, Segmenter, SegmenterConfig, Time90k, TrackConfig};
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod};
use openh264::formats::YUVBuffer;
use sha2::{Digest, Sha256};

pub const FPS: i64 = 15;
pub const FRAME_90K: i64 = 90_000 / FPS;
pub const WIDTH: usize = 320;
pub const HEIGHT: usize = 240;
pub const FFPROBE: &str = "/usr/bin/ffprobe";

/// `n` frames of a moving 320x240 picture at 15 fps, a key frame every `gop`,
/// with dts from 0.
pub fn encode(n: usize, gop: u32) -> (TrackConfig, Vec<Frame>) {
    let config = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(FPS as f32))
        .bitrate(BitRate::from_bps(300_000))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(gop));
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).expect("encoder");
    let mut stream = Vec::new();
    let (cw, ch) = (WIDTH / 2, HEIGHT / 2);
    for i in 0..n {
        let mut yuv = vec![0u8; WIDTH * HEIGHT + 2 * cw * ch];
        let (y, uv) = yuv.split_at_mut(WIDTH * HEIGHT);
        for (k, px) in y.iter_mut().enumerate() {
            let (row, col) = (k / WIDTH, k % WIDTH);
            *px = (((row + col * 2 + i * 4) % 200) + 16) as u8;
        }
        for (k, v) in uv.iter_mut().enumerate() {
            *v = (128 + ((k / cw + i) % 64) as i64 - 32) as u8;
        }
        if (i as u32).is_multiple_of(gop) {
            enc.force_intra_frame();
        }
        let buf = YUVBuffer::from_vec(yuv, WIDTH, HEIGHT);
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
    let frames = aus
        .iter()
        .enumerate()
        .map(|(i, au)| Frame::from_access_unit(au, Time90k(i as i64 * FRAME_90K)).expect("avcc"))
        .collect();
    (track, frames)
}

/// The frames cut into segment files of `target_secs`.
pub fn segment_files(track: &TrackConfig, frames: &[Frame], target_secs: i64) -> Vec<Vec<u8>> {
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(target_secs),
        ..Default::default()
    };
    let mut s = Segmenter::new(track.clone(), cfg);
    let mut events = Vec::new();
    for f in frames {
        s.push(f.clone(), &mut events).expect("push");
    }
    s.finish(&mut events).expect("finish");
    let mut files: Vec<Vec<u8>> = Vec::new();
    for e in events {
        match e {
            SegmentEvent::Start { init, .. } => files.push(init),
            SegmentEvent::Fragment(f) => files.last_mut().unwrap().extend_from_slice(&f.bytes),
            SegmentEvent::End(_) => {}
        }
    }
    files
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
        super::common::SECRET.as_bytes(),
        id,
    )
}

pub fn have_ffprobe() -> bool {
    let ok = Path::new(FFPROBE).exists();
    if !ok {
        println!("SKIP: {FFPROBE} not installed; not checking files with ffprobe");
    }
    ok
}

/// (duration in seconds from the first frame, width, height, decoded frames) as
/// ffprobe reads `path`;
/// panics if ffprobe reports an error.
pub fn ffprobe(path: &Path) -> (f64, u64, u64, u64) {
    let out = Command::new(FFPROBE)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,nb_read_frames:format=duration,start_time",
            "-of",
            "json",
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
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let st = &v["streams"][0];
    let num = |x: &serde_json::Value| -> f64 {
        x.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| x.as_f64())
            .unwrap_or(f64::NAN)
    };
    let start = num(&v["format"]["start_time"]);
    (
        num(&v["format"]["duration"]) - if start.is_finite() { start } else { 0.0 },
        st["width"].as_u64().unwrap_or(0),
        st["height"].as_u64().unwrap_or(0),
        num(&st["nb_read_frames"]) as u64,
    )
}

/// 2026-11-21T07:31:50.000Z
pub const T0: i64 = 1_795_246_310_000;

/// Uploads two contiguous 3 s segments starting at T0; returns their public names.
pub async fn upload_two(h: &super::common::TestHub) -> (Vec<String>, Vec<Vec<u8>>) {
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
