//! Recording end to end: the test pattern (openh264) and a stand-in `rpicam-vid` (real H.264
//! from ffmpeg/libx264) into segment files that ffprobe accepts, with every captured frame in
//! exactly one segment, and a segment that plays in headless Chromium.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{config_text, ffprobe, have_ffprobe, plays_in_chromium, segments};
use agent::config::Config;
use agent::queue::FrameQueue;
use agent::record::recorder::{self, RecorderSettings};
use agent::record::status::read_status;
use agent::source::{self, RecordTap};
use tokio_util::sync::CancellationToken;

/// Every segment is complete and its media time starts at 0 (the later ones
/// too); returns the frames in all of them (callers compare with what was
/// captured: none dropped or repeated at a boundary).
fn check_files(files: &[std::path::PathBuf]) -> u64 {
    let mut frames = 0;
    for f in files {
        let info = media::probe(&std::fs::read(f).unwrap()).unwrap();
        assert!(info.is_complete(), "{}", f.display());
        let r = &info.recovery;
        assert_eq!(r.first_dts, Some(media::Time90k::ZERO), "{}", f.display());
        frames += r.samples;
    }
    frames
}

#[test]
fn testsrc_recording_segments_are_valid_complete_and_play() {
    // Real-time playback in Chromium: not beside the tests that load the machine.
    let _machine = testkit::exclusive();
    if !have_ffprobe() {
        eprintln!("skipping: no ffprobe");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (state, rec) = (tmp.path().join("state"), tmp.path().join("rec"));
    std::fs::create_dir(&state).unwrap();
    let cfg_path = tmp.path().join("agent.toml");
    std::fs::write(
        &cfg_path,
        config_text(
            &state,
            &rec,
            "segment_duration = \"2s\"\ngop = 5\nfragment = \"gop\"\nbitrate = \"500kbps\"",
            "kind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10",
        ),
    )
    .unwrap();
    // Without set-up the agent refuses the directory (and keeps running).
    agent::cmds::setup_recording::run(&cfg_path).unwrap();
    let config = Config::load(&cfg_path).unwrap();
    let started_ms = agent::source::wall_millis() as i64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let run = tokio::spawn(agent::cmds::run::run_with(config, cancel.clone()));
        tokio::time::sleep(Duration::from_millis(7300)).await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .expect("agent stops")
            .unwrap()
            .unwrap();
    });
    let status = read_status(&state).unwrap();
    let r = &status.record;
    assert_eq!(r.state, "stopped");
    assert_eq!(r.frames_dropped, 0, "{r:?}");
    assert_eq!(r.frames_not_recorded, 0, "{r:?}");
    assert_eq!(
        r.frames_offered, status.frames_captured,
        "every captured frame went to the recorder"
    );
    assert!(r.frames_offered >= 60, "{r:?}");

    let files = segments(&rec);
    assert!(files.len() >= 3, "{files:?}");
    let mut total = 0;
    for (i, f) in files.iter().enumerate() {
        let p = ffprobe(f).unwrap();
        eprintln!("{}: {p:?}", f.display());
        assert_eq!((p.width, p.height), (320, 240));
        // Each file plays from 0, the later ones too.
        assert_eq!(p.start_time, 0.0, "{}: {p:?}", f.display());
        if i + 1 < files.len() {
            assert!(
                (p.duration - 2.0).abs() <= 0.5 + 0.01,
                "{}: {p:?} not 2 s ± 1 GOP",
                f.display()
            );
        } else {
            assert!(p.seconds > 0.0 && p.seconds <= 2.5 + 0.01, "{p:?}");
        }
        total += p.frames;
    }
    assert_eq!(total, r.frames_written, "ffprobe's frames = frames written");
    assert_eq!(
        total, r.frames_offered,
        "every captured frame is in exactly one segment"
    );
    assert_eq!(check_files(&files), total);
    // Named by UTC start time; fragmented (mvex, moof).
    let starts: Vec<i64> = files
        .iter()
        .map(|f| store::parse_segment_name(f.file_name().unwrap().to_str().unwrap()).unwrap())
        .collect();
    assert!(
        (starts[0] - started_ms).abs() < 1500,
        "first segment named {} ms after the start",
        starts[0] - started_ms
    );
    for pair in starts.windows(2) {
        assert!((pair[1] - pair[0] - 2000).abs() < 300, "{starts:?}");
    }
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for b in [b"mvex", b"moof", b"tfdt"] {
            assert!(
                bytes.windows(4).any(|w| w == b),
                "{}: no {}",
                f.display(),
                String::from_utf8_lossy(b)
            );
        }
    }

    // A segment from the middle (its timeline starts after 0) plays.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some((t, w)) = rt.block_on(plays_in_chromium(&files[1])).unwrap() {
        eprintln!("chromium: currentTime {t}, videoWidth {w}");
        assert!(t > 1.0 && w > 0.0, "currentTime {t}, videoWidth {w}");
    }
}

