//! The uploader against the real hub binary (`bin_path("hub")`; build it first with
//! `cargo build --workspace --bins`): a backlog arrives oldest first with matching SHA-256,
//! re-uploading is a no-op, an upload cut by `kill -9` of the hub resumes from the hub's
//! offset after a restart, a wrong token is handled without a tight loop, and a segment the
//! hub holds with another hash is rejected once and kept.
//!
//! Segments are real: openh264 (the agent's own encoder) → `media::Segmenter` → written
//! through `store::SegmentDir`, like the recorder does.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent::config::Secret;
use agent::upload::{UploadConfig, UploadStats, Uploader, hash_file};
use codec::{EncoderSettings, H264Encoder};
use media::{Frame, Time90k, TrackConfig};
use store::{SegmentDir, SetUp};
use testkit::hub::HubSetup;
use testkit::process::ChildGuard;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const USER: &str = "viewer";
const PASSWORD: &str = "upload-test-password-1";
const CAMERA_ID: u32 = 1;
const CAMERA: &str = "porch";
/// The recorder's marker name for camera 1 (`agent::record::recorder::camera_name`).
const DIR_CAMERA: &str = "camera-1";
const FPS: i64 = 15;
/// 2026-11-21T07:00:00Z.
const T0_MS: i64 = 1_795_244_400_000;

// ---- the hub ------------------------------------------------------------------------

struct Hub {
    /// Holds the config and data directory until the hub is dropped.
    _dir: tempfile::TempDir,
    setup: HubSetup,
    port: u16,
    token: String,
    proc: Option<ChildGuard>,
    /// Logs of earlier runs (before a restart).
    old_logs: String,
}

impl Hub {
    /// Configures a hub with one agent camera, a user and the camera's token; not started.
    fn new() -> Hub {
        Hub::with_config("")
    }

