//! Cutting a real H.264 stream into several segment files: no frame lost or repeated, every
//! segment starts with a key frame and is valid on its own.

use crate::common::*;
use media::{Duration90k, SegmenterConfig, probe};

#[test]
fn segments_cover_every_frame_once_and_start_with_key_frames() {
    const FRAMES: usize = 200;
    // GOP of 15 frames (1 s) and a 2.5 s target: cuts at 3 s, 6 s, 9 s, 12 s.
    let stream = encode_annexb(320, 240, FRAMES, 15);
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_millis(2500),
        ..Default::default()
    };
    let (_track, files) = segment_stream(&stream, cfg);
    let frames: Vec<u64> = files.iter().map(|f| f.frames).collect();
    assert_eq!(frames, vec![45, 45, 45, 45, 20]);
    assert_eq!(frames.iter().sum::<u64>(), FRAMES as u64);
    let total: Duration90k = files.iter().map(|f| f.duration).sum();
    assert_eq!(total, Duration90k(FRAMES as i64 * FRAME_90K));

    let dir = tempfile::tempdir().unwrap();
    for (i, f) in files.iter().enumerate() {
        let p = probe(&f.bytes).expect("probe");
        assert!(p.is_complete());
        assert_eq!(p.recovery.samples, f.frames);
        // Every file's media time starts at 0, the later ones too.
        assert_eq!(
            p.recovery.first_dts,
            Some(media::Time90k::ZERO),
            "segment {i}"
        );
        assert_eq!(p.recovery.duration, f.duration);

        let path = dir.path().join(format!("seg{i}.mp4"));
        std::fs::write(&path, &f.bytes).unwrap();
        let Some(v) = ffprobe(&path) else { return };
        let pr = probed(&v);
        assert_eq!(pr.codec, "h264");
        assert_eq!((pr.width, pr.height), (320, 240));
        assert_eq!(pr.frames, f.frames as i64, "segment {i}");
        assert_eq!(pr.start_time, 0.0, "segment {i}");
        // ffprobe prints microseconds.
        assert!(
            (pr.duration - f.duration.as_secs_f64()).abs() < 1e-6,
            "segment {i}: {} s",
            pr.duration
        );
        let keys = ffprobe_key_flags(&path);
        assert_eq!(keys.len() as u64, f.frames);
        assert!(keys[0], "segment {i} starts with a key frame");
        assert_eq!(
            keys.iter().filter(|&&k| k).count(),
            f.frames.div_ceil(15) as usize
        );
        let errs = ffmpeg_decode_errors(&path);
        assert!(errs.is_empty(), "segment {i}: {errs}");
    }
}
