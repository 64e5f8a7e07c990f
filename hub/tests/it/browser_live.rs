//! Headless Chromium logs in, opens the live grid and a camera page, and
//! sees a moving picture (two screenshots differ, and the picture's own
//! frame stamp advances); each camera's health shows, the motion indicator
//! follows the events feed, the camera page fits the window, and the status
//! page lists every camera.

use std::time::Duration;

use crate::common::{PASSWORD, TestHub, USER};
use testkit::Browser;

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "pattern"
description = "test pattern"
kind = "demo"
width = 320
height = 240
fps = 10
[[camera]]
id = 2
name = "garage"
kind = "agent"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_logs_in_and_sees_live_video() {
    // Real-time playback in Chromium: not beside the tests that load the machine.
    let _machine = testkit::exclusive();
    if let Some(why) = Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    let b = Browser::launch().await.expect("chromium starts");

    // Not logged in: the live page sends us to the login form.
    b.goto(&h.url("/live")).await.unwrap();
    b.wait_for("#login-form", Duration::from_secs(20))
        .await
        .unwrap();
    assert!(b.current_url().await.unwrap().contains("/login?next="));

    // A wrong password is refused and says so.
    b.fill("#username", USER).await.unwrap();
    b.fill("#password", "wrong").await.unwrap();
    b.click("#login-button").await.unwrap();
    b.wait_for_text(
        ".error",
        "Wrong user name or password",
        Duration::from_secs(20),
    )
    .await
    .unwrap();

    b.fill("#username", USER).await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.click("#login-button").await.unwrap();
    b.wait_for(".tile img", Duration::from_secs(20))
        .await
        .unwrap();
    assert!(b.current_url().await.unwrap().ends_with("/live"));
    // The wrong password's 401 is in the console; from here on nothing may be.
    let _ = b.console_errors().await.unwrap();

    // The grid lists both cameras; the demo one is online with pictures.
    b.wait_until(
        "return [...document.querySelectorAll('.tile .state')].some(e => e.classList.contains('online'))",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let names = b
        .eval("return [...document.querySelectorAll('.tile .name')].map(e => e.textContent)")
        .await
        .unwrap();
    assert_eq!(names, serde_json::json!(["pattern", "garage"]));
    b.wait_until(
        "const i = document.querySelector('.tile[data-camera-id=\"1\"] img'); return i && i.naturalWidth === 320",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let shot1 = b.screenshot_png().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let shot2 = b.screenshot_png().await.unwrap();
    let diff = testkit::png_diff(&shot1, &shot2);
    assert!(diff > 0.0, "two screenshots 1.5 s apart are identical");

    // Health on each tile: the demo camera online, the agent that never
    // connected offline with no frame yet.
    let health = b
        .eval(
            "return [...document.querySelectorAll('.tile')].map(t => [t.dataset.cameraName, t.querySelector('.state').dataset.health])",
        )
        .await
        .unwrap();
    assert_eq!(
        health,
        serde_json::json!([["pattern", "online"], ["garage", "offline"]])
    );
    assert_eq!(
        b.text(".tile[data-camera-id=\"2\"] .state").await.unwrap(),
        "offline · 0.0 fps · last frame never"
    );
    let state = b.text(".tile[data-camera-id=\"1\"] .state").await.unwrap();
    assert!(
        state.starts_with("online · ")
            && state.contains(" fps · avc1.")
            && state.ends_with(" · last frame just now"),
        "{state}"
    );
    // A camera without a picture says so instead of showing a black box.
    let nopic = b
        .eval("return [...document.querySelectorAll('.tile .nopic')].map(n => n.hidden ? null : n.textContent)")
        .await
        .unwrap();
    assert_eq!(nopic, serde_json::json!([null, "Offline · no picture yet"]));
    // No motion now: no motion badges; each camera links to its events.
    let quiet = b
        .eval("return [[...document.querySelectorAll('.tile .motion')].map(m => m.hidden), document.querySelectorAll('.tile a[href^=\"/events\"]').length]")
        .await
        .unwrap();
    assert_eq!(quiet, serde_json::json!([[true, true], 2]));
    // Given an events feed, the indicator follows it: motion, then a person
    // alarm (named), then nothing once both end.
    b.eval("hubEvents.setSource(async () => ({events: [], next_before: null})); return true")
        .await
        .unwrap();
    let now = "Date.now()";
    let motion = |js: &str| {
        format!(
            "{js}; const m = document.querySelector('.tile[data-camera-name=\"pattern\"] .motion'), g = document.querySelector('.tile[data-camera-name=\"garage\"] .motion');
             return [m.hidden, m.textContent, g.hidden]"
        )
    };
    let v = b
        .eval(&motion(&format!("hubEvents.emit({{id: 1, camera: 'pattern', kind: 'motion', start_ms: {now}, end_ms: null}})")))
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!([false, "Motion", true]));
    let v = b
        .eval(&motion(&format!("hubEvents.emit({{id: 2, camera: 'pattern', kind: 'alarm', label: 'person', start_ms: {now}, end_ms: null}})")))
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!([false, "Person", true]));
    let v = b
        .eval(&motion(&format!("hubEvents.emit({{id: 2, camera: 'pattern', kind: 'alarm', label: 'person', start_ms: {now} - 5000, end_ms: {now}}})")))
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!([false, "Motion", true]));
    let v = b
        .eval(&motion(&format!("hubEvents.emit({{id: 1, camera: 'pattern', kind: 'motion', start_ms: {now} - 9000, end_ms: {now}}})")))
        .await
        .unwrap();
    assert_eq!(v, serde_json::json!([true, "", true]));

    // The camera page shows the same camera, larger, with its state.
    b.goto(&h.url("/live/pattern")).await.unwrap();
    b.wait_until(
        "const i = document.getElementById('live'); return i && i.naturalWidth === 320",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    b.wait_for_text("#state", "online", Duration::from_secs(20))
        .await
        .unwrap();
    let a = b.screenshot_png().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let c = b.screenshot_png().await.unwrap();
    assert!(
        testkit::png_diff(&a, &c) > 0.0,
        "camera page picture does not move"
    );
    // The camera page fits the window: picture and links visible without scrolling.
    let fit = b
        .eval(
            "const f = document.querySelector('.view').getBoundingClientRect(), l = document.querySelector('.links').getBoundingClientRect();
             return [f.bottom <= innerHeight, l.bottom <= innerHeight, f.right <= innerWidth, document.documentElement.scrollHeight <= innerHeight, f.height > 500]",
        )
        .await
        .unwrap();
    assert_eq!(fit, serde_json::json!([true, true, true, true, true]));
    std::fs::write(h.dir.path().join("camera-page.png"), &c).unwrap();

    // Status: one row per camera with its health. The agent camera had pushed frames
    // that were not JPEG (as the ingest counts them): the row says so.
    h.hub
        .cameras
        .by_id(2)
        .unwrap()
        .reject_frame("a 5-byte frame is not a JPEG (starts 68 65 6c 6c)".into());
    b.goto(&h.url("/status")).await.unwrap();
    b.wait_until(
        "const r = document.querySelector('#cameras tr[data-camera-id=\"1\"]'); return r && r.dataset.health === 'online'",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let rows = b
        .eval(
            "return [...document.querySelectorAll('#cameras tbody tr')].map(r => [r.querySelector('.camera a').textContent, r.querySelector('.health').textContent, r.querySelector('.last').textContent, r.querySelector('.source').textContent])",
        )
        .await
        .unwrap();
    assert_eq!(
        rows[1],
        serde_json::json!(["garage", "offline", "never", "agent not connected"])
    );
    assert_eq!(rows[0][0], "pattern");
    assert_eq!(rows[0][1], "online");
    let frames = b
        .eval(
            "const f = document.querySelector('#cameras tr[data-camera-id=\"2\"] .frames'); return [f.textContent, f.title]",
        )
        .await
        .unwrap();
    assert_eq!(
        frames,
        serde_json::json!([
            "0.0 fps · 0 frames · 1 not JPEG (skipped)",
            "a 5-byte frame is not a JPEG (starts 68 65 6c 6c)"
        ])
    );
    let current = b
        .eval("return document.querySelector('header nav a[aria-current=page]').textContent")
        .await
        .unwrap();
    assert_eq!(current, "Status");
    // Outages of the last day: the hub reports events, none yet.
    let outages = b
        .wait_until(
            "const s = document.getElementById('health-events');
             return s.hidden ? null : s.querySelector('ol').textContent",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(outages, "None.");
    // The storage forecast: the demo camera's first segment is not finished yet.
    let storage = b
        .wait_until(
            "const s = document.getElementById('storage');
             return s.hidden ? null : [document.getElementById('storage-continuous').textContent,
                                       document.getElementById('storage-events').textContent]",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(storage, serde_json::json!(["No footage yet.", ""]));
    b.eval(
        "const now = Date.now();
         hubEvents.setSource(async (q) => ({events: q.kind && q.kind.includes('health') ? [
           {id: 9, camera: 'garage', kind: 'health', label: 'offline', start_ms: now - 3 * 3600e3, end_ms: now - 3600e3, message: 'Camera offline'}] : [],
           next_before: null}));
         return true",
    )
    .await
    .unwrap();
    b.wait_until(
        "return !document.getElementById('health-events').hidden && document.querySelectorAll('#health-events li').length === 1",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    let line = b.text("#health-events li").await.unwrap();
    assert!(
        line.starts_with("garage Camera offline · ") && line.ends_with(" (2 h)"),
        "{line}"
    );
    let status = b.screenshot_png().await.unwrap();
    let errors = b.console_errors().await.unwrap();
    assert!(errors.is_empty(), "console: {errors:?}");
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        let _ = std::fs::write(std::path::Path::new(&dir).join("live-camera-page.png"), &c);
        let _ = std::fs::write(std::path::Path::new(&dir).join("live-grid.png"), &shot2);
        let _ = std::fs::write(std::path::Path::new(&dir).join("status.png"), &status);
    }
    b.close().await.unwrap();
    h.stop().await;
}
