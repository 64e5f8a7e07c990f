//! The agent's configuration file: typed, strict TOML; every key is documented in `agent.example.toml`.
//!
//! Unknown keys are errors, choices are enums, durations and sizes carry
//! units (`"500ms"`, `"30s"`, `"4MiB"`: the dialect the hub's file speaks too, from the
//! `units` crate), defaults live here in code, and every validation error names the key
//! it is about. The token is never part of a `Debug` or log line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
pub use units::{ByteSize, Dur, Limit, Retention, parse_duration, parse_size};

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The TOML is malformed or a key is unknown, missing or of the wrong
    /// type; toml's message names the key and shows the line.
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    #[error("`{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `ws://host:port/video-input-stream`.
    pub hub_url: String,
    /// The camera's id on the hub (1 or more).
    pub camera_id: u32,
    /// The token inline; exactly one of `token` and `token_file`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A file holding the token (surrounding whitespace ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// How often to log capture and uplink counters.
    #[serde(default = "defaults::stats_interval")]
    pub stats_interval: Dur,
    pub source: SourceConfig,
    #[serde(default)]
    pub uplink: UplinkConfig,
    /// Where the running agent writes `status.json` (read by `agent status`).
    #[serde(default = "defaults::state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub record: RecordConfig,
    #[serde(default)]
    pub upload: UploadSection,
    /// `[motion]`: motion detection on the captured frames (the `motion` crate's settings);
    /// absent: off. Events are kept in `STATE_DIR/events/` until the hub has them.
    #[serde(default)]
    pub motion: Option<motion::Settings>,
    #[serde(default)]
    pub health: HealthSection,
}

/// `[health]`: the Pi's health reported to the hub (see `crate::health`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSection {
    #[serde(default = "defaults::health_enabled")]
    pub enabled: bool,
    /// Time between two reports.
    #[serde(default = "defaults::health_interval")]
    pub interval: Dur,
    /// Where the kernel's `/sys` is (temperature, throttling); tests point it elsewhere.
    #[serde(default = "defaults::sys_root")]
    pub sys_root: PathBuf,
    /// Where `/proc` is (load).
    #[serde(default = "defaults::proc_root")]
    pub proc_root: PathBuf,
}

impl Default for HealthSection {
    fn default() -> Self {
        HealthSection {
            enabled: defaults::health_enabled(),
            interval: defaults::health_interval(),
            sys_root: defaults::sys_root(),
            proc_root: defaults::proc_root(),
        }
    }
}

/// `[upload]`: store and forward — each finished segment is uploaded to the hub.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadSection {
    /// Needs `record.enabled`.
    #[serde(default)]
    pub enabled: bool,
    /// The hub's `http://host:port`; by default derived from `hub_url`
    /// (`ws://host:port/...` → `http://host:port`).
    #[serde(default)]
    pub hub_base_url: Option<String>,
    /// Bytes per PUT.
    #[serde(default = "defaults::upload_chunk_size")]
    pub chunk_size: ByteSize,
    #[serde(default = "defaults::upload_backoff_initial")]
    pub backoff_initial: Dur,
    #[serde(default = "defaults::upload_backoff_max")]
    pub backoff_max: Dur,
    /// Wait after the hub refused the token (401).
    #[serde(default = "defaults::upload_unauthorized_backoff")]
    pub unauthorized_backoff: Dur,
    /// Bound on one request (one part of up to `chunk_size`).
    #[serde(default = "defaults::upload_request_timeout")]
    pub request_timeout: Dur,
}

impl Default for UploadSection {
    fn default() -> Self {
        UploadSection {
            enabled: false,
            hub_base_url: None,
            chunk_size: defaults::upload_chunk_size(),
            backoff_initial: defaults::upload_backoff_initial(),
            backoff_max: defaults::upload_backoff_max(),
            unauthorized_backoff: defaults::upload_unauthorized_backoff(),
            request_timeout: defaults::upload_request_timeout(),
        }
    }
}

/// Default part size of one `PUT`.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;
/// Smallest and largest part size accepted.
pub const MIN_CHUNK_SIZE: u64 = 64 << 10;
pub const MAX_CHUNK_SIZE: u64 = 512 << 20;

