//! Store and forward end to end with the real binaries (`cargo build --workspace --bins`
//! first): the `agent` records 1 s segments of its test pattern and uploads them to the
//! `hub`. The hub goes away twice for more than three segment lengths — stopped with
//! SIGTERM, then killed with `kill -9` while uploads run — and comes back; the agent
//! records on locally meanwhile. Every segment recorded during the outages reaches the
//! hub, byte for byte (SHA-256), none twice and none refused; and after each return the
//! agent's live push reconnects (the restarted hub serves its frames on MJPEG).
//!
//! The agent's side is configured with `[upload] enabled = true`. If the agent does not
//! know that key yet (the uploader is not wired into `agent run`), the test fails saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use testkit::hub::HubSetup;
use testkit::process::{ChildGuard, Signal, bin_path, spawn_logged};

const USER: &str = "viewer";
const PASSWORD: &str = "outage-test-password-1";
const CAMERA_ID: u32 = 3;
const CAMERA: &str = "yard";
/// The agent's segment length.
const SEGMENT: Duration = Duration::from_secs(1);
/// Each outage lasts this long: over three segment lengths.
const OUTAGE: Duration = Duration::from_secs(5);

struct Setup {
    /// Holds every file of the test until it ends.
    _dir: tempfile::TempDir,
    hub: HubSetup,
    agent_config: PathBuf,
    rec_dir: PathBuf,
    port: u16,
    token: String,
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn agent_cmd(config: &Path, sub: Option<&str>) -> Command {
    let mut c = Command::new(bin_path("agent"));
    if let Some(sub) = sub {
        c.arg(sub);
    }
    c.arg("--config").arg(config).env("RUST_LOG", "info");
    c
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(
        dir.path(),
        &format!(
            "data_dir = \"data\"\n\n[[camera]]\nid = {CAMERA_ID}\nname = \"{CAMERA}\"\nkind = \"agent\"\n"
        ),
    )
    .unwrap();
    let port = hub.port;
    hub.add_user(USER, PASSWORD).unwrap();
    let token = hub.token(CAMERA_ID).unwrap();

    let token_file = dir.path().join("token");
    write_private(&token_file, &token);
    let rec_dir = dir.path().join("rec");
    let agent_config = dir.path().join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            r#"hub_url = "ws://127.0.0.1:{port}/video-input-stream"
camera_id = {CAMERA_ID}
token_file = {token_file:?}
state_dir = {state:?}

[source]
kind = "testsrc"
width = 160
height = 120
fps = 10

[record]
enabled = true
dir = {rec:?}
segment_duration = "1s"

[upload]
enabled = true
backoff_max = "2s"

[uplink]
backoff_max = "2s"
"#,
            token_file = token_file.display().to_string(),
            state = dir.path().join("state").display().to_string(),
            rec = rec_dir.display().to_string(),
        ),
    )
    .unwrap();
    Setup {
        _dir: dir,
        hub,
        agent_config,
        rec_dir,
        port,
        token,
    }
}

/// The agent must accept `[upload]`; if it does not, the uploader is not wired in yet.
fn check_agent_config(cfg: &Path) {
    let out = agent_cmd(cfg, Some("check-config")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("upload") {
            panic!(
                "agent uploader not wired into run: `agent check-config` refuses the [upload] \
                 section: {stderr}"
            );
        }
        panic!("agent check-config failed: {stderr}");
    }
}

async fn start_hub(s: &Setup) -> ChildGuard {
    s.hub.start_async().await.unwrap()
}

