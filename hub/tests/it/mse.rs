//! The demo camera's H.264 (openh264) over the MSE websocket: the protocol
//! (MIME, init, one fragment per frame from a key frame, origin and auth
//! checks), and in headless Chromium the picture's own stamp read back from
//! the playing `<video>` to measure glass-to-glass latency through the hub.

use std::time::Duration;

use crate::common::{TestHub, browser_login};
use crate::rtsp_support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const DEMO: &str = r#"
[[camera]]
id = 1
name = "pattern"
kind = "demo"
width = 640
height = 480
fps = 15
[[camera]]
id = 2
name = "pi"
kind = "agent"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mse_websocket_sends_mime_init_and_a_fragment_per_frame() {
    let h = TestHub::start(DEMO).await;
    let c = wait_camera(&h, "pattern", Duration::from_secs(20), |c| {
        c["video"]["codec"].is_string()
    })
    .await;
    assert_eq!(c["video"]["width"], 640);
    let m = mse_read(&h, "pattern", 30).await;
    assert!(
        m.mime.starts_with("video/mp4; codecs=\"avc1."),
        "{}",
        m.mime
    );
    assert_eq!(top_boxes(&m.init), ["ftyp", "moov"]);
    assert!(fragment_is_key(&m.fragments[0]));
    for f in &m.fragments {
        assert_eq!(top_boxes(f), ["moof", "mdat"]);
    }
    // 30 fragments at 15 fps with a key frame each second: at least one more key frame.
    assert!(m.fragments[1..].iter().any(|f| fragment_is_key(f)));
    let init_probe = media::probe(&m.init);
    assert!(init_probe.is_ok() || m.init.len() > 100);

    // No credentials: 401. Another site's page: 403. A JPEG-only camera: 404.
    let req = h
        .ws_url("/api/v1/cameras/pattern/live.mp4.ws")
        .into_client_request()
        .unwrap();
    let e = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401"), "{e}");
    let mut req = h
        .ws_url("/api/v1/cameras/pattern/live.mp4.ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        crate::common::USER,
        crate::common::PASSWORD
    ));
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let e = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("403"), "{e}");
    let mut req = h
        .ws_url("/api/v1/cameras/pi/live.mp4.ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let e = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("404"), "{e}");
    // The JPEG path of the demo is unchanged.
    let (w, hh, rgb) = snapshot(&h, "pattern").await;
    assert_eq!((w, hh), (640, 480));
    assert!(testpattern::read_stamp(&rgb, w, hh).is_some());
    h.stop().await;
}

/// Reads the stamp of the picture the `<video>` shows now; returns the
/// latency in ms (page clock at capture minus the stamp's capture time).
async fn video_latency_ms(b: &testkit::Browser, id: &str) -> Option<f64> {
    let (now, stamp) = crate::browser_support::video_stamp(b, id).await?;
    Some(now as f64 - stamp.unwrap_millis(now) as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mse_plays_in_chromium_under_a_second_behind() {
    // Real-time playback in Chromium: not beside the tests that load the machine.
    let _machine = testkit::exclusive();
    if let Some(why) = testkit::Browser::available() {
        eprintln!("SKIP: {why}");
        return;
    }
    let h = TestHub::start(DEMO).await;
    let b = testkit::Browser::launch().await.expect("chromium starts");
    browser_login(&b, &h, "/live/pattern").await;
    let (w, hh) = wait_mse_playing(&b, Duration::from_secs(30)).await;
    assert_eq!((w, hh), (640, 480));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lat = Vec::new();
    let mut series = Vec::new();
    for _ in 0..40 {
        if let Some(ms) = video_latency_ms(&b, "video").await {
            lat.push(ms);
            let ahead = b
                .eval("const v = document.getElementById('video'); return v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : -1")
                .await
                .unwrap()
                .as_f64()
                .unwrap_or(-1.0);
            series.push(format!("{ms:.0}/{:.0}", ahead * 1000.0));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("latency/buffer-ahead ms: {}", series.join(" "));
    assert!(
        lat.len() >= 10,
        "stamps readable from the playing video: {}",
        lat.len()
    );
    lat.sort_by(f64::total_cmp);
    let p50 = lat[lat.len() / 2];
    let p90 = lat[lat.len() * 9 / 10];
    println!(
        "MSE latency (demo 640x480 15 fps, stamp -> Chromium picture, loopback): n={} min={:.0} ms p50={p50:.0} ms p90={p90:.0} ms max={:.0} ms",
        lat.len(),
        lat[0],
        lat[lat.len() - 1]
    );
    assert!(p50 < 1000.0, "p50 latency {p50} ms");
    let stats = b.eval("return window.hubLive.mse.stats").await.unwrap();
    println!("MSE page stats: {stats}");

    // The same picture over HLS, where this Chromium plays HLS natively.
    let native = b
        .eval("return document.createElement('video').canPlayType('application/vnd.apple.mpegurl')")
        .await
        .unwrap();
    if native.as_str().is_some_and(|s| !s.is_empty()) {
        b.eval(
            "window.hubLive.mse.close(); const v = document.createElement('video'); v.id = 'hls'; \
             v.muted = true; v.autoplay = true; v.src = '/pattern/stream.m3u8'; document.body.appendChild(v); \
             v.play().catch(() => {});",
        )
        .await
        .unwrap();
        b.wait_until(
            "const v = document.getElementById('hls'); return v.videoWidth > 0 && v.currentTime > 0.5",
            Duration::from_secs(40),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut hls = Vec::new();
        for _ in 0..10 {
            if let Some(ms) = video_latency_ms(&b, "hls").await {
                hls.push(ms);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(!hls.is_empty(), "stamps readable from the HLS video");
        hls.sort_by(f64::total_cmp);
        println!(
            "HLS latency (same camera, native HLS in Chromium, 2 s segments): n={} min={:.0} ms p50={:.0} ms max={:.0} ms",
            hls.len(),
            hls[0],
            hls[hls.len() / 2],
            hls[hls.len() - 1]
        );
    } else {
        println!("no native HLS in this Chromium: HLS latency not measured");
    }
    b.close().await.unwrap();
    h.stop().await;
}
