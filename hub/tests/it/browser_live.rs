//! Headless Chromium logs in, opens the live grid and a camera page, and
//! sees a moving picture (two screenshots differ, and the picture's own
//! frame stamp advances).

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
    std::fs::write(h.dir.path().join("camera-page.png"), &c).unwrap();
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        let _ = std::fs::write(std::path::Path::new(&dir).join("live-camera-page.png"), &c);
        let _ = std::fs::write(std::path::Path::new(&dir).join("live-grid.png"), &shot2);
    }
    b.close().await.unwrap();
    h.stop().await;
}
