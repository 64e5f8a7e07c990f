//! End to end with real processes on loopback: the `agent` binary (test
//! pattern) pushes to the `hub` binary, and an HTTP client reading the
//! camera_proxy MJPEG stream decodes the pictures and sees the pattern's
//! clock advance.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{PASSWORD, USER, stamp_of};
use testkit::hub::HubSetup;
use testkit::process::{bin_path, spawn_logged};

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_to_hub_to_mjpeg_client() {
    let dir = tempfile::tempdir().unwrap();
    let setup = HubSetup::new(
        dir.path(),
        "data_dir = \"data\"\n\n[[camera]]\nid = 7\nname = \"porch\"\nkind = \"agent\"\n",
    )
    .unwrap();
    let port = setup.port;

    // A user for the viewer, and the agent's token, both from the hub CLI.
    setup.add_user(USER, PASSWORD).unwrap();
    let token = setup.token(7).unwrap();
    assert_eq!(token.len(), 64);

    let hub = setup.start_async().await.unwrap();
    assert!(!hub.log().contains(&token), "the hub never logs a token");

    let token_file = dir.path().join("token");
    write_private(&token_file, &token);
    let agent_config = dir.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            "hub_url = \"ws://127.0.0.1:{port}/video-input-stream\"\ncamera_id = 7\ntoken_file = {:?}\n\n[source]\nkind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 10\njpeg_quality = 75\n",
            token_file.display().to_string()
        ),
    )
    .unwrap();
    let agent = spawn_logged(
        Command::new(bin_path("agent"))
            .arg("--config")
            .arg(&agent_config)
            .env("RUST_LOG", "info"),
        "agent",
    )
    .unwrap();
    hub.wait_for_log_async("agent connected", Duration::from_secs(30))
        .await
        .unwrap();

    let client = testkit::http_client();
    let req = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/cameras/porch/stream"
        ))
        .basic_auth(USER, Some(PASSWORD));
    let mut stream = testkit::mjpeg::MjpegStream::connect(req).await.unwrap();
    let mut stamps = Vec::new();
    while stamps.len() < 15 {
        let part = stream.next_part().await.unwrap().expect("stream continues");
        assert_eq!(part.header("content-type"), Some("image/jpeg"));
        let s = stamp_of(&part.body).expect("the pattern's stamp decodes from the JPEG");
        stamps.push(s);
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for w in stamps.windows(2) {
        assert!(
            w[1].frame > w[0].frame,
            "frame numbers increase: {stamps:?}"
        );
        assert!(
            w[1].unwrap_millis(now_ms) > w[0].unwrap_millis(now_ms),
            "the pattern's clock advances: {stamps:?}"
        );
    }
    let first = stamps[0].unwrap_millis(now_ms);
    let last = stamps[stamps.len() - 1].unwrap_millis(now_ms);
    assert!(
        last - first >= 1000,
        "15 frames at 10 fps span over a second of capture time"
    );
    // Capture time is the agent's wall clock, so it is close to ours.
    assert!(
        now_ms.abs_diff(last) < 10_000,
        "clock stamp {last} vs now {now_ms}"
    );
    eprintln!(
        "e2e: frames {}..{} over {} ms of capture time, newest {} ms old on arrival",
        stamps[0].frame,
        stamps[14].frame,
        last - first,
        now_ms.saturating_sub(last)
    );
    assert!(
        !agent.log().contains(&token),
        "the agent never logs its token"
    );
    drop(agent);
    drop(hub);
}
