//! Shared helpers for the integration tests: a real H.264 stream from openh264, the
//! Annex B -> fMP4 pipeline, and ffprobe/ffmpeg/chromium wrappers that skip when absent.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use media::h264::{AccessUnit, AccessUnitAssembler, AnnexBSplitter};
use media::{Duration90k, Frame, SegmentEvent, Segmenter, SegmenterConfig, Time90k, TrackConfig};
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod};
use openh264::formats::YUVBuffer;

pub const FPS: i64 = 15;
pub const FRAME_90K: i64 = 90_000 / FPS;

/// Encodes `frames` synthetic moving I420 frames (a gradient with a bright square sliding
/// across) at 15 fps with an IDR every `gop` frames; returns the Annex B byte stream.
pub fn encode_annexb(width: usize, height: usize, frames: usize, gop: u32) -> Vec<u8> {
    let config = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(FPS as f32))
        .bitrate(BitRate::from_bps(300_000))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(gop));
    let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config).expect("encoder");
    let mut out = Vec::new();
    let (cw, ch) = (width / 2, height / 2);
    for i in 0..frames {
        let mut yuv = vec![0u8; width * height + 2 * cw * ch];
        let (y, uv) = yuv.split_at_mut(width * height);
        for row in 0..height {
            for col in 0..width {
                y[row * width + col] = ((row + col + i * 3) % 200) as u8 + 16;
            }
        }
        let sq = 40.min(width).min(height);
        let x0 = (i * 7) % (width - sq + 1);
        let y0 = (i * 3) % (height - sq + 1);
        for row in y0..y0 + sq {
            for col in x0..x0 + sq {
                y[row * width + col] = 235;
            }
        }
        for (k, v) in uv.iter_mut().enumerate() {
            *v = (128 + ((k / cw + i) % 64) as i64 - 32) as u8;
        }
        if (i as u32).is_multiple_of(gop) {
            enc.force_intra_frame();
        }
        let buf = YUVBuffer::from_vec(yuv, width, height);
        let bs = enc.encode(&buf).expect("encode");
        bs.write_vec(&mut out);
    }
    out
}

/// Splits an Annex B stream (pushed in `chunk`-byte pieces) into access units.
pub fn access_units(stream: &[u8], chunk: usize) -> (Vec<AccessUnit>, AccessUnitAssembler) {
    let mut splitter = AnnexBSplitter::new();
    let mut asm = AccessUnitAssembler::new();
    let mut aus = Vec::new();
    for piece in stream.chunks(chunk) {
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
    let (aus, asm) = access_units(stream, 4096);
    let track = TrackConfig::h264(asm.sps().expect("sps"), asm.pps().expect("pps")).expect("track");
    let mut seg = Segmenter::new(track.clone(), cfg);
    let mut events = Vec::new();
    for (i, au) in aus.iter().enumerate() {
        let frame = Frame::from_access_unit(au, Time90k(i as i64 * FRAME_90K)).expect("avcc");
        seg.push(frame, &mut events).expect("push");
    }
    seg.finish(&mut events).expect("finish");
    let mut files: Vec<Written> = Vec::new();
    for e in events {
        match e {
            SegmentEvent::Start { init, .. } => files.push(Written {
                boundaries: vec![init.len()],
                bytes: init,
                frames: 0,
                duration: Duration90k::ZERO,
                media_bytes: 0,
            }),
            SegmentEvent::Fragment(f) => {
                let w = files.last_mut().expect("open file");
                w.bytes.extend_from_slice(&f.bytes);
                w.boundaries.push(w.bytes.len());
            }
            SegmentEvent::End(s) => {
                let w = files.last_mut().expect("open file");
                assert_eq!(s.file_bytes as usize, w.bytes.len());
                w.frames = s.frames;
                w.duration = s.duration;
                w.media_bytes = s.media_bytes;
            }
        }
    }
    (track, files)
}

pub fn have(tool: &str) -> bool {
    Path::new(tool).exists()
}

/// `ffprobe -count_frames -show_streams -show_format` as JSON; `None` if ffprobe is absent.
pub fn ffprobe(path: &Path) -> Option<serde_json::Value> {
    if !have("/usr/bin/ffprobe") {
        println!("SKIP: /usr/bin/ffprobe not installed");
        return None;
    }
    let out = Command::new("/usr/bin/ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "ffprobe errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("ffprobe json"))
}

/// Key-frame flags of every video frame, via `ffprobe -show_frames`.
pub fn ffprobe_key_flags(path: &Path) -> Vec<bool> {
    let out = Command::new("/usr/bin/ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=key_frame",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| f["key_frame"].as_i64() == Some(1))
        .collect()
}

/// Decodes the whole file with `ffmpeg -f null`; returns its stderr (empty = clean).
pub fn ffmpeg_decode_errors(path: &Path) -> String {
    let out = Command::new("/usr/bin/ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg exit {:?}", out.status);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The facts of the first stream and the format from ffprobe's JSON.
pub struct Probed {
    pub codec: String,
    pub width: i64,
    pub height: i64,
    pub frames: i64,
    pub duration: f64,
}

pub fn probed(v: &serde_json::Value) -> Probed {
    let s = &v["streams"][0];
    Probed {
        codec: s["codec_name"].as_str().unwrap_or("").to_owned(),
        width: s["width"].as_i64().unwrap_or(0),
        height: s["height"].as_i64().unwrap_or(0),
        frames: s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1),
        duration: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(-1.0),
    }
}
