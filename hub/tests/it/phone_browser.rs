//! Every page on a phone: headless Chromium emulating a 390x844 touch
//! screen in Kolkata's time zone (UTC+5:30). On each page nothing is wider
//! than the screen, the navigation bar and the page's controls are on screen,
//! big enough to tap and not covered, and the console stays clean. The
//! timeline opened at a moment (`?t=`) plays from it, labels it in local time
//! with ticks on local half-hour-zone boundaries, plays where it is tapped and
//! scrubs under a finger.

use std::time::Duration;

use crate::browser_support::{PLAIN, mid};
use crate::common::{TestHub, browser_login};
use crate::recordings_support::{T0, upload_two};
use serde_json::{Value, json};
use testkit::{Browser, LaunchOptions};

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"

[[camera]]
id = 2
name = "pattern"
kind = "demo"
width = 320
height = 240
fps = 5
"#;

const WAIT: Duration = Duration::from_secs(20);
const PHONE: (u32, u32) = (390, 844);

/// Fails if anything sticks out of the screen sideways (the axis and ruler
/// clip their own contents).
async fn no_overflow(b: &Browser, page: &str) {
    let v = b
        .eval(
            "const w = document.documentElement.clientWidth;
             const out = [...document.querySelectorAll('body *')].filter((e) => {
               const r = e.getBoundingClientRect();
               if (!r.width || e.closest('.axis, .ruler')) return false;
               return r.right > w + 0.5 || r.left < -0.5;
             }).map((e) => e.tagName + '#' + e.id + '.' + e.className);
             return [w, document.documentElement.scrollWidth, innerWidth, out.slice(0, 8)]",
        )
        .await
        .unwrap();
    assert_eq!(v, json!([390, 390, 390, []]), "{page}");
}

/// Each of `css` is on the screen once scrolled to, at least 24x24 CSS px,
/// and what a finger at its middle would touch.
async fn reachable(b: &Browser, page: &str, css: &[&str]) {
    for sel in css {
        let v = b
            .eval_with(
                "const e = document.querySelector(arguments[0]);
                 if (!e) return 'missing';
                 e.scrollIntoView({block: 'center'});
                 const r = e.getBoundingClientRect();
                 const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                 return [r.left >= 0 && r.right <= innerWidth && r.top >= 0 && r.bottom <= innerHeight,
                         r.width >= 24 && r.height >= 24, !!hit && (hit === e || e.contains(hit) || hit.closest('label') === e.closest('label'))]",
                vec![json!(sel)],
            )
            .await
            .unwrap();
        assert_eq!(v, json!([true, true, true]), "{page}: {sel}");
    }
}

/// The navigation bar: four sections, `current` marked.
async fn nav(b: &Browser, page: &str, current: &str) {
    let v = b
        .eval(
            "return [[...document.querySelectorAll('header nav a')].map(a => [a.textContent, a.getAttribute('href')]),
                     (document.querySelector('header nav a[aria-current=page]') || {}).textContent || null]",
        )
        .await
        .unwrap();
    assert_eq!(
        v,
        json!([
            [
                ["Live", "/live"],
                ["Recordings", "/timeline"],
                ["Events", "/events"],
                ["Status", "/status"]
            ],
            current
        ]),
        "{page}"
    );
    reachable(
        b,
        page,
        &[
            "header nav a[href='/live']",
            "header nav a[href='/timeline']",
            "header nav a[href='/events']",
            "header nav a[href='/status']",
            "header .account button",
        ],
    )
    .await;
}

async fn shot(b: &Browser, name: &str) {
    b.eval("scrollTo(0, 0); return true").await.unwrap();
    crate::browser_support::shot(b, name).await;
}

async fn clean_console(b: &Browser, page: &str) {
    let errors = b.console_errors().await.unwrap();
    assert!(errors.is_empty(), "{page}: {errors:?}");
}

