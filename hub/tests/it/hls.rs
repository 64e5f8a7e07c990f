//! HLS from memory for the demo camera: a bounded sliding playlist of fMP4
//! segments behind auth, segments that expire, and (when installed) ffprobe
//! reading the stream with Basic credentials, as the seed's clients would. The URL is
//! the PAMS camera server's (`/camera1/stream.m3u8`), and its web app on another
//! origin (`:3000`) may load it with CORS.

use std::time::Duration;

use crate::common::TestHub;
use crate::rtsp_support::*;

const DEMO: &str = r#"
cors_origins = ["http://localhost:3000"]
[[camera]]
id = 1
name = "camera1"
kind = "demo"
width = 320
height = 240
fps = 10
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_playlist_slides_and_serves_segments_from_memory() {
    let h = TestHub::start(DEMO).await;
    // Not logged in: 401 with a Basic challenge.
    let r = h
        .client()
        .get(h.url("/camera1/stream.m3u8"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(
        h.get_auth("/nope/stream.m3u8")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The first request waits for the first segment. It comes, as PAMS's did, from its
    // web app on another origin (hls.js fetches the playlist and segments).
    let r = h
        .get_auth("/camera1/stream.m3u8")
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let pl = r.text().await.unwrap();
    assert!(pl.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n"), "{pl}");
    assert!(
        !pl.contains("#EXT-X-PLAYLIST-TYPE"),
        "a live playlist, not an event one: {pl}"
    );
    let map = pl
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("EXT-X-MAP");
    let init = h
        .get_auth(&format!("/camera1/{map}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(top_boxes(&init), ["ftyp", "moov"]);
    let first_seg = pl.lines().find(|l| l.ends_with(".m4s")).unwrap().to_owned();
    let seg = h
        .get_auth(&format!("/camera1/{first_seg}"))
        .send()
        .await
        .unwrap();
    assert_eq!(seg.status(), 200);
    let seg = seg.bytes().await.unwrap();
    assert_eq!(top_boxes(&seg), ["moof", "mdat"]);
    assert!(fragment_is_key(&seg), "segments start with a key frame");
    // A complete file (init + segment) is valid MP4 with the demo's size.
    let mut file = init.to_vec();
    file.extend_from_slice(&seg);
    let p = media::probe(&file).expect("init + segment probe");
    assert_eq!((p.width, p.height), (320, 240));
    assert!(
        p.recovery.samples >= 15,
        "about 2 s of 10 fps: {}",
        p.recovery.samples
    );

    // Once the first segment slides out (7 segments of 2 s; polled, since a
    // loaded machine encodes the demo slower): the window holds 5-6 segments
    // and the first one is gone from memory.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let pl = loop {
        let pl = h
            .get_auth("/camera1/stream.m3u8")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if !pl.contains(&first_seg) || std::time::Instant::now() > deadline {
            break pl;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let n = pl.matches("#EXTINF:").count();
    assert!((5..=6).contains(&n), "{n} segments: {pl}");
    assert!(!pl.contains(&first_seg), "{pl}");
    assert_eq!(
        h.get_auth(&format!("/camera1/{first_seg}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Bounded memory: what the window holds is what its playlist names.
    let mut held = 0;
    for line in pl.lines() {
        let file = line
            .strip_prefix("#EXT-X-MAP:URI=\"")
            .map(|l| l.trim_end_matches('"'))
            .unwrap_or(line);
        if file.starts_with("hls/") {
            let body = h
                .get_auth(&format!("/camera1/{file}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            held += body.len();
        }
    }
    assert!(held > 0 && held < 4 << 20, "bounded memory: {held} bytes");

    let url = format!(
        "http://{}:{}@{}/camera1/stream.m3u8",
        crate::common::USER,
        crate::common::PASSWORD.replace(' ', "%20"),
        h.addr
    );
    if let Some((codec, w, hh)) = tokio::task::spawn_blocking(move || ffprobe(&url))
        .await
        .unwrap()
    {
        assert_eq!((codec.as_str(), w, hh), ("h264", 320, 240));
    }
    h.stop().await;
}

/// HLS viewers in `/metrics`: a client that fetched the playlist or a segment within the
/// last 10 s (`hub::counters::HLS_VIEWER_WINDOW`). A real HLS client (ffmpeg, playing
/// from the live edge for 6 s) is one viewer while it plays, a second client with its own
/// user agent is another, and both are gone 10 s after their last request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_clients_count_as_viewers_while_they_fetch() {
    if !testkit::ffprobe::available() {
        eprintln!("SKIP: ffmpeg not installed");
        return;
    }
    let h = TestHub::start(DEMO).await;
    let viewers = "camera_viewers{camera=\"camera1\",viewer=\"hls\"}";
    let frames = "camera_frames_out_total{camera=\"camera1\",viewer=\"hls\"}";
    assert_eq!(crate::metrics::metric_present(&h, viewers).await, 0.0);
    let url = format!(
        "http://{}:{}@{}/camera1/stream.m3u8",
        crate::common::USER,
        crate::common::PASSWORD.replace(' ', "%20"),
        h.addr
    );
    let mut ffmpeg = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-live_start_index",
            "-1",
            "-i",
        ])
        .arg(&url)
        .args(["-t", "6", "-f", "null", "-"])
        .spawn()
        .expect("ffmpeg runs");
    // Playing: one viewer (the /metrics scrapes themselves are not HLS requests).
    let mut seen = 0.0;
    for _ in 0..50 {
        seen = crate::metrics::metric_present(&h, viewers).await;
        if seen > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, 1.0);
    // Until ffmpeg has its playlist and fetches segments (the first playlist waits for
    // three segments, longer on a busy machine).
    for _ in 0..300 {
        if crate::metrics::metric_present(&h, frames).await > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Another client, with its own user agent: two.
    let r = h
        .get_auth("/camera1/stream.m3u8")
        .header("user-agent", "second-player")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(crate::metrics::metric_present(&h, viewers).await, 2.0);
    let mut status = None;
    for _ in 0..600 {
        status = ffmpeg.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        let _ = ffmpeg.kill();
        panic!("ffmpeg still playing after 60 s");
    };
    assert!(status.success(), "{status}");
    let ended = std::time::Instant::now();
    // Segments went out: their frames are counted (10 fps, 6 s played).
    assert!(crate::metrics::metric_present(&h, frames).await >= 60.0);
    // Still counted until 10 s after each client's last request, then none.
    let window = hub::counters::HLS_VIEWER_WINDOW;
    tokio::time::sleep((window + Duration::from_secs(1)).saturating_sub(ended.elapsed())).await;
    assert_eq!(crate::metrics::metric_present(&h, viewers).await, 0.0);
    h.stop().await;
}