/// What the segment uploader needs to know: [`Config::upload_config`] builds it from
/// `[upload]`; tests build it with [`UploadConfig::new`] and adjust.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// `http://host:port` of the hub (see [`http_base_url`]); no trailing slash needed.
    pub hub_base_url: String,
    pub camera_id: u32,
    /// The camera's agent token (`hub token ID`), sent as `Authorization: Bearer`.
    pub token: Secret,
    /// Bytes per `PUT` ([`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`]); a broken connection
    /// loses at most the part in flight beyond what the hub wrote.
    pub chunk_size: u64,
    /// Backoff after a failure: full jitter, doubling from `backoff_initial` to
    /// `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Wait after the hub refused the token (401): retrying soon will not fix it.
    pub unauthorized_backoff: Duration,
    pub connect_timeout: Duration,
    /// Bound on one request, including sending a whole part.
    pub request_timeout: Duration,
    /// How often the directory is listed when nothing wakes the uploader (a safety net:
    /// the recorder wakes the uploader when a segment is finished).
    pub rescan_interval: Duration,
}

impl UploadConfig {
    /// The defaults: 4 MiB parts, backoff 1 s → 5 min, 10 min after a 401, connect
    /// timeout 10 s, 2 min per request, a rescan every 30 s.
    pub fn new(hub_base_url: impl Into<String>, camera_id: u32, token: Secret) -> UploadConfig {
        UploadConfig {
            hub_base_url: hub_base_url.into(),
            camera_id,
            token,
            chunk_size: DEFAULT_CHUNK_SIZE,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            unauthorized_backoff: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            rescan_interval: Duration::from_secs(30),
        }
    }

    /// Checks the values; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let base = self.hub_base_url.trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .ok_or("hub_base_url must start with http://")?;
        if rest.is_empty() || rest.contains(['@', '?', '#']) {
            return Err("hub_base_url must be http://host[:port] without credentials".into());
        }
        if self.camera_id == 0 {
            return Err("camera_id must be 1 or more".into());
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return Err(format!(
                "chunk_size must be {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE} bytes"
            ));
        }
        if self.backoff_initial.is_zero() || self.backoff_max < self.backoff_initial {
            return Err("backoff_initial must be > 0 and backoff_max at least that".into());
        }
        for (name, d) in [
            ("unauthorized_backoff", self.unauthorized_backoff),
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("rescan_interval", self.rescan_interval),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be more than 0s"));
            }
        }
        Ok(())
    }
}

/// The hub's HTTP base URL from the agent's `hub_url`: `ws://host:port/video-input-stream`
/// → `http://host:port` (`wss://` → `https://`). `None` if it is not a ws URL.
pub fn http_base_url(hub_url: &str) -> Option<String> {
    let (scheme, rest) = if let Some(r) = hub_url.strip_prefix("ws://") {
        ("http", r)
    } else if let Some(r) = hub_url.strip_prefix("wss://") {
        ("https", r)
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!authority.is_empty() && !authority.contains('@')).then(|| format!("{scheme}://{authority}"))
}

impl Config {
    /// The uploader's settings (`token` from [`Config::load_token`]).
    pub fn upload_config(&self, token: Secret) -> Result<UploadConfig, ConfigError> {
        let u = &self.upload;
        let mut c = UploadConfig::new(self.hub_base_url()?, self.camera_id, token);
        c.chunk_size = u.chunk_size.0;
        c.backoff_initial = u.backoff_initial.0;
        c.backoff_max = u.backoff_max.0;
        c.unauthorized_backoff = u.unauthorized_backoff.0;
        c.connect_timeout = self.uplink.connect_timeout.0;
        c.request_timeout = u.request_timeout.0;
        c.validate().map_err(|why| invalid("upload", why))?;
        Ok(c)
    }
}

