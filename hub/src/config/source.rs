//! Where a camera's frames come from: `kind` and the keys that go with it ([`SourceConfig`],
//! flattened into a `[[camera]]` table), their checks, and the facts the rest of the hub
//! derives from them in one place ([`SourceConfig::kind`]). A new kind of camera is a new
//! variant here; the compiler then asks for its facts and its task in `crate::sources`.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;
use units::Dur;
use wire::TokenScheme;

/// What the rest of the hub needs to know about a camera's source, derived from its
/// configuration by [`SourceConfig::kind`] (nowhere else keeps a list of kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceKind {
    /// `kind` as the file writes it and the API shows it.
    pub name: &'static str,
    /// An agent pushes the frames, with tokens of this scheme (`None`: nothing may push).
    pub agent_token: Option<TokenScheme>,
    /// The source gives encoded video: the camera has a video feed (recorder, MSE, HLS).
    pub video: bool,
    /// The hub holds a session to a camera on the network: the camera is online while
    /// video arrives and connected while the session plays.
    pub bridged: bool,
}

/// The feed of a camera.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceConfig {
    /// An agent pushes JPEG frames over `/video-input-stream`.
    Agent {
        /// How the agent's token is derived from the hub secret.
        #[serde(default)]
        token_scheme: TokenScheme,
        /// A file holding the literal token the agent presents, for tokens that are not
        /// derived from the secret (the seed server kept them in its database). Must not
        /// be readable by group or others. When set, only this token is accepted.
        #[serde(default)]
        token_file: Option<PathBuf>,
    },
    /// A built-in moving test pattern (no hardware).
    Demo(DemoSettings),
    /// An RTSP camera (TP-Link Tapo and similar), bridged by the hub.
    Rtsp(RtspSettings),
    /// A Reolink camera over Baichuan (TCP :9000 or battery cameras over UDP).
    Reolink(ReolinkSettings),
}

impl SourceConfig {
    /// The source's facts. One arm per kind: a new kind cannot be left out.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceConfig::Agent { token_scheme, .. } => SourceKind {
                name: "agent",
                agent_token: Some(*token_scheme),
                video: false,
                bridged: false,
            },
            SourceConfig::Demo(_) => SourceKind {
                name: "demo",
                agent_token: None,
                video: true,
                bridged: false,
            },
            SourceConfig::Rtsp(_) => SourceKind {
                name: "rtsp",
                agent_token: None,
                video: true,
                bridged: true,
            },
            SourceConfig::Reolink(_) => SourceKind {
                name: "reolink",
                agent_token: None,
                video: true,
                bridged: true,
            },
        }
    }
}

/// `kind = "demo"`: the built-in moving test pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    #[serde(default = "default_demo_width")]
    pub width: u32,
    #[serde(default = "default_demo_height")]
    pub height: u32,
    #[serde(default = "default_demo_fps")]
    pub fps: u32,
    #[serde(default = "default_demo_quality")]
    pub jpeg_quality: u8,
}

impl DemoSettings {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(16..=3840).contains(&self.width) || !(16..=2160).contains(&self.height) {
            return Err((
                "width",
                "width must be 16..=3840 and height 16..=2160".into(),
            ));
        }
        if !(1..=60).contains(&self.fps) {
            return Err(("fps", "must be 1..=60".into()));
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            return Err(("jpeg_quality", "must be 1..=100".into()));
        }
        Ok(())
    }
}

