//! Helpers for the video tests (RTSP, Reolink, MSE, HLS): the RTSP test
//! server on loopback, polling `/api/cameras`, the MSE websocket, the
//! browser login, ffprobe. Every wait is bounded.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use std::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{PASSWORD, TestHub, USER};

pub const RTSP_USER: &str = "tapo";
pub const RTSP_PASSWORD: &str = "s3cret-pw";
const PYTHON: &str = "/usr/bin/python3";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/rtsp-test-server.py")
}

/// True if GStreamer's RTSP server can run; otherwise prints why the test is skipped.
pub fn rtsp_server_available() -> bool {
    let ok = std::process::Command::new(PYTHON)
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import GstRtspServer",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIP: {PYTHON} with gi + GstRtspServer not available (scripts/install-test-deps.sh)"
        );
    }
    ok
}

/// `scripts/rtsp-test-server.py` on 127.0.0.1; killed when dropped.
pub struct RtspServer {
    child: Child,
    pub port: u16,
    /// What it printed after READY (the `/scene` mount's `SCENE ...` lines).
    said: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RtspServer {
    pub async fn start() -> RtspServer {
        Self::start_on(0)
            .await
            .expect("rtsp test server did not start")
    }

    /// Start on `port` (0 = any); `None` if it does not say READY within 20 s.
    pub async fn start_on(port: u16) -> Option<RtspServer> {
        let mut child = Command::new(PYTHON)
            .arg(script())
            .args(["--port", &port.to_string(), "--auth", "digest"])
            .args(["--user", RTSP_USER, "--password", RTSP_PASSWORD])
            .args([
                "--width", "640", "--height", "360", "--fps", "15", "--gop", "15",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn rtsp-test-server.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let said = std::sync::Arc::default();
        let mut server = RtspServer {
            child,
            port,
            said: std::sync::Arc::clone(&said),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let mut r = std::io::BufReader::new(stdout);
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading so the server never blocks on a full pipe.
            let mut next = String::new();
            while r.read_line(&mut next).is_ok_and(|n| n > 0) {
                said.lock().unwrap().push(next.trim().to_owned());
                next.clear();
            }
        });
        let line = tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .ok()?
            .ok()?;
        server.port = line
            .trim()
            .strip_prefix("READY rtsp://127.0.0.1:")?
            .parse()
            .ok()?;
        Some(server)
    }

    /// The wall-clock time (unix ms) the `/scene` mount printed for `what` (`enter`:
    /// its first frame with the box, `leave`: its first frame without it again).
    pub fn scene_time(&self, what: &str) -> Option<i64> {
        let prefix = format!("SCENE {what} ");
        self.said
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, like pulling the camera's power (and reap it).
    pub async fn kill(self) {
        drop(self);
    }
}

/// A mode-0600 password file in `dir`.
pub fn password_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// `/api/cameras`' entry for `name`.
pub async fn camera_json(h: &TestHub, name: &str) -> Value {
    let v: Value = h
        .get_auth("/api/cameras")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls `/api/cameras` until `pred` holds for camera `name`; returns its entry.
pub async fn wait_camera(
    h: &TestHub,
    name: &str,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let c = camera_json(h, name).await;
        if pred(&c) {
            return c;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("camera {name}: condition not met within {limit:?}; last: {c:#}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The snapshot JPEG of `name`, decoded: (width, height, rgb).
pub async fn snapshot(h: &TestHub, name: &str) -> (u32, u32, Vec<u8>) {
    let r = h
        .get_auth(&format!("/api/v1/cameras/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "snapshot of {name}");
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let body = r.bytes().await.unwrap();
    let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&body[..]));
    let rgb = d.decode().expect("the snapshot decodes");
    let (w, h) = d.dimensions().unwrap();
    (w as u32, h as u32, rgb)
}

/// What the MSE websocket sent first.
#[derive(Debug)]
pub struct MseStart {
    pub mime: String,
    pub init: Vec<u8>,
    pub fragments: Vec<Vec<u8>>,
}

/// The MSE websocket of `name`, opened with Basic auth.
pub async fn mse_connect(
    h: &TestHub,
    name: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use base64::Engine;
    let mut req = h
        .ws_url(&format!("/api/v1/cameras/{name}/live.mp4.ws"))
        .into_client_request()
        .unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .expect("ws connect in time")
    .expect("ws connect");
    ws
}

/// Opens the MSE websocket of `name` with Basic auth and reads the MIME
/// message, the init segment and `n` fragments.
pub async fn mse_read(h: &TestHub, name: &str, n: usize) -> MseStart {
    let mut ws = mse_connect(h, name).await;
    let mut next = async || loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Err(t.to_string()),
            Ok(Some(Ok(Message::Binary(b)))) => return Ok(b.to_vec()),
            Ok(Some(Ok(_))) => continue,
            other => panic!("websocket ended: {other:?}"),
        }
    };
    let mime = next()
        .await
        .expect_err("a text message with the MIME type first");
    let init = next().await.expect("the init segment");
    let mut fragments = Vec::new();
    while fragments.len() < n {
        fragments.push(next().await.expect("a fragment"));
    }
    MseStart {
        mime,
        init,
        fragments,
    }
}

/// The four-character box types at the top level of `b`.
pub fn top_boxes(b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = b;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&rest[4..8]).into_owned());
        if size < 8 || size > rest.len() {
            break;
        }
        rest = &rest[size..];
    }
    out
}

/// True if the first sample of an fMP4 fragment is a sync sample.
pub fn fragment_is_key(frag: &[u8]) -> bool {
    let at = frag.windows(4).position(|w| w == b"trun").expect("trun");
    let word = |p: usize| u32::from_be_bytes(frag[p..p + 4].try_into().unwrap());
    // trun: version+flags, sample_count, [data_offset], [first_sample_flags], entries.
    let flags = word(at + 4) & 0xFF_FFFF;
    let mut p = at + 12;
    if flags & 0x1 != 0 {
        p += 4;
    }
    let sample_flags = if flags & 0x4 != 0 {
        word(p)
    } else {
        if flags & 0x100 != 0 {
            p += 4;
        }
        if flags & 0x200 != 0 {
            p += 4;
        }
        if flags & 0x400 != 0 {
            word(p)
        } else {
            // No per-sample flags: the track fragment's defaults.
            let tfhd = frag.windows(4).position(|w| w == b"tfhd").expect("tfhd");
            let tf = word(tfhd + 4) & 0xFF_FFFF;
            let mut q = tfhd + 12;
            for bit in [0x1, 0x2, 0x8, 0x10] {
                if tf & bit != 0 {
                    q += if bit == 0x1 { 8 } else { 4 };
                }
            }
            assert!(tf & 0x20 != 0, "no sample flags anywhere");
            word(q)
        }
    };
    sample_flags & 0x0001_0000 == 0
}

/// Waits until the camera page plays MSE video: `videoWidth > 0` and
/// `currentTime` advancing. Returns (videoWidth, videoHeight).
pub async fn wait_mse_playing(b: &testkit::Browser, limit: Duration) -> (u64, u64) {
    b.wait_until(
        "const v = document.getElementById('video'); return window.hubLive && window.hubLive.mode === 'mse' && v.videoWidth > 0 && v.currentTime > 0",
        limit,
    )
    .await
    .unwrap();
    let t0 = b
        .eval("return document.getElementById('video').currentTime")
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v = b
        .eval("const v = document.getElementById('video'); return [v.currentTime, v.videoWidth, v.videoHeight]")
        .await
        .unwrap();
    let t1 = v[0].as_f64().unwrap();
    assert!(t1 > t0 + 0.5, "currentTime advances: {t0} -> {t1}");
    (v[1].as_u64().unwrap(), v[2].as_u64().unwrap())
}

/// `ffprobe` on `url`: (codec_name, width, height) of the first video stream,
/// or `None` (with a message) when ffprobe is not installed.
pub fn ffprobe(url: &str) -> Option<(String, u64, u64)> {
    if !testkit::ffprobe::available() {
        return None;
    }
    let p = testkit::ffprobe::run(url, false, &["-rw_timeout", "15000000"])
        .unwrap_or_else(|e| panic!("{e:#}"));
    Some((p.codec, p.width, p.height))
}

/// Waits (up to 10 s) until the hub has subscribed to the simulated camera's alarms
/// (msg 31), once.
pub async fn wait_alarm_subscription(sim: &reolink::sim::SimHandle) {
    for _ in 0..100 {
        if sim.stats().alarm_subscriptions > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sim.stats().alarm_subscriptions,
        1,
        "the hub subscribed to alarms"
    );
}
