//! The hub's inputs: AVCC frames with a ready sample entry (as retina hands them over), and
//! H.265 carried opaquely (an `hvcC` record passed in as bytes). Plus malformed bitstream
//! input through the H.264 helpers, which must never panic.

use std::process::Command;

use crate::common::*;
use bytes::Bytes;
use media::h264::{self, AccessUnitAssembler, AnnexBSplitter};
use media::{
    Duration90k, Frame, SegmentEvent, Segmenter, SegmenterConfig, Time90k, TrackConfig, VideoCodec,
    probe, recover,
};

/// Runs frames through a segmenter with no cut; returns the single file.
fn one_file(track: TrackConfig, frames: Vec<Frame>) -> Vec<u8> {
    let cfg = SegmenterConfig {
        target_duration: Duration90k::from_secs(3600),
        ..Default::default()
    };
    let mut seg = Segmenter::new(track, cfg);
    let mut events = Vec::new();
    for f in frames {
        seg.push(f, &mut events).unwrap();
    }
    seg.finish(&mut events).unwrap();
    let mut out = Vec::new();
    for e in events {
        match e {
            SegmentEvent::Start { init, .. } => out.extend(init),
            SegmentEvent::Fragment(f) => f.append_to(&mut out),
            SegmentEvent::End(_) => {}
        }
    }
    out
}

#[test]
fn avcc_frames_with_provided_sample_entry() {
    // Stand-in for retina: a sample entry box and AVCC frames built elsewhere.
    let stream = encode_annexb(320, 240, 45, 15);
    let (aus, asm) = access_units(&stream, 4096);
    let entry = TrackConfig::h264(asm.sps().unwrap(), asm.pps().unwrap())
        .unwrap()
        .sample_entry()
        .to_vec();
    let track = TrackConfig::from_sample_entry(&entry).unwrap();
    assert_eq!((track.width(), track.height()), (320, 240));
    let frames = aus
        .iter()
        .enumerate()
        .map(|(i, au)| {
            let avcc = au.to_avcc().unwrap();
            // AVCC input can be inspected without Annex B.
            let nals = h264::avcc_nal_units(&avcc, 4).unwrap();
            let is_key = nals
                .iter()
                .any(|n| h264::NalType::of(n).is_some_and(h264::NalType::is_idr));
            assert_eq!(is_key, au.is_key);
            let t = Time90k(i as i64 * FRAME_90K);
            Frame {
                data: avcc.into(),
                dts: t,
                pts: t,
                is_key,
            }
        })
        .collect();
    let file = one_file(track, frames);
    assert_eq!(probe(&file).unwrap().recovery.samples, 45);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("avcc.mp4");
    std::fs::write(&path, &file).unwrap();
    let Some(v) = ffprobe(&path) else { return };
    let pr = probed(&v);
    assert_eq!((pr.codec.as_str(), pr.frames), ("h264", 45));
}

/// H.265 NAL unit type.
fn hevc_type(nal: &[u8]) -> u8 {
    media::h265::nal_type(nal).unwrap_or(0)
}

