//! The timeline and the events page in headless Chromium running in New
//! York's time zone, on real footage uploaded as an agent would: two back to
//! back segments, a 3-minute gap, a third segment. Checked with exact values:
//! local times and the zone on the labels, the zoom steps and their anchor,
//! the gap drawn and labelled, drag to scrub and the arrow keys (the
//! player's `currentTime` and segment), space, playback across a segment
//! boundary and across the gap, and an events layer fed by fixture events
//! through the page's events data source (marker positions, colours by
//! kind, the hover card, click plays from start minus the pre-roll, live
//! additions). The hub's events API is asked for the day's events, and the console
//! stays clean.

use std::time::Duration;

use crate::browser_support::{PLAIN, mid, num, shot, text};
use crate::common::{TestHub, browser_login};
use crate::recordings_support::{FPS, T0, encode, segment_files, upload};
use serde_json::{Value, json};
use testkit::{Browser, Key, LaunchOptions};

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"
"#;

const WAIT: Duration = Duration::from_secs(20);
/// 2026-11-21 00:00 in New York (EST, UTC-5): T0 is 02:31:50 there.
const MIDNIGHT: i64 = 1_795_237_200_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// The hub's event pre-roll (`EVENT_PRE_ROLL_MS`).
const PRE_ROLL: i64 = 5_000;

/// Segments: A = T0..+10 s and B = +10..+20 s (one run cut in two: B's media
/// time starts at 10 s), then nothing until C = +200..+210 s.
const A: i64 = T0;
const B: i64 = T0 + 10_000;
const C: i64 = T0 + 200_000;

async fn upload_footage(h: &TestHub) -> Vec<String> {
    let (track, frames) = encode(20 * FPS as usize, FPS as u32);
    let mut files = segment_files(&track, &frames[..10 * FPS as usize], 60);
    files.extend(segment_files(&track, &frames[10 * FPS as usize..], 60));
    let (track, frames) = encode(10 * FPS as usize, FPS as u32);
    files.extend(segment_files(&track, &frames, 60));
    assert_eq!(files.len(), 3);
    let mut names = Vec::new();
    for (file, start) in files.iter().zip([A, B, C]) {
        names.push(upload(h, start, file).await);
    }
    names
}

/// The viewport x (CSS px) of moment `ms` on the axis as drawn now.
async fn x_of(b: &Browser, ms: i64) -> f64 {
    num(
        b,
        &format!(
            "const r = document.getElementById('footage-lane').getBoundingClientRect(), v = window.timeline.view;
             return r.left + ({ms} - v.start) / v.span * r.width"
        ),
    )
    .await
}

/// The moment the page maps viewport x to (the same sum a person's pointer gets).
async fn time_at(b: &Browser, x: f64) -> f64 {
    num(
        b,
        &format!(
            "const r = document.getElementById('footage-lane').getBoundingClientRect(), v = window.timeline.view;
             return v.start + ({x} - r.left) / r.width * v.span"
        ),
    )
    .await
}

/// (segment index, player currentTime, paused, the page's wall time)
async fn playing(b: &Browser) -> (i64, f64, bool, f64) {
    let v = b
        .eval(
            "const v = document.getElementById('player'), t = window.timeline;
             return [t.current, v.currentTime, v.paused, t.wallTime === undefined ? -1 : t.wallTime]",
        )
        .await
        .unwrap();
    (
        v[0].as_i64().unwrap(),
        v[1].as_f64().unwrap(),
        v[2].as_bool().unwrap(),
        v[3].as_f64().unwrap(),
    )
}

/// Waits until the player shows segment `index` paused at `secs` of media time.
async fn wait_paused_at(b: &Browser, index: i64, secs: f64) {
    let js = format!(
        "const v = document.getElementById('player'), t = window.timeline;
         return t.current === {index} && v.paused && v.readyState >= 1 && !v.seeking && Math.abs(v.currentTime - {secs}) < 0.002"
    );
    if let Err(e) = b.wait_until(&js, WAIT).await {
        panic!("{e}; now {:?}", playing(b).await);
    }
}

/// A small JPEG as a data URL, standing in for an event thumbnail.
fn thumbnail() -> String {
    use base64::Engine;
    let jpeg = crate::common::jpeg(7);
    format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    )
}

