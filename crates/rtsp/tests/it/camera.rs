//! The RTSP source against the project's test server (`scripts/rtsp-test-server.py`) on
//! loopback: codecs, transports, recording to fMP4, camera restart and stall (a refused
//! password and what gets logged: `logging.rs`). Each test is bounded in time and skipped,
//! with a message, without GStreamer.

use std::time::Duration;

use crate::common::{Collected, TestServer, collect_until, fast_options, server_available};
use media::{Segmenter, SegmenterConfig, VideoEvent};
use rtsp::{RtspSource, RtspState, SourceOptions, Transport};
use tokio_util::sync::CancellationToken;

/// Plays `path` until `frames` frames arrived; checks the track and every run's invariants.
async fn play(path: &str, transport: Transport, frames: usize) -> (Collected, rtsp::RtspStatus) {
    let server = TestServer::start().await;
    let cancel = CancellationToken::new();
    let (mut rx, status) = RtspSource::spawn_with(
        server.config(path, transport),
        fast_options(),
        cancel.clone(),
    );
    let mut got = Collected::default();
    collect_until(&mut rx, &mut got, Duration::from_secs(30), |c| {
        c.frames().len() >= frames
    })
    .await;
    let status = status.borrow().clone();
    cancel.cancel();
    eprintln!("{path} over {transport:?}: {status:?}");
    got.check_runs();
    assert!(
        matches!(got.events.first(), Some(VideoEvent::Track(_))),
        "first event is the track"
    );
    assert!(got.gaps().is_empty(), "gaps: {:?}", got.gaps());
    assert_eq!(status.state, RtspState::Playing);
    assert_eq!(status.last_error, None);
    assert!(status.frames >= 1);
    (got, status)
}