/// `kind = "rtsp"`: an RTSP camera (TP-Link Tapo and similar). `Debug`
/// redacts the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtspSettings {
    /// Host name or IP address of the camera.
    pub host: String,
    /// RTSP port.
    #[serde(default = "default_rtsp_port")]
    pub port: u16,
    /// The camera's local account (Tapo: "Camera Account"); empty = no auth.
    #[serde(default)]
    pub username: String,
    /// File holding the password (preferred; must not be readable by group or others).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The password inline (discouraged: the config file then holds a secret).
    #[serde(default)]
    pub password: Option<String>,
    /// Stream path: `stream1` (Tapo main), `stream2` (Tapo sub), or any path.
    #[serde(default = "default_rtsp_path", alias = "stream")]
    pub path: String,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub transport: rtsp::Transport,
    /// Least time between two JPEG pictures decoded for the JPEG views.
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval: Dur,
    /// Motion detection by the hub (`[camera.motion]`, the agent's settings): absent, none.
    #[serde(default)]
    pub motion: Option<motion::Settings>,
    /// The stream motion is detected on, e.g. Tapo's low-resolution `stream2` (default:
    /// `path`). Decoded on a thread of its own; `motion.analysis_fps` frames a second
    /// are analysed.
    #[serde(default)]
    pub motion_path: Option<String>,
}

/// How a Reolink camera is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReolinkTransport {
    /// Wired cameras: Baichuan over TCP (port 9000).
    #[default]
    Tcp,
    /// Battery cameras: BcUdp, found by UID.
    Udp,
}

/// Which stream of the camera to take (`profile`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReolinkStream {
    #[default]
    Main,
    Sub,
}

/// When the hub holds a session to a camera (`stream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// All the time: the camera streams and records around the clock.
    Always,
    /// Only while someone watches (and the idle timeout after): a battery camera sleeps
    /// otherwise, and records while awake.
    OnDemand,
}

impl StreamMode {
    /// The value as the file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamMode::Always => "always",
            StreamMode::OnDemand => "on-demand",
        }
    }
}

/// The `stream` key of a Reolink camera: `"always"` or `"on-demand"`; files written before
/// that key existed used it for the profile (`"main"`, `"sub"`), which still reads as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKey {
    Mode(StreamMode),
    Profile(ReolinkStream),
}

impl<'de> Deserialize<'de> for StreamKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "always" => Ok(StreamKey::Mode(StreamMode::Always)),
            "on-demand" => Ok(StreamKey::Mode(StreamMode::OnDemand)),
            "main" => Ok(StreamKey::Profile(ReolinkStream::Main)),
            "sub" => Ok(StreamKey::Profile(ReolinkStream::Sub)),
            other => Err(serde::de::Error::custom(format!(
                "stream: {other:?} is neither \"always\" nor \"on-demand\" (the profile \"main\" \
                 or \"sub\" goes in `profile`)"
            ))),
        }
    }
}

/// How long an on-demand camera stays awake after its last viewer, by default.
pub const DEFAULT_IDLE_TIMEOUT: Dur = Dur::from_secs(30);

/// `kind = "reolink"`: a Reolink camera. `Debug` redacts the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReolinkSettings {
    /// `tcp` (default) or `udp` (battery cameras).
    #[serde(default)]
    pub transport: ReolinkTransport,
    /// TCP: host name or address of the camera.
    #[serde(default)]
    pub host: Option<String>,
    /// UDP: the camera's UID (sticker / app; camera_proxy's `deviceSid`).
    #[serde(default)]
    pub uid: Option<String>,
    /// UDP: the camera's address, for unicast discovery (camera_proxy's `ipaddress`).
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// TCP: the camera's port (default 9000). UDP: the discovery port (default 2018 and 2015).
    #[serde(default)]
    pub port: Option<u16>,
    /// UDP: local port to bind (camera_proxy's `comm_port`; 0 = any).
    #[serde(default)]
    pub local_port: u16,
    #[serde(default = "default_reolink_user")]
    pub username: String,
    /// File holding the password (preferred; must not be readable by group or others).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The password inline (discouraged).
    #[serde(default)]
    pub password: Option<String>,
    /// `always` or `on-demand` (default: on-demand over UDP, always over TCP); see
    /// [`ReolinkSettings::stream_mode`].
    #[serde(default)]
    pub stream: Option<StreamKey>,
    /// `main` (default) or `sub`; see [`ReolinkSettings::profile`].
    #[serde(default)]
    pub profile: Option<ReolinkStream>,
    /// On demand: how long the camera stays awake after the last viewer leaves
    /// (default [`DEFAULT_IDLE_TIMEOUT`]).
    #[serde(default)]
    pub idle_timeout: Option<Dur>,
    /// Channel (0 for a camera; the NVR channel otherwise).
    #[serde(default)]
    pub channel: u8,
    /// Least time between two JPEG pictures decoded for the JPEG views.
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval: Dur,
}

