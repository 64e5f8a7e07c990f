//! The status page in Chromium: one table with every camera's state, last segment, upload
//! backlog, health flags, disk use and forecast. The real agent binary reports its Pi's
//! health from a fake `/sys` tree (under-voltage, throttling, 71.2 °C), records 1 s
//! segments it cannot upload (a loopback front of the hub passes its health reports on and
//! answers its uploads 503), and is then killed so the last report stays still; the hub holds one uploaded segment of the camera, and a forecast
//! threshold the test reaches (`disk_forecast_days`, 100 years) flags the disk.

use std::process::Command;
use std::time::Duration;

use crate::agent_health::{THROTTLED, agent_config, fake_tree};
use crate::browser_support::PLAIN;
use crate::common::{PASSWORD, TestHub, USER};
use crate::recordings_support::{T0, one_segment, upload};
use serde_json::Value;
use testkit::browser::{Browser, LaunchOptions};
use testkit::process::{bin_path, spawn_logged};

const CONFIG: &str = r#"
offline_after = "1s"
[health]
check_interval = "200ms"
offline_after = "2s"
disk_forecast_days = 36500
[[camera]]
id = 1
name = "porch"
kind = "agent"
[[camera]]
id = 2
name = "yard"
kind = "demo"
"#;

/// Bytes as the page writes them (powers of 1000, one decimal).
fn size(b: u64) -> String {
    if b < 1000 {
        return format!("{b} B");
    }
    let units = ["kB", "MB", "GB", "TB"];
    let (mut v, mut i) = (b as f64 / 1000.0, 0);
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

/// Days as the page writes them.
fn days(d: f64) -> String {
    if d >= 10.0 {
        format!("{} days", d.round())
    } else {
        format!("{d:.1} days")
    }
}

/// A front of the hub at `hub`: health reports are passed on, everything else (the
/// segment uploads) gets 503. Returns its port.
async fn front(hub: String) -> u16 {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, Uri};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let hub = hub.clone();
        async move {
            if !uri.path().ends_with("/status") {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            let mut r = testkit::http_client().post(format!("{hub}{}", uri.path()));
            for (k, v) in &headers {
                if k == "authorization" || k == "content-type" {
                    r = r.header(k, v);
                }
            }
            match r.body(body).send().await {
                Ok(a) => StatusCode::from_u16(a.status().as_u16()).unwrap(),
                Err(_) => StatusCode::BAD_GATEWAY,
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

async fn porch_status(h: &TestHub) -> Value {
    h.get_json("/api/status").await["cameras"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_table_shows_state_segment_backlog_health_disk_and_forecast() {
    if let Some(why) = Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    // The camera's footage on the hub: one 10 s segment from T0 (2026-11-21 07:31:50 UTC).
    upload(&h, T0, &one_segment(10)).await;

    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path());
    std::fs::write(
        dir.path().join("sys/class/thermal/thermal_zone0/temp"),
        "71234\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("sys").join(THROTTLED), "0x50005\n").unwrap();
    let front = front(h.url("")).await;
    let config = agent_config(
        &h,
        dir.path(),
        &format!(
            "[record]\nenabled = true\ndir = {:?}\nsegment_duration = \"1s\"\n\
             [upload]\nenabled = true\nhub_base_url = \"http://127.0.0.1:{front}\"\n",
            dir.path().join("rec").display().to_string()
        ),
    );
    let out = Command::new(bin_path("agent"))
        .args(["setup-recording", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut agent = spawn_logged(
        Command::new(bin_path("agent")).arg("--config").arg(&config),
        "agent",
    )
    .unwrap();
    // Segments pile up on the Pi; then the agent goes away and its last report stays.
    let mut backlog = 0;
    for _ in 0..200 {
        backlog = porch_status(&h).await["upload_backlog"]["segments"]
            .as_u64()
            .unwrap_or(0);
        if backlog >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(backlog >= 2, "{}", porch_status(&h).await);
    agent.kill().unwrap();
    let mut s = Value::Null;
    for _ in 0..100 {
        s = porch_status(&h).await;
        if s["problems"] == serde_json::json!(["disk_low", "offline", "throttled", "under_voltage"])
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        s["problems"],
        serde_json::json!(["disk_low", "offline", "throttled", "under_voltage"]),
        "{s}"
    );

    let b = Browser::launch_with(LaunchOptions {
        time_zone: Some("UTC".into()),
        ..LaunchOptions::default()
    })
    .await
    .expect("chromium starts");
    b.goto(&h.url("/login?next=/status")).await.unwrap();
    b.fill("#username", USER).await.unwrap();
    b.fill("#password", PASSWORD).await.unwrap();
    b.click("#login-button").await.unwrap();
    b.wait_until(
        "const r = document.querySelector('#cameras tr[data-camera-id=\"1\"]'); return r && r.dataset.problems === 'disk_low offline throttled under_voltage'",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    // The navigation bar links here.
    assert_eq!(
        b.eval("return document.querySelector('header nav a[href=\"/status\"]').textContent")
            .await
            .unwrap(),
        "Status"
    );
    let cells = |id: u32| {
        format!(
            "return Object.fromEntries([...document.querySelectorAll('#cameras tr[data-camera-id=\"{id}\"] td')].map(td => [td.dataset.label, td.textContent{PLAIN}]))"
        )
    };
    let row = b.eval(&cells(1)).await.unwrap();
    let s = porch_status(&h).await;
    let (free, total) = (
        s["pi_disk"]["free_bytes"].as_u64().unwrap(),
        s["pi_disk"]["total_bytes"].as_u64().unwrap(),
    );
    let backlog = &s["upload_backlog"];
    let hub_days = s["forecast"]["hub_days"].as_f64().expect("a hub forecast");
    assert_eq!(
        s["forecast"]["agent_days"],
        Value::Null,
        "under an hour of readings"
    );
    let expected = serde_json::json!({
        "camera": "porchagent",
        "health": "offline",
        "segment": "Sat, Nov 21 7:32:00 AM",
        "backlog": format!(
            "{} segments · {}",
            backlog["segments"].as_u64().unwrap(),
            size(backlog["bytes"].as_u64().unwrap())
        ),
        "flags": "the disk is filling up · offline too long · the Pi is throttled · under-voltage on the Pi · 71.2 °C",
        "disk": format!(
            "{} on the hub · Pi: {} free of {}",
            size(s["stored_bytes"].as_u64().unwrap()),
            size(free),
            size(total)
        ),
        "forecast": format!("hub: room for {}", days(hub_days)),
        "frames": row["frames"],
        "last": row["last"],
        "video": "JPEG",
        "source": "agent not connected",
        "viewers": "0",
    });
    assert_eq!(row, expected);
    // A camera the hub runs itself: no backlog, no Pi.
    let yard = b.eval(&cells(2)).await.unwrap();
    assert_eq!(
        (yard["health"].as_str(), yard["backlog"].as_str()),
        (Some("online"), Some("—")),
        "{yard}"
    );
    let errors = b.console_errors().await.unwrap();
    assert!(errors.is_empty(), "console: {errors:?}");
    crate::browser_support::shot(&b, "status-table.png").await;
    b.close().await.unwrap();
    h.stop().await;
}