fn check_track(got: &Collected, status: &rtsp::RtspStatus, prefixes: &[&str], w: u16, h: u16) {
    let track = got.tracks()[0];
    let codec = track.codec_string();
    assert!(
        prefixes.iter().any(|p| codec.starts_with(p)),
        "codec {codec}, want {prefixes:?}"
    );
    assert_eq!((track.width(), track.height()), (w, h));
    assert_eq!(status.codec.as_deref(), Some(codec));
    assert_eq!((status.width, status.height), (Some(w), Some(h)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream1_h264_aac_over_tcp() {
    if !server_available() {
        return;
    }
    let (got, status) = play("stream1", Transport::Tcp, 30).await;
    check_track(
        &got,
        &status,
        &["avc1."],
        crate::common::WIDTH,
        crate::common::HEIGHT,
    );
    // 15 fps: consecutive frames 6000 ticks apart (give or take the server's jitter).
    let frames = got.frames();
    let span = frames.last().unwrap().dts - frames[0].dts;
    let per_frame = span.0 / (frames.len() as i64 - 1);
    assert!(
        (5000..=7000).contains(&per_frame),
        "{per_frame} ticks per frame"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream1_h264_aac_over_udp() {
    if !server_available() {
        return;
    }
    let (got, status) = play("/stream1", Transport::Udp, 30).await;
    check_track(
        &got,
        &status,
        &["avc1."],
        crate::common::WIDTH,
        crate::common::HEIGHT,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream2_h264_with_g711_audio_plays_video_only() {
    if !server_available() {
        return;
    }
    let (got, status) = play("stream2", Transport::Tcp, 20).await;
    // The sub stream is half size, like a Tapo's stream2.
    check_track(
        &got,
        &status,
        &["avc1."],
        crate::common::WIDTH / 2,
        crate::common::HEIGHT / 2,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream3_h265() {
    if !server_available() {
        return;
    }
    let (got, status) = play("stream3", Transport::Tcp, 20).await;
    check_track(
        &got,
        &status,
        &["hvc1.", "hev1."],
        crate::common::WIDTH,
        crate::common::HEIGHT,
    );
}

/// Source events into `media::Segmenter`, the segment into a file, and ffprobe counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_playable_fmp4() {
    if !server_available() {
        return;
    }
    if !testkit::ffprobe::available() {
        return;
    }
    let (got, _) = play("stream1", Transport::Tcp, 45).await;
    let mut segmenter: Option<Segmenter> = None;
    let mut out = Vec::new();
    for ev in got.events {
        match ev {
            VideoEvent::Track(t) => match &mut segmenter {
                Some(s) => s.set_track(t),
                None => segmenter = Some(Segmenter::new(t, SegmenterConfig::default())),
            },
            VideoEvent::Frame(f) => segmenter.as_mut().unwrap().push(f, &mut out).unwrap(),
            VideoEvent::Gap { reason } => panic!("gap: {reason}"),
        }
    }
    let mut segmenter = segmenter.unwrap();
    segmenter.finish(&mut out).unwrap();
    assert_eq!(
        segmenter.skipped_frames(),
        0,
        "the source starts at a key frame"
    );
    let mut file = Vec::new();
    let mut summaries = Vec::new();
    for ev in out {
        match ev {
            media::SegmentEvent::Start { init, .. } => file = init,
            media::SegmentEvent::Fragment(f) => f.append_to(&mut file),
            media::SegmentEvent::End(s) => summaries.push(s),
        }
    }
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].frames, 45);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("segment.mp4");
    std::fs::write(&path, &file).unwrap();
    let p = testkit::ffprobe::run(&path, true, &[]).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        (p.codec.as_str(), p.width, p.height, p.frames),
        ("h264", 640, 360, 45),
        "{}",
        p.json
    );
}

/// The camera loses power and comes back on the same port: a gap, then a new run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_restart_gives_a_gap_then_a_new_run() {
    if !server_available() {
        return;
    }
    let server = TestServer::start().await;
    let port = server.port;
    let cancel = CancellationToken::new();
    let (mut rx, status) = RtspSource::spawn_with(
        server.config("stream1", Transport::Tcp),
        fast_options(),
        cancel.clone(),
    );
    let mut got = Collected::default();
    let limit = Duration::from_secs(30);
    collect_until(&mut rx, &mut got, limit, |c| c.frames().len() >= 10).await;

    server.kill().await; // SIGKILL
    collect_until(&mut rx, &mut got, limit, |c| !c.gaps().is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut restarted = None;
    for _ in 0..5 {
        restarted = TestServer::start_on(port, "digest").await;
        if restarted.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await; // port not released yet
    }
    let _server = restarted.expect("restart the server on the same port");
    collect_until(&mut rx, &mut got, limit, |c| c.frames_since_gap() >= 10).await;
    let status = status.borrow().clone();
    cancel.cancel();
    eprintln!("gaps {:?}; {status:?}", got.gaps());

    got.check_runs();
    assert_eq!(got.gaps().len(), 1, "gaps: {:?}", got.gaps());
    assert_eq!(got.tracks().len(), 2, "a track before each run");
    assert!(status.reconnects >= 1, "{status:?}");
    assert!(status.attempts >= 2, "{status:?}");
    assert_eq!(status.state, RtspState::Playing);
}

/// The camera hangs (SIGSTOP): no frames, so the source gives up on the session and
/// reconnects once the camera answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_camera_is_detected() {
    if !server_available() {
        return;
    }
    let server = TestServer::start().await;
    let cancel = CancellationToken::new();
    let opts = SourceOptions {
        connect_timeout: Duration::from_secs(3),
        stall_timeout: Duration::from_secs(2),
        ..fast_options()
    };
    let (mut rx, status) = RtspSource::spawn_with(
        server.config("stream2", Transport::Tcp),
        opts,
        cancel.clone(),
    );
    let mut got = Collected::default();
    let limit = Duration::from_secs(30);
    collect_until(&mut rx, &mut got, limit, |c| c.frames().len() >= 5).await;
    server.signal("STOP");
    collect_until(&mut rx, &mut got, limit, |c| !c.gaps().is_empty()).await;
    assert!(got.gaps()[0].contains("stalled"), "gap: {:?}", got.gaps());
    server.signal("CONT");
    collect_until(&mut rx, &mut got, limit, |c| c.frames_since_gap() >= 5).await;
    let status = status.borrow().clone();
    cancel.cancel();
    got.check_runs();
    assert!(status.reconnects >= 1, "{status:?}");
}

/// A consumer that stops reading: the session keeps playing, frames are dropped up to the
/// next key frame, and what does arrive still starts at a key frame with increasing dts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_drops_to_the_next_key_frame() {
    if !server_available() {
        return;
    }
    let server = TestServer::start().await;
    let cancel = CancellationToken::new();
    let opts = SourceOptions {
        channel_capacity: 8,
        ..fast_options()
    };
    let (mut rx, status) = RtspSource::spawn_with(
        server.config("stream2", Transport::Tcp),
        opts,
        cancel.clone(),
    );
    let mut got = Collected::default();
    let limit = Duration::from_secs(30);
    collect_until(&mut rx, &mut got, limit, |c| !c.frames().is_empty()).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // ~45 frames into 8 slots
    let before = got.frames().len();
    collect_until(&mut rx, &mut got, limit, |c| {
        c.frames().len() >= before + 30
    })
    .await;
    let status = status.borrow().clone();
    cancel.cancel();
    eprintln!("{status:?}");
    assert!(status.dropped_frames >= 1, "{status:?}");
    assert_eq!(status.state, RtspState::Playing, "the session survived");
    assert!(got.gaps().is_empty());
    // Across the drop, frames resume at a key frame (dts jumps, but never back).
    let frames = got.frames();
    assert!(frames.windows(2).all(|w| w[0].dts < w[1].dts));
    let resumed = frames
        .windows(2)
        .position(|w| (w[1].dts - w[0].dts).0 > 20_000)
        .expect("a hole where frames were dropped");
    assert!(frames[resumed + 1].is_key, "resumes at a key frame");
}