impl ReolinkSettings {
    /// When the hub holds a session: `stream`, else on demand for battery (UDP) cameras
    /// and always for wired (TCP) ones.
    pub fn stream_mode(&self) -> StreamMode {
        match (self.stream, self.transport) {
            (Some(StreamKey::Mode(m)), _) => m,
            (_, ReolinkTransport::Udp) => StreamMode::OnDemand,
            (_, ReolinkTransport::Tcp) => StreamMode::Always,
        }
    }

    /// The camera's stream to take: `profile`, else an old file's `stream = "main"|"sub"`.
    pub fn profile(&self) -> ReolinkStream {
        match (self.profile, self.stream) {
            (Some(p), _) | (None, Some(StreamKey::Profile(p))) => p,
            _ => ReolinkStream::Main,
        }
    }

    /// How long an on-demand camera stays awake after its last viewer.
    pub fn idle_timeout(&self) -> std::time::Duration {
        self.idle_timeout
            .unwrap_or(DEFAULT_IDLE_TIMEOUT)
            .as_duration()
    }

    fn validate_stream(&self) -> Result<(), (&'static str, String)> {
        if let (Some(StreamKey::Profile(_)), Some(_)) = (self.stream, self.profile) {
            return Err((
                "stream",
                "\"main\"/\"sub\" here is the old spelling of `profile`; give `profile` alone"
                    .into(),
            ));
        }
        if let Some(idle) = self.idle_timeout {
            if self.stream_mode() == StreamMode::Always {
                return Err((
                    "idle_timeout",
                    "applies only to stream = \"on-demand\" (this camera streams always)".into(),
                ));
            }
            let d = idle.as_duration();
            if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(86_400) {
                return Err(("idle_timeout", "must be 1s..=24h".into()));
            }
        }
        Ok(())
    }
}

fn redacted(p: &Option<String>) -> Option<&'static str> {
    p.as_ref().map(|_| "<redacted>")
}

impl std::fmt::Debug for RtspSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("password", &redacted(&self.password))
            .field("path", &self.path)
            .field("transport", &self.transport)
            .field("snapshot_interval", &self.snapshot_interval)
            .field("motion", &self.motion)
            .field("motion_path", &self.motion_path)
            .finish()
    }
}

impl std::fmt::Debug for ReolinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReolinkSettings")
            .field("transport", &self.transport)
            .field("host", &self.host)
            .field("uid", &self.uid)
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("local_port", &self.local_port)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("password", &redacted(&self.password))
            .field("stream", &self.stream)
            .field("profile", &self.profile)
            .field("idle_timeout", &self.idle_timeout)
            .field("channel", &self.channel)
            .field("snapshot_interval", &self.snapshot_interval)
            .finish()
    }
}

fn default_rtsp_port() -> u16 {
    rtsp::DEFAULT_PORT
}
fn default_rtsp_path() -> String {
    "stream1".into()
}
fn default_reolink_user() -> String {
    "admin".into()
}
fn default_snapshot_interval() -> Dur {
    Dur::from_secs(1)
}

impl SourceConfig {
    /// The password of a bridged camera written in the configuration itself.
    pub fn inline_password(&self) -> Option<&str> {
        match self {
            SourceConfig::Rtsp(s) => s.password.as_deref(),
            SourceConfig::Reolink(s) => s.password.as_deref(),
            _ => None,
        }
    }

    /// The idle timeout of a camera that streams only while watched; `None`: always.
    pub fn on_demand(&self) -> Option<std::time::Duration> {
        match self {
            SourceConfig::Reolink(s) if s.stream_mode() == StreamMode::OnDemand => {
                Some(s.idle_timeout())
            }
            _ => None,
        }
    }

