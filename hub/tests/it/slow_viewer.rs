//! A viewer that stops reading must not slow the camera or other viewers:
//! each viewer holds at most the latest frame, and a stalled socket only
//! makes that viewer skip frames.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{PASSWORD, TestHub, USER, stamp_of};
use tokio::io::AsyncWriteExt;

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "pattern"
kind = "demo"
width = 640
height = 480
fps = 15
jpeg_quality = 85
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_mjpeg_viewer_does_not_delay_a_fast_one() {
    let h = TestHub::start(CONFIG).await;
    let cam = h.hub.cameras.by_id(1).unwrap().clone();

    // The slow viewer: asks for the stream and then reads nothing.
    let mut slow = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let auth = base64_basic(USER, PASSWORD);
    slow.write_all(
        format!(
            "GET /api/v1/cameras/pattern/stream HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\r\n",
            h.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();

    // The fast viewer reads for 10 s while the slow one is stalled.
    let mut fast =
        testkit::mjpeg::MjpegStream::connect(h.get_auth("/api/v1/cameras/pattern/stream"))
            .await
            .unwrap();
    // Let the slow viewer's socket buffers fill first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let published_before = cam.frames_total.load(Ordering::Relaxed);
    let mut frames = Vec::new();
    let window = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < window {
        let part = fast.next_part().await.unwrap().expect("stream continues");
        frames.push(stamp_of(&part.body).expect("pattern stamp readable").frame);
    }
    let published = cam.frames_total.load(Ordering::Relaxed) - published_before;

    // The slow viewer is still connected and really stalled: the kernel
    // buffers hold far less than ten seconds of 640x480 video.
    assert_eq!(cam.status(Duration::from_secs(5)).viewers, 2);

    // The fast viewer saw (nearly) every frame the camera produced in the
    // window, in order, without gaps.
    assert!(published >= 20, "camera produced only {published} frames");
    let received = frames.len() as u64;
    assert!(
        received * 10 >= published * 9,
        "fast viewer got {received} of {published} frames"
    );
    let max_gap = frames
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .max()
        .unwrap();
    assert!(
        max_gap <= 2,
        "fast viewer skipped {max_gap} frames at once: {frames:?}"
    );
    drop(slow);
    h.stop().await;
}

fn base64_basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
}