/// `[record]`: H.264 recording into rotating fragmented-MP4 segments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    #[serde(default)]
    pub enabled: bool,
    /// This camera's recordings directory (set up once with `agent setup-recording`).
    #[serde(default = "defaults::record_dir")]
    pub dir: PathBuf,
    /// A segment ends at the first key frame at or after this length.
    #[serde(default = "defaults::segment_duration")]
    pub segment_duration: Dur,
    #[serde(default)]
    pub fragment: FragmentMode,
    /// Target bitrate of the H.264 encoder (openh264 or rpicam-vid), bits per second.
    #[serde(default = "defaults::bitrate")]
    pub bitrate: Bitrate,
    /// Key frame interval in frames; `None`: one key frame per second (`source.fps`).
    #[serde(default)]
    pub gop: Option<u32>,
    /// `[record.retention]`: a key left out takes its default (14 days, 20 GiB, 1 GiB
    /// free); `"unlimited"` is no limit.
    #[serde(
        default = "defaults::retention",
        deserialize_with = "defaults::retention_table"
    )]
    pub retention: Retention,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            enabled: false,
            dir: defaults::record_dir(),
            segment_duration: defaults::segment_duration(),
            fragment: FragmentMode::default(),
            bitrate: defaults::bitrate(),
            gop: None,
            retention: defaults::retention(),
        }
    }
}

impl RecordConfig {
    /// The key frame interval in frames for a source running at `fps`.
    pub fn gop_frames(&self, fps: u32) -> u32 {
        self.gop.unwrap_or(fps).max(1)
    }
}

/// `record.fragment`: how often a segment is made durable (a crash loses at most one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum FragmentMode {
    /// One fragment per GOP (key frame to key frame).
    #[default]
    #[serde(rename = "gop")]
    Gop,
    /// One fragment per second, cut at a key frame if one comes, else at any frame.
    #[serde(rename = "1s")]
    OneSecond,
}

/// A bitrate in bits per second: `"1500kbps"`, `"2Mbps"`, `"800000bps"` or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bitrate(pub u32);

impl<'de> Deserialize<'de> for Bitrate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Bitrate(n)),
            Raw::Str(s) => parse_bitrate(&s)
                .map(Bitrate)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parse `"1500kbps"`-style bitrates.
pub fn parse_bitrate(s: &str) -> Result<u32, String> {
    let bad = || format!("invalid bitrate {s:?}: expected e.g. \"800kbps\", \"2Mbps\"");
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = t[..digits].parse().map_err(|_| bad())?;
    let mult: u64 = match t[digits..].trim() {
        "" | "bps" => 1,
        "kbps" => 1000,
        "Mbps" => 1_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(bad)
}

/// `[source]`: where frames come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    #[serde(default = "defaults::width")]
    pub width: u32,
    #[serde(default = "defaults::height")]
    pub height: u32,
    #[serde(default = "defaults::fps")]
    pub fps: u32,
    /// JPEG quality 1..=100 where the agent or rpicam-vid encodes; MJPEG
    /// from a V4L2 camera is passed through as is.
    #[serde(default = "defaults::jpeg_quality")]
    pub jpeg_quality: u8,
    #[serde(default)]
    pub v4l2: V4l2Config,
    #[serde(default)]
    pub rpicam: RpicamConfig,
    #[serde(default)]
    pub libcamera: LibcameraConfig,
    /// `testsrc` only: a scripted scene (a `testpattern::scene::Scene` as TOML) to show
    /// instead of the moving pattern, from its time 0 at the source's start.
    #[serde(default)]
    pub scene: Option<PathBuf>,
}

/// `source.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The built-in moving test pattern (no camera needed).
    Testsrc,
    /// A V4L2 capture device such as a USB webcam.
    V4l2,
    /// The Raspberry Pi camera through `rpicam-vid --codec mjpeg`.
    Rpicam,
    /// Any libcamera camera, through libcamera's `cam` tool (raw frames).
    Libcamera,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Testsrc => "testsrc",
            SourceKind::V4l2 => "v4l2",
            SourceKind::Rpicam => "rpicam",
            SourceKind::Libcamera => "libcamera",
        }
    }
}

