//! Shared helpers for the loopback tests: fast client timings, event collection with
//! deadlines, fixture lookup, resident memory.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use media::{SegmenterConfig, Time90k, TrackConfig, VideoEvent};
use reolink::{ReolinkConfig, ReolinkStatus, Timing, Transport};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "reolink=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Timings short enough for tests (reconnect fast, ping often), auth retry kept slow.
pub fn fast_timing() -> Timing {
    Timing {
        connect_timeout: Duration::from_secs(2),
        login_timeout: Duration::from_secs(5),
        ping_interval: Duration::from_secs(1),
        battery_interval: Duration::from_secs(2),
        signal_interval: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        auth_retry: Duration::from_secs(300),
    }
}

pub fn tcp_config(port: u16, password: &str) -> ReolinkConfig {
    let mut c = ReolinkConfig::new(
        "sim",
        Transport::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        "admin",
        password,
    );
    c.timing = fast_timing();
    c
}

/// `../shared/fixtures/baichuan` relative to the workspace root, if present.
pub fn fixtures() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("../shared/fixtures/baichuan");
    dir.is_dir().then_some(dir)
}

/// The Swann capture (H.264 I, P, ADPCM, ADPCM, P) as replay files.
pub fn swann_files() -> Option<Vec<PathBuf>> {
    let dir = fixtures()?.join("neolink/bcmedia");
    let files: Vec<PathBuf> = (0..10)
        .map(|i| dir.join(format!("video_stream_swan_{i:02}.raw")))
        .collect();
    files.iter().all(|f| f.is_file()).then_some(files)
}

/// What a test saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub tracks: Vec<TrackConfig>,
    pub frames: Vec<media::Frame>,
    pub gaps: Vec<String>,
    /// Event kinds in order: 'T', 'F', 'G'.
    pub order: String,
}

impl Seen {
    pub fn push(&mut self, ev: VideoEvent) {
        match ev {
            VideoEvent::Track(t) => {
                self.tracks.push(t);
                self.order.push('T');
            }
            VideoEvent::Frame(f) => {
                self.frames.push(f);
                self.order.push('F');
            }
            VideoEvent::Gap { reason } => {
                self.gaps.push(reason);
                self.order.push('G');
            }
        }
    }

    pub fn dts(&self) -> Vec<Time90k> {
        self.frames.iter().map(|f| f.dts).collect()
    }

    pub fn assert_dts_strictly_increasing(&self) {
        for w in self.frames.windows(2) {
            assert!(
                w[1].dts > w[0].dts,
                "dts not increasing: {:?} then {:?}",
                w[0].dts,
                w[1].dts
            );
        }
    }
}

/// Receives until `done(&seen)` or the deadline (then panics with what was seen).
pub async fn collect_until(
    rx: &mut mpsc::Receiver<VideoEvent>,
    seen: &mut Seen,
    within: Duration,
    mut done: impl FnMut(&Seen) -> bool,
) {
    let deadline = Instant::now() + within;
    while !done(seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => seen.push(ev),
            Ok(None) => panic!("event channel closed; seen order {}", seen.order),
            Err(_) => panic!(
                "timed out after {within:?}: {} tracks, {} frames, gaps {:?}",
                seen.tracks.len(),
                seen.frames.len(),
                seen.gaps
            ),
        }
    }
}

/// Waits until the status satisfies `f`.
pub async fn wait_status(
    rx: &mut watch::Receiver<ReolinkStatus>,
    within: Duration,
    f: impl FnMut(&ReolinkStatus) -> bool,
) -> ReolinkStatus {
    let r = tokio::time::timeout(within, rx.wait_for(f))
        .await
        .map(|r| r.map(|s| s.clone()));
    match r {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => panic!("status channel closed"),
        Err(_) => panic!(
            "status condition not met within {within:?}: {:?}",
            *rx.borrow()
        ),
    }
}

/// Resident set size of this process in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// One fMP4 file from a track and frames.
pub fn record(track: &TrackConfig, frames: &[media::Frame]) -> Vec<u8> {
    let segments = testkit::h264::segments(track, frames, SegmenterConfig::default());
    assert_eq!(segments.len(), 1);
    segments[0].bytes()
}

/// ffprobe's decoded frame count, codec and size; `None` (with a message) without ffprobe.
pub fn ffprobe(bytes: &[u8]) -> Option<(u64, String, u32, u32)> {
    if !testkit::ffprobe::available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    std::fs::write(&path, bytes).unwrap();
    let p = testkit::ffprobe::run(&path, true, &[]).unwrap_or_else(|e| panic!("{e:#}"));
    Some((p.frames, p.codec, p.width as u32, p.height as u32))
}
