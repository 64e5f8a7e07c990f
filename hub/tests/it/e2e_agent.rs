//! End to end with real processes on loopback: the `agent` binary (test
//! pattern) pushes to the `hub` binary, and an HTTP client reading the
//! camera_proxy MJPEG stream decodes the pictures and sees the pattern's
//! clock advance.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{PASSWORD, USER, stamp_of};
use testkit::process::{bin_path, free_port, spawn_logged};

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn hub_cmd(config: &Path) -> Command {
    let mut c = Command::new(bin_path("hub"));
    c.arg("--config").arg(config).env("RUST_LOG", "info");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_to_hub_to_mjpeg_client() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_config = dir.path().join("hub.toml");
    std::fs::write(
        &hub_config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n\n[[camera]]\nid = 7\nname = \"porch\"\nkind = \"agent\"\n"
        ),
    )
    .unwrap();

    // A user for the viewer, and the agent's token, both from the hub CLI.
    let mut add = hub_cmd(&hub_config)
        .args(["user", "add", USER, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(add.wait().unwrap().success());
    let out = hub_cmd(&hub_config).args(["token", "7"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.len(), 64);

    let hub = spawn_logged(&mut hub_cmd(&hub_config), "hub").unwrap();
    hub.wait_for_log_async("hub listening", Duration::from_secs(30))
        .await
        .unwrap();
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