async fn eval(b: &Browser, js: &str) -> Value {
    b.eval(js).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_in_kolkata() {
    if let Some(why) = Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    let (names, _) = upload_two(&h).await; // 07:31:50-07:31:53 and -07:31:57 UTC
    let b = Browser::launch_with(LaunchOptions {
        time_zone: Some("Asia/Kolkata".into()),
        phone: Some(PHONE),
    })
    .await
    .expect("chromium starts");
    browser_login(&b, &h, "/live").await;
    b.wait_until(
        "const t = document.querySelector('.tile[data-camera-name=\"pattern\"]'); return t && t.dataset.health === 'online' && t.querySelector('img').naturalWidth === 320",
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(
        eval(
            &b,
            "return [innerWidth, innerHeight, matchMedia('(pointer: coarse)').matches]"
        )
        .await,
        json!([390, 844, true])
    );

    // Live grid: tiles one above the other, each as wide as the screen allows.
    nav(&b, "/live", "Live").await;
    no_overflow(&b, "/live").await;
    reachable(
        &b,
        "/live",
        &[
            ".tile[data-camera-name='pattern'] .picture",
            ".tile[data-camera-name='porch'] .links a",
        ],
    )
    .await;
    let widths = eval(&b, "return [...document.querySelectorAll('.tile')].map(t => Math.round(t.getBoundingClientRect().width))").await;
    assert_eq!(widths, json!([358, 358]));
    shot(&b, "phone-live.png").await;
    clean_console(&b, "/live").await;

    // One camera.
    b.goto(&h.url("/live/pattern")).await.unwrap();
    b.wait_for_text("#state", "online", WAIT).await.unwrap();
    nav(&b, "/live/pattern", "Live").await;
    no_overflow(&b, "/live/pattern").await;
    reachable(
        &b,
        "/live/pattern",
        &[".links a[href='/timeline/pattern']", ".links a[download]"],
    )
    .await;
    let fig = eval(&b, "const r = document.querySelector('.view').getBoundingClientRect(); return [Math.round(r.width), r.bottom <= innerHeight]").await;
    assert_eq!(fig, json!([358, true]));
    shot(&b, "phone-camera.png").await;
    clean_console(&b, "/live/pattern").await;

    // The timeline, opened at 07:31:51 UTC: 1:01:51 PM in Kolkata.
    b.goto(&h.url(&format!("/timeline/porch?t={}", T0 + 1000)))
        .await
        .unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return window.timeline && window.timeline.ready && window.timeline.current === 0 && v.readyState >= 1 && !v.paused",
        WAIT,
    )
    .await
    .unwrap();
    nav(&b, "/timeline", "Recordings").await;
    assert_eq!(
        eval(&b, "return document.getElementById('zone').textContent").await,
        "Asia/Kolkata (GMT+5:30)"
    );
    // 15 minutes, the moment a quarter in; ruler ticks every 5 minutes on
    // local time: the first at 1:00 PM IST (07:30:00 UTC).
    assert_eq!(
        eval(&b, "return window.timeline.view").await,
        json!({"start": T0 + 1000 - 225_000, "span": 900_000})
    );
    let ticks = eval(
        &b,
        &format!("return [...document.querySelectorAll('#ruler .tick')].slice(0, 2).map(e => [Number(e.dataset.ms), e.textContent{PLAIN}])"),
    )
    .await;
    assert_eq!(
        ticks,
        json!([
            [T0 - 110_000, "1:00 PM"],
            [T0 - 110_000 + 300_000, "1:05 PM"]
        ])
    );
    let run = eval(
        &b,
        &format!(
            "return [...document.querySelectorAll('#footage-lane .run')].map(e => e.title{PLAIN})"
        ),
    )
    .await;
    assert_eq!(run, json!(["1:01:50 PM – 1:01:57 PM GMT+5:30 · 7 s"]));
    no_overflow(&b, "/timeline").await;
    reachable(
        &b,
        "/timeline",
        &[
            "#player",
            "#play",
            "#earlier",
            "#later",
            "#to-now",
            "#zoom-out",
            "#zoom",
            "#zoom-in",
            "#date",
            "#axis",
            "#camera",
        ],
    )
    .await;
    shot(&b, "phone-timeline.png").await;

    // Zoom to a minute (the playhead stays), pause, then a finger scrubs
    // from 1 s into the footage to 5 s: the second segment, paused there.
    b.tap(mid(&b, "#play").await).await.unwrap();
    b.wait_until("return document.getElementById('player').paused", WAIT)
        .await
        .unwrap();
    b.eval("const z = document.getElementById('zoom'); z.value = '60000'; z.dispatchEvent(new Event('change')); return true")
        .await
        .unwrap();
    let y = mid(&b, "#footage-lane").await.1;
    let x = |ms: i64| {
        format!(
            "const r = document.getElementById('footage-lane').getBoundingClientRect(), v = window.timeline.view;
             return Math.round(r.left + ({ms} - v.start) / v.span * r.width)"
        )
    };
    let x1 = eval(&b, &x(T0 + 1000)).await.as_f64().unwrap();
    let x2 = eval(&b, &x(T0 + 5000)).await.as_f64().unwrap();
    let target = eval(
        &b,
        &format!(
            "const r = document.getElementById('footage-lane').getBoundingClientRect(), v = window.timeline.view;
             return v.start + ({x2} - r.left) / r.width * v.span"
        ),
    )
    .await
    .as_f64()
    .unwrap();
    b.swipe((x1, y), (x2, y), 6).await.unwrap();
    // Every segment's media time starts at 0.
    let want = (target - (T0 + 3000) as f64) / 1000.0;
    b.wait_until(
        &format!(
            "const v = document.getElementById('player'), t = window.timeline;
             return t.current === 1 && v.paused && !v.seeking && Math.abs(v.currentTime - {want}) < 0.002"
        ),
        WAIT,
    )
    .await
    .unwrap();
    // A tap plays from where it lands.
    b.tap((x1, y)).await.unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return window.timeline.current === 0 && !v.paused",
        WAIT,
    )
    .await
    .unwrap();
    assert_eq!(
        eval(&b, "return window.timeline.segments.map(s => s.name)").await,
        json!(names)
    );
    shot(&b, "phone-timeline-minute.png").await;
    clean_console(&b, "/timeline").await;

    // Events: the hub serves them; the filters are shown (no sentence saying otherwise).
    b.goto(&h.url("/events")).await.unwrap();
    b.wait_until("return window.eventList && window.eventList.ready", WAIT)
        .await
        .unwrap();
    nav(&b, "/events", "Events").await;
    assert_eq!(
        eval(&b, "return [document.getElementById('unavailable').hidden, document.getElementById('filters').hidden]").await,
        json!([true, false])
    );
    no_overflow(&b, "/events").await;
    // With events (from the page's data source), filters and the list fit too.
    b.eval_with(
        "const all = arguments[0];
         hubEvents.setSource(async (q) => ({events: all, next_before: null})); return true",
        vec![json!([
            {"id": 1, "camera": "porch", "kind": "alarm", "label": "person", "start_ms": T0, "end_ms": T0 + 4000,
             "score": 0.9, "zone": "a rather long zone name at the gate", "thumbnail": "//evil.example/x.jpg", "message": null},
            {"id": 2, "camera": "porch", "kind": "health", "label": null, "start_ms": T0 + 60_000, "end_ms": null,
             "score": null, "zone": null, "thumbnail": null,
             "message": "Camera offline: no answer from 192.168.100.200:554 <img src=/x onerror=\"window.pwned=1\">"}
        ])],
    )
    .await
    .unwrap();
    b.eval("const d = document.getElementById('date'); d.value = '2026-11-21'; d.dispatchEvent(new Event('change', {bubbles: true})); return true")
        .await
        .unwrap();
    b.wait_until(
        "return document.querySelectorAll('#events .event-item').length === 2",
        WAIT,
    )
    .await
    .unwrap();
    no_overflow(&b, "/events with events").await;
    // What events say is shown as text, and a thumbnail elsewhere is not fetched.
    let safe = eval(
        &b,
        "return [window.pwned === undefined, document.querySelectorAll('#events img').length,
                 document.querySelector('#events .event-item[data-id=\"2\"] .title').textContent]",
    )
    .await;
    assert_eq!(
        safe,
        json!([
            true,
            0,
            "Camera offline: no answer from 192.168.100.200:554 <img src=/x onerror=\"window.pwned=1\">"
        ])
    );
    reachable(
        &b,
        "/events",
        &[
            "#camera",
            "#date",
            "#label",
            "#zone",
            "#events .event-item a.play",
        ],
    )
    .await;
    shot(&b, "phone-events.png").await;
    clean_console(&b, "/events").await;

    // Status: the table becomes one card per camera.
    b.goto(&h.url("/status")).await.unwrap();
    b.wait_until(
        "const r = document.querySelector('#cameras tr[data-camera-id=\"2\"]'); return r && r.dataset.health === 'online'",
        WAIT,
    )
    .await
    .unwrap();
    nav(&b, "/status", "Status").await;
    no_overflow(&b, "/status").await;
    shot(&b, "phone-status.png").await;
    clean_console(&b, "/status").await;

    // The recording files and one recording.
    b.goto(&h.url("/recordings/index.html")).await.unwrap();
    b.wait_for(".camera-recordings", WAIT).await.unwrap();
    nav(&b, "/recordings/index.html", "Recordings").await;
    no_overflow(&b, "/recordings/index.html").await;
    b.goto(&h.url(&format!("/playback.html?file={}", names[0])))
        .await
        .unwrap();
    b.wait_for("#player", WAIT).await.unwrap();
    no_overflow(&b, "/playback.html").await;
    clean_console(&b, "recordings").await;
    b.close().await.unwrap();
    h.stop().await;
}
