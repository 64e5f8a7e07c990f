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

/// The middle value of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Decodes every frame of `name`'s video feed on a thread of its own (until
/// the hub stops) and notes, per frame, how long after its capture (the
/// stamp in the picture) the feed had it.
fn feed_latencies(h: &TestHub, name: &str) -> std::sync::Arc<std::sync::Mutex<Vec<f64>>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let feed = h.hub.cameras.by_name(name).unwrap().video.clone().unwrap();
    let (snap, mut rx) = feed.subscribe();
    let mut track = snap.track;
    let got = out.clone();
    std::thread::spawn(move || {
        let mut dec = codec::LumaDecoder::new().unwrap();
        let mut keyed = false;
        while let Ok(ev) = rx.blocking_recv() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            let f = match &*ev {
                media::VideoEvent::Track(t) => {
                    track = Some(t.clone());
                    continue;
                }
                media::VideoEvent::Frame(f) => f,
                media::VideoEvent::Gap { .. } => continue,
            };
            keyed |= f.is_key;
            let Some(t) = track.as_ref().filter(|_| keyed) else {
                continue;
            };
            let Ok(annexb) = t.h264_annexb(&f.data) else {
                continue;
            };
            let mut stamp = None;
            let mut read = |l: codec::Luma<'_>| {
                let rgb: Vec<u8> = (0..l.height as usize)
                    .flat_map(|y| &l.data[y * l.stride..y * l.stride + l.width as usize])
                    .flat_map(|&p| [p, p, p])
                    .collect();
                stamp = testpattern::read_stamp(&rgb, l.width, l.height);
            };
            if dec.decode(&annexb, Some(&mut read)).is_ok()
                && let Some(s) = stamp
            {
                got.lock()
                    .unwrap()
                    .push(now as f64 - s.unwrap_millis(now) as f64);
            }
        }
    });
    out
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
    // Stage 1, capture -> the camera's video feed (render and H.264 encode):
    // every frame the feed gets is decoded here and its stamp read back.
    let feed_ms = feed_latencies(&h, "pattern");
    let b = testkit::Browser::launch().await.expect("chromium starts");
    browser_login(&b, &h, "/live/pattern").await;
    let (w, hh) = wait_mse_playing(&b, Duration::from_secs(30)).await;
    assert_eq!((w, hh), (640, 480));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats0 = b.eval("return window.hubLive.mse.stats").await.unwrap();
    // The frame the picture shows: its arrival and append times, and how far
    // the playhead is behind the end of the buffer.
    const FRAME: &str = "(() => { const t = v.currentTime;
        const a = window.hubLive.mse.stats.arrivals.find(e => e[0] > t + 0.0005);
        return [a ? a[1] : null, a ? a[2] : null, v.buffered.length ? v.buffered.end(v.buffered.length - 1) - t : null]; })()";
    let mut lat = Vec::new();
    let (mut to_page, mut to_buffer, mut to_screen, mut ahead) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut series = Vec::new();
    for _ in 0..40 {
        if let Some((now, stamp, f)) =
            crate::browser_support::video_stamp_with(&b, "video", FRAME).await
        {
            let capture = stamp.unwrap_millis(now) as f64;
            let ms = now as f64 - capture;
            lat.push(ms);
            let ahead_ms = f[2].as_f64().unwrap_or(f64::NAN) * 1000.0;
            ahead.push(ahead_ms);
            if let (Some(arrived), Some(appended)) = (f[0].as_f64(), f[1].as_f64()) {
                to_page.push(arrived - capture);
                to_buffer.push(appended - arrived);
                to_screen.push(now as f64 - appended);
            }
            series.push(format!("{ms:.0}/{ahead_ms:.0}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = b.eval("return window.hubLive.mse.stats").await.unwrap();
    println!("latency/buffer-ahead ms: {}", series.join(" "));
    assert!(
        lat.len() >= 10,
        "stamps readable from the playing video: {}",
        lat.len()
    );
    let p50 = median(&mut lat);
    let p90 = lat[lat.len() * 9 / 10];
    println!(
        "MSE latency (demo 640x480 15 fps, stamp -> Chromium picture, loopback): n={} min={:.0} ms p50={p50:.0} ms p90={p90:.0} ms max={:.0} ms",
        lat.len(),
        lat[0],
        lat[lat.len() - 1]
    );
    let feed_ms = std::mem::take(&mut *feed_ms.lock().unwrap());
    println!(
        "MSE latency by stage (medians, ms): capture -> video feed (render, H.264 encode) {:.1} (n={}); \
         capture -> page (+ fragment, websocket) {:.1}; page -> SourceBuffer {:.1}; \
         SourceBuffer -> shown (decode, playhead behind the newest frame, the frame's time on screen) {:.1}; \
         playhead behind buffered end {:.0}",
        median(&mut feed_ms.clone()),
        feed_ms.len(),
        median(&mut to_page),
        median(&mut to_buffer),
        median(&mut to_screen),
        median(&mut ahead),
    );
    let count = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    println!(
        "MSE playback over the {} samples: stalls (waiting events) {}, playback rate changes {}, jumps to the live edge {}",
        lat.len(),
        count(&stats, "stalls") - count(&stats0, "stalls"),
        count(&stats, "rateChanges") - count(&stats0, "rateChanges"),
        count(&stats, "jumps") - count(&stats0, "jumps"),
    );
    assert!(p50 < 1000.0, "p50 latency {p50} ms");
    assert!(
        !to_page.is_empty(),
        "the page logs when each shown frame arrived: {stats}"
    );
    assert!(
        !feed_ms.is_empty(),
        "stamps readable from the camera's H.264"
    );
    println!(
        "MSE page stats: fragments {}, stalls {}, jumps {}",
        stats["fragments"], stats["stalls"], stats["jumps"]
    );

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
