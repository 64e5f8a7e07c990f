//! Typed configuration of one RTSP camera stream, and the credential-free URL built from it.

use std::fmt;

use serde::Deserialize;

use crate::error::ConfigError;

/// The RTSP port cameras listen on unless configured otherwise.
pub const DEFAULT_PORT: u16 = 554;

/// The Tapo main (high-resolution) stream path.
pub const TAPO_MAIN_STREAM: &str = "stream1";

/// How RTP packets travel from the camera.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection. Default: works through NAT and firewalls and is
    /// what Tapo cameras handle best.
    #[default]
    Tcp,
    /// Separate UDP ports (needed for cameras with a broken RTP/TCP, e.g. old live555 builds).
    Udp,
}

/// One camera stream, e.g. a Tapo camera's `stream1` (main) or `stream2` (sub).
///
/// The password never appears in a URL or a log line: [`RtspConfig::url`] has no user info and
/// `Debug` prints `<redacted>`. The credentials go to the camera only through digest (or basic)
/// authentication.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtspConfig {
    /// Camera name, used in logs and spans.
    pub name: String,
    /// Host name or IP address (IPv6 with or without brackets).
    pub host: String,
    /// RTSP port; default 554.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The camera's local account (Tapo: "Camera Account" in the app, not the cloud login).
    pub username: String,
    /// The local account's password. Never logged.
    pub password: String,
    /// `stream1` (Tapo main) / `stream2` (Tapo sub), or any path with query, e.g.
    /// `/cam/realmonitor?channel=1&subtype=0`. Default `stream1`.
    #[serde(default = "default_path")]
    pub path: String,
    /// RTP transport; default TCP.
    #[serde(default)]
    pub transport: Transport,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_path() -> String {
    TAPO_MAIN_STREAM.to_owned()
}

impl RtspConfig {
    /// A config with the defaults: port 554, `stream1`, TCP.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> RtspConfig {
        RtspConfig {
            name: name.into(),
            host: host.into(),
            port: DEFAULT_PORT,
            username: username.into(),
            password: password.into(),
            path: default_path(),
            transport: Transport::Tcp,
        }
    }

    /// The stream's URL, without user info (safe to log and show).
    pub fn url(&self) -> Result<url::Url, ConfigError> {
        let host = self.host.trim();
        let bad = |why: &str| ConfigError::Host(format!("{host:?}: {why}"));
        if host.is_empty() {
            return Err(bad("empty"));
        }
        if host.contains(['@', '/', '?', '#', ' ']) {
            return Err(bad("must be a bare host name or address"));
        }
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]") // a bare IPv6 address
        } else {
            host.to_owned()
        };
        let path = self.path.trim_start_matches('/');
        let url = url::Url::parse(&format!("rtsp://{host}:{}/{path}", self.port))
            .map_err(|e| ConfigError::Url(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("user info belongs in username/password"));
        }
        Ok(url)
    }

    /// The credentials for digest authentication, or `None` without a username.
    pub(crate) fn credentials(&self) -> Option<retina::client::Credentials> {
        (!self.username.is_empty()).then(|| retina::client::Credentials {
            username: self.username.clone(),
            password: self.password.clone(),
        })
    }
}

impl fmt::Debug for RtspConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtspConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("path", &self.path)
            .field("transport", &self.transport)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(host: &str, path: &str) -> RtspConfig {
        RtspConfig {
            path: path.to_owned(),
            ..RtspConfig::new("door", host, "admin", "hunter2")
        }
    }

    #[test]
    fn urls() {
        for (host, path, want) in [
            ("192.168.1.20", "stream1", "rtsp://192.168.1.20:554/stream1"),
            ("cam.lan", "/stream2", "rtsp://cam.lan:554/stream2"),
            ("fe80::1", "stream1", "rtsp://[fe80::1]:554/stream1"),
            ("[::1]", "a/b?c=1&d=2", "rtsp://[::1]:554/a/b?c=1&d=2"),
        ] {
            let url = cfg(host, path).url().unwrap();
            assert_eq!(url.as_str(), want);
            assert!(!url.as_str().contains("hunter2"));
        }
        for host in ["", "admin:pw@cam", "cam/x", "a b"] {
            assert!(cfg(host, "stream1").url().is_err(), "{host:?}");
        }
    }

    #[test]
    fn debug_redacts_password() {
        let s = format!("{:?}", cfg("cam", "stream1"));
        assert!(s.contains("<redacted>") && s.contains("admin"), "{s}");
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn deserializes_with_defaults() {
        let c: RtspConfig =
            serde_json::from_str(r#"{"name":"door","host":"cam","username":"u","password":"p"}"#)
                .unwrap();
        assert_eq!(c, RtspConfig::new("door", "cam", "u", "p"));
        let c: RtspConfig = serde_json::from_str(
            r#"{"name":"d","host":"cam","port":8554,"username":"u","password":"p","path":"stream2","transport":"udp"}"#,
        )
        .unwrap();
        assert_eq!(
            (c.port, c.path.as_str(), c.transport),
            (8554, "stream2", Transport::Udp)
        );
        let unknown = r#"{"name":"d","host":"cam","username":"u","password":"p","pasword":"x"}"#;
        assert!(serde_json::from_str::<RtspConfig>(unknown).is_err());
    }
}