    /// The password file of a bridged camera.
    pub fn password_file(&self) -> Option<&std::path::Path> {
        match self {
            SourceConfig::Rtsp(s) => s.password_file.as_deref(),
            SourceConfig::Reolink(s) => s.password_file.as_deref(),
            _ => None,
        }
    }

    /// The file of the camera's secret (a bridged camera's password, an agent camera's
    /// literal token), for resolving relative paths.
    pub fn secret_file_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            SourceConfig::Rtsp(s) => s.password_file.as_mut(),
            SourceConfig::Reolink(s) => s.password_file.as_mut(),
            SourceConfig::Agent { token_file, .. } => token_file.as_mut(),
            SourceConfig::Demo(_) => None,
        }
    }

    /// Checks of a source's keys: `Err((key, reason))`, the key relative to the camera.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let (password, password_file, interval) = match self {
            SourceConfig::Agent { .. } => return Ok(()),
            SourceConfig::Demo(d) => return d.validate(),
            SourceConfig::Rtsp(s) => {
                if s.host.trim().is_empty() {
                    return Err(("host", "must not be empty".into()));
                }
                let cfg = rtsp::RtspConfig {
                    port: s.port,
                    path: s.path.clone(),
                    ..rtsp::RtspConfig::new("check", s.host.clone(), "", "")
                };
                if let Err(e) = cfg.url() {
                    return Err(("host", e.to_string()));
                }
                if let Some(m) = &s.motion {
                    m.validate()
                        .map_err(|e| ("motion", format!("{}: {}", e.key, e.reason)))?;
                }
                if let Some(p) = &s.motion_path {
                    let cfg = rtsp::RtspConfig {
                        path: p.clone(),
                        ..cfg
                    };
                    if let Err(e) = cfg.url() {
                        return Err(("motion_path", e.to_string()));
                    }
                }
                (&s.password, &s.password_file, s.snapshot_interval)
            }
            SourceConfig::Reolink(s) => {
                match s.transport {
                    ReolinkTransport::Tcp
                        if s.host.as_deref().is_none_or(|h| h.trim().is_empty()) =>
                    {
                        return Err(("host", "transport = \"tcp\" needs the camera's host".into()));
                    }
                    ReolinkTransport::Udp if s.uid.is_none() && s.ip.is_none() => {
                        return Err(("uid", "transport = \"udp\" needs uid or ip".into()));
                    }
                    _ => {}
                }
                s.validate_stream()?;
                (&s.password, &s.password_file, s.snapshot_interval)
            }
        };
        if password.is_some() && password_file.is_some() {
            return Err((
                "password",
                "give password_file or password, not both".into(),
            ));
        }
        if interval.is_zero() || interval.0 > std::time::Duration::from_secs(3600) {
            return Err(("snapshot_interval", "must be 1s..=1h".into()));
        }
        Ok(())
    }
}

fn default_demo_width() -> u32 {
    640
}
fn default_demo_height() -> u32 {
    480
}
fn default_demo_fps() -> u32 {
    10
}
fn default_demo_quality() -> u8 {
    80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_facts() {
        let kind = |text: &str| toml::from_str::<SourceConfig>(text).unwrap().kind();
        let agent = kind("kind = \"agent\"\n");
        assert_eq!(
            (agent.name, agent.agent_token, agent.video, agent.bridged),
            ("agent", Some(TokenScheme::HmacSha256), false, false)
        );
        let demo = kind("kind = \"demo\"\n");
        assert_eq!((demo.name, demo.video, demo.bridged), ("demo", true, false));
        for (text, name) in [
            ("kind = \"rtsp\"\nhost = \"cam\"\n", "rtsp"),
            ("kind = \"reolink\"\nhost = \"cam\"\n", "reolink"),
        ] {
            let k = kind(text);
            assert_eq!(
                (k.name, k.agent_token, k.video, k.bridged),
                (name, None, true, true)
            );
        }
    }
}
