//! Headless Chromium (in UTC) on the timeline: log in, open a camera's day,
//! play a recording (time advances, a picture is decoded), seek into the
//! second segment of an agent's run, and download the exported range the
//! page links to. (Playback across segment boundaries and gaps, zoom, drag,
//! keys and events: `timeline_browser.rs`.)

use std::time::Duration;

use crate::common::{PASSWORD, TestHub, USER};
use crate::recordings_support::{T0, ffprobe, have_ffprobe, upload_two};
use testkit::{Browser, LaunchOptions};

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"
"#;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_plays_seeks_and_exports() {
    // Real-time playback in Chromium: not beside the tests that load the machine.
    let _machine = testkit::exclusive();
    if let Some(why) = Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    let (names, _) = upload_two(&h).await; // 07:31:50-07:31:53 and 07:31:53-07:31:57 UTC
    let b = Browser::launch_with(LaunchOptions {
        time_zone: Some("UTC".into()),
        phone: None,
    })
    .await
    .expect("chromium starts");

    // Log in on the way to the timeline.
    b.goto(&h.url("/timeline/porch?date=2026-11-21"))
        .await
        .unwrap();
    b.wait_for("#login-form", WAIT).await.unwrap();
    b.fill("#username", USER).await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.click("#login-button").await.unwrap();
    b.wait_until("return window.timeline && window.timeline.ready", WAIT)
        .await
        .unwrap();
    assert!(
        b.current_url()
            .await
            .unwrap()
            .contains("/timeline/porch?date=2026-11-21")
    );
    let loaded = b
        .eval("return window.timeline.segments.map(s => s.name)")
        .await
        .unwrap();
    assert_eq!(loaded, serde_json::json!(names));
    // Back to back: one run of footage on the axis.
    let runs = b
        .eval("return [...document.querySelectorAll('#footage-lane .run')].map(e => [Number(e.dataset.start), Number(e.dataset.end), Number(e.dataset.segments)])")
        .await
        .unwrap();
    assert_eq!(runs, serde_json::json!([[T0, T0 + 7000, 2]]));

    // Click the axis just before the footage (a pixel is ~70 s of the day):
    // the footage from that moment on plays, i.e. the first segment.
    let at = b
        .eval("const r = document.querySelector('#footage-lane .run').getBoundingClientRect(); return [Math.floor(r.left) - 1, r.top + r.height / 2]")
        .await
        .unwrap();
    b.click_at((at[0].as_f64().unwrap(), at[1].as_f64().unwrap()))
        .await
        .unwrap();
    b.wait_until("return window.timeline.current === 0", WAIT)
        .await
        .unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return v.videoWidth > 0 && v.currentTime > 0.3",
        WAIT,
    )
    .await
    .unwrap();
    let w = b
        .eval("return document.getElementById('player').videoWidth")
        .await
        .unwrap();
    assert_eq!(w, 320);
    let t1 = b
        .eval("return document.getElementById('player').currentTime")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let t2 = b
        .eval("return document.getElementById('player').currentTime")
        .await
        .unwrap();
    assert!(
        t2.as_f64().unwrap() > t1.as_f64().unwrap(),
        "time advances: {t1} -> {t2}"
    );

    // Seek to 07:31:55.000 (2 s into the second segment).
    let seek = T0 + 5000;
    b.eval(&format!("window.timeline.playAt({seek}); return true"))
        .await
        .unwrap();
    b.wait_until(
        "const v = document.getElementById('player'), t = window.timeline; return t.current === 1 && t.segmentTime >= 2 && t.segmentTime < 3.5 && !v.paused",
        WAIT,
    )
    .await
    .unwrap();
    b.wait_for_text("#now", "Sat, Nov 21, 2026, 7:31:5", WAIT)
        .await
        .unwrap();

    // Zoomed to one minute around the playhead, seconds are wide enough to
    // see (and a gap would be): the run of 7 s is over a hundred pixels.
    b.eval(
        "const z = document.getElementById('zoom'); z.value = '60000';
         z.dispatchEvent(new Event('change')); return true",
    )
    .await
    .unwrap();
    let widths = b
        .eval("return [...document.querySelectorAll('#footage-lane .run')].map(e => e.getBoundingClientRect().width)")
        .await
        .unwrap();
    let widths: Vec<f64> = widths
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .collect();
    assert_eq!(widths.len(), 1);
    assert!(widths[0] > 100.0, "{widths:?}");

    // Export 07:31:51 .. 07:31:55 (that second included) from the page's
    // link; fetch it with Basic auth.
    b.eval(
        "const s = document.getElementById('export-start'), e = document.getElementById('export-end');
         s.value = '2026-11-21T07:31:51'; s.dispatchEvent(new Event('change'));
         e.value = '2026-11-21T07:31:55'; e.dispatchEvent(new Event('change')); return true",
    )
    .await
    .unwrap();
    let href = b
        .eval("return document.getElementById('export-link').getAttribute('href')")
        .await
        .unwrap();
    let href = href.as_str().unwrap().to_owned();
    assert_eq!(
        href,
        format!(
            "/api/recordings/export?camera=porch&start={}&end={}",
            T0 + 1000,
            T0 + 6000
        )
    );
    let r = h.get_auth(&href).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    // Whole fragments (1 s each) overlapping 07:31:51-07:31:56: 1-3 s of the first
    // segment and 0-3 s of the second: 5 s.
    assert_eq!(
        media::probe(&bytes).unwrap().recovery.duration.0,
        5 * 90_000
    );
    if have_ffprobe() {
        let p = h.dir.path().join("export.mp4");
        std::fs::write(&p, &bytes).unwrap();
        let (dur, w, hh, n) = ffprobe(&p);
        assert_eq!((w, hh, n), (320, 240, 75));
        assert!((dur - 5.0).abs() < 0.1, "duration {dur}");
    }
    if let Ok(dir) = std::env::var("SCREENSHOT_DIR") {
        let shot = b.screenshot_png().await.unwrap();
        let _ = std::fs::write(std::path::Path::new(&dir).join("timeline.png"), shot);
    }
    b.close().await.unwrap();
    h.stop().await;
}
