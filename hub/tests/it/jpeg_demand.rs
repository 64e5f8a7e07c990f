//! JPEG pictures of an RTSP camera only while someone looks: with no JPEG consumer the
//! hub decodes nothing (`camera_jpeg_decodes_total` stays at 0, no decoder buffers); a
//! snapshot request gets the JPEG of the key frame current at the request with one
//! decode; an MJPEG viewer gets one picture per key frame while it watches; when the last
//! consumer leaves the decoder's buffers are released and decoding stops. Against the
//! project's GStreamer RTSP server on loopback (its clock overlay makes every key frame a
//! different picture). Skipped (with a message) without GStreamer.

use std::time::Duration;

use crate::common::TestHub;
use crate::metrics::metric_present;
use crate::rtsp_support::*;

const DECODES: &str = "camera_jpeg_decodes_total{camera=\"main\"}";
const DECODER_BYTES: &str = "camera_jpeg_decoder_bytes{camera=\"main\"}";

/// The JPEG the hub makes of the key frame of the camera's current GOP.
fn current_key_frame_jpeg(h: &TestHub) -> Vec<u8> {
    let feed = h
        .hub
        .cameras
        .by_name("main")
        .unwrap()
        .video
        .clone()
        .unwrap();
    let (gop, _rx) = feed.subscribe();
    let track = gop.track.expect("a track");
    let key = gop.frames.iter().find(|f| f.is_key).expect("a key frame");
    hub::sources::snapshot::key_frame_to_jpeg(&track, &key.data).unwrap()
}

/// Waits up to 10 s for `series` to read `want`, and returns what it read last.
async fn settle(h: &TestHub, series: &str, want: f64) -> f64 {
    let mut v = metric_present(h, series).await;
    for _ in 0..50 {
        if v == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        v = metric_present(h, series).await;
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_key_frames_are_decoded_only_while_a_jpeg_consumer_exists() {
    if !rtsp_server_available() {
        return;
    }
    let server = RtspServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "tapo.password", RTSP_PASSWORD);
    // The default snapshot_interval (1 s) and a key frame every 2 s: every key frame
    // is due while someone looks.
    let config = format!(
        "[[camera]]\nid = 1\nname = \"main\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{RTSP_USER}\"\npassword_file = {:?}\npath = \"stream1\"\n",
        server.port,
        pw.display().to_string()
    );
    let h = TestHub::start(&config).await;
    wait_camera(&h, "main", Duration::from_secs(30), |c| {
        c["video"]["source"]["state"] == "playing" && c["online"] == true
    })
    .await;

    // Nobody looks: over more than two key frames, nothing is decoded, no decoder held.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(metric_present(&h, DECODES).await, 0.0);
    assert_eq!(metric_present(&h, DECODER_BYTES).await, 0.0);

    // A snapshot request: the picture of the key frame current at the request (the
    // GOP may turn over while it runs: then the next one), made by one decode.
    let before = current_key_frame_jpeg(&h);
    let r = h.get_auth("/api/v1/cameras/main").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let got = r.bytes().await.unwrap();
    let after = current_key_frame_jpeg(&h);
    assert!(
        got[..] == before[..] || got[..] == after[..],
        "the snapshot is the current key frame's picture ({} bytes; {} or {} expected)",
        got.len(),
        before.len(),
        after.len()
    );
    assert_eq!(metric_present(&h, DECODES).await, 1.0);
    // The request is gone: its decoder is released and nothing more is decoded.
    assert_eq!(settle(&h, DECODER_BYTES, 0.0).await, 0.0);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(metric_present(&h, DECODES).await, 1.0);

    // An MJPEG viewer: the current picture at once, then one per key frame, from a
    // decoder that keeps its 640x360 RGB buffer between key frames.
    let mut mj = testkit::mjpeg::MjpegStream::connect(h.get_auth("/api/v1/cameras/main/stream"))
        .await
        .unwrap()
        .with_part_timeout(Duration::from_secs(10));
    let parts = mj.take_parts(3).await.unwrap();
    for p in &parts {
        assert_eq!(&p.body[..2], &[0xFF, 0xD8]);
    }
    assert_ne!(
        parts[1].body, parts[2].body,
        "each key frame is a new picture"
    );
    assert_eq!(metric_present(&h, DECODES).await, 4.0);
    assert_eq!(
        metric_present(&h, DECODER_BYTES).await,
        (640 * 360 * 3) as f64
    );
    drop(mj);

    // The last consumer left: buffers released, decoding stopped.
    assert_eq!(settle(&h, DECODER_BYTES, 0.0).await, 0.0);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(metric_present(&h, DECODES).await, 4.0);

    h.stop().await;
    server.kill().await;
}