/// Installs fixture events as the page's events source: pages of two
/// (newest id first, as the API pages), every query recorded in `__queries`.
async fn install_events(b: &Browser, events: &Value) {
    b.eval_with(
        "window.__queries = [];
         const all = arguments[0];
         hubEvents.setSource(async (q) => {
           window.__queries.push(q);
           const hit = all.filter((e) => (!q.camera || e.camera === q.camera) && (!q.kind || q.kind.includes(e.kind)) &&
             e.start_ms < q.end && (e.end_ms === null ? Infinity : e.end_ms) > q.start &&
             (q.before == null || e.id < q.before)).sort((x, y) => y.id - x.id);
           const page = hit.slice(0, 2);
           return { events: page, next_before: hit.length > 2 ? page[1].id : null };
         });
         return true",
        vec![events.clone()],
    )
    .await
    .unwrap();
}

fn fixture_events() -> Value {
    let thumb = thumbnail();
    json!([
        {"id": 1, "camera": "porch", "kind": "motion", "label": null, "start_ms": T0 + 14_000, "end_ms": T0 + 17_000,
         "score": 0.42, "zone": "driveway", "thumbnail": thumb, "message": null},
        {"id": 2, "camera": "porch", "kind": "alarm", "label": "person", "start_ms": T0 + 203_000, "end_ms": T0 + 206_000,
         "score": 0.91, "zone": "porch", "thumbnail": thumb, "message": null},
        {"id": 3, "camera": "porch", "kind": "health", "label": null, "start_ms": T0 + 20_000, "end_ms": T0 + 200_000,
         "score": null, "zone": null, "thumbnail": null, "message": "Camera offline"},
        {"id": 4, "camera": "porch", "kind": "motion", "label": null, "start_ms": T0 + 207_500, "end_ms": null,
         "score": 0.3, "zone": "driveway", "thumbnail": null, "message": null},
        {"id": 6, "camera": "garage", "kind": "motion", "label": null, "start_ms": T0 + 30_000, "end_ms": T0 + 31_000,
         "score": 0.5, "zone": null, "thumbnail": null, "message": null}
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_in_new_york_zooms_scrubs_steps_and_plays_events() {
    if let Some(why) = Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    let names = upload_footage(&h).await;
    let b = Browser::launch_with(LaunchOptions {
        time_zone: Some("America/New_York".into()),
        phone: None,
    })
    .await
    .expect("chromium starts");
    browser_login(&b, &h, "/timeline/porch?date=2026-11-21").await;
    b.wait_until("return window.timeline && window.timeline.ready", WAIT)
        .await
        .unwrap();

    // ---- The day in the viewer's zone, with the zone shown.
    assert_eq!(text(&b, "#zone").await, "America/New_York (EST)");
    assert_eq!(text(&b, "#day").await, "Saturday, November 21, 2026");
    let view = b.eval("return window.timeline.view").await.unwrap();
    assert_eq!(view, json!({"start": MIDNIGHT, "span": DAY}));
    assert_eq!(
        text(&b, "#range").await,
        "Sat, Nov 21 12:00 AM – Sun, Nov 22 12:00 AM EST"
    );
    // The ruler counts local hours from local midnight.
    let ticks = b
        .eval(&format!(
            "return [...document.querySelectorAll('#ruler .tick')].slice(0, 3).map(e => [Number(e.dataset.ms), e.textContent{PLAIN}])"
        ))
        .await
        .unwrap();
    assert_eq!(
        ticks,
        json!([
            [MIDNIGHT, "Sat, Nov 21"],
            [MIDNIGHT + 2 * HOUR, "2:00 AM"],
            [MIDNIGHT + 4 * HOUR, "4:00 AM"]
        ])
    );
    // Footage: A and B are one run, C another, labelled in local time.
    let runs = b
        .eval(&format!(
            "return [...document.querySelectorAll('#footage-lane .run')].map(e => [Number(e.dataset.start), Number(e.dataset.end), e.title{PLAIN}])"
        ))
        .await
        .unwrap();
    assert_eq!(
        runs,
        json!([
            [A, B + 10_000, "2:31:50 AM – 2:32:10 AM EST · 20 s"],
            [C, C + 10_000, "2:35:10 AM – 2:35:20 AM EST · 10 s"]
        ])
    );
    // The hub serves events: the lane and legend are shown and the day's events are
    // asked for (none yet).
    let lane = b
        .wait_until(
            "const n = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/events?')).length;
             return n > 0 ? [document.body.dataset.events, document.getElementById('events-lane').hidden,
                     document.getElementById('legend').hidden, document.querySelectorAll('#events-lane .event').length] : null",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(lane, json!(["1", false, false, 0]));

    // Nothing plays yet: the player says how to start.
    assert_eq!(
        text(&b, "#hint").await,
        "Click the timeline below (or press Space) to play."
    );

    // ---- Zoom with nothing played: around the middle of the view.
    b.click("#zoom-in").await.unwrap();
    let view = b.eval("return window.timeline.view").await.unwrap();
    assert_eq!(
        view,
        json!({"start": MIDNIGHT + 6 * HOUR, "span": 12 * HOUR})
    );
    assert_eq!(
        text(&b, "#range").await,
        "Sat, Nov 21 6:00 AM – 6:00 PM EST"
    );
    b.click("#zoom-out").await.unwrap();
    let view = b.eval("return window.timeline.view").await.unwrap();
    assert_eq!(view, json!({"start": MIDNIGHT, "span": DAY}));

    // ---- Click the footage: it plays from there. Then space pauses.
    let y = mid(&b, "#footage-lane").await.1;
    let x = x_of(&b, A + 5_000).await.round();
    let at = time_at(&b, x).await;
    b.click_at((x, y)).await.unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return !v.paused && v.currentTime > 0.2",
        WAIT,
    )
    .await
    .unwrap();
    let (seg, _, _, _) = playing(&b).await;
    let expect_seg = if at < B as f64 {
        0
    } else if at < (B + 10_000) as f64 {
        1
    } else {
        2
    };
    assert_eq!(seg, expect_seg, "clicked at {at}");
    assert_eq!(
        b.eval("return document.getElementById('hint').hidden")
            .await
            .unwrap(),
        json!(true)
    );
    b.press(&[' ']).await.unwrap();
    b.wait_until("return document.getElementById('player').paused", WAIT)
        .await
        .unwrap();

    // ---- Zoom in step by step (buttons and keys): the playhead stays put on the axis.
    let frac = |v: &Value, t: f64| (t - v["start"].as_f64().unwrap()) / v["span"].as_f64().unwrap();
    // Paused: the playhead's time settles (a last timeupdate may still move it).
    let mut wall = num(&b, "return window.timeline.wallTime").await;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = num(&b, "return window.timeline.wallTime").await;
        if now == wall {
            break;
        }
        wall = now;
    }
    let mut f0 = frac(&b.eval("return window.timeline.view").await.unwrap(), wall);
    for (i, span) in [12 * HOUR, 3 * HOUR, HOUR, 15 * MIN, 5 * MIN, MIN]
        .into_iter()
        .enumerate()
    {
        if i % 2 == 0 {
            b.click("#zoom-in").await.unwrap();
        } else {
            b.press(&['+']).await.unwrap();
        }
        let v = b.eval("return window.timeline.view").await.unwrap();
        assert_eq!(v["span"], json!(span), "zoom step {i}");
        let f = frac(&v, wall);
        // Within a hundredth of a pixel.
        assert!(
            (f - f0).abs() < 1e-5,
            "playhead moved on the axis: {f0} -> {f}"
        );
        f0 = f;
        let select = b
            .eval("return document.getElementById('zoom').value")
            .await
            .unwrap();
        assert_eq!(select, json!(span.to_string()));
    }
    // One more step in is refused (a minute is the closest); out again by keys.
    b.press(&['+']).await.unwrap();
    assert_eq!(
        b.eval("return window.timeline.view.span").await.unwrap(),
        json!(MIN)
    );
    for span in [
        5 * MIN,
        15 * MIN,
        HOUR,
        3 * HOUR,
        12 * HOUR,
        DAY,
        3 * DAY,
        7 * DAY,
        7 * DAY,
    ] {
        b.press(&['-']).await.unwrap();
        assert_eq!(
            b.eval("return window.timeline.view.span").await.unwrap(),
            json!(span)
        );
    }
    // A week: local midnights on the ruler.
    let ticks = b
        .eval(&format!(
            "return [...document.querySelectorAll('#ruler .tick')].map(e => [Number(e.dataset.ms), e.textContent{PLAIN}])"
        ))
        .await
        .unwrap();
    assert!(
        ticks
            .as_array()
            .unwrap()
            .contains(&json!([MIDNIGHT, "Sat, Nov 21"])),
        "{ticks}"
    );
    shot(&b, "timeline-week.png").await;

    // ---- Five minutes around the footage: the gap is drawn as a gap.
    b.eval(&format!(
        "window.timeline.setView({}, {}); return true",
        T0 - 30_000,
        5 * MIN
    ))
    .await
    .unwrap();
    b.wait_until(
        "return document.querySelectorAll('#footage-lane .gap').length === 3",
        WAIT,
    )
    .await
    .unwrap();
    let gaps = b
        .eval(&format!(
            "return [...document.querySelectorAll('#footage-lane .gap')].map(e => [Number(e.dataset.start), Number(e.dataset.end), (e.querySelector('.label') || {{textContent: ''}}).textContent{PLAIN}])"
        ))
        .await
        .unwrap();
    assert_eq!(
        gaps[1],
        json!([B + 10_000, C, "No footage · 3 min"]),
        "{gaps}"
    );
    assert_eq!(gaps[0][2], json!("No footage"));
    // Drawn exactly between the runs, and not in the footage colour.
    let edges = b
        .eval(
            "const r = [...document.querySelectorAll('#footage-lane .run')].map(e => e.getBoundingClientRect());
             const g = document.querySelectorAll('#footage-lane .gap')[1];
             const gr = g.getBoundingClientRect();
             return [gr.left - r[0].right, gr.right - r[1].left,
                     getComputedStyle(g).backgroundImage !== 'none',
                     getComputedStyle(document.querySelector('#footage-lane .run')).backgroundColor]",
        )
        .await
        .unwrap();
    assert!(edges[0].as_f64().unwrap().abs() < 0.05, "{edges}");
    assert!(edges[1].as_f64().unwrap().abs() < 0.05, "{edges}");
    assert_eq!(edges[2], json!(true));
    assert_eq!(edges[3], json!("rgb(47, 143, 91)"));
    assert_eq!(text(&b, "#footage-lane .run .label").await, "2:31:50 AM");
    assert_eq!(
        text(&b, "#range").await,
        "Sat, Nov 21 2:31:20 AM – 2:36:20 AM EST"
    );
    shot(&b, "timeline-gap.png").await;

    // ---- Drag to scrub (paused stays paused): from B back into A.
    let (x1, x2) = (x_of(&b, B + 5_000).await, x_of(&b, A + 4_000).await.round());
    let target = time_at(&b, x2).await;
    b.drag((x1, y), (x2, y), 8).await.unwrap();
    wait_paused_at(&b, 0, (target - A as f64) / 1000.0).await;
    let (_, _, _, wall) = playing(&b).await;
    assert!((wall - target).abs() < 1.0, "{wall} vs {target}");
    let second = 50 + ((target - A as f64) / 1000.0).floor() as i64;
    assert_eq!(
        text(&b, "#now").await,
        format!("Sat, Nov 21, 2026, 2:31:{second} AM EST")
    );
    // Arrow keys: 10 s on (into B), back, and a minute on into the gap: the next footage.
    b.press(&[Key::Right.into()]).await.unwrap();
    wait_paused_at(&b, 1, (target + 10_000.0 - B as f64) / 1000.0).await;
    b.press(&[Key::Left.into()]).await.unwrap();
    wait_paused_at(&b, 0, (target - A as f64) / 1000.0).await;
    b.press(&[Key::Shift.into(), Key::Right.into()])
        .await
        .unwrap();
    wait_paused_at(&b, 2, 0.0).await;
    // Back from C's start lands in the gap: the last 10 s before it, i.e. B from its start.
    b.press(&[Key::Left.into()]).await.unwrap();
    wait_paused_at(&b, 1, 0.0).await;

    // ---- Space plays and pauses; a focused button does not take it as a click too.
    b.press(&[' ']).await.unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return !v.paused && v.currentTime > 0.3",
        WAIT,
    )
    .await
    .unwrap();
    b.click("#play").await.unwrap(); // pauses, and keeps the focus
    b.wait_until("return document.getElementById('player').paused", WAIT)
        .await
        .unwrap();
    b.press(&[' ']).await.unwrap();
    b.wait_until("return !document.getElementById('player').paused", WAIT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        b.eval("return document.getElementById('player').paused")
            .await
            .unwrap(),
        json!(false),
        "space toggled once"
    );

    // ---- Playback runs on: A into B at their boundary, B across the gap into C.
    b.eval(&format!(
        "window.timeline.playAt({}); return true",
        A + 8_500
    ))
    .await
    .unwrap();
    b.wait_until("return window.timeline.current === 0", WAIT)
        .await
        .unwrap();
    b.wait_until(
        "const t = window.timeline; return t.current === 1 && t.segmentTime > 0.3 && !document.getElementById('player').paused",
        WAIT,
    )
    .await
    .unwrap();
    b.eval(&format!(
        "window.timeline.playAt({}); return true",
        B + 8_500
    ))
    .await
    .unwrap();
    b.wait_until(
        "const t = window.timeline; return t.current === 2 && t.segmentTime > 0.3",
        WAIT,
    )
    .await
    .unwrap();
    assert!(
        text(&b, "#segment-name")
            .await
            .ends_with("(skipped 3 min without footage)"),
        "{}",
        text(&b, "#segment-name").await
    );
    assert_eq!(
        b.eval("return window.timeline.segments.map(s => s.name)")
            .await
            .unwrap(),
        json!(names)
    );

    // ---- Events over the footage, from fixture events given to the page's source.
    b.eval("document.getElementById('player').pause(); return true")
        .await
        .unwrap();
    install_events(&b, &fixture_events()).await;
    b.wait_until(
        "return document.querySelectorAll('#events-lane .event').length === 4",
        WAIT,
    )
    .await
    .unwrap();
    // Asked for this camera over the loaded range, and followed the pages.
    let q = b
        .eval("const q = window.__queries; return [q.length, q[0].camera, q[0].start <= window.timeline.view.start, q[0].end >= window.timeline.view.start + window.timeline.view.span, q[1].before]")
        .await
        .unwrap();
    assert_eq!(q, json!([2, "porch", true, true, 3]));
    let markers = b
        .eval(
            "const l = document.getElementById('events-lane').getBoundingClientRect(), v = window.timeline.view;
             return [...document.querySelectorAll('#events-lane .event')].map(e => {
               const r = e.getBoundingClientRect();
               return [Number(e.dataset.id), e.className, Math.abs(r.left - (l.left + (Number(e.dataset.start) - v.start) / v.span * l.width)) < 0.05,
                       getComputedStyle(e).backgroundColor];
             })",
        )
        .await
        .unwrap();
    assert_eq!(
        markers,
        json!([
            [1, "event kind-motion", true, "rgb(249, 171, 0)"],
            [3, "event kind-health", true, "rgb(179, 136, 255)"],
            [2, "event kind-alarm", true, "rgb(255, 93, 82)"],
            [4, "event kind-motion ongoing", true, "rgb(249, 171, 0)"]
        ])
    );
    // Ends where the event ends (3 s of a 5-minute view); the ongoing one runs to the end of the view.
    let widths = b
        .eval(
            "const l = document.getElementById('events-lane').getBoundingClientRect();
             return [...document.querySelectorAll('#events-lane .event')].map(e => e.getBoundingClientRect().right - l.left)",
        )
        .await
        .unwrap();
    let lane_w = num(
        &b,
        "return document.getElementById('events-lane').getBoundingClientRect().width",
    )
    .await;
    let px = |ms: i64| (ms - (T0 - 30_000)) as f64 / (5 * MIN) as f64 * lane_w;
    assert!(
        (widths[0].as_f64().unwrap() - px(T0 + 17_000)).abs() < 0.05,
        "{widths}"
    );
    assert!(
        (widths[2].as_f64().unwrap() - px(T0 + 206_000)).abs() < 0.05,
        "{widths}"
    );
    assert!(widths[3].as_f64().unwrap() >= lane_w - 0.05, "{widths}");
    // The outage the hub reported names the gap.
    let gap = b
        .eval(&format!("const g = document.querySelectorAll('#footage-lane .gap')[1]; return [g.className, g.querySelector('.label').textContent{PLAIN}]"))
        .await
        .unwrap();
    assert_eq!(gap, json!(["gap outage", "Camera offline · 3 min"]));

    // Hover: the thumbnail and what happened.
    let ey = mid(&b, "#events-lane").await.1;
    let alarm_x = num(&b, "const r = document.querySelector('#events-lane .kind-alarm').getBoundingClientRect(); return r.left + r.width / 2").await;
    b.hover((alarm_x, ey)).await.unwrap();
    b.wait_until("return !document.getElementById('event-tip').hidden", WAIT)
        .await
        .unwrap();
    b.wait_until(
        "const img = document.querySelector('#event-tip img'); return img.complete && img.naturalWidth === 160",
        WAIT,
    )
    .await
    .unwrap();
    let tip = b
        .eval_with(
            &format!(
                "const t = document.getElementById('event-tip'); const img = t.querySelector('img');
                 return [img.hidden, img.getAttribute('src') === arguments[0], [...t.querySelectorAll('.text > *')].map(e => e.textContent{PLAIN})]"
            ),
            vec![json!(thumbnail())],
        )
        .await
        .unwrap();
    assert_eq!(
        tip,
        json!([
            false,
            true,
            [
                "Person",
                "Alarm · zone porch · 91%",
                "2:35:13 AM – 2:35:16 AM EST (3 s)",
                "Click to play from 2:35:08 AM"
            ]
        ])
    );
    shot(&b, "timeline-events.png").await;

    // Click the first motion event: plays from its start minus the pre-roll
    // (in A). While the player seeks, currentTime is where it was sent.
    b.eval(
        "window.__seeks = []; const v = document.getElementById('player');
         v.addEventListener('seeking', () => window.__seeks.push([v.dataset.name, v.currentTime])); return true",
    )
    .await
    .unwrap();
    let motion_x = num(&b, "const r = document.querySelector('#events-lane .event[data-id=\"1\"]').getBoundingClientRect(); return r.left + r.width / 2").await;
    b.click_at((motion_x, ey)).await.unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return window.timeline.current === 0 && !v.paused && window.__seeks.length > 0",
        WAIT,
    )
    .await
    .unwrap();
    let seeks = b.eval("return window.__seeks").await.unwrap();
    let want = (T0 + 14_000 - PRE_ROLL - A) as f64 / 1000.0;
    assert_eq!(seeks[0][0], json!(names[0]));
    assert!(
        (seeks[0][1].as_f64().unwrap() - want).abs() < 0.001,
        "{seeks} vs {want}"
    );
    // The alarm's pre-roll starts in the gap: it plays from the next footage, C's start.
    let alarm_x = num(&b, "const r = document.querySelector('#events-lane .kind-alarm').getBoundingClientRect(); return r.left + r.width / 2").await;
    b.click_at((alarm_x, ey)).await.unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return window.timeline.current === 2 && !v.paused && v.currentTime > 0.1",
        WAIT,
    )
    .await
    .unwrap();
    let (_, t, _, _) = playing(&b).await;
    assert!(t < 2.0, "C plays from its start: {t}");

    // A pushed event appears at once; another camera's does not.
    b.eval(&format!(
        "hubEvents.emit({{id: 5, camera: 'porch', kind: 'alarm', label: 'vehicle', start_ms: {}, end_ms: {}}});
         hubEvents.emit({{id: 7, camera: 'garage', kind: 'alarm', label: 'vehicle', start_ms: {}, end_ms: {}}});
         return true",
        T0 + 100_000,
        T0 + 102_000,
        T0 + 110_000,
        T0 + 112_000
    ))
    .await
    .unwrap();
    let ids = b
        .eval("return [...document.querySelectorAll('#events-lane .event')].map(e => Number(e.dataset.id)).sort((a, b) => a - b)")
        .await
        .unwrap();
    assert_eq!(ids, json!([1, 2, 3, 4, 5]));

    let errors = b.console_errors().await.unwrap();
    assert!(errors.is_empty(), "console: {errors:?}");

    // ---- The events page: the day's events with thumbnails and filters.
    b.goto(&h.url("/events?camera=porch&date=2026-11-21"))
        .await
        .unwrap();
    b.wait_until("return window.eventList && window.eventList.ready", WAIT)
        .await
        .unwrap();
    // The hub serves events: filters and the (empty) list, no sentence saying it does not.
    let on = b
        .eval("return [document.getElementById('unavailable').hidden, document.getElementById('filters').hidden, document.getElementById('events').hidden]")
        .await
        .unwrap();
    assert_eq!(on, json!([true, false, false]));
    install_events(&b, &fixture_events()).await;
    b.wait_until(
        "return document.querySelectorAll('#events .event-item').length === 4",
        WAIT,
    )
    .await
    .unwrap();
    let items = b
        .eval(&format!(
            "return [...document.querySelectorAll('#events .event-item')].map(e => [Number(e.dataset.id), e.querySelector('.badge').textContent, (e.querySelector('.title') || {{textContent: null}}).textContent,
               e.querySelector('.when').textContent{PLAIN}, !!e.querySelector('.thumb img'),
               e.querySelector('a.play').getAttribute('href'), e.querySelector('a.clip').getAttribute('href')])"
        ))
        .await
        .unwrap();
    let export = |s: i64, e: i64| format!("/api/recordings/export?camera=porch&start={s}&end={e}");
    assert_eq!(items[0][0], json!(4));
    assert_eq!(
        items[0][3],
        json!("2:35:17 AM – ongoing · zone driveway · 30%")
    );
    assert_eq!(
        items[1],
        json!([
            2,
            "Alarm",
            "Person",
            "2:35:13 AM – 2:35:16 AM (3 s) · zone porch · 91%",
            true,
            format!("/timeline/porch?t={}", T0 + 198_000),
            export(T0 + 198_000, T0 + 211_000)
        ])
    );
    assert_eq!(
        items[2],
        json!([
            3,
            "Camera health",
            "Camera offline",
            "2:32:10 AM – 2:35:10 AM (3 min)",
            false,
            format!("/timeline/porch?t={}", T0 + 15_000),
            export(T0 + 15_000, T0 + 205_000)
        ])
    );
    assert_eq!(
        items[3],
        json!([
            1,
            "Motion",
            null,
            "2:32:04 AM – 2:32:07 AM (3 s) · zone driveway · 42%",
            true,
            format!("/timeline/porch?t={}", T0 + 9_000),
            export(T0 + 9_000, T0 + 22_000)
        ])
    );
    assert_eq!(
        text(&b, "#summary").await,
        "4 events on Saturday, November 21, 2026 · times in America/New_York (EST)"
    );
    // Kind: asked of the hub. Label and zone: from what the day has.
    b.eval(
        "const c = document.querySelector('input[name=kind][value=motion]'); c.click(); return true",
    )
    .await
    .unwrap();
    b.wait_until(
        "return document.querySelectorAll('#events .event-item').length === 2",
        WAIT,
    )
    .await
    .unwrap();
    let last = b
        .eval("const q = window.__queries; return [q[q.length - 1].kind, location.search]")
        .await
        .unwrap();
    assert_eq!(
        last,
        json!([
            ["alarm", "health"],
            "?camera=porch&date=2026-11-21&kind=alarm%2Chealth"
        ])
    );
    let labels = b
        .eval("return [...document.querySelectorAll('#label option')].map(o => o.value)")
        .await
        .unwrap();
    assert_eq!(labels, json!(["", "person"]));
    b.eval("const s = document.getElementById('label'); s.value = 'person'; s.dispatchEvent(new Event('change', {bubbles: true})); return true")
        .await
        .unwrap();
    let ids = b
        .eval("return [...document.querySelectorAll('#events .event-item')].map(e => Number(e.dataset.id))")
        .await
        .unwrap();
    assert_eq!(ids, json!([2]));
    b.eval("const s = document.getElementById('label'); s.value = ''; s.dispatchEvent(new Event('change', {bubbles: true}));
            const c = document.querySelector('input[name=kind][value=motion]'); c.click(); return true")
        .await
        .unwrap();
    b.wait_until(
        "return document.querySelectorAll('#events .event-item').length === 4",
        WAIT,
    )
    .await
    .unwrap();
    b.eval("const s = document.getElementById('zone'); s.value = 'driveway'; s.dispatchEvent(new Event('change', {bubbles: true})); return true")
        .await
        .unwrap();
    let ids = b
        .eval("return [...document.querySelectorAll('#events .event-item')].map(e => Number(e.dataset.id))")
        .await
        .unwrap();
    assert_eq!(ids, json!([4, 1]));
    shot(&b, "events.png").await;

    // "Play" opens the timeline playing from the event's start minus the
    // pre-roll: the outage's link, 5 s into B.
    let play = items[2][5].as_str().unwrap().to_owned();
    b.goto(&h.url(&play)).await.unwrap();
    b.wait_until(
        "const v = document.getElementById('player'); return window.timeline && window.timeline.ready && window.timeline.current === 1 && v.readyState >= 1 && !v.paused",
        WAIT,
    )
    .await
    .unwrap();
    let (_, t, _, _) = playing(&b).await;
    assert!((5.0..7.0).contains(&t), "plays from 5 s into B: {t}");
    assert_eq!(
        b.eval("return window.timeline.view").await.unwrap(),
        json!({"start": T0 + 15_000 - 225_000, "span": 15 * MIN})
    );
    let errors = b.console_errors().await.unwrap();
    assert!(errors.is_empty(), "console: {errors:?}");
    b.close().await.unwrap();
    h.stop().await;
}

