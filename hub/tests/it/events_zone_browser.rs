//! The events page's zone filter in headless Chromium, on events the hub stored and
//! serves itself (`/api/events`): motion in two named detection zones and one without a
//! zone; choosing a zone shows only that zone's events, "Any" all of them, and a zone in
//! the page's URL is applied when the page opens.

use std::time::Duration;

use hub::event_store::{Kind, NewEvent};
use serde_json::{Value, json};
use testkit::{Browser, LaunchOptions};

use crate::common::{TestHub, browser_login, jpeg};
use crate::recordings_support::T0;

const CONFIG: &str = r#"
[[camera]]
id = 1
name = "porch"
kind = "agent"
"#;

const WAIT: Duration = Duration::from_secs(20);

/// Motion from `start` to `end` (ms after T0) in `zone`, stored as the hub stores an
/// agent's event.
fn motion(h: &TestHub, (start, end): (i64, i64), zone: Option<&str>) {
    h.hub
        .events
        .upsert(NewEvent {
            camera: "porch".into(),
            kind: Kind::Motion,
            label: None,
            start_ms: T0 + start,
            end_ms: Some(T0 + end),
            score: Some(0.5),
            zone: zone.map(str::to_owned),
            message: None,
            origin: "agent",
            key: Some(format!("motion-{start}")),
            thumbnail: Some(jpeg(start as u32)),
        })
        .unwrap();
}

/// The ids of the listed events, in page order, with their zones as the page words them.
async fn listed(b: &Browser) -> Value {
    b.eval(
        "return [...document.querySelectorAll('#events .event-item')].map(e => \
           [Number(e.dataset.id), (e.querySelector('.when').textContent.match(/zone ([^·]+?)( ·|$)/) || [null, null])[1]])",
    )
    .await
    .unwrap()
}

/// Waits until the page lists `n` events; on failure says where the page is and what it shows.
async fn wait_listed(b: &Browser, n: usize) {
    let js = format!(
        "return window.eventList && window.eventList.ready && document.querySelectorAll('#events .event-item').length === {n}"
    );
    if let Err(e) = b.wait_until(&js, WAIT).await {
        let page = b
            .eval("return [location.href, document.getElementById('summary').textContent]")
            .await;
        panic!("{e}; page: {page:?}");
    }
}

async fn choose_zone(b: &Browser, zone: &str) {
    b.eval_with(
        "const s = document.getElementById('zone'); s.value = arguments[0]; \
         s.dispatchEvent(new Event('change', {bubbles: true})); return true",
        vec![json!(zone)],
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zone_filter_shows_only_the_chosen_zones_events() {
    if let Some(why) = Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    motion(&h, (1_000, 4_000), Some("driveway"));
    motion(&h, (10_000, 12_000), Some("front door"));
    motion(&h, (20_000, 23_000), Some("driveway"));
    motion(&h, (30_000, 31_000), None);
    // Stored and served by the hub.
    let mut ids: Vec<(i64, Value)> = Vec::new();
    for _ in 0..100 {
        let v: Value = h.get_json("/api/events?camera=porch&kind=motion").await;
        let all = v["events"].as_array().unwrap();
        if all.len() == 4 && all.iter().all(|e| e["end_ms"].is_i64()) {
            ids = all
                .iter()
                .map(|e| (e["start_ms"].as_i64().unwrap() - T0, e["id"].clone()))
                .collect();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ids.sort_by_key(|(start, _)| *start);
    assert_eq!(ids.len(), 4, "four motion events stored");
    let id = |k: usize| ids[k].1.as_i64().unwrap();

    let b = Browser::launch_with(LaunchOptions {
        time_zone: Some("America/New_York".into()),
        phone: None,
    })
    .await
    .expect("chromium starts");
    browser_login(&b, &h, "/events").await;
    b.goto(&h.url("/events?camera=porch&date=2026-11-21"))
        .await
        .unwrap();
    wait_listed(&b, 4).await;
    // Newest first; the zone select offers the day's zones.
    assert_eq!(
        listed(&b).await,
        json!([
            [id(3), null],
            [id(2), "driveway"],
            [id(1), "front door"],
            [id(0), "driveway"]
        ])
    );
    let options = b
        .eval("return [...document.querySelectorAll('#zone option')].map(o => o.value)")
        .await
        .unwrap();
    assert_eq!(options, json!(["", "driveway", "front door"]));

    choose_zone(&b, "front door").await;
    assert_eq!(listed(&b).await, json!([[id(1), "front door"]]));
    assert_eq!(
        b.eval("return location.search").await.unwrap(),
        json!("?camera=porch&date=2026-11-21&zone=front+door")
    );
    choose_zone(&b, "driveway").await;
    assert_eq!(
        listed(&b).await,
        json!([[id(2), "driveway"], [id(0), "driveway"]])
    );
    choose_zone(&b, "").await;
    assert_eq!(listed(&b).await.as_array().unwrap().len(), 4);

    // A zone in the URL applies when the page opens.
    b.goto(&h.url("/events?camera=porch&date=2026-11-21&zone=front+door"))
        .await
        .unwrap();
    wait_listed(&b, 1).await;
    assert_eq!(listed(&b).await, json!([[id(1), "front door"]]));
    assert_eq!(
        b.eval("return document.getElementById('zone').value")
            .await
            .unwrap(),
        json!("front door")
    );
    let errors = b.console_errors().await.unwrap();
    assert!(errors.is_empty(), "console: {errors:?}");
}
