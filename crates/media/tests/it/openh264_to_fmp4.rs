//! A real H.264 stream (openh264) through splitter, assembler and fragmenter into one fMP4
//! file, checked by ffprobe/ffmpeg and by our own probe.

use crate::common::*;
use media::{Duration90k, SegmenterConfig, VideoCodec, probe};

const FRAMES: usize = 150;

#[test]
fn openh264_stream_to_one_file_ffprobe_valid() {
    let stream = encode_annexb(320, 240, FRAMES, 15);
    // Push in odd-sized pieces so start codes straddle pushes.
    let (aus, _) = access_units(&stream, 1000);
    assert_eq!(aus.len(), FRAMES);
    assert_eq!(aus.iter().filter(|a| a.is_key).count(), FRAMES / 15);
    let (aus7, _) = access_units(&stream, 7);
    assert_eq!(aus7, aus);

    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(3600),
        ..Default::default()
    };
    let (track, files) = segment_stream(&stream, cfg);
    assert_eq!(track.codec_string().len(), "avc1.PPCCLL".len());
    assert_eq!(files.len(), 1);
    let file = &files[0];
    assert_eq!(file.frames, FRAMES as u64);
    assert_eq!(file.duration, Duration90k(FRAMES as i64 * FRAME_90K));
    println!(
        "file {} bytes, media {} bytes, ratio {:.4}, init {} bytes, {} fragments, codec {}",
        file.bytes.len(),
        file.media_bytes,
        file.bytes.len() as f64 / file.media_bytes as f64,
        file.boundaries[0],
        file.boundaries.len() - 1,
        track.codec_string()
    );

    let p = probe(&file.bytes).expect("probe");
    assert!(p.is_complete());
    assert_eq!(p.codec, VideoCodec::H264);
    assert_eq!(p.codec_string, track.codec_string());
    assert_eq!((p.width, p.height), (320, 240));
    assert_eq!(p.recovery.fragments, 10);
    assert_eq!(p.recovery.samples, FRAMES as u64);
    assert_eq!(p.recovery.key_frames, 10);
    assert_eq!(p.recovery.duration, file.duration);
    assert_eq!(p.recovery.first_dts, Some(media::Time90k(0)));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.mp4");
    std::fs::write(&path, &file.bytes).unwrap();
    let Some(v) = ffprobe(&path) else { return };
    let pr = probed(&v);
    assert_eq!(pr.codec, "h264");
    assert_eq!((pr.width, pr.height), (320, 240));
    assert_eq!(pr.frames, FRAMES as i64);
    let expect = FRAMES as f64 / FPS as f64;
    assert!(
        (pr.duration - expect).abs() <= 1.0 / FPS as f64,
        "duration {} vs {expect}",
        pr.duration
    );
    let errs = ffmpeg_decode_errors(&path);
    assert!(errs.is_empty(), "ffmpeg decode errors: {errs}");
}