/// `[source.v4l2]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V4l2Config {
    #[serde(default = "defaults::device")]
    pub device: PathBuf,
    #[serde(default)]
    pub format: V4l2Format,
    /// mmap buffers to queue (2..=32).
    #[serde(default = "defaults::buffers")]
    pub buffers: u32,
}

impl Default for V4l2Config {
    fn default() -> Self {
        V4l2Config {
            device: defaults::device(),
            format: V4l2Format::default(),
            buffers: defaults::buffers(),
        }
    }
}

/// `source.v4l2.format`: which pixel format to ask the device for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum V4l2Format {
    /// The best the device offers: its H.264 while recording, then MJPEG, then YUYV.
    #[default]
    Auto,
    /// MJPEG only (passed through without re-encoding).
    Mjpeg,
    /// YUYV only (encoded to JPEG by the agent).
    Yuyv,
    /// H.264 only (recorded as is; live JPEGs from its key frames).
    H264,
}

/// `[source.libcamera]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibcameraConfig {
    /// libcamera's `cam` tool: a name looked up on PATH, or a path.
    #[serde(default = "defaults::cam_binary")]
    pub binary: PathBuf,
    /// The camera, as `cam --camera` takes it: its index in `cam --list`
    /// (from 1) or its id.
    #[serde(default = "defaults::libcamera_camera")]
    pub camera: String,
    /// The pixel format to ask libcamera for.
    #[serde(default)]
    pub pixel_format: LibcameraFormat,
}

impl Default for LibcameraConfig {
    fn default() -> Self {
        LibcameraConfig {
            binary: defaults::cam_binary(),
            camera: defaults::libcamera_camera(),
            pixel_format: LibcameraFormat::default(),
        }
    }
}

/// `source.libcamera.pixel_format`: the raw formats the agent converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum LibcameraFormat {
    /// libcamera's BGR888: bytes R, G, B in memory (V4L2's RGB24).
    #[default]
    #[serde(rename = "BGR888")]
    Bgr888,
    /// libcamera's RGB888: bytes B, G, R in memory (V4L2's BGR24).
    #[serde(rename = "RGB888")]
    Rgb888,
    /// YUYV 4:2:2.
    #[serde(rename = "YUYV")]
    Yuyv,
}

impl LibcameraFormat {
    /// The name libcamera uses.
    pub fn as_str(self) -> &'static str {
        match self {
            LibcameraFormat::Bgr888 => "BGR888",
            LibcameraFormat::Rgb888 => "RGB888",
            LibcameraFormat::Yuyv => "YUYV",
        }
    }
}

/// `[source.rpicam]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpicamConfig {
    /// The `rpicam-vid` binary: a name looked up on PATH, or a path.
    #[serde(default = "defaults::rpicam_binary")]
    pub binary: PathBuf,
    /// Extra arguments appended to the command line, e.g. `["--hflip"]`.
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Largest JPEG accepted from its output; longer runs are dropped.
    #[serde(default = "defaults::max_frame_size")]
    pub max_frame_size: ByteSize,
}

impl Default for RpicamConfig {
    fn default() -> Self {
        RpicamConfig {
            binary: defaults::rpicam_binary(),
            extra_args: Vec::new(),
            max_frame_size: defaults::max_frame_size(),
        }
    }
}

/// `[uplink]`: the websocket connection to the hub.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// Frames held between capture and uplink; when full the oldest is
    /// dropped (and counted).
    #[serde(default = "defaults::queue_frames")]
    pub queue_frames: usize,
    #[serde(default = "defaults::backoff_initial")]
    pub backoff_initial: Dur,
    #[serde(default = "defaults::backoff_max")]
    pub backoff_max: Dur,
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout: Dur,
    /// A frame that cannot be sent within this long means the hub is gone.
    #[serde(default = "defaults::send_timeout")]
    pub send_timeout: Dur,
}

impl Default for UplinkConfig {
    fn default() -> Self {
        UplinkConfig {
            queue_frames: defaults::queue_frames(),
            backoff_initial: defaults::backoff_initial(),
            backoff_max: defaults::backoff_max(),
            connect_timeout: defaults::connect_timeout(),
            send_timeout: defaults::send_timeout(),
        }
    }
}

