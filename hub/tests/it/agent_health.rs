//! Pi health end to end: the real agent binary reads a fake `/sys` and `/proc` tree (the
//! same code that reads the real ones), reports to the hub with its token; the hub shows
//! the readings in `/api/cameras` and `/metrics`, and under-voltage, throttling and a
//! camera offline too long become health events on the camera's event feed, when they
//! begin and when they end. The report route refuses bad tokens and bad bodies.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{SECRET, TestHub};
use crate::metrics::metric;
use events::What;
use testkit::process::{bin_path, spawn_logged};

const CONFIG: &str = r#"
offline_after = "1s"
[health]
check_interval = "200ms"
offline_after = "2s"
[[camera]]
id = 1
name = "porch"
kind = "agent"
"#;

pub(crate) const THROTTLED: &str = "devices/platform/soc/soc:firmware/get_throttled";

/// Writes `dir/agent.toml` for camera 1 of `h` (its token in `dir/token`): a 5 fps test
/// pattern, health reports every 300 ms read from the fake tree under `dir`, and `extra`
/// sections. Returns its path.
pub(crate) fn agent_config(h: &TestHub, dir: &Path, extra: &str) -> std::path::PathBuf {
    let token = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), 1);
    crate::common::write_secret(&dir.join("token"), &token);
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "hub_url = \"{}\"\ncamera_id = 1\ntoken_file = {:?}\nstate_dir = {:?}\n\
             [source]\nkind = \"testsrc\"\nwidth = 160\nheight = 120\nfps = 5\n\
             [health]\ninterval = \"300ms\"\nsys_root = {:?}\nproc_root = {:?}\n{extra}",
            h.ws_url("/video-input-stream"),
            dir.join("token").display().to_string(),
            dir.join("state").display().to_string(),
            dir.join("sys").display().to_string(),
            dir.join("proc").display().to_string(),
        ),
    )
    .unwrap();
    config
}

pub(crate) fn fake_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sys/class/thermal/thermal_zone0")).unwrap();
    std::fs::create_dir_all(root.join("sys/devices/platform/soc/soc:firmware")).unwrap();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("sys/class/thermal/thermal_zone0/temp"), "48123\n").unwrap();
    std::fs::write(root.join("sys").join(THROTTLED), "0x0\n").unwrap();
    std::fs::write(root.join("proc/loadavg"), "0.25 0.20 0.10 1/100 123\n").unwrap();
}

async fn porch(h: &TestHub) -> serde_json::Value {
    h.get_json("/api/cameras").await["cameras"][0].clone()
}

