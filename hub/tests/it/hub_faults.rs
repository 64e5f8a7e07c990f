//! Faults of the hub process itself, with the real binaries (`cargo build --workspace
//! --bins` first):
//!
//! * **Disk full.** The hub's recordings directory is a 2 MiB tmpfs (mounted by the test:
//!   root only; skipped elsewhere, required in CI). A demo camera records 1 s segments and
//!   an agent uploads its own; with no retention limit at all, only a full disk makes
//!   room. The oldest segments go, the hub never crashes, recording goes on, the agent's
//!   newest segments all arrive, everything left decodes and `hub check` finds nothing
//!   to repair.
//! * **SIGTERM during a segment.** The hub bridges an RTSP camera into 60 s segments and
//!   gets SIGTERM a few seconds into one: it exits 0, leaves no `.partial`, and the
//!   segment is indexed and plays to its end (ffprobe decodes every frame, about as many
//!   as were streamed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::hub::HubSetup;
use testkit::process::{Signal, bin_path, spawn_logged};

const USER: &str = "viewer";
const PASSWORD: &str = "fault-test-password-1";

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The hub on `body`, with the test's user.
fn setup_hub(dir: &Path, body: &str) -> HubSetup {
    let hub = HubSetup::new(dir, body).unwrap();
    hub.add_user(USER, PASSWORD).unwrap();
    hub
}

async fn segments(port: u16, camera: &str) -> Vec<Value> {
    let v: Value = testkit::http_client()
        .get(format!(
            "http://127.0.0.1:{port}/api/recordings?camera={camera}"
        ))
        .basic_auth(USER, Some(PASSWORD))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    v["segments"].as_array().cloned().unwrap_or_default()
}

fn names(segs: &[Value]) -> Vec<String> {
    segs.iter()
        .map(|s| s["file"].as_str().unwrap().to_owned())
        .collect()
}

/// `*.mp4` files under `dir`, and `*.partial` ones.
fn files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut done, mut partial) = (Vec::new(), Vec::new());
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".partial") {
            partial.push(p);
        } else if name.ends_with(".mp4") {
            done.push(p);
        }
    }
    done.sort();
    (done, partial)
}

/// (codec, frames) of a segment file; panics if ffprobe fails.
fn ffprobe_file(f: &Path) -> (String, u64) {
    let p = testkit::ffprobe::run(f, true, &[]).unwrap_or_else(|e| panic!("{e:#}"));
    (p.codec, p.frames)
}