mod defaults {
    use super::{Bitrate, ByteSize, Dur, Limit, Retention};
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn stats_interval() -> Dur {
        Dur(Duration::from_secs(60))
    }
    pub fn width() -> u32 {
        1280
    }
    pub fn height() -> u32 {
        720
    }
    pub fn fps() -> u32 {
        10
    }
    pub fn jpeg_quality() -> u8 {
        80
    }
    pub fn device() -> PathBuf {
        PathBuf::from("/dev/video0")
    }
    pub fn buffers() -> u32 {
        4
    }
    pub fn rpicam_binary() -> PathBuf {
        PathBuf::from("rpicam-vid")
    }
    pub fn cam_binary() -> PathBuf {
        PathBuf::from("cam")
    }
    pub fn libcamera_camera() -> String {
        "1".to_owned()
    }
    pub fn max_frame_size() -> ByteSize {
        ByteSize(4 << 20)
    }
    pub fn queue_frames() -> usize {
        4
    }
    pub fn backoff_initial() -> Dur {
        Dur(Duration::from_millis(500))
    }
    pub fn backoff_max() -> Dur {
        Dur(Duration::from_secs(30))
    }
    pub fn connect_timeout() -> Dur {
        Dur(Duration::from_secs(10))
    }
    pub fn send_timeout() -> Dur {
        Dur(Duration::from_secs(10))
    }
    pub fn state_dir() -> PathBuf {
        PathBuf::from("/var/lib/camera-agent")
    }
    pub fn upload_chunk_size() -> ByteSize {
        ByteSize(super::DEFAULT_CHUNK_SIZE)
    }
    pub fn upload_backoff_initial() -> Dur {
        Dur(Duration::from_secs(1))
    }
    pub fn upload_backoff_max() -> Dur {
        Dur(Duration::from_secs(300))
    }
    pub fn upload_unauthorized_backoff() -> Dur {
        Dur(Duration::from_secs(600))
    }
    pub fn upload_request_timeout() -> Dur {
        Dur(Duration::from_secs(120))
    }
    pub fn health_enabled() -> bool {
        true
    }
    pub fn health_interval() -> Dur {
        Dur(Duration::from_secs(30))
    }
    pub fn sys_root() -> PathBuf {
        PathBuf::from("/sys")
    }
    pub fn proc_root() -> PathBuf {
        PathBuf::from("/proc")
    }
    pub fn record_dir() -> PathBuf {
        PathBuf::from("/var/lib/camera-agent/recordings")
    }
    pub fn segment_duration() -> Dur {
        Dur(Duration::from_secs(60))
    }
    pub fn bitrate() -> Bitrate {
        Bitrate(1_000_000)
    }
    /// An SD card's worth: two weeks, 20 GiB, and 1 GiB left free.
    pub fn retention() -> Retention {
        Retention {
            max_age: Limit(Some(Dur::from_secs(14 * 86_400))),
            max_size: Limit(Some(ByteSize(20 << 30))),
            min_free: Limit(Some(ByteSize(1 << 30))),
        }
    }
    /// `[record.retention]` as written, with [`retention`] for the keys left out.
    pub fn retention_table<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Retention, D::Error> {
        use serde::Deserialize;
        units::RetentionTable::deserialize(d).map(|t| t.or(retention()))
    }
}

impl Config {
    /// Read, parse and validate `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parse and validate a TOML document.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// The hub's HTTP base URL: `upload.hub_base_url`, or derived from `hub_url`.
    pub fn hub_base_url(&self) -> Result<String, ConfigError> {
        match &self.upload.hub_base_url {
            Some(b) => Ok(b.clone()),
            None => http_base_url(&self.hub_url).ok_or_else(|| {
                invalid(
                    "upload.hub_base_url",
                    "cannot derive it from hub_url; set it",
                )
            }),
        }
    }

