//! The one disk check end to end: real segment writes give the hub's store a footage rate;
//! with a forecast threshold the test can reach (`[health] disk_forecast_days`, 100 years)
//! the `disk_low` health problem of the camera with footage reaches the timeline
//! (`/api/events`), MQTT (the `problem` sensor) and a webhook, with the same message.

use std::time::Duration;

use crate::common::{TestHub, write_secret};
use crate::mqtt::{Subscriber, mqtt_section, skip};
use crate::webhooks::{Receiver, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_forecast_under_the_threshold_reaches_timeline_mqtt_and_webhooks() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = testkit::Mosquitto::start(dir.path()).await.unwrap();
    let mut sub = Subscriber::connect(broker.port, "disk-sub").await;
    let rx = Receiver::start().await;
    write_secret(&dir.path().join("hook"), SECRET);
    let h = TestHub::start(&format!(
        "{}[[webhook]]\nurl = \"http://127.0.0.1:{}/hook\"\nsecret_file = {:?}\n\
         events = [\"health\"]\n\
         [health]\ncheck_interval = \"300ms\"\ndisk_forecast_days = 36500\n\
         [[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n\
         [[camera]]\nid = 2\nname = \"yard\"\nkind = \"agent\"\n",
        mqtt_section(dir.path(), broker.port, ""),
        rx.port,
        dir.path().join("hook").display().to_string()
    ))
    .await;
    // No footage yet: no forecast, no problem.
    sub.state("hubtest/porch/health_disk_low", b"OFF", 15).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let v = h.get_json("/api/events?kind=health").await;
    assert_eq!(v["events"], serde_json::json!([]), "{v}");

    // The porch's agent uploads footage: a real write into the hub's store, and a rate.
    let seg = crate::recordings_support::one_segment(10);
    let start = hub::camera::now_ms() / 1000 * 1000 - 60_000;
    crate::recordings_support::upload(&h, start, &seg).await;
    sub.expect("hubtest/porch/health_disk_low", b"ON", 10).await;

    // The forecast it names is the storage page's.
    let storage = h.get_json("/api/recordings/storage").await;
    assert_eq!(
        storage["continuous"]["limited_by"], "free_space",
        "{storage}"
    );
    let days = storage["continuous"]["days"].as_f64().unwrap();
    let message = format!("Disk almost full: room for {days:.1} days of footage");

    // The timeline: one open disk_low event on the camera with footage, none on the other.
    let mut events = serde_json::Value::Null;
    for _ in 0..50 {
        events = h.get_json("/api/events?kind=health").await;
        if events["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = events["events"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{events}");
    let e = &list[0];
    assert_eq!(
        (
            e["camera"].as_str(),
            e["label"].as_str(),
            e["message"].as_str(),
            e["end_ms"].is_null()
        ),
        (
            Some("porch"),
            Some("disk_low"),
            Some(message.as_str()),
            true
        ),
        "{e}"
    );

    // The webhook: the same problem, signed like every delivery.
    let got = rx.wait_for(1, 10).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["camera"], "porch");
    assert_eq!(
        got[0]["event"],
        serde_json::json!({
            "at_ms": got[0]["event"]["at_ms"],
            "origin": "hub",
            "kind": "health",
            "code": "disk_low",
            "active": true,
            "message": message,
        })
    );
    // The other camera, without footage, stays OFF; the metric says the same.
    assert_eq!(
        crate::metrics::metric_present(
            &h,
            "camera_health_problem{camera=\"yard\",code=\"disk_low\"}"
        )
        .await,
        0.0
    );
    assert_eq!(
        crate::metrics::metric_present(
            &h,
            "camera_health_problem{camera=\"porch\",code=\"disk_low\"}"
        )
        .await,
        1.0
    );
    h.stop().await;
}