/// `file → sha256` of every segment the hub lists for the camera; panics on a duplicate.
async fn hub_segments(s: &Setup) -> BTreeMap<String, String> {
    let v: serde_json::Value = testkit::http_client()
        .get(format!(
            "http://127.0.0.1:{}/api/recordings?camera={CAMERA}",
            s.port
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
    let mut out = BTreeMap::new();
    for seg in v["segments"].as_array().expect("segments") {
        let file = seg["file"].as_str().unwrap().to_owned();
        let sha = seg["sha256"].as_str().unwrap().to_owned();
        assert!(
            out.insert(file.clone(), sha).is_none(),
            "the hub lists {file} twice"
        );
    }
    out
}

/// The agent's finished segments (`*.mp4`), oldest first.
fn local_segments(rec: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(rec)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".mp4") && store::parse_segment_name(n).is_some())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn sha256_file(path: &Path) -> String {
    let mut h = Sha256::new();
    h.update(std::fs::read(path).unwrap());
    hex::encode(h.finalize())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The agent's live push is back: the restarted hub serves fresh frames of the camera.
async fn live_frames_arrive(s: &Setup, after: Signal) {
    let started = Instant::now();
    let req = testkit::http_client()
        .get(format!(
            "http://127.0.0.1:{}/api/v1/cameras/{CAMERA}/stream",
            s.port
        ))
        .basic_auth(USER, Some(PASSWORD));
    let mut stream = testkit::mjpeg::MjpegStream::connect(req)
        .await
        .unwrap()
        .with_part_timeout(Duration::from_secs(20));
    let parts = stream.take_parts(5).await.unwrap_or_else(|e| {
        panic!("no live frames from the agent after the hub's return ({after:?}): {e:#}")
    });
    assert!(parts.iter().all(|p| p.body.starts_with(&[0xFF, 0xD8])));
    eprintln!(
        "live push back {:?} after the hub's return ({after:?})",
        started.elapsed()
    );
}

/// Waits until every local segment in `names` is on the hub.
async fn wait_all_on_hub(s: &Setup, names: &[String], timeout: Duration, agent: &ChildGuard) {
    let deadline = Instant::now() + timeout;
    loop {
        let on_hub = hub_segments(s).await;
        let missing: Vec<&String> = names.iter().filter(|n| !on_hub.contains_key(*n)).collect();
        if missing.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{} of {} local segments never reached the hub: {missing:?}\nagent log:\n{}",
                missing.len(),
                names.len(),
                tail(&agent.log(), 60)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_recorded_during_hub_outages_all_arrive_once() {
    let s = setup();
    check_agent_config(&s.agent_config);
    let out = agent_cmd(&s.agent_config, Some("setup-recording"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "agent setup-recording: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut hub = start_hub(&s).await;
    let mut agent = spawn_logged(&mut agent_cmd(&s.agent_config, None), "agent").unwrap();

    // Uploads work while the hub is up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub_segments(&s).await.len() < 2 {
        if Instant::now() > deadline {
            panic!(
                "no segments reached the hub within 30 s (agent uploader not wired into run?); \
                 local segments: {:?}\nagent log:\n{}",
                local_segments(&s.rec_dir),
                tail(&agent.log(), 60)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut outages = Vec::new();
    let mut hub_logs = String::new();
    for (i, sig) in [Signal::Term, Signal::Kill].into_iter().enumerate() {
        if i > 0 {
            // Let the backlog drain and uploads run again before the next outage.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let start = now_ms();
        if sig == Signal::Kill {
            hub.kill().unwrap();
        } else {
            hub.signal(sig).unwrap();
            hub.wait_timeout_async(Duration::from_secs(15))
                .await
                .unwrap();
        }
        hub_logs.push_str(&hub.log());
        tokio::time::sleep(OUTAGE).await;
        let end = now_ms();
        hub = start_hub(&s).await;
        live_frames_arrive(&s, sig).await;
        outages.push((sig, start, end));
    }

    // Everything finished a little after the hub's return arrives.
    tokio::time::sleep(SEGMENT * 2).await;
    let local = local_segments(&s.rec_dir);
    wait_all_on_hub(&s, &local, Duration::from_secs(60), &agent).await;

    agent.signal(Signal::Term).unwrap();
    agent
        .wait_timeout_async(Duration::from_secs(20))
        .await
        .unwrap();
    let on_hub = hub_segments(&s).await;
    hub_logs.push_str(&hub.log());
    drop(hub);

    for (sig, start, end) in &outages {
        let during: Vec<&String> = local
            .iter()
            .filter(|n| {
                let t = store::parse_segment_name(n).unwrap();
                t >= *start && t < *end
            })
            .collect();
        eprintln!(
            "outage ({sig:?}) of {} ms: {} segments recorded meanwhile",
            end - start,
            during.len()
        );
        assert!(
            during.len() >= 3,
            "the agent records on during the outage ({sig:?}): {during:?}"
        );
        for n in during {
            assert!(
                on_hub.contains_key(n),
                "{n} (recorded during the {sig:?} outage) is on the hub"
            );
        }
    }
    // Byte for byte, once each.
    let finished: BTreeSet<String> = local_segments(&s.rec_dir).into_iter().collect();
    for n in &local {
        assert_eq!(
            on_hub.get(n),
            Some(&sha256_file(&s.rec_dir.join(n))),
            "{n}: the hub's copy matches"
        );
    }
    for n in on_hub.keys() {
        assert!(
            finished.contains(n),
            "the hub has {n}, which the agent never finished"
        );
    }
    let agent_log = agent.log();
    eprintln!(
        "{} segments on the hub; agent log: {} uploaded, {} resumed, {} upload failures logged",
        on_hub.len(),
        agent_log.matches("segment uploaded").count(),
        agent_log.matches("resuming an upload").count(),
        agent_log.matches("segment upload failed").count(),
    );
    assert!(
        !agent_log.contains("refused this segment") && !agent_log.contains("HTTP 409"),
        "no segment was refused:\n{}",
        tail(&agent_log, 60)
    );
    assert!(
        !agent_log.contains(&s.token),
        "the agent never logs its token"
    );
    assert!(!hub_logs.contains(&s.token), "the hub never logs a token");
}