    /// The URL health reports go to.
    pub fn health_url(&self) -> Result<String, ConfigError> {
        Ok(format!(
            "{}{}",
            self.hub_base_url()?.trim_end_matches('/'),
            wire::health::status_path(self.camera_id)
        ))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        validate_hub_url(&self.hub_url)?;
        let hi = self.health.interval.0;
        if hi < std::time::Duration::from_millis(200) || hi > std::time::Duration::from_secs(3600) {
            return Err(invalid("health.interval", "between 200ms and 1h"));
        }
        if self.camera_id == 0 {
            return Err(invalid("camera_id", "must be 1 or more"));
        }
        match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "token",
                    "give either `token` or `token_file`, not both",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "token_file",
                    "missing: give `token_file` (preferred) or `token`",
                ));
            }
            (Some(t), None) if t.expose().is_empty() => {
                return Err(invalid("token", "is empty"));
            }
            _ => {}
        }
        if self.stats_interval.0 < Duration::from_secs(1) {
            return Err(invalid("stats_interval", "must be at least 1s"));
        }
        let s = &self.source;
        let dim = testpattern::MIN_DIM..=testpattern::MAX_DIM;
        if !dim.contains(&s.width) {
            return Err(invalid("source.width", format!("must be in {dim:?}")));
        }
        if !dim.contains(&s.height) {
            return Err(invalid("source.height", format!("must be in {dim:?}")));
        }
        if !(1..=120).contains(&s.fps) {
            return Err(invalid("source.fps", "must be in 1..=120"));
        }
        if !(1..=100).contains(&s.jpeg_quality) {
            return Err(invalid("source.jpeg_quality", "must be in 1..=100"));
        }
        if s.scene.is_some() && s.kind != SourceKind::Testsrc {
            return Err(invalid(
                "source.scene",
                "only the testsrc source shows a scene",
            ));
        }
        if let Some(m) = &self.motion {
            m.validate()
                .map_err(|e| invalid("motion", format!("{}: {}", e.key, e.reason)))?;
        }
        if s.libcamera.camera.trim().is_empty() {
            return Err(invalid("source.libcamera.camera", "is empty"));
        }
        if !(2..=32).contains(&s.v4l2.buffers) {
            return Err(invalid("source.v4l2.buffers", "must be in 2..=32"));
        }
        if s.rpicam.max_frame_size.0 < 1024 {
            return Err(invalid(
                "source.rpicam.max_frame_size",
                "must be at least 1KiB",
            ));
        }
        if s.rpicam.max_frame_size.0 > wire::DEFAULT_MAX_FRAME_LEN as u64 {
            return Err(invalid(
                "source.rpicam.max_frame_size",
                format!(
                    "must not exceed the hub's default frame limit of {} bytes",
                    wire::DEFAULT_MAX_FRAME_LEN
                ),
            ));
        }
        let u = &self.uplink;
        if !(1..=1024).contains(&u.queue_frames) {
            return Err(invalid("uplink.queue_frames", "must be in 1..=1024"));
        }
        if u.backoff_initial.0.is_zero() {
            return Err(invalid("uplink.backoff_initial", "must be more than 0s"));
        }
        if u.backoff_max.0 < u.backoff_initial.0 {
            return Err(invalid(
                "uplink.backoff_max",
                "must be at least uplink.backoff_initial",
            ));
        }
        if u.connect_timeout.0.is_zero() {
            return Err(invalid("uplink.connect_timeout", "must be more than 0s"));
        }
        if u.send_timeout.0.is_zero() {
            return Err(invalid("uplink.send_timeout", "must be more than 0s"));
        }
        let r = &self.record;
        if r.segment_duration.0 < Duration::from_secs(1) {
            return Err(invalid("record.segment_duration", "must be at least 1s"));
        }
        if r.segment_duration.0 > Duration::from_secs(3600) {
            return Err(invalid("record.segment_duration", "must be at most 1h"));
        }
        if !(50_000..=50_000_000).contains(&r.bitrate.0) {
            return Err(invalid("record.bitrate", "must be in 50kbps..=50Mbps"));
        }
        if let Some(g) = r.gop
            && !(1..=600).contains(&g)
        {
            return Err(invalid("record.gop", "must be in 1..=600"));
        }
        if self.upload.enabled {
            if !r.enabled {
                return Err(invalid("upload.enabled", "needs record.enabled = true"));
            }
            self.upload_config(Secret::new("-"))?;
        }
        if r.enabled && r.dir.as_os_str().is_empty() {
            return Err(invalid("record.dir", "is empty"));
        }
        if let Err((key, reason)) = r.retention.check() {
            return Err(invalid(
                match key {
                    "max_age" => "record.retention.max_age",
                    "max_size" => "record.retention.max_size",
                    _ => "record.retention.min_free",
                },
                reason,
            ));
        }
        Ok(())
    }

    /// The token, inline or read from `token_file`. Warns (without the
    /// token) if the file is readable by group or others.
    pub fn load_token(&self) -> Result<Secret, ConfigError> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let path = self
            .token_file
            .as_ref()
            .ok_or_else(|| invalid("token_file", "missing"))?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid("token_file", format!("cannot read {}: {e}", path.display())))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(invalid(
                "token_file",
                format!("{} is empty", path.display()),
            ));
        }
        if token.len() > wire::MAX_TOKEN_LEN {
            return Err(invalid(
                "token_file",
                format!("token is longer than {} bytes", wire::MAX_TOKEN_LEN),
            ));
        }
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "token file is accessible to group or others; chmod 600 it"
                );
            }
        }
        Ok(Secret(token.to_owned()))
    }
}

