//! `GET /metrics`: who may read it (the metrics token or a user, never anonymous), that
//! its counters move exactly with real traffic (frames from a websocket agent speaking
//! the ingest protocol, an MJPEG viewer, a refused frame, the agent's online/offline
//! events), and that `promtool check metrics` accepts a live hub's output (the hub and
//! the agent as processes, a demo camera recording).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{PASSWORD, SECRET, TestHub, USER, jpeg, write_secret};
use futures_util::{SinkExt, StreamExt};
use testkit::hub::HubSetup;
use testkit::process::{bin_path, spawn_logged};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// The value of the sample `series` (name and labels exactly as written), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The value of `series` in the hub's `/metrics` now (read with a user's credentials).
pub async fn metric(h: &TestHub, series: &str) -> Option<f64> {
    let text = h
        .get_auth("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    sample(&text, series)
}

/// [`metric`], which must be present.
pub async fn metric_present(h: &TestHub, series: &str) -> f64 {
    metric(h, series)
        .await
        .unwrap_or_else(|| panic!("{series} missing from /metrics"))
}

async fn scrape(h: &TestHub) -> String {
    let r = h
        .client()
        .get(h.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

/// Scrapes until `series` has `value` (values from other tasks land a moment later).
async fn wait_value(h: &TestHub, series: &str, value: f64) -> String {
    let mut last = None;
    for _ in 0..100 {
        let text = scrape(h).await;
        last = sample(&text, series);
        if last == Some(value) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{series}: {last:?}, expected {value}");
}

fn token_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_secret(&d.path().join("metrics-token"), TOKEN);
    d
}

fn config(tokens: &Path, extra: &str) -> String {
    format!(
        "{extra}\n[metrics]\ntoken_file = {:?}\n[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n",
        tokens.join("metrics-token").display().to_string()
    )
}

#[tokio::test]
async fn metrics_need_the_token_or_a_user_even_with_anonymous_viewing() {
    let tokens = token_dir();
    let h = TestHub::start(&config(tokens.path(), "allow_anonymous_viewing = true")).await;
    let c = h.client();
    let url = h.url("/metrics");
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401, "anonymous");
    assert!(r.headers().contains_key("www-authenticate"));
    let r = c
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a wrong token");
    let r = c
        .get(&url)
        .basic_auth(USER, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a wrong password");
    assert_eq!(
        c.get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = h.get_auth("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200, "a user's credentials");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("camera_frames_in_total{camera=\"porch\"} 0")
    );
    h.stop().await;
}

#[tokio::test]
async fn metrics_token_file_must_be_private() {
    let tokens = token_dir();
    let file = tokens.path().join("metrics-token");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let text = format!(
        "data_dir = {:?}\nsecret_file = {:?}\n{}",
        data.path().join("data").display().to_string(),
        data.path().join("secret").display().to_string(),
        config(tokens.path(), "")
    );
    write_secret(&data.path().join("secret"), SECRET);
    let cfg = hub::config::Config::parse(&text, Path::new("t.toml")).unwrap();
    let e = hub::server::build(cfg, Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("metrics.token_file"), "{e}");
    assert!(e.contains("readable by group or others"), "{e}");
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn agent(h: &TestHub, id: u32) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(h.ws_url("/video-input-stream"))
        .await
        .unwrap();
    let token = wire::make_token(wire::TokenScheme::HmacSha256, SECRET.as_bytes(), id);
    let mut hello = id.to_le_bytes().to_vec();
    hello.extend_from_slice(&(token.len() as u32).to_le_bytes());
    hello.extend_from_slice(token.as_bytes());
    ws.send(Message::binary(hello)).await.unwrap();
    ws
}

async fn send_frame(ws: &mut Ws, body: &[u8]) {
    let mut m = (body.len() as u32).to_le_bytes().to_vec();
    m.extend_from_slice(body);
    ws.send(Message::binary(m)).await.unwrap();
}

#[tokio::test]
async fn counters_move_exactly_with_real_traffic() {
    let tokens = token_dir();
    let h = TestHub::start(&config(tokens.path(), "")).await;
    let before = scrape(&h).await;
    for (series, v) in [
        ("camera_frames_in_total{camera=\"porch\"}", 0.0),
        ("camera_bytes_in_total{camera=\"porch\"}", 0.0),
        ("camera_viewers{camera=\"porch\",viewer=\"mjpeg\"}", 0.0),
        ("camera_online{camera=\"porch\"}", 0.0),
        ("camera_segments_stored{camera=\"porch\"}", 0.0),
        (
            "camera_frames_dropped_total{camera=\"porch\",reason=\"rejected\"}",
            0.0,
        ),
    ] {
        assert_eq!(sample(&before, series), Some(v), "{series}\n{before}");
    }
    assert!(sample(&before, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(sample(&before, "process_open_fds").unwrap() >= 3.0);
    // This scrape's own connection is open.
    assert!(sample(&before, "hub_connections{state=\"established\"}").unwrap() >= 1.0);

    // An MJPEG viewer, then an agent that sends N frames, each once the viewer has it.
    let mut viewer = h
        .get_auth("/api/v1/cameras/porch/stream")
        .send()
        .await
        .unwrap()
        .bytes_stream();
    wait_value(&h, "camera_viewers{camera=\"porch\",viewer=\"mjpeg\"}", 1.0).await;
    let mut ws = agent(&h, 1).await;
    wait_value(
        &h,
        "camera_events_total{camera=\"porch\",kind=\"online\"}",
        1.0,
    )
    .await;
    const N: u32 = 20;
    let (mut bytes, mut parts, mut seen) = (0u64, 0u32, Vec::new());
    for i in 0..N {
        let j = jpeg(i);
        bytes += j.len() as u64;
        send_frame(&mut ws, &j).await;
        while parts <= i {
            let chunk = tokio::time::timeout(Duration::from_secs(10), viewer.next())
                .await
                .expect("the viewer gets the frame")
                .unwrap()
                .unwrap();
            seen.extend_from_slice(&chunk);
            parts = seen.windows(9).filter(|w| w == b"--frame\r\n").count() as u32;
        }
    }
    let text = wait_value(&h, "camera_frames_in_total{camera=\"porch\"}", f64::from(N)).await;
    assert_eq!(
        sample(&text, "camera_bytes_in_total{camera=\"porch\"}"),
        Some(bytes as f64)
    );
    assert_eq!(
        sample(
            &text,
            "camera_frames_out_total{camera=\"porch\",viewer=\"mjpeg\"}"
        ),
        Some(f64::from(N))
    );
    assert_eq!(sample(&text, "camera_online{camera=\"porch\"}"), Some(1.0));
    assert!(sample(&text, "camera_fps_in{camera=\"porch\"}").unwrap() > 0.0);

    // Something that is not a JPEG is refused and counted as dropped, not as a frame.
    send_frame(&mut ws, b"not a jpeg").await;
    let text = wait_value(
        &h,
        "camera_frames_dropped_total{camera=\"porch\",reason=\"rejected\"}",
        1.0,
    )
    .await;
    assert_eq!(
        sample(&text, "camera_frames_in_total{camera=\"porch\"}"),
        Some(f64::from(N))
    );

    // The viewer leaves; the agent goes away: offline event.
    drop(viewer);
    wait_value(&h, "camera_viewers{camera=\"porch\",viewer=\"mjpeg\"}", 0.0).await;
    ws.close(None).await.unwrap();
    let text = wait_value(
        &h,
        "camera_events_total{camera=\"porch\",kind=\"offline\"}",
        1.0,
    )
    .await;
    assert_eq!(
        sample(
            &text,
            "camera_events_total{camera=\"porch\",kind=\"online\"}"
        ),
        Some(1.0)
    );
    h.stop().await;
}

/// `promtool check metrics` on the output of a hub process with a real agent and a
/// recording demo camera (skipped, with a message, without promtool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_a_live_hubs_metrics() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("SKIP: promtool not installed (Debian package prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_secret(&dir.path().join("metrics-token"), TOKEN);
    let setup = HubSetup::new(
        dir.path(),
        "data_dir = \"data\"\n[metrics]\ntoken_file = \"metrics-token\"\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = 9\n\
         [[webhook]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_file = \"metrics-token\"\n\
         [[camera]]\nid = 7\nname = \"porch\"\nkind = \"agent\"\n\
         [[camera]]\nid = 8\nname = \"demo\"\nkind = \"demo\"\nsegment_duration = \"1s\"\n",
    )
    .unwrap();
    setup.add_user(USER, PASSWORD).unwrap();
    let token = setup.token(7).unwrap();
    let _hub = setup.start_async().await.unwrap();
    write_secret(&dir.path().join("token"), &token);
    let agent_config = dir.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            "hub_url = \"{}\"\ncamera_id = 7\ntoken_file = {:?}\n\n[source]\nkind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10\njpeg_quality = 75\n",
            setup.ingest_url(),
            dir.path().join("token").display().to_string()
        ),
    )
    .unwrap();
    let _agent = spawn_logged(
        Command::new(bin_path("agent"))
            .arg("--config")
            .arg(&agent_config),
        "agent",
    )
    .unwrap();
    let client = testkit::http_client();
    let get = || async {
        client
            .get(setup.url("/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // Wait for agent frames and a recorded demo segment.
    let mut text = String::new();
    for _ in 0..300 {
        text = get().await;
        let frames = sample(&text, "camera_frames_in_total{camera=\"porch\"}").unwrap_or(0.0);
        let segs = sample(&text, "camera_segments_stored{camera=\"demo\"}").unwrap_or(0.0);
        let reported = sample(&text, "agent_uptime_seconds{camera=\"porch\"}").is_some();
        if frames >= 10.0 && segs >= 1.0 && reported {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = sample(&text, "camera_frames_in_total{camera=\"porch\"}").unwrap();
    assert!(first >= 10.0, "agent frames: {first}\n{text}");
    assert!(sample(&text, "camera_segments_stored{camera=\"demo\"}").unwrap() >= 1.0);
    assert!(sample(&text, "camera_stored_bytes{camera=\"demo\"}").unwrap() > 0.0);
    // The agent's health report, the MQTT publisher and the webhook are in it too.
    for series in [
        "agent_uptime_seconds{camera=\"porch\"}",
        "mqtt_connected",
        "webhook_queued{webhook=\"0\"}",
        "camera_health_problem{camera=\"porch\",code=\"offline\"}",
    ] {
        assert!(sample(&text, series).is_some(), "{series}\n{text}");
    }
    let lag = sample(&text, "camera_recording_lag_seconds{camera=\"demo\"}").unwrap();
    assert!((0.0..30.0).contains(&lag), "recording lag {lag}");

    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("promtool check metrics < \"$0\"")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The agent's frames go on counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = sample(&get().await, "camera_frames_in_total{camera=\"porch\"}").unwrap();
    assert!(later > first, "{later} after {first}");
}
