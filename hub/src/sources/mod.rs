//! Camera feeds that the hub runs itself (as opposed to agents, which push):
//! the demo pattern, RTSP cameras and Reolink cameras. Each runs as a named
//! task on the server's `TaskTracker` and stops with the hub's shutdown token.
//!
//! The bridged cameras (RTSP, Reolink) hand their encoded video to the
//! camera's [`VideoFeed`](crate::video::VideoFeed); the JPEG views get
//! pictures from the snapshot decoder ([`crate::video::snapshot`]).

pub mod demo;
pub mod reolink;
pub mod rtsp;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::camera::Registry;
use crate::config::{Config, SourceConfig};
use units::Dur;

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
    pub transport: ::rtsp::Transport,
    /// Least time between two JPEG pictures decoded for the JPEG views.
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval: Dur,
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

/// Which stream of the camera to take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReolinkStream {
    #[default]
    Main,
    Sub,
}

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
    /// `main` (default) or `sub`.
    #[serde(default)]
    pub stream: ReolinkStream,
    /// Channel (0 for a camera; the NVR channel otherwise).
    #[serde(default)]
    pub channel: u8,
    /// Least time between two JPEG pictures decoded for the JPEG views.
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval: Dur,
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
            .field("channel", &self.channel)
            .field("snapshot_interval", &self.snapshot_interval)
            .finish()
    }
}

fn default_rtsp_port() -> u16 {
    ::rtsp::DEFAULT_PORT
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

    /// The password file of a bridged camera, for resolving relative paths.
    pub fn password_file_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            SourceConfig::Rtsp(s) => s.password_file.as_mut(),
            SourceConfig::Reolink(s) => s.password_file.as_mut(),
            _ => None,
        }
    }

    /// Checks of a bridged camera's keys: `Err((key, reason))`.
    pub fn validate_bridge(&self) -> Result<(), (&'static str, String)> {
        let (password, password_file, interval) = match self {
            SourceConfig::Rtsp(s) => {
                if s.host.trim().is_empty() {
                    return Err(("host", "must not be empty".into()));
                }
                let cfg = ::rtsp::RtspConfig {
                    port: s.port,
                    path: s.path.clone(),
                    ..::rtsp::RtspConfig::new("check", s.host.clone(), "", "")
                };
                if let Err(e) = cfg.url() {
                    return Err(("host", e.to_string()));
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
                (&s.password, &s.password_file, s.snapshot_interval)
            }
            _ => return Ok(()),
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

/// The password of a bridged camera: read from `file` (refused if group or
/// others can read it), else the inline one, else empty.
pub fn read_password(file: Option<&Path>, inline: Option<&str>) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = file else {
        return Ok(inline.unwrap_or_default().to_owned());
    };
    let meta =
        std::fs::metadata(path).map_err(|e| format!("password_file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "password_file {}: readable by group or others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("password_file {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Start every hub-side source in the configuration.
pub fn spawn_all(
    cfg: &Config,
    cameras: &Registry,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) {
    for c in &cfg.cameras {
        let Some(cam) = cameras.by_id(c.id).cloned() else {
            continue;
        };
        match &c.source {
            SourceConfig::Agent { .. } => {}
            SourceConfig::Demo {
                width,
                height,
                fps,
                jpeg_quality,
            } => {
                let settings = demo::Settings {
                    width: *width,
                    height: *height,
                    fps: *fps,
                    jpeg_quality: *jpeg_quality,
                };
                tracker.spawn(demo::run(Arc::clone(&cam), settings, stop.clone()));
                spawn_video_consumers(&cam, None, tracker, stop);
            }
            SourceConfig::Rtsp(s) => {
                rtsp::spawn(Arc::clone(&cam), s, tracker, stop);
                spawn_video_consumers(&cam, Some(s.snapshot_interval), tracker, stop);
            }
            SourceConfig::Reolink(s) => {
                reolink::spawn(Arc::clone(&cam), s, tracker, stop);
                spawn_video_consumers(&cam, Some(s.snapshot_interval), tracker, stop);
            }
        }
    }
}

/// The HLS packager of every camera with video, and the JPEG snapshot
/// decoder when the camera has no JPEG source of its own.
fn spawn_video_consumers(
    cam: &Arc<crate::camera::Camera>,
    snapshot_interval: Option<Dur>,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) {
    let Some(feed) = cam.video.clone() else {
        return;
    };
    tracker.spawn(crate::video::hls::run(
        Arc::clone(&feed),
        cam.name.clone(),
        stop.clone(),
    ));
    if let Some(every) = snapshot_interval {
        tracker.spawn(crate::video::snapshot::run(
            Arc::clone(cam),
            feed,
            every.as_duration(),
            stop.clone(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, SourceConfig};

    fn parse(extra: &str) -> Result<Config, String> {
        Config::parse(
            &format!("data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"c\"\n{extra}"),
            Path::new("t.toml"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn bridged_cameras_parse_with_defaults_and_redact_passwords() {
        let c = parse("kind = \"rtsp\"\nhost = \"cam\"\nusername = \"u\"\npassword = \"hunter2\"\nstream = \"stream2\"\n").unwrap();
        let SourceConfig::Rtsp(r) = &c.cameras[0].source else {
            panic!()
        };
        assert_eq!(
            (r.port, r.path.as_str(), r.snapshot_interval.as_secs()),
            (554, "stream2", 1)
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = parse("kind = \"reolink\"\ntransport = \"udp\"\nuid = \"X\"\nlocal_port = 5000\npassword = \"hunter2\"\n").unwrap();
        let SourceConfig::Reolink(r) = &c.cameras[0].source else {
            panic!()
        };
        assert_eq!(
            (r.username.as_str(), r.local_port, r.channel),
            ("admin", 5000, 0)
        );
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn bridged_camera_errors_name_the_key() {
        for (extra, needle) in [
            ("kind = \"rtsp\"\nhost = \"\"\n", "camera[0].host"),
            ("kind = \"rtsp\"\nhost = \"a@b\"\n", "camera[0].host"),
            (
                "kind = \"rtsp\"\nhost = \"h\"\npassword = \"x\"\npassword_file = \"f\"\n",
                "camera[0].password",
            ),
            (
                "kind = \"rtsp\"\nhost = \"h\"\nsnapshot_interval = \"0s\"\n",
                "snapshot_interval",
            ),
            (
                "kind = \"rtsp\"\nhost = \"h\"\ntransport = \"sctp\"\n",
                "sctp",
            ),
            (
                "kind = \"rtsp\"\nhost = \"h\"\npasword = \"x\"\n",
                "pasword",
            ),
            ("kind = \"reolink\"\n", "camera[0].host"),
            ("kind = \"reolink\"\ntransport = \"udp\"\n", "camera[0].uid"),
            (
                "kind = \"reolink\"\nhost = \"h\"\nstream = \"fluent\"\n",
                "fluent",
            ),
        ] {
            let e = parse(extra).unwrap_err();
            assert!(e.contains(needle), "{extra:?}: {e}");
        }
    }

    #[test]
    fn password_files_others_can_read_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "secret\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(
            super::read_password(Some(&p), None)
                .unwrap_err()
                .contains("chmod 600")
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(super::read_password(Some(&p), None).unwrap(), "secret");
        assert_eq!(super::read_password(None, Some("x")).unwrap(), "x");
    }
}
