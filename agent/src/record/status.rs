//! What the recorder reports: counters, storage use and the retention forecast, shared with
//! the status writer; and `status.json`, rewritten atomically in the state directory for
//! `agent status`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use store::RetentionPolicy;

/// The name of the status file in the state directory.
pub const STATUS_FILE: &str = "status.json";

/// A snapshot of the recorder.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RecordSnapshot {
    /// `disabled`, `waiting` (directory unusable, retrying), `recording`, `stopped`.
    pub state: String,
    pub error: Option<String>,
    pub dir: String,
    pub current_segment: Option<String>,
    pub last_segment: Option<String>,
    /// Segment files in the directory (finished and partial).
    pub segments: usize,
    pub bytes_used: u64,
    pub free_bytes: u64,
    /// Media in the finished segments.
    pub footage_seconds: f64,
    /// Recorded bits per second over the recent segments.
    pub bitrate_bps: Option<f64>,
    /// Days of footage the retention limits and disk allow at that bitrate.
    pub forecast_days: Option<f64>,
    /// `age`, `size` or `free-space`.
    pub forecast_limited_by: Option<String>,
    pub warnings: Vec<String>,
    /// Pictures the recorder took from its queue and handled.
    pub frames_in: u64,
    /// Frames written to segment files (in complete fragments).
    pub frames_written: u64,
    /// Pictures taken but not written (before the first key frame, no
    /// directory, encoder or disk failure).
    pub frames_not_recorded: u64,
    /// Pictures capture offered to the recorder queue, and how many its
    /// overflow policy dropped (filled in by the status writer).
    pub frames_offered: u64,
    pub frames_dropped: u64,
    pub media_bytes_written: u64,
    pub file_bytes_written: u64,
    pub segments_finished: u64,
    /// Torn segments recovered at start-up (this run).
    pub recovered: u64,
    /// Segments deleted by retention (this run).
    pub deleted: u64,
}

impl RecordSnapshot {
    pub fn set_forecast(&mut self, f: &store::Forecast, free: u64) {
        self.segments = f.segment_count;
        self.bytes_used = f.bytes_used;
        self.free_bytes = free;
        self.footage_seconds = f.footage_ms as f64 / 1000.0;
        self.bitrate_bps = f.bitrate_bytes_per_sec.map(|b| b * 8.0);
        self.forecast_days = f.days_of_footage_possible;
        self.forecast_limited_by = Some(
            match f.limited_by {
                store::Reason::Age => "age",
                store::Reason::Size => "size",
                store::Reason::FreeSpace => "free-space",
            }
            .into(),
        );
        self.warnings = f.warnings.clone();
    }
}

/// The recorder's shared status.
#[derive(Debug)]
pub struct RecordStatus {
    inner: Mutex<RecordSnapshot>,
    pub policy: RetentionPolicy,
}

impl RecordStatus {
    pub fn new(dir: &Path, policy: RetentionPolicy) -> RecordStatus {
        RecordStatus {
            inner: Mutex::new(RecordSnapshot {
                state: "starting".into(),
                dir: dir.display().to_string(),
                ..Default::default()
            }),
            policy,
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut RecordSnapshot)) {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn set_state(&self, state: &str, error: Option<String>) {
        self.update(|s| {
            s.state = state.into();
            s.error = error;
        });
    }

    pub fn snapshot(&self) -> RecordSnapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The whole `status.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentStatus {
    pub pid: u32,
    /// UTC ms when written.
    pub updated_ms: u64,
    pub camera_id: u32,
    pub source: String,
    pub frames_captured: u64,
    pub frames_sent: u64,
    pub hub_connected: bool,
    pub record: RecordSnapshot,
}

/// The status file's path in `state_dir`.
pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATUS_FILE)
}

/// Write `status.json` atomically: temp file, rename (no fsync: it is
/// rewritten every few seconds and losing it in a power cut is harmless).
pub fn write_status(state_dir: &Path, status: &AgentStatus) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    let tmp = state_dir.join(format!(".{STATUS_FILE}.tmp"));
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, status_path(state_dir))
}

/// Read `status.json`.
pub fn read_status(state_dir: &Path) -> std::io::Result<AgentStatus> {
    let bytes = std::fs::read(status_path(state_dir))?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The human-readable report of `agent status`.
pub fn render(status: &AgentStatus, now_ms: u64) -> String {
    let r = &status.record;
    let age_s = now_ms.saturating_sub(status.updated_ms) as f64 / 1000.0;
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "agent pid {} (camera {}, source {}), status written {age_s:.0}s ago{}",
        status.pid,
        status.camera_id,
        status.source,
        if age_s > 30.0 {
            " (STALE: is the agent running?)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "live: {} frames captured, {} sent, hub {}",
        status.frames_captured,
        status.frames_sent,
        if status.hub_connected {
            "connected"
        } else {
            "not connected"
        }
    );
    let _ = write!(out, "recording: {}", r.state);
    if let Some(e) = &r.error {
        let _ = write!(out, " ({e})");
    }
    let _ = writeln!(out);
    if r.state == "disabled" {
        return out;
    }
    let _ = writeln!(out, "  directory: {}", r.dir);
    if let Some(c) = &r.current_segment {
        let _ = writeln!(out, "  writing: {c}");
    }
    let _ = writeln!(
        out,
        "  segments: {} ({}), {:.1} h of footage; {} free on the disk",
        r.segments,
        human_bytes(r.bytes_used),
        r.footage_seconds / 3600.0,
        human_bytes(r.free_bytes)
    );
    match (r.bitrate_bps, r.forecast_days) {
        (Some(b), Some(d)) => {
            let _ = writeln!(
                out,
                "  forecast: {d:.1} days of footage at {:.0} kbit/s (limited by {})",
                b / 1000.0,
                r.forecast_limited_by.as_deref().unwrap_or("?")
            );
        }
        _ => {
            let _ = writeln!(out, "  forecast: unknown until a segment has finished");
        }
    }
    let _ = writeln!(
        out,
        "  frames: {} written, {} dropped (queue overflow), {} not recorded; {} segments finished, {} recovered, {} deleted this run",
        r.frames_written,
        r.frames_dropped,
        r.frames_not_recorded,
        r.segments_finished,
        r.recovered,
        r.deleted
    );
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_render() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = AgentStatus {
            pid: 42,
            updated_ms: 1_000_000,
            camera_id: 3,
            source: "testsrc".into(),
            ..Default::default()
        };
        s.record.state = "recording".into();
        s.record.segments = 12;
        s.record.bytes_used = 3 << 20;
        s.record.bitrate_bps = Some(800_000.0);
        s.record.forecast_days = Some(9.5);
        s.record.forecast_limited_by = Some("size".into());
        write_status(dir.path(), &s).unwrap();
        let back = read_status(dir.path()).unwrap();
        assert_eq!(back, s);
        let text = render(&back, 1_002_000);
        assert!(text.contains("recording: recording"), "{text}");
        assert!(text.contains("segments: 12 (3.0 MiB)"), "{text}");
        assert!(text.contains("9.5 days"), "{text}");
        assert!(render(&back, 1_100_000).contains("STALE"));
    }
}