/// Waits until camera `porch` has published a health event `code` with `active`.
async fn health_event(h: &TestHub, code: &str, active: bool) {
    let cam = h.hub.cameras.by_name("porch").unwrap();
    for _ in 0..150 {
        let seen = cam.events.recent().iter().any(|e| {
            matches!(&e.what, What::Health { code: c, active: a, .. } if c == code && *a == active)
        });
        if seen {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no health event {code} active={active}: {:?}",
        cam.events.recent()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_health_reaches_the_page_api_metrics_and_events() {
    let h = TestHub::start(CONFIG).await;
    let dir = tempfile::tempdir().unwrap();
    fake_tree(dir.path());
    let config = agent_config(&h, dir.path(), "");
    let mut agent = spawn_logged(
        Command::new(bin_path("agent")).arg("--config").arg(&config),
        "agent",
    )
    .unwrap();

    // The readings, as the fake tree has them.
    let mut cam = serde_json::Value::Null;
    for _ in 0..100 {
        cam = porch(&h).await;
        if cam["agent"]["cpu_temp_c"].is_number() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = &cam["agent"];
    assert_eq!(a["cpu_temp_c"], 48.123, "{cam}");
    assert_eq!(a["load"], serde_json::json!([0.25, 0.2, 0.1]));
    assert_eq!(a["throttled"]["under_voltage"], false);
    assert_eq!(a["version"], env!("CARGO_PKG_VERSION"));
    assert!(a["uptime_s"].as_u64().unwrap() < 60);
    assert_eq!(a["frames_dropped"], 0);
    assert!(cam.get("problems").is_none(), "{cam}");
    assert_eq!(
        metric(&h, "agent_cpu_temperature_celsius{camera=\"porch\"}").await,
        Some(48.123)
    );
    assert_eq!(
        metric(&h, "agent_under_voltage{camera=\"porch\"}").await,
        Some(0.0)
    );
    assert_eq!(
        metric(&h, "agent_load1{camera=\"porch\"}").await,
        Some(0.25)
    );
    assert_eq!(
        metric(
            &h,
            &format!(
                "agent_info{{camera=\"porch\",version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        )
        .await,
        Some(1.0)
    );

    // The power supply sags: under-voltage and throttling now.
    std::fs::write(dir.path().join("sys").join(THROTTLED), "0x50005\n").unwrap();
    health_event(&h, "under_voltage", true).await;
    health_event(&h, "throttled", true).await;
    let cam = porch(&h).await;
    let problems = cam["problems"].as_array().unwrap();
    assert!(problems.contains(&"under_voltage".into()), "{cam}");
    assert_eq!(
        metric(
            &h,
            "camera_health_problem{camera=\"porch\",code=\"under_voltage\"}"
        )
        .await,
        Some(1.0)
    );
    // It recovers (the "since boot" bits stay set): the problems end.
    std::fs::write(dir.path().join("sys").join(THROTTLED), "0x50000\n").unwrap();
    health_event(&h, "under_voltage", false).await;
    health_event(&h, "throttled", false).await;
    assert_eq!(
        metric(
            &h,
            "camera_health_problem{camera=\"porch\",code=\"under_voltage\"}"
        )
        .await,
        Some(0.0)
    );

    // The agent dies: offline for longer than [health] offline_after is a problem.
    agent.kill().unwrap();
    health_event(&h, "offline", true).await;
    let cam = porch(&h).await;
    assert!(
        cam["problems"]
            .as_array()
            .unwrap()
            .contains(&"offline".into())
    );
    h.stop().await;
}

#[tokio::test]
async fn the_report_route_refuses_bad_tokens_and_bodies() {
    let h = TestHub::start(CONFIG).await;
    let c = h.client();
    let url = h.url(&wire::health::status_path(1));
    let token = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), 1);
    let good = r#"{"version":"1.0","uptime_s":3,"cpu_temp_c":40.5}"#;
    let r = c.post(&url).body(good).send().await.unwrap();
    assert_eq!(r.status(), 401, "no token");
    let other = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), 2);
    let r = c
        .post(&url)
        .bearer_auth(other)
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "another camera's token");
    let r = c
        .post(&url)
        .bearer_auth(&token)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let long = vec![b' '; wire::health::MAX_STATUS_LEN + 1];
    let r = c
        .post(&url)
        .bearer_auth(&token)
        .body(long)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(porch(&h).await.get("agent").is_none(), "nothing kept");
    let r = c
        .post(&url)
        .bearer_auth(&token)
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(porch(&h).await["agent"]["cpu_temp_c"], 40.5);
    h.stop().await;
}

/// A recorder that can no longer write (its directory gone, as when a disk is unmounted)
/// while the camera is online: `recording_stopped` after twice the segment length, over
/// when segments are stored again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_that_stops_is_a_health_problem() {
    let h = TestHub::start(
        "[health]\ncheck_interval = \"200ms\"\n[[camera]]\nid = 1\nname = \"porch\"\nkind = \"demo\"\nsegment_duration = \"1s\"\n",
    )
    .await;
    let stored = "camera_segments_stored{camera=\"porch\"}";
    for _ in 0..100 {
        if metric(&h, stored).await.unwrap_or(0.0) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metric(&h, stored).await.unwrap() >= 1.0);
    let dir = h.dir.path().join("data/recordings/porch");
    let away = h.dir.path().join("porch-away");
    std::fs::rename(&dir, &away).unwrap();
    health_event(&h, "recording_stopped", true).await;
    assert_eq!(
        metric(
            &h,
            "camera_health_problem{camera=\"porch\",code=\"recording_stopped\"}"
        )
        .await,
        Some(1.0)
    );
    std::fs::rename(&away, &dir).unwrap();
    health_event(&h, "recording_stopped", false).await;
    h.stop().await;
}

/// The camera page shows the Pi's readings and its health problems, as a person sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_page_shows_the_pis_health() {
    if let Some(why) = testkit::Browser::available() {
        eprintln!("skipping: {why}");
        return;
    }
    let h = TestHub::start(CONFIG).await;
    let token = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), 1);
    let report = serde_json::json!({
        "version": "9.8.7", "uptime_s": 7200, "cpu_temp_c": 71.45,
        "throttled": wire::health::Throttled::parse("0x50005"),
        "load": [1.5, 1.0, 0.5], "disk_free_bytes": 12_300_000_000u64,
        "upload_backlog_segments": 4
    });
    let r = h
        .client()
        .post(h.url(&wire::health::status_path(1)))
        .bearer_auth(&token)
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    health_event(&h, "under_voltage", true).await;
    let b = testkit::Browser::launch().await.expect("chromium starts");
    crate::common::browser_login(&b, &h, "/live/porch").await;
    b.wait_for_text(
        "#agent",
        "Pi: 71.5 °C · UNDER-VOLTAGE · THROTTLED · load 1.50 · 12.3 GB free · backlog 4 · agent 9.8.7 · up 2 h",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    b.wait_for_text(
        "#problem",
        "the Pi is throttled · under-voltage on the Pi",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert!(b.console_errors().await.unwrap().is_empty());
    b.close().await.unwrap();
    h.stop().await;
}
