//! The binary itself: `check-config`, `token`, and a clean stop on SIGTERM with a websocket close 1000.

use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const AGENT: &str = env!("CARGO_BIN_EXE_agent");

fn write_config(dir: &std::path::Path, hub: &str, extra_top: &str) -> std::path::PathBuf {
    let token = dir.join("token");
    std::fs::write(&token, "very-secret-token\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "{extra_top}\nhub_url = \"ws://{hub}/video-input-stream\"\ncamera_id = 7\ntoken_file = {:?}\n[source]\nkind = \"testsrc\"\nwidth = 320\nheight = 240\nfps = 20\n",
            token.to_str().unwrap()
        ),
    )
    .unwrap();
    path
}

#[test]
fn check_config_reports_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "127.0.0.1:1", "");
    let out = Command::new(AGENT)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("OK") && stdout.contains("testsrc 320x240"),
        "{stdout}"
    );
    assert!(!stdout.contains("very-secret") && !stderr.contains("very-secret"));
}

#[test]
fn check_config_names_the_bad_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "127.0.0.1:1", "stats_intervall = \"1s\"");
    let out = Command::new(AGENT)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stats_intervall") && stderr.contains("agent.toml"),
        "{stderr}"
    );
}

#[test]
fn token_matches_the_wire_crate() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "NOTsoSECRETsecretUsedFORtESTS1234908\n").unwrap();
    for (scheme, expected) in [
        (
            "legacy-sha256",
            "b5b9aea262709ebde6a9452a790216100c9724a830fec86f4cd242720c6add7e",
        ),
        (
            "hmac-sha256",
            &wire::make_token(
                wire::TokenScheme::HmacSha256,
                b"NOTsoSECRETsecretUsedFORtESTS1234908",
                1,
            ),
        ),
    ] {
        let out = Command::new(AGENT)
            .args(["token", "--id", "1", "--scheme", scheme, "--secret-file"])
            .arg(&secret)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
    }
}

#[tokio::test]
async fn sigterm_stops_cleanly_with_close_1000() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &listener.local_addr().unwrap().to_string(), "");
    let child = tokio::process::Command::new(AGENT)
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    // Hello, then at least one frame.
    let mut got = 0;
    while got < 2 {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Binary(_))) => got += 1,
            other => panic!("{other:?}"),
        }
    }

    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Normal));
    drop(ws);
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(
        !stderr.contains("very-secret"),
        "the token leaked into the log"
    );
}

#[tokio::test]
async fn systemd_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    // The hub is unreachable: readiness and the watchdog follow capture,
    // not the uplink.
    let path = write_config(dir.path(), "127.0.0.1:1", "");
    let sock_path = dir.path().join("notify.sock");
    let sock = tokio::net::UnixDatagram::bind(&sock_path).unwrap();
    let child = tokio::process::Command::new(AGENT)
        .arg("--config")
        .arg(&path)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut buf = [0u8; 256];
    let mut next = async || {
        let n = tokio::time::timeout(Duration::from_secs(10), sock.recv(&mut buf))
            .await
            .expect("a notification in time")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).trim().to_owned()
    };
    assert_eq!(next().await, "READY=1");
    assert_eq!(next().await, "WATCHDOG=1");
    assert_eq!(next().await, "WATCHDOG=1");

    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let mut last = next().await;
    while last == "WATCHDOG=1" {
        last = next().await;
    }
    assert_eq!(last, "STOPPING=1");
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
}
