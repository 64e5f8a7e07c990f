//! ffprobe (and ffmpeg's decoder) as the tests' judge of media files: one call
//! shape, read into [`Probe`]. A test that only checks files when ffprobe is
//! installed asks [`available`] first, which says why it skips.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Debian's ffprobe (package `ffmpeg`, installed by scripts/install-test-deps.sh).
pub const FFPROBE: &str = "/usr/bin/ffprobe";
/// Debian's ffmpeg.
pub const FFMPEG: &str = "/usr/bin/ffmpeg";

/// Whether ffprobe is installed; prints a SKIP line when it is not. Under
/// CI (`CI=true`) a missing ffprobe is a failure, not a skip.
pub fn available() -> bool {
    let ok = Path::new(FFPROBE).is_file();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "CI must have {FFPROBE} (scripts/install-test-deps.sh)"
        );
        println!("SKIP: {FFPROBE} not installed; not checking files with ffprobe");
    }
    ok
}

/// What ffprobe reports about a file's (or URL's) first video stream.
#[derive(Debug, Clone)]
pub struct Probe {
    pub codec: String,
    pub width: u64,
    pub height: u64,
    /// Frames ffprobe decoded (`-count_frames`); 0 when not counted.
    pub frames: u64,
    /// The video stream's `start_time` in seconds (NaN if not reported).
    pub start_time: f64,
    /// The video stream's own `duration` in seconds, else the container's (NaN if neither).
    pub duration: f64,
    /// The container's `duration` in seconds (NaN if not reported).
    pub format_duration: f64,
    /// ffprobe's stderr at `-v error`: empty for a clean file.
    pub errors: String,
    /// The whole JSON answer (`streams` and `format`).
    pub json: Value,
}

impl Probe {
    /// Media seconds the stream spans: `duration - start_time` (a stream whose
    /// timeline starts later than 0 reports its end time as its duration).
    pub fn span(&self) -> f64 {
        let start = if self.start_time.is_finite() {
            self.start_time
        } else {
            0.0
        };
        self.duration - start
    }
}

fn num(x: &Value) -> f64 {
    x.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| x.as_f64())
        .unwrap_or(f64::NAN)
}

/// `ffprobe -v error [-count_frames] -select_streams v:0 -show_streams
/// -show_format -of json EXTRA... TARGET`; fails when ffprobe cannot run, exits
/// non-zero or finds no video stream. Error output is returned in
/// [`Probe::errors`], not judged.
pub fn run(target: impl AsRef<OsStr>, count_frames: bool, extra: &[&str]) -> Result<Probe> {
    let target = target.as_ref();
    let mut cmd = Command::new(FFPROBE);
    cmd.args(["-v", "error"]);
    if count_frames {
        cmd.arg("-count_frames");
    }
    cmd.args([
        "-select_streams",
        "v:0",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
    ])
    .args(extra)
    .arg(target);
    let out = cmd
        .output()
        .with_context(|| format!("running {FFPROBE} (scripts/install-test-deps.sh)"))?;
    let errors = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        bail!("ffprobe {}: {} {errors}", target.display(), out.status);
    }
    let json: Value = serde_json::from_slice(&out.stdout).context("ffprobe's JSON")?;
    let s = json["streams"]
        .as_array()
        .and_then(|a| a.first())
        .with_context(|| format!("ffprobe {}: no video stream: {json}", target.display()))?
        .clone();
    let format_duration = num(&json["format"]["duration"]);
    let stream_duration = num(&s["duration"]);
    Ok(Probe {
        codec: s["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: s["width"].as_u64().unwrap_or(0),
        height: s["height"].as_u64().unwrap_or(0),
        frames: num(&s["nb_read_frames"]).max(0.0) as u64,
        start_time: num(&s["start_time"]),
        duration: if stream_duration.is_nan() {
            format_duration
        } else {
            stream_duration
        },
        format_duration,
        errors,
        json,
    })
}

/// Probes `path`, counting its frames, and fails on any error output: a file
/// that ffprobe decodes with complaints is not a good recording.
pub fn probe(path: &Path) -> Result<Probe> {
    let p = run(path, true, &[])?;
    if !p.errors.is_empty() {
        bail!("ffprobe {}: {}", path.display(), p.errors);
    }
    Ok(p)
}

/// [`probe`] of bytes (written to a temporary file first).
pub fn probe_bytes(bytes: &[u8]) -> Result<Probe> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("probe.mp4");
    std::fs::write(&path, bytes)?;
    probe(&path)
}

/// ffprobe's JSON for `-show_entries ENTRIES` of the first video stream.
fn entries(path: &Path, entries: &str) -> Result<Value> {
    let out = Command::new(FFPROBE)
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", entries, "-of", "json"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    if !out.status.success() {
        bail!(
            "ffprobe {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("ffprobe's JSON")
}

/// Key-frame flag of every video frame, in order (`-show_entries frame=key_frame`).
pub fn key_frames(path: &Path) -> Result<Vec<bool>> {
    let v = entries(path, "frame=key_frame")?;
    Ok(v["frames"]
        .as_array()
        .context("no frames")?
        .iter()
        .map(|f| f["key_frame"].as_i64() == Some(1))
        .collect())
}

/// The longest key frame interval (GOP) of the first video stream, in seconds: from
/// each key frame to the next, the last one to the end of the file.
pub fn longest_gop(path: &Path) -> Result<f64> {
    let v = entries(path, "packet=pts_time,flags:format=duration")?;
    let mut keys: Vec<f64> = v["packets"]
        .as_array()
        .context("no packets")?
        .iter()
        .filter(|p| p["flags"].as_str().is_some_and(|f| f.starts_with('K')))
        .map(|p| num(&p["pts_time"]))
        .collect();
    keys.push(num(&v["format"]["duration"]));
    Ok(keys.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max))
}

/// Decodes the whole file with `ffmpeg -f null`; its error output (empty = clean).
pub fn decode_errors(path: &Path) -> Result<String> {
    let out = Command::new(FFMPEG)
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .context("running ffmpeg")?;
    if !out.status.success() {
        bail!("ffmpeg {}: exit {:?}", path.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}