/// A stand-in `rpicam-vid` that records its arguments and emits a real H.264
/// Annex B stream in real time (ffmpeg, libx264, SPS/PPS with every key frame).
fn h264_stand_in(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("rpicam-vid");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > {d}/args\nexec ffmpeg -nostdin -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=320x240:rate=10 -t 30 \
             -c:v libx264 -profile:v baseline -preset ultrafast -tune zerolatency -g 5 -bf 0 -x264-params repeat-headers=1 \
             -bsf:v h264_mp4toannexb -flush_packets 1 -f h264 -\n",
            d = dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn have_libx264() -> bool {
    std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("libx264"))
}

#[test]
fn rpicam_h264_is_recorded_as_is_and_live_jpegs_come_from_key_frames() {
    if !have_ffprobe() || !have_libx264() {
        eprintln!("skipping: no ffmpeg with libx264");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (state, rec) = (tmp.path().join("state"), tmp.path().join("rec"));
    let script = h264_stand_in(tmp.path());
    let config = Config::parse(&config_text(
        &state,
        &rec,
        "segment_duration = \"2s\"\ngop = 5\nbitrate = \"800kbps\"",
        &format!(
            "kind = \"rpicam\"\nwidth = 320\nheight = 240\nfps = 10\n[source.rpicam]\nbinary = {:?}",
            script.to_str().unwrap()
        ),
    ))
    .unwrap();
    let mut settings = RecorderSettings::from_config(&config);
    settings.setup = store::SetUp::CreateIfMissing;
    let handle = recorder::spawn(
        settings,
        Arc::new(store::SystemClock),
        Arc::new(store::Statvfs),
    )
    .unwrap();
    let tap = RecordTap {
        queue: handle.queue.clone(),
        bitrate_bps: config.record.bitrate.0,
        gop: config.record.gop_frames(config.source.fps),
    };
    let src = source::from_config_with(&config.source, Some(tap)).unwrap();
    let live = Arc::new(FrameQueue::new(64));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut jpegs = Vec::new();
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(src.run(live.clone(), cancel.clone()));
        let end = Instant::now() + Duration::from_millis(6500);
        while Instant::now() < end {
            if let Ok(f) = tokio::time::timeout(Duration::from_millis(200), live.pop()).await {
                jpegs.push(f);
            }
        }
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("source stops")
            .unwrap()
            .unwrap();
    });
    let queue = handle.queue.clone();
    let status = handle.status.clone();
    assert!(handle.stop(Duration::from_secs(10)));
    let args = std::fs::read_to_string(tmp.path().join("args")).unwrap();
    assert!(
        args.contains("--codec h264 --inline")
            && args.contains("--intra 5")
            && args.contains("--bitrate 800000"),
        "{args}"
    );
    // Live: key frames (2 per second) decoded to JPEGs of the right size.
    assert!(jpegs.len() >= 6, "{} live frames", jpegs.len());
    let mut dec = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&jpegs[0].jpeg[..]));
    dec.decode().unwrap();
    assert_eq!(dec.dimensions(), Some((320, 240)));

    let s = status.snapshot();
    let files = segments(&rec);
    assert!(files.len() >= 2, "{files:?}");
    let mut total = 0;
    for (i, f) in files.iter().enumerate() {
        let p = ffprobe(f).unwrap();
        eprintln!("{}: {p:?}", f.display());
        assert_eq!((p.width, p.height), (320, 240));
        if i + 1 < files.len() {
            assert!(
                (p.seconds - 2.0).abs() <= 0.5 + 0.05,
                "{}: {p:?}",
                f.display()
            );
        }
        total += p.frames;
    }
    assert_eq!(queue.dropped(), 0);
    assert_eq!(total, s.frames_written);
    assert_eq!(total + s.frames_not_recorded, queue.pushed(), "{s:?}");
    assert_eq!(
        s.frames_not_recorded, 0,
        "the stream starts with a key frame"
    );
    assert!(total >= 50, "{total} frames in 6.5 s at 10 fps");
    assert_eq!(check_files(&files), total);
}

/// A recorder that does not keep up (here: nobody drains its queue) never
/// slows live capture: the record queue drops by its overflow policy while
/// every picture still reaches the live queue.
#[test]
fn a_stalled_recorder_never_blocks_live_frames() {
    let config = Config::parse(
        "hub_url = \"ws://127.0.0.1:1/video-input-stream\"\ncamera_id = 1\ntoken = \"t\"\n[source]\nkind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 20\n",
    )
    .unwrap();
    let stalled = Arc::new(agent::record::RecordQueue::new(4, 64 << 20));
    assert_eq!(stalled.policy(), agent::record::Overflow::DropUntilKeyFrame);
    let tap = RecordTap {
        queue: stalled.clone(),
        bitrate_bps: 500_000,
        gop: 20,
    };
    let src = source::from_config_with(&config.source, Some(tap)).unwrap();
    let live = Arc::new(FrameQueue::new(256));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(src.run(live.clone(), cancel.clone()));
        tokio::time::sleep(Duration::from_millis(2000)).await;
        cancel.cancel();
        task.await.unwrap().unwrap();
    });
    assert!(
        live.pushed() >= 30,
        "{} live frames in 2 s at 20 fps",
        live.pushed()
    );
    assert_eq!(stalled.pushed(), live.pushed(), "every picture was offered");
    assert_eq!(stalled.len(), 4);
    assert_eq!(stalled.dropped(), stalled.pushed() - 4);
}