/// The hub's own recorder (the demo camera, 2 s segments): the picture the
/// timeline shows at a moment is the one taken then. The test pattern
/// stamps each picture with the time it was drawn; the recorder times a
/// segment from its first frame's arrival, so the picture shown at `t` was
/// drawn at most one frame interval (100 ms) plus that arrival's latency
/// before `t`, and never after it. A segment that does not start at media
/// time 0 or a time zone slip would be off by seconds or hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_picture_at_a_timeline_moment_was_taken_then() {
    if let Some(why) = Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(
        "[recordings]\nsegment_duration = \"2s\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 320\nheight = 240\nfps = 10\n",
    )
    .await;
    // Four finished segments.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let segments = loop {
        let v: Value = h
            .get_auth("/api/recordings?camera=pattern")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let segs = v["segments"].as_array().unwrap().clone();
        if segs.len() >= 4 {
            break segs;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let b = Browser::launch_with(LaunchOptions {
        time_zone: Some("America/New_York".into()),
        phone: None,
    })
    .await
    .expect("chromium starts");
    browser_login(&b, &h, "/timeline/pattern").await;
    b.wait_until("return window.timeline && window.timeline.ready", WAIT)
        .await
        .unwrap();
    let mut offsets = Vec::new();
    for seg in &segments[1..4] {
        for into in [250, 1_050] {
            let t = seg["start_ms"].as_i64().unwrap() + into;
            b.eval(&format!(
                "window.timeline.seekTo({t}, {{play: false}}); return true"
            ))
            .await
            .unwrap();
            b.wait_until(
                &format!(
                    "const v = document.getElementById('player'), t = window.timeline;
                     return t.seg && t.seg.name === '{}' && v.paused && v.readyState >= 2 && !v.seeking && Math.abs(t.wallTime - {t}) < 1",
                    seg["name"].as_str().unwrap()
                ),
                WAIT,
            )
            .await
            .unwrap();
            let (_, stamp) = crate::browser_support::video_stamp(&b, "player")
                .await
                .expect("a stamped picture");
            let drawn = stamp.unwrap_millis(t as u64) as i64;
            let before = t - drawn;
            offsets.push(before);
            assert!(
                (0..250).contains(&before),
                "{}: at {t} the picture drawn at {drawn} ({before} ms before)",
                seg["name"]
            );
        }
    }
    println!("timeline moment minus the shown picture's drawing time, ms: {offsets:?}");
    let errors = b.console_errors().await.unwrap();
    assert!(errors.is_empty(), "console: {errors:?}");
    b.close().await.unwrap();
    h.stop().await;
}
