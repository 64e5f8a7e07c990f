//! Test helpers: the project's RTSP test server (`scripts/rtsp-test-server.py`) on loopback,
//! and collecting a source's events with a time limit.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use media::{Frame, TrackConfig, VideoEvent};
use rtsp::{Backoff, RtspConfig, SourceOptions, Transport};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub const USER: &str = "tapo";
pub const PASSWORD: &str = "s3cret-pw";
pub const WIDTH: u16 = 640;
pub const HEIGHT: u16 = 360;
pub const FPS: u32 = 15;
/// Frames between key frames: 1 s at 15 fps, so runs start quickly.
pub const GOP: u32 = 15;

/// Debian's python, which has `gi` (a pyenv python3 on PATH may not).
const PYTHON: &str = "/usr/bin/python3";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rtsp-test-server.py")
}

/// True if GStreamer's RTSP server is usable; otherwise prints why the test is skipped.
pub fn server_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok = *OK.get_or_init(|| {
        std::process::Command::new(PYTHON)
            .args([
                "-c",
                "import gi; gi.require_version('GstRtspServer','1.0'); \
                 from gi.repository import GstRtspServer",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        eprintln!(
            "SKIP: {PYTHON} with gi + GstRtspServer not available \
             (scripts/install-test-deps.sh installs it)"
        );
    }
    ok
}

/// A running `rtsp-test-server.py`; killed when dropped.
pub struct TestServer {
    child: Child,
    pub port: u16,
}

impl TestServer {
    /// Starts the server on a free port (chosen by the server itself with `--port 0`).
    pub async fn start() -> TestServer {
        Self::start_on(0, "digest")
            .await
            .expect("test server did not start")
    }

    /// Starts the server on `port` (0 = any) and waits for its `READY` line; `None` if it
    /// exits or says nothing within 20 s (e.g. the port is still taken).
    pub async fn start_on(port: u16, auth: &str) -> Option<TestServer> {
        let mut child = Command::new(PYTHON)
            .arg(script())
            .args(["--port", &port.to_string(), "--auth", auth])
            .args(["--user", USER, "--password", PASSWORD])
            .args([
                "--width",
                &WIDTH.to_string(),
                "--height",
                &HEIGHT.to_string(),
            ])
            .args(["--fps", &FPS.to_string(), "--gop", &GOP.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn rtsp-test-server.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let line = match ready {
            Ok(Ok(Some(line))) => line,
            _ => {
                let _ = child.start_kill();
                return None;
            }
        };
        let port = line
            .strip_prefix("READY rtsp://127.0.0.1:")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"));
        Some(TestServer { child, port })
    }

    /// Kills the server with SIGKILL (like pulling a camera's power) and reaps it.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill server");
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to the server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("server running");
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid}");
    }

    /// The source config for `path` on this server.
    pub fn config(&self, path: &str, transport: Transport) -> RtspConfig {
        RtspConfig {
            port: self.port,
            path: path.to_owned(),
            transport,
            ..RtspConfig::new("test-cam", "127.0.0.1", USER, PASSWORD)
        }
    }
}

/// Options with short timeouts so tests finish quickly.
pub fn fast_options() -> SourceOptions {
    SourceOptions {
        connect_timeout: Duration::from_secs(10),
        stall_timeout: Duration::from_secs(3),
        backoff: Backoff {
            initial: Duration::from_millis(300),
            max: Duration::from_secs(1),
            stable_after: Duration::from_secs(30),
        },
        ..SourceOptions::default()
    }
}

/// Everything a source sent, in order.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<VideoEvent>,
}

impl Collected {
    pub fn tracks(&self) -> Vec<&TrackConfig> {
        self.events
            .iter()
            .filter_map(|e| match e {
                VideoEvent::Track(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    pub fn frames(&self) -> Vec<&Frame> {
        self.events
            .iter()
            .filter_map(|e| match e {
                VideoEvent::Frame(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    pub fn gaps(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                VideoEvent::Gap { reason } => Some(reason.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Frames after the last gap (or all of them).
    pub fn frames_since_gap(&self) -> usize {
        self.events
            .iter()
            .rev()
            .take_while(|e| !matches!(e, VideoEvent::Gap { .. }))
            .filter(|e| matches!(e, VideoEvent::Frame(_)))
            .count()
    }

    /// Checks the invariants of a source's output: every run (between gaps) starts with a
    /// track, its first frame is a key frame, dts strictly increase, data is AVCC.
    pub fn check_runs(&self) {
        let mut have_track = false;
        let mut last_dts = None;
        for (i, ev) in self.events.iter().enumerate() {
            match ev {
                VideoEvent::Track(_) => have_track = true,
                VideoEvent::Gap { .. } => {
                    have_track = false;
                    last_dts = None;
                }
                VideoEvent::Frame(f) => {
                    assert!(have_track, "event {i}: frame before a track");
                    match last_dts {
                        None => assert!(f.is_key, "event {i}: run starts with a non-key frame"),
                        Some(prev) => assert!(f.dts > prev, "event {i}: dts {} <= {}", f.dts, prev),
                    }
                    last_dts = Some(f.dts);
                    check_avcc(&f.data);
                }
            }
        }
    }
}

/// Asserts `data` is a sequence of 4-byte-length-prefixed NAL units.
pub fn check_avcc(data: &[u8]) {
    let mut rest = data;
    assert!(!rest.is_empty(), "empty frame");
    while !rest.is_empty() {
        assert!(rest.len() > 4, "truncated length prefix");
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        assert!(len > 0 && len <= rest.len() - 4, "bad NAL length {len}");
        rest = &rest[4 + len..];
    }
}

/// Receives events until `done` says so or `limit` passes (then panics with what arrived).
pub async fn collect_until(
    rx: &mut mpsc::Receiver<VideoEvent>,
    into: &mut Collected,
    limit: Duration,
    mut done: impl FnMut(&Collected) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done(into) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => into.events.push(ev),
            Ok(None) => panic!("source stopped; got {}", summary(into)),
            Err(_) => panic!("timed out after {limit:?}; got {}", summary(into)),
        }
    }
}

fn summary(c: &Collected) -> String {
    format!(
        "{} tracks, {} frames, gaps {:?}",
        c.tracks().len(),
        c.frames().len(),
        c.gaps()
    )
}