#[test]
fn h265_recorded_opaquely() {
    const FRAMES: usize = 45;
    let have_x265 = Command::new("/usr/bin/ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("libx265"))
        .unwrap_or(false);
    if !have_x265 {
        println!("SKIP: ffmpeg with libx265 not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("in.hevc");
    let status = Command::new("/usr/bin/ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=15",
        ])
        .args([
            "-frames:v",
            &FRAMES.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx265",
        ])
        .args([
            "-x265-params",
            "keyint=15:min-keyint=15:bframes=0:log-level=error",
        ])
        .args(["-f", "hevc"])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(status.success());
    let stream = std::fs::read(&raw).unwrap();

    // Annex B splitting is codec-agnostic; group by H.265 rules here (the crate reads H.265
    // parameter sets, it does not assemble access units).
    let mut splitter = AnnexBSplitter::new();
    splitter.push(&stream);
    let mut nals = Vec::new();
    while let Some(n) = splitter.pop().unwrap() {
        nals.push(n);
    }
    nals.extend(splitter.finish());
    let (mut vps, mut sps, mut pps) = (None, None, None);
    let mut aus: Vec<(Vec<Bytes>, bool)> = Vec::new();
    let mut cur_has_vcl = false;
    for n in nals {
        let t = hevc_type(&n);
        let vcl = t < 32;
        let first_slice = vcl && n[2] & 0x80 != 0;
        // A new access unit starts at the first slice of a picture, or at VPS/SPS/PPS/AUD or
        // a prefix SEI after the current one's slices.
        if aus.is_empty() || (cur_has_vcl && (first_slice || matches!(t, 32..=35 | 39 | 41..=44))) {
            aus.push((Vec::new(), false));
            cur_has_vcl = false;
        }
        match t {
            32 => vps = Some(n.clone()),
            33 => sps = Some(n.clone()),
            34 => pps = Some(n.clone()),
            _ => {}
        }
        let au = aus.last_mut().unwrap();
        au.1 |= (16..=23).contains(&t);
        cur_has_vcl |= vcl;
        au.0.push(n);
    }
    assert_eq!(aus.len(), FRAMES);
    let track = media::h265::track(&vps.unwrap(), &sps.unwrap(), &pps.unwrap()).unwrap();
    assert_eq!(track.codec(), VideoCodec::H265);
    assert_eq!((track.width(), track.height()), (320, 240), "from the SPS");
    assert!(
        track.codec_string().starts_with("hvc1.1.6.L"),
        "{}",
        track.codec_string()
    );

    let frames = aus
        .iter()
        .enumerate()
        .map(|(i, (nals, is_key))| {
            let mut data = Vec::new();
            for n in nals.iter().filter(|n| !matches!(hevc_type(n), 32..=35)) {
                h264::push_length_prefixed(&mut data, n).unwrap();
            }
            let t = Time90k(i as i64 * FRAME_90K);
            Frame {
                data: data.into(),
                dts: t,
                pts: t,
                is_key: *is_key,
            }
        })
        .collect();
    let file = one_file(track.clone(), frames);
    let p = probe(&file).unwrap();
    assert_eq!(p.codec, VideoCodec::H265);
    assert_eq!(p.codec_string, track.codec_string());
    assert_eq!(
        (p.recovery.samples, p.recovery.key_frames),
        (FRAMES as u64, 3)
    );

    let path = dir.path().join("h265.mp4");
    std::fs::write(&path, &file).unwrap();
    let Some(v) = ffprobe(&path) else { return };
    let pr = probed(&v);
    assert_eq!(pr.codec, "hevc");
    assert_eq!((pr.width, pr.height), (320, 240));
    assert_eq!(pr.frames, FRAMES as i64);
    let errs = ffmpeg_decode_errors(&path);
    assert!(errs.is_empty(), "{errs}");
}

#[test]
fn malformed_bitstreams_never_panic() {
    let stream = encode_annexb(160, 120, 20, 10);
    let (aus, asm) = access_units(&stream, 4096);
    assert_eq!(aus.len(), 20);
    let sps = asm.sps().unwrap().to_vec();
    let pps = asm.pps().unwrap().to_vec();
    let entry = TrackConfig::h264(&sps, &pps)
        .unwrap()
        .sample_entry()
        .to_vec();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Every single-byte change of the SPS, PPS and sample entry.
    for (i, v) in (0..sps.len()).flat_map(|i| [0u8, 0xff, 0x80, 0x01].map(|v| (i, v))) {
        let mut s = sps.clone();
        s[i] ^= v;
        let _ = h264::parse_sps(&s);
        let _ = TrackConfig::h264(&s, &pps);
        let _ = TrackConfig::h264(&s[..i], &pps);
    }
    for i in 0..entry.len() {
        for v in [0u8, 0xff, 0x01, 0x80] {
            let mut e = entry.clone();
            e[i] ^= v;
            let _ = TrackConfig::from_sample_entry(&e);
            let _ = TrackConfig::from_avcc(&e[8 + 78 + 8..]);
        }
    }
    // Damaged Annex B streams through splitter and assembler.
    for _ in 0..200 {
        let mut s = stream.clone();
        for _ in 0..20 {
            let i = (next() as usize) % s.len();
            s[i] = match next() % 3 {
                0 => 0,
                1 => 1,
                _ => next() as u8,
            };
        }
        let mut splitter = AnnexBSplitter::with_max_nal_len(4096);
        let mut asm = AccessUnitAssembler::new();
        for piece in s.chunks(1 + (next() % 3000) as usize) {
            splitter.push(piece);
            loop {
                match splitter.pop() {
                    Ok(Some(nal)) => {
                        if let Ok(Some(au)) = asm.push(nal) {
                            let _ = au.to_avcc();
                        }
                    }
                    Ok(None) => break,
                    Err(_) => continue,
                }
            }
        }
        let _ = splitter.finish();
        let _ = asm.finish();
        let _ = h264::annexb_to_avcc(&s);
    }
    // Random AVCC samples.
    for _ in 0..2000 {
        let len = (next() % 64) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        for ls in 0..=5 {
            let _ = h264::avcc_nal_units(&data, ls);
        }
    }
}

/// Files from another writer (ffmpeg's fragmenting muxer, with B-frames, default sample
/// flags in `tfhd` and `first_sample_flags` in `trun`) read back by `probe` and `recover`.
#[test]
fn probe_reads_ffmpeg_fragmented_mp4() {
    if !have("/usr/bin/ffmpeg") {
        println!("SKIP: ffmpeg not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ffmpeg.mp4");
    let status = Command::new("/usr/bin/ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=15",
            "-t",
            "3",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "15", "-bf", "2",
        ])
        .args(["-movflags", "frag_keyframe+empty_moov+default_base_moof"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let data = std::fs::read(&path).unwrap();
    let p = probe(&data).unwrap();
    assert!(p.is_complete(), "{p:?}");
    assert_eq!(p.codec, VideoCodec::H264);
    assert!(p.codec_string.starts_with("avc1.64"), "{}", p.codec_string);
    assert_eq!((p.width, p.height), (320, 240));
    assert_eq!(p.recovery.samples, 45);
    assert_eq!(p.recovery.fragments, 3);
    assert_eq!(p.recovery.key_frames, 3);
    // ffmpeg's timescale is 15360 for 15 fps; the duration comes back in 90 kHz ticks.
    assert_eq!(p.recovery.duration, Duration90k::from_secs(3));
    let half = recover(&data[..data.len() / 2]).unwrap();
    assert!(half.fragments >= 1 && half.fragments < 3);
}
