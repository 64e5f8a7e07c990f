//! The hub's recorder: a camera's VideoFeed (fed here with real H.264 from
//! openh264) becomes indexed segment files that ffprobe reads; a Gap in the
//! feed ends a segment; segment_duration cuts long runs.

use std::sync::Arc;
use std::time::Duration;

use crate::common::TestHub;
use crate::recordings_support::{FPS, encode, ffprobe, have_ffprobe};
use hub::video::VideoFeed;
use media::{Time90k, VideoEvent};
use tokio_util::task::TaskTracker;

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "cam"
kind = "agent"
[[camera]]
id = 2
name = "short"
kind = "agent"
segment_duration = "1s"
"#;

async fn segments(h: &TestHub, camera: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = h
        .get_auth(&format!("/api/recordings?camera={camera}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["segments"].as_array().unwrap().clone()
}

async fn wait_for(h: &TestHub, camera: &str, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let s = segments(h, camera).await;
        if s.len() >= n {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{camera}: fewer than {n} segments: {:?}",
        segments(h, camera).await
    );
}

fn file_of(h: &TestHub, seg: &serde_json::Value) -> std::path::PathBuf {
    h.dir
        .path()
        .join("data/recordings")
        .join(seg["camera"].as_str().unwrap())
        .join(seg["file"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_writes_segments_and_a_gap_cuts_one() {
    let h = TestHub::start(CONFIG).await;
    let tracker = TaskTracker::new();
    let (track, frames) = encode(90, FPS as u32); // 6 s, a key frame every second

    // Camera "cam" (60 s segments): 3 s of video, a gap, 3 s more.
    let feed = Arc::new(VideoFeed::new());
    hub::recordings::recorder::spawn(
        h.hub.recordings.clone(),
        "cam".into(),
        feed.clone(),
        &tracker,
        h.shutdown.clone(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await; // subscribed
    feed.publish(VideoEvent::Track(track.clone()));
    for f in &frames[..45] {
        feed.publish(VideoEvent::Frame(f.clone()));
    }
    feed.publish(VideoEvent::Gap {
        reason: "camera rebooted".into(),
    });
    let first = wait_for(&h, "cam", 1).await;
    assert_eq!(first.len(), 1, "the gap closed the first segment");
    tokio::time::sleep(Duration::from_millis(3100)).await; // real time passes during the gap
    feed.publish(VideoEvent::Track(track.clone()));
    for f in &frames[45..] {
        feed.publish(VideoEvent::Frame(f.clone()));
    }
    feed.publish(VideoEvent::Gap {
        reason: "end of test".into(),
    });
    let segs = wait_for(&h, "cam", 2).await;
    assert_eq!(segs.len(), 2);
    for s in &segs {
        assert_eq!(s["source"], "recorder");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(320), Some(240))
        );
        let d = s["duration_ms"].as_i64().unwrap();
        assert!((2900..=3100).contains(&d), "duration {d}");
    }
    let gap = segs[1]["start_ms"].as_i64().unwrap() - segs[0]["end_ms"].as_i64().unwrap();
    assert!(gap > 0, "the gap shows in the timeline ({gap} ms)");
    if have_ffprobe() {
        for s in &segs {
            let (dur, w, hgt, n) = ffprobe(&file_of(&h, s));
            assert_eq!((w, hgt, n), (320, 240, 45), "{s}");
            assert!((dur - 3.0).abs() < 0.1, "ffprobe duration {dur}");
        }
    }

    // Camera "short" (1 s segments): 3 s of video give 3 segments that abut.
    let feed2 = Arc::new(VideoFeed::new());
    feed2.publish(VideoEvent::Track(track.clone())); // before subscribing: from the snapshot
    hub::recordings::recorder::spawn(
        h.hub.recordings.clone(),
        "short".into(),
        feed2.clone(),
        &tracker,
        h.shutdown.clone(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    for f in &frames[..45] {
        feed2.publish(VideoEvent::Frame(f.clone()));
    }
    // A frame whose dts goes back (a source restart without a Gap) is handled too.
    let mut back = frames[0].clone();
    back.dts = Time90k(0);
    back.pts = Time90k(0);
    feed2.publish(VideoEvent::Frame(back));
    let segs = wait_for(&h, "short", 3).await;
    assert_eq!(segs.len(), 3, "{segs:?}");
    for w in segs.windows(2) {
        assert_eq!(w[0]["end_ms"], w[1]["start_ms"], "segments of one run abut");
    }
    if have_ffprobe() {
        for s in &segs {
            let (dur, _, _, n) = ffprobe(&file_of(&h, s));
            assert_eq!(n, 15);
            assert!((dur - 1.0).abs() < 0.1, "ffprobe duration {dur}");
        }
    }
    h.shutdown.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .expect("recorders stop on shutdown");
    // The open segment (the restarted run) was closed and indexed at shutdown.
    let rows = h
        .hub
        .recordings
        .db
        .call(|c| hub::recordings::index::all(c, Some("short")))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    h.stop().await;
}
