//! `scripts/demo.sh`, run as a new user runs it (on a free loopback port, with the
//! binaries the tests use instead of a release build): the hub comes up with the URL
//! and login printed, the local agent's camera is live on the hub, one of the agent's
//! recorded segments arrives by upload and is listed, and SIGTERM stops everything.

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::process::{
    Signal, bin_path, free_port, profile_dir, spawn_logged_group, workspace_root,
};

async fn json(
    client: &reqwest::Client,
    url: &str,
    user: &str,
    password: &str,
) -> serde_json::Value {
    match client
        .get(url)
        .basic_auth(user, Some(password))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

#[tokio::test]
async fn demo_script_shows_live_agent_video_and_uploaded_recordings() {
    // The script runs these two.
    bin_path("hub");
    bin_path("agent");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub-data");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut script = spawn_logged_group(
        Command::new("bash")
            .arg(workspace_root().join("scripts/demo.sh"))
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &listen])
            .arg("--bin-dir")
            .arg(profile_dir()),
        "demo.sh",
    )
    .unwrap();
    script
        // The banner's last line (the log is read line by line).
        .wait_for_log("files      hub", Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", script.log()));
    let login = std::fs::read_to_string(data.join("demo-login.txt")).unwrap();
    let mut lines = login.lines();
    let (user, password) = (lines.next().unwrap(), lines.next().unwrap());
    let log = script.log();
    assert!(
        log.contains(&format!("open       http://{listen}/")),
        "{log}"
    );
    assert!(
        log.contains(&format!("login      {user} / {password}")),
        "{log}"
    );

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{listen}");
    // The agent's camera is live on the hub: frames keep arriving.
    let deadline = Instant::now() + Duration::from_secs(60);
    let pi = loop {
        let v = json(&client, &format!("{base}/api/cameras"), user, password).await;
        let pi = v["cameras"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "pi").cloned());
        if let Some(pi) = pi
            && pi["online"] == true
            && pi["frames_total"].as_u64().unwrap_or(0) >= 20
        {
            break pi;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's camera is not live:\n{}",
            script.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(pi["kind"], "agent");
    assert_eq!(pi["connected"], true);
    let r = client
        .get(format!("{base}/api/v1/cameras/pi"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let jpeg = r.bytes().await.unwrap();
    assert!(
        crate::common::stamp_of(&jpeg).is_some(),
        "a test-pattern frame"
    );

    // A segment the agent recorded (10 s) is uploaded and listed for the timeline.
    let deadline = Instant::now() + Duration::from_secs(90);
    let seg = loop {
        let v = json(
            &client,
            &format!("{base}/api/recordings?camera=pi"),
            user,
            password,
        )
        .await;
        if let Some(s) = v["segments"].as_array().and_then(|s| s.first().cloned()) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no uploaded segment:\n{}",
            script.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(seg["source"], "upload", "{seg}");
    let duration = seg["duration_ms"].as_i64().unwrap();
    assert!(
        (9_000..=11_000).contains(&duration),
        "a 10 s segment (one GOP either way): {seg}"
    );
    let timeline = client
        .get(format!("{base}/timeline/pi"))
        .basic_auth(user, Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(timeline.status(), 200);

    // SIGTERM to the script stops the hub and the agent with it.
    script.signal(Signal::Term).unwrap();
    script.wait_timeout(Duration::from_secs(30)).unwrap();
    let gone = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(&listen).is_ok() {
        assert!(
            Instant::now() < gone,
            "the hub still listens after the script stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