fn hub_check(hub: &HubSetup) -> String {
    let out = hub.command().arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "hub check: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A tmpfs mounted on a directory, unmounted when dropped (also on panic).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (after saying why) where mounting is not allowed; in CI that fails.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_owned())),
            other => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI runs as root and must be able to mount a tmpfs: {other:?}"
                );
                eprintln!("SKIP: cannot mount a tmpfs here (needs root): {other:?}");
                None
            }
        }
    }

    fn avail(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(u64::MAX)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_on_the_hub_deletes_the_oldest_and_nothing_crashes() {
    // Loads the machine for a while: not beside the tests that check real-time playback.
    let _machine = testkit::exclusive();
    if !testkit::ffprobe::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(mnt) = Tmpfs::mount(&data.join("recordings"), "2m") else {
        return;
    };
    let setup = setup_hub(
        dir.path(),
        "data_dir = \"data\"\n\n[recordings]\nsegment_duration = \"1s\"\nretention_interval = \"5s\"\n\n[[camera]]\nid = 1\nname = \"pattern\"\nkind = \"demo\"\nwidth = 160\nheight = 120\nfps = 5\n\n[[camera]]\nid = 2\nname = \"yard\"\nkind = \"agent\"\n",
    );
    let port = setup.port;
    let token_file = dir.path().join("token");
    write_private(&token_file, &setup.token(2).unwrap());
    let rec = dir.path().join("agent-rec");
    let agent_config = dir.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            "hub_url = \"ws://127.0.0.1:{port}/video-input-stream\"\ncamera_id = 2\ntoken_file = {:?}\nstate_dir = {:?}\n\n[source]\nkind = \"testsrc\"\nwidth = 640\nheight = 480\nfps = 10\n\n[record]\nenabled = true\ndir = {:?}\nsegment_duration = \"1s\"\n\n[upload]\nenabled = true\nbackoff_max = \"2s\"\n",
            token_file.display().to_string(),
            dir.path().join("state").display().to_string(),
            rec.display().to_string()
        ),
    )
    .unwrap();
    let agent_cmd = |sub: Option<&str>| {
        let mut c = Command::new(bin_path("agent"));
        c.args(sub)
            .arg("--config")
            .arg(&agent_config)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        c
    };
    let out = agent_cmd(Some("setup-recording")).output().unwrap();
    assert!(
        out.status.success(),
        "agent setup-recording: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut hub = setup.start_async().await.unwrap();
    let mut agent = spawn_logged(&mut agent_cmd(None), "agent").unwrap();

    // Record and upload until the disk has been full for a while.
    let started = Instant::now();
    let mut full_since: Option<Instant> = None;
    let mut first_seen: Vec<String> = Vec::new();
    let mut min_avail = u64::MAX;
    while full_since.is_none_or(|t| t.elapsed() < Duration::from_secs(25)) {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "the 2 MiB disk never filled:\n{}",
            tail(&hub.log(), 40)
        );
        if let Some(s) = hub.try_wait().unwrap() {
            panic!("the hub exited ({s}):\n{}", tail(&hub.log(), 60));
        }
        min_avail = min_avail.min(mnt.avail());
        if full_since.is_none() && hub.log().contains("disk full") {
            full_since = Some(Instant::now());
            // What was there when the disk filled: the oldest of it must go.
            first_seen = names(&segments(port, "pattern").await);
            first_seen.extend(names(&segments(port, "yard").await));
            eprintln!(
                "disk full after {:?} with {} segments on it",
                started.elapsed(),
                first_seen.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The agent's newest finished segments all reach the hub.
    let mut local: Vec<String> = files(&rec)
        .0
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let newest: Vec<String> = local.split_off(local.len().saturating_sub(5));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let on_hub = names(&segments(port, "yard").await);
        let missing: Vec<&String> = newest.iter().filter(|n| !on_hub.contains(n)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's newest segments {missing:?} never reached the full hub\nagent:\n{}\nhub:\n{}",
            tail(&agent.log(), 30),
            tail(&hub.log(), 30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The hub's own camera records on: its newest segment is recent.
    let pattern = segments(port, "pattern").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let newest_start = pattern
        .iter()
        .filter_map(|s| s["start_ms"].as_i64())
        .max()
        .unwrap();
    assert!(
        now - newest_start < 5000,
        "the demo camera's newest segment started {} ms ago",
        now - newest_start
    );
    let mut on_hub = names(&pattern);
    on_hub.extend(names(&segments(port, "yard").await));
    let gone = first_seen.iter().filter(|n| !on_hub.contains(n)).count();
    assert!(
        gone > 0,
        "nothing the full disk held was deleted: {first_seen:?}"
    );
    let hub_log = hub.log();
    let made_room = hub_log.matches("made room").count();
    agent.signal(Signal::Term).unwrap();
    assert!(
        agent
            .wait_timeout_async(Duration::from_secs(20))
            .await
            .unwrap()
            .success()
    );
    hub.signal(Signal::Term).unwrap();
    assert!(
        hub.wait_timeout_async(Duration::from_secs(20))
            .await
            .unwrap()
            .success(),
        "the hub exits cleanly after running on a full disk"
    );
    let agent_log = agent.log();
    let uploaded = agent_log.matches("segment uploaded").count();
    let failed = agent_log.matches("segment upload failed").count();

    // What is left decodes, and the index matches the files.
    let mut checked = 0;
    for cam in ["pattern", "yard"] {
        let (done, partial) = files(&data.join("recordings").join(cam));
        assert!(partial.is_empty(), "{partial:?}");
        for f in &done {
            let (codec, n) = ffprobe_file(f);
            assert_eq!(codec, "h264");
            assert!(n > 0);
            checked += 1;
        }
    }
    let check = hub_check(&setup);
    assert!(check.contains("0 repairs, 0 problems left"), "{check}");
    for (who, log) in [("hub", &hub_log), ("agent", &agent_log)] {
        assert!(!log.contains("panicked"), "{who} panicked:\n{log}");
    }
    // Nothing was refused (a torn staging file would fail its SHA-256) and the hub
    // never answered 500.
    assert!(
        !agent_log.contains("refused this segment") && !agent_log.contains("HTTP 500"),
        "{}",
        tail(&agent_log, 40)
    );
    let upload_room = hub_log
        .matches("disk full while receiving an upload")
        .count();
    eprintln!(
        "smallest free space seen {min_avail} bytes; {gone} of the {} segments present at the first full disk deleted; \
         hub made room {made_room} times ({upload_room} while receiving an upload); agent uploaded {uploaded} segments, {failed} upload attempts failed and were retried; \
         {checked} segments left, all decode",
        first_seen.len()
    );
    drop(mnt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_bridged_segment_closes_it_playable() {
    if !crate::rtsp_support::rtsp_server_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the RTSP test server"
        );
        return;
    }
    if !testkit::ffprobe::available() {
        return;
    }
    let server = crate::rtsp_support::RtspServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pw = crate::rtsp_support::password_file(
        dir.path(),
        "tapo.password",
        crate::rtsp_support::RTSP_PASSWORD,
    );
    let setup = setup_hub(
        dir.path(),
        &format!(
            "data_dir = \"data\"\n\n[recordings]\nsegment_duration = \"60s\"\n\n[[camera]]\nid = 1\nname = \"cam\"\nkind = \"rtsp\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{}\"\npassword_file = {:?}\npath = \"stream2\"\n",
            server.port,
            crate::rtsp_support::RTSP_USER,
            pw.display().to_string()
        ),
    );
    let port = setup.port;
    let mut hub = setup.start_async().await.unwrap();
    let cam_dir = dir.path().join("data/recordings/cam");
    // Wait for the segment to be open, then let it grow for 5 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while files(&cam_dir).1.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no segment opened:\n{}",
            hub.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let opened = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    hub.signal(Signal::Term).unwrap();
    let status = hub
        .wait_timeout_async(Duration::from_secs(15))
        .await
        .unwrap();
    let streamed = opened.elapsed().as_secs_f64();
    assert!(status.success(), "{status}:\n{}", hub.log());
    let (done, partial) = files(&cam_dir);
    assert!(partial.is_empty(), "left open: {partial:?}");
    assert_eq!(done.len(), 1, "{done:?}");
    let (codec, frames) = ffprobe_file(&done[0]);
    assert_eq!(codec, "h264");
    // stream2 runs at 15 fps; the segment began at a key frame after it was opened.
    let expected = streamed * 15.0;
    assert!(
        frames as f64 >= expected - 30.0 && frames as f64 <= expected + 15.0,
        "{frames} frames after {streamed:.1} s at 15 fps"
    );
    // The index has it (a restart's check finds nothing to repair) and serves it.
    let check = hub_check(&setup);
    assert!(check.contains("0 repairs, 0 problems left"), "{check}");
    let hub = setup.start_async().await.unwrap();
    let segs = segments(port, "cam").await;
    assert_eq!(
        names(&segs),
        vec![done[0].file_name().unwrap().to_string_lossy().into_owned()]
    );
    eprintln!(
        "SIGTERM {streamed:.1} s into a segment: closed with {frames} frames, indexed, check clean"
    );
    drop(hub);
    drop(server);
}