fn validate_hub_url(url: &str) -> Result<(), ConfigError> {
    let rest = if let Some(rest) = url.strip_prefix("ws://") {
        rest
    } else if url.starts_with("wss://") {
        return Err(invalid(
            "hub_url",
            "wss:// is not supported by this build yet; use ws:// (e.g. over a VPN)",
        ));
    } else {
        return Err(invalid("hub_url", "must start with ws://"));
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(invalid("hub_url", "has no host"));
    }
    if authority.contains('@') {
        return Err(invalid(
            "hub_url",
            "must not carry credentials; use `token_file`",
        ));
    }
    if url.contains('?') {
        return Err(invalid("hub_url", "must not have a query string"));
    }
    Ok(())
}

/// A secret string: shown as `***` in `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("800kbps"), Ok(800_000));
        assert_eq!(parse_bitrate("2Mbps"), Ok(2_000_000));
        assert_eq!(parse_bitrate("1234"), Ok(1234));
        for bad in ["", "kbps", "1Gbps", "5000Mbps", "1.5Mbps"] {
            assert!(parse_bitrate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base_url_from_the_ws_hub_url() {
        let check = |ws: &str, http: Option<&str>| {
            assert_eq!(http_base_url(ws).as_deref(), http, "{ws}");
        };
        check(
            "ws://hub.local:8080/video-input-stream",
            Some("http://hub.local:8080"),
        );
        check("ws://10.0.0.2/video-input-stream", Some("http://10.0.0.2"));
        check("ws://[::1]:8080", Some("http://[::1]:8080"));
        check("wss://hub/x", Some("https://hub"));
        check("http://hub/x", None);
        check("ws:///x", None);
        check("ws://u:p@hub/x", None);
    }

    #[test]
    fn config_is_checked() {
        let ok = UploadConfig::new("http://127.0.0.1:8080", 1, Secret::new("t"));
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.hub_base_url = "ws://hub".into();
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.hub_base_url = "http://user:pw@hub".into();
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.chunk_size = 1;
        assert!(c.validate().unwrap_err().contains("chunk_size"));
        let mut c = ok.clone();
        c.backoff_max = Duration::ZERO;
        assert!(c.validate().is_err());
        let mut c = ok;
        c.camera_id = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn token_is_not_in_debug() {
        let c = UploadConfig::new("http://hub", 1, Secret::new("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn secret_is_not_in_debug() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn hub_urls() {
        assert!(validate_hub_url("ws://hub:8080/video-input-stream").is_ok());
        for bad in [
            "http://hub/",
            "wss://hub/video-input-stream",
            "ws:///x",
            "ws://user:pw@hub/x",
            "ws://hub/x?token=1",
        ] {
            assert!(validate_hub_url(bad).is_err(), "{bad}");
        }
    }
}