    /// The same with `extra` TOML before the camera (e.g. a `[recordings]` table).
    fn with_config(extra: &str) -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let setup = HubSetup::new(
            dir.path(),
            &format!(
                "data_dir = \"data\"\n{extra}\n[[camera]]\nid = {CAMERA_ID}\nname = \"{CAMERA}\"\nkind = \"agent\"\n"
            ),
        )
        .unwrap();
        setup.add_user(USER, PASSWORD).unwrap();
        let token = setup.token(CAMERA_ID).unwrap();
        assert!(!token.is_empty());
        Hub {
            _dir: dir,
            port: setup.port,
            setup,
            token,
            proc: None,
            old_logs: String::new(),
        }
    }

    async fn start(&mut self) {
        self.proc = Some(self.setup.start_async().await.unwrap());
    }

    fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill().unwrap();
            self.old_logs.push_str(&p.log());
        }
    }

    fn log(&self) -> String {
        let mut s = self.old_logs.clone();
        if let Some(p) = &self.proc {
            s.push_str(&p.log());
        }
        s
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `(file, sha256)` of every segment the hub lists for the camera, oldest first.
    async fn listed(&self) -> Vec<(String, String)> {
        let v = testkit::http_client()
            .get(format!(
                "{}/api/recordings?camera={CAMERA}",
                self.base_url()
            ))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&v).unwrap();
        v["segments"]
            .as_array()
            .expect("segments")
            .iter()
            .map(|s| {
                (
                    s["file"].as_str().unwrap().to_owned(),
                    s["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

// ---- segments -----------------------------------------------------------------------

type Seg = testkit::h264::Segment;

/// Encodes `frames` pictures (`noise` 0..=255: how much random noise over a moving
/// gradient; noise makes big frames) and cuts them into segments of `segment_secs`.
fn encode(
    frames: usize,
    (width, height): (u32, u32),
    gop: u32,
    bitrate_bps: u32,
    noise: u8,
    segment_secs: i64,
) -> Vec<Seg> {
    let mut enc = H264Encoder::new(EncoderSettings {
        width,
        height,
        fps: FPS as u32,
        bitrate_bps,
        gop,
    })
    .unwrap();
    let (w, h) = (width as usize, height as usize);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut track = None;
    let mut out = Vec::new();
    for i in 0..frames {
        let mut yuv = vec![128u8; w * h * 3 / 2];
        for (k, px) in yuv[..w * h].iter_mut().enumerate() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let base = ((k / w + k % w + i * 4) % 200) as u8 + 16;
            let n = if noise == 0 { 0 } else { (rng as u8) % noise };
            *px = base.wrapping_add(n);
        }
        let Some(au) = enc.encode(&yuv).unwrap() else {
            continue;
        };
        if let (Some(sps), Some(pps)) = (au.sps(), au.pps()) {
            track = Some(TrackConfig::h264(sps, pps).unwrap());
        }
        out.push(Frame::from_access_unit(&au, Time90k(i as i64 * 90_000 / FPS)).unwrap());
    }
    let track = track.expect("the first picture is a key frame with SPS/PPS");
    testkit::h264::segments_of(&track, &out, segment_secs)
}

/// Writes `seg` into `dir` as the segment starting at `start_ms`; returns its name.
fn write(dir: &SegmentDir, start_ms: i64, seg: &Seg) -> String {
    let mut w = dir.begin(start_ms).unwrap();
    w.append(&seg.init).unwrap();
    for f in &seg.fragments {
        w.write_fragment(f).unwrap();
    }
    let done = w.finish(&seg.summary).unwrap();
    done.name
}

/// A recordings directory like `agent setup-recording` makes.
fn segment_dir(parent: &Path) -> SegmentDir {
    SegmentDir::open(parent.join("rec"), DIR_CAMERA, SetUp::CreateIfMissing).unwrap()
}

fn sha(dir: &SegmentDir, name: &str) -> String {
    hash_file(&dir.path().join(name)).unwrap().1
}

fn uploaded(dir: &SegmentDir) -> Vec<String> {
    dir.segments()
        .unwrap()
        .into_iter()
        .filter(|s| s.uploaded)
        .map(|s| s.name)
        .collect()
}

// ---- the uploader -------------------------------------------------------------------

fn config(hub: &Hub, token: &str) -> UploadConfig {
    let mut c = UploadConfig::new(hub.base_url(), CAMERA_ID, Secret::new(token));
    c.backoff_initial = Duration::from_millis(100);
    c.backoff_max = Duration::from_millis(800);
    c.rescan_interval = Duration::from_millis(500);
    c.request_timeout = Duration::from_secs(30);
    c
}

struct Running {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    stats: Arc<UploadStats>,
}

impl Running {
    fn start(cfg: UploadConfig, dir: SegmentDir) -> Running {
        let uploader = Uploader::new(cfg, dir).unwrap();
        let stats = uploader.stats();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(uploader.run(cancel.clone()));
        Running {
            cancel,
            task,
            stats,
        }
    }

    /// Cancels and checks that the uploader stops promptly.
    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the uploader stops promptly when cancelled")
            .unwrap();
    }

    fn stat(&self, f: impl Fn(&UploadStats) -> &AtomicU64) -> u64 {
        f(&self.stats).load(Ordering::Relaxed)
    }
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- tests --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_arrives_oldest_first_and_reupload_is_a_no_op() {
    let mut hub = Hub::new();
    hub.start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = segment_dir(tmp.path());
    // Three 1 s segments recorded while the hub was unreachable: a backlog.
    let segs = encode(45, (320, 240), 15, 300_000, 16, 1);
    assert_eq!(segs.len(), 3);
    let names: Vec<String> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| write(&dir, T0_MS + i as i64 * 1000, s))
        .collect();
    let shas: Vec<String> = names.iter().map(|n| sha(&dir, n)).collect();
    let total: u64 = names
        .iter()
        .map(|n| std::fs::metadata(dir.path().join(n)).unwrap().len())
        .sum();

    let up = Running::start(config(&hub, &hub.token), dir.clone());
    wait_until(
        "three segments marked uploaded",
        Duration::from_secs(30),
        || uploaded(&dir).len() == 3,
    )
    .await;
    assert_eq!(up.stat(|s| &s.uploaded), 3);
    assert_eq!(up.stat(|s| &s.bytes_sent), total, "each byte sent once");
    // One GET and one PUT per segment (each is below the 4 MiB part size).
    assert_eq!(up.stat(|s| &s.requests), 6);
    up.stop().await;

    let listed = hub.listed().await;
    let want: Vec<(String, String)> = names.iter().cloned().zip(shas.iter().cloned()).collect();
    assert_eq!(
        listed, want,
        "the hub lists every segment with the SHA-256 we computed"
    );
    // Oldest first: the hub stored them in recording order.
    let log = hub.log();
    let order: Vec<usize> = names
        .iter()
        .map(|n| {
            log.lines()
                .position(|l| l.contains("segment uploaded") && l.contains(n.as_str()))
                .unwrap_or_else(|| panic!("hub log has no upload of {n}:\n{log}"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {order:?}"
    );
    assert!(!log.contains(&hub.token), "the token is never logged");

    // Re-upload (e.g. the sidecars were lost): nothing is sent again, nothing duplicated.
    for n in &names {
        std::fs::remove_file(dir.path().join(format!("{n}.uploaded"))).unwrap();
    }
    let up = Running::start(config(&hub, &hub.token), dir.clone());
    wait_until(
        "segments marked uploaded again",
        Duration::from_secs(30),
        || uploaded(&dir).len() == 3,
    )
    .await;
    assert_eq!(up.stat(|s| &s.already_had), 3);
    assert_eq!(up.stat(|s| &s.bytes_sent), 0, "nothing sent again");
    up.stop().await;
    assert_eq!(hub.listed().await, want, "still one row per segment");

    // The hub's own idempotency: a PUT of a stored segment answers 200.
    let body = std::fs::read(dir.path().join(&names[0])).unwrap();
    let r = testkit::http_client()
        .put(format!(
            "{}/api/v1/agents/{CAMERA_ID}/segments/{}",
            hub.base_url(),
            names[0]
        ))
        .bearer_auth(&hub.token)
        .header("X-Content-SHA256", &shas[0])
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// A TCP proxy in front of the hub that stops forwarding the uploader's bytes once
/// `pause_after` bytes went through (once), so the test can kill the hub mid-upload.
struct Proxy {
    port: u16,
    paused: Arc<Notify>,
    release: CancellationToken,
}

impl Proxy {
    async fn start(hub_port: u16, pause_after: u64) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let paused = Arc::new(Notify::new());
        let release = CancellationToken::new();
        let forwarded = Arc::new(AtomicU64::new(0));
        let armed = Arc::new(AtomicBool::new(true));
        let (p, r) = (paused.clone(), release.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let (paused, release, forwarded, armed) =
                    (p.clone(), r.clone(), forwarded.clone(), armed.clone());
                tokio::spawn(async move {
                    let Ok(hub) = tokio::net::TcpStream::connect(("127.0.0.1", hub_port)).await
                    else {
                        return; // dropping the client: the hub is down
                    };
                    let (mut hr, mut hw) = hub.into_split();
                    let (mut cr, mut cw) = client.split();
                    let up = async {
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            let total = forwarded.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                            if total >= pause_after && armed.swap(false, Ordering::SeqCst) {
                                paused.notify_one();
                                release.cancelled().await;
                                return;
                            }
                            if hw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut hr, &mut cw);
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                });
            }
        });
        Proxy {
            port,
            paused,
            release,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_cut_by_kill_9_of_the_hub_resumes_from_the_hubs_offset() {
    let mut hub = Hub::new();
    hub.start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = segment_dir(tmp.path());
    // One big segment: noisy key frames at a high bitrate.
    let segs = encode(40, (640, 480), 1, 50_000_000, 255, 60);
    assert_eq!(segs.len(), 1);
    let name = write(&dir, T0_MS, &segs[0]);
    let size = std::fs::metadata(dir.path().join(&name)).unwrap().len();
    let chunk: u64 = 1 << 20;
    assert!(size > 6 * chunk, "a segment of several parts: {size} bytes");

    // Pause the upload half way (several parts acknowledged, one in flight).
    let proxy = Proxy::start(hub.port, size / 2).await;
    let mut cfg = config(&hub, &hub.token);
    cfg.hub_base_url = format!("http://127.0.0.1:{}", proxy.port);
    cfg.chunk_size = chunk;
    let up = Running::start(cfg, dir.clone());
    tokio::time::timeout(Duration::from_secs(60), proxy.paused.notified())
        .await
        .expect("the upload reaches half way");
    hub.kill();
    proxy.release.cancel();
    wait_until("the uploader notices", Duration::from_secs(30), || {
        up.stat(|s| &s.failures) >= 1
    })
    .await;
    let sent_before = up.stat(|s| &s.bytes_sent);
    assert!(uploaded(&dir).is_empty());

    // The hub comes back: the uploader asks where it is and sends only the rest.
    hub.start().await;
    wait_until(
        "the segment marked uploaded",
        Duration::from_secs(60),
        || uploaded(&dir).len() == 1,
    )
    .await;
    let resumed_at = up.stat(|s| &s.last_resume_offset);
    let sent_after = up.stat(|s| &s.bytes_sent) - sent_before;
    eprintln!(
        "size {size}, sent before the kill {sent_before}, resumed at {resumed_at}, sent after {sent_after}"
    );
    assert_eq!(up.stat(|s| &s.resumed), 1);
    assert!(
        resumed_at >= 2 * chunk && resumed_at < size,
        "resumed past the acknowledged parts: {resumed_at}"
    );
    assert_eq!(
        sent_after,
        size - resumed_at,
        "only the rest was sent after the restart"
    );
    up.stop().await;
    assert_eq!(hub.listed().await, vec![(name.clone(), sha(&dir, &name))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_refused_once_without_a_tight_loop() {
    let mut hub = Hub::new();
    hub.start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = segment_dir(tmp.path());
    let segs = encode(15, (320, 240), 15, 300_000, 16, 1);
    write(&dir, T0_MS, &segs[0]);

    let mut cfg = config(&hub, "not-the-token");
    cfg.unauthorized_backoff = Duration::from_secs(60);
    let up = Running::start(cfg, dir.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(up.stat(|s| &s.unauthorized), 1, "asked once, then waits");
    assert_eq!(up.stat(|s| &s.requests), 1);
    assert_eq!(up.stat(|s| &s.bytes_sent), 0);
    assert!(uploaded(&dir).is_empty());
    up.stop().await;
    assert_eq!(hub.log().matches("bad agent token").count(), 1);
    assert!(hub.listed().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_file_of_the_same_name_is_rejected_once_and_kept() {
    let mut hub = Hub::new();
    hub.start().await;
    let segs = encode(45, (320, 240), 15, 300_000, 16, 1);
    assert_eq!(segs.len(), 3);

    // The hub has segment A under this name.
    let tmp_a = tempfile::tempdir().unwrap();
    let dir_a = segment_dir(tmp_a.path());
    let name = write(&dir_a, T0_MS, &segs[0]);
    let up = Running::start(config(&hub, &hub.token), dir_a.clone());
    wait_until("A uploaded", Duration::from_secs(30), || {
        uploaded(&dir_a).len() == 1
    })
    .await;
    up.stop().await;

    // Another directory holds a different file of the same name, and a later segment.
    let tmp_b = tempfile::tempdir().unwrap();
    let dir_b = segment_dir(tmp_b.path());
    assert_eq!(write(&dir_b, T0_MS, &segs[1]), name);
    let later = write(&dir_b, T0_MS + 1000, &segs[2]);
    let up = Running::start(config(&hub, &hub.token), dir_b.clone());
    wait_until(
        "the later segment uploaded",
        Duration::from_secs(30),
        || uploaded(&dir_b) == vec![later.clone()],
    )
    .await;
    let rejected = dir_b.path().join(format!("{name}.rejected"));
    assert!(rejected.is_file(), "a .rejected sidecar");
    let why = std::fs::read_to_string(&rejected).unwrap();
    assert!(why.starts_with("HTTP 409"), "{why}");
    let requests = up.stat(|s| &s.requests);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        up.stat(|s| &s.requests),
        requests,
        "the rejected segment is not retried"
    );
    assert_eq!(up.stat(|s| &s.rejected), 1);
    up.stop().await;
    assert!(dir_b.path().join(&name).is_file(), "kept locally");
    assert_eq!(
        hub.listed().await,
        vec![
            (name.clone(), sha(&dir_a, &name)),
            (later.clone(), sha(&dir_b, &later))
        ],
        "the hub keeps its own file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_over_the_hubs_size_limit_is_rejected_and_the_backlog_goes_on() {
    let mut hub = Hub::with_config("[recordings]\nmax_segment_size = \"1MiB\"\n");
    hub.start().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = segment_dir(tmp.path());
    let big = encode(30, (320, 240), 1, 50_000_000, 255, 60);
    let small = encode(15, (320, 240), 15, 300_000, 16, 1);
    let big_name = write(&dir, T0_MS, &big[0]);
    assert!(std::fs::metadata(dir.path().join(&big_name)).unwrap().len() > 1 << 20);
    let small_name = write(&dir, T0_MS + 2000, &small[0]);

    let up = Running::start(config(&hub, &hub.token), dir.clone());
    wait_until(
        "the small segment uploaded",
        Duration::from_secs(30),
        || uploaded(&dir) == vec![small_name.clone()],
    )
    .await;
    let why = std::fs::read_to_string(dir.path().join(format!("{big_name}.rejected"))).unwrap();
    assert!(why.starts_with("HTTP 413"), "{why}");
    assert_eq!(up.stat(|s| &s.rejected), 1);
    let requests = up.stat(|s| &s.requests);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        up.stat(|s| &s.requests),
        requests,
        "the rejected segment is not retried"
    );
    up.stop().await;
    assert!(dir.path().join(&big_name).is_file(), "kept locally");
    assert_eq!(hub.listed().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_deleted_before_upload_is_reported_lost() {
    // No hub at all: uploads fail and back off, the backlog waits on disk.
    let hub = Hub::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = segment_dir(tmp.path());
    let segs = encode(30, (320, 240), 15, 300_000, 16, 1);
    let first = write(&dir, T0_MS, &segs[0]);
    write(&dir, T0_MS + 1000, &segs[1]);
    let up = Running::start(config(&hub, &hub.token), dir.clone());
    wait_until("a failed attempt", Duration::from_secs(10), || {
        up.stat(|s| &s.failures) >= 1
    })
    .await;
    assert_eq!(up.stat(|s| &s.pending), 2);
    // Retention under disk pressure deletes the oldest before the hub comes back.
    dir.apply(&[store::Deletion {
        name: first,
        reason: store::Reason::FreeSpace,
        size_bytes: 0,
    }])
    .unwrap();
    wait_until("the loss noticed", Duration::from_secs(10), || {
        up.stat(|s| &s.lost) == 1
    })
    .await;
    assert_eq!(up.stat(|s| &s.pending), 1);
    up.stop().await;
}
