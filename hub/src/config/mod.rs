//! Typed, strict hub configuration (`hub --config FILE`): the file and its cameras here,
//! where each camera's frames come from in [`source`], recording and retention in
//! [`recordings`].
//!
//! Every key is documented in `deploy/hub.example.toml`, which a test parses.
//! Unknown keys are errors; sizes and durations carry units (the `units` crate, the
//! dialect the agent's file speaks too); secrets live in files of their own, never in
//! this file.

pub mod ops;
pub mod recordings;
pub mod source;
mod unknown;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use units::{ByteSize, Dur, Retention};

pub use ops::{HealthConfig, MetricsConfig, MqttConfig, MqttTls, WebhookConfig};
pub use recordings::RecordingsConfig;
pub use source::{
    DEFAULT_IDLE_TIMEOUT, DemoSettings, ReolinkSettings, ReolinkStream, ReolinkTransport,
    RtspSettings, SourceConfig, SourceKind, StreamKey, StreamMode,
};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port the web server binds (ingest, pages and APIs).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory for the database and recordings; created if missing.
    pub data_dir: PathBuf,
    /// File holding the hub secret that agent tokens derive from. Must not be
    /// readable by group or others. Created with a random secret if missing.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Largest JPEG frame an agent may send.
    #[serde(default = "default_max_frame")]
    pub max_frame_size: ByteSize,
    /// Let anyone who can reach the port watch live video without logging in.
    #[serde(default)]
    pub allow_anonymous_viewing: bool,
    /// Extra `Origin` values allowed to open websockets (besides the hub's own).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Web pages on other origins (`scheme://host[:port]`) that may call the HTTP APIs
    /// from a browser (CORS, credentials included), e.g. the seed camera server's React
    /// frontend. Other origins get no CORS headers.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// How long a login session lasts.
    #[serde(default = "default_session_lifetime")]
    pub session_lifetime: Dur,
    /// A camera that sent nothing for this long is shown offline.
    #[serde(default = "default_offline_after")]
    pub offline_after: Dur,
    /// Serve HTTPS instead of HTTP (cookies then get `Secure`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The cameras.
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    /// Recording and upload settings (`[recordings]`).
    #[serde(default)]
    pub recordings: RecordingsConfig,
    /// Global retention limits over all cameras (`[retention]`).
    #[serde(default)]
    pub retention: Retention,
    /// Bounds on connections (`[connections]`).
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// Who may scrape `/metrics` (`[metrics]`).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Home Assistant over MQTT (`[mqtt]`; off without it).
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    /// When health readings become events (`[health]`).
    #[serde(default)]
    pub health: HealthConfig,
    /// URLs that get signed JSON POSTs of chosen events (`[[webhook]]`).
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    /// Copies of recordings and events in S3-compatible storage (`[offsite]`; off
    /// without it). See [`crate::offsite`].
    #[serde(default)]
    pub offsite: Option<offsite::OffsiteConfig>,
}

/// Bounds on connections, so idle or half-open ones cannot starve others
/// (`[connections]`; see [`crate::listener`]).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Connections open at once (websockets included); past it new ones are
    /// closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time a connection has to send a complete request head, from opening
    /// or from the end of its previous response (closes idle keep-alives).
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Dur,
    /// Time a TLS handshake may take.
    #[serde(default = "default_handshake_timeout")]
    pub tls_handshake_timeout: Dur,
    /// Connections open at once from one client address (agents and viewers
    /// behind one NAT share it); past it new ones from that address are closed
    /// at once.
    #[serde(default = "default_max_per_address")]
    pub max_per_address: usize,
    /// Longest pause inside a request body; also the grace period before
    /// `min_body_rate` applies.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: Dur,
    /// Slowest average rate, per second, at which a request body may arrive
    /// once `body_timeout` has passed since its head.
    #[serde(default = "default_min_body_rate")]
    pub min_body_rate: ByteSize,
    /// Memory for request bodies and websocket messages being received, all
    /// connections together; past it requests get 503 and websockets close
    /// with 1013 (try again later).
    #[serde(default = "default_memory_budget")]
    pub memory_budget: ByteSize,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            max_connections: default_max_connections(),
            header_timeout: default_header_timeout(),
            tls_handshake_timeout: default_handshake_timeout(),
            max_per_address: default_max_per_address(),
            body_timeout: default_body_timeout(),
            min_body_rate: default_min_body_rate(),
            memory_budget: default_memory_budget(),
        }
    }
}

impl ConnectionsConfig {
    pub fn limits(&self) -> crate::listener::Limits {
        crate::listener::Limits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout.as_duration(),
            handshake_timeout: self.tls_handshake_timeout.as_duration(),
            max_per_address: self.max_per_address,
        }
    }
}

fn default_max_connections() -> usize {
    8192
}
fn default_header_timeout() -> Dur {
    Dur::from_secs(15)
}
fn default_handshake_timeout() -> Dur {
    Dur::from_secs(10)
}
fn default_max_per_address() -> usize {
    512
}
fn default_body_timeout() -> Dur {
    Dur::from_secs(10)
}
fn default_min_body_rate() -> ByteSize {
    ByteSize(4 << 10)
}
fn default_memory_budget() -> ByteSize {
    ByteSize(64 << 20)
}

/// HTTPS: a PEM certificate chain and its PEM private key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One camera, whatever feeds it. (Unknown keys are refused by the
/// flattened [`SourceConfig`], which sees every key not listed here.)
#[derive(Debug, Clone, Deserialize)]
pub struct CameraConfig {
    /// Numeric id: what agents send in their hello and the seed API uses.
    pub id: u32,
    /// Short URL name (`/api/v1/cameras/{name}`): letters, digits, `-`, `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Where frames come from.
    #[serde(flatten)]
    pub source: SourceConfig,
    /// Image served by the snapshot endpoint while no frame has arrived
    /// (camera_proxy's `backupImage`).
    #[serde(default)]
    pub fallback_image: Option<PathBuf>,
    /// Length of recorded segments for this camera (default: `[recordings]`).
    #[serde(default)]
    pub segment_duration: Option<Dur>,
    /// Retention limits for this camera alone (`[camera.retention]`).
    #[serde(default)]
    pub retention: Option<Retention>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_max_frame() -> ByteSize {
    ByteSize(u64::from(wire::DEFAULT_MAX_FRAME_LEN))
}
fn default_session_lifetime() -> Dur {
    Dur::from_secs(30 * 24 * 3600)
}
fn default_offline_after() -> Dur {
    Dur::from_secs(5)
}
/// A configuration problem, naming the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

impl Config {
    /// Read, parse and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = Config::parse(&text, path)?;
        cfg.check_inline_passwords(path)?;
        // Relative paths are relative to the config file, not the cwd.
        if let Some(dir) = path.parent() {
            cfg.resolve_relative(dir);
        }
        Ok(cfg)
    }

    /// Parse and validate configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: unknown::explain(e.to_string().trim_end(), text),
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    fn resolve_relative(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(t) = self.tls.as_mut() {
            fix(&mut t.cert);
            fix(&mut t.key);
        }
        if let Some(p) = self.secret_file.as_mut() {
            fix(p);
        }
        if let Some(p) = self.metrics.token_file.as_mut() {
            fix(p);
        }
        for w in &mut self.webhooks {
            fix(&mut w.secret_file);
        }
        if let Some(m) = self.mqtt.as_mut() {
            if let Some(p) = m.password_file.as_mut() {
                fix(p);
            }
            if let Some(t) = m.tls.as_mut() {
                fix(&mut t.ca_file);
            }
        }
        if let Some(o) = self.offsite.as_mut() {
            o.resolve_relative(base);
        }
        for c in &mut self.cameras {
            if let Some(p) = c.fallback_image.as_mut() {
                fix(p);
            }
            if let Some(p) = c.source.secret_file_mut() {
                fix(p);
            }
        }
    }

    /// A configuration file with a camera password in it must be as private
    /// as a password file: refused if group or others can read it.
    fn check_inline_passwords(&self, path: &Path) -> Result<(), ConfigError> {
        use std::os::unix::fs::PermissionsExt;
        let Some(i) = self
            .cameras
            .iter()
            .position(|c| c.source.inline_password().is_some())
        else {
            return Ok(());
        };
        let mode = std::fs::metadata(path)
            .map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                key: format!("camera[{i}].password"),
                reason: format!(
                    "this file holds a camera password but is readable by group or others \
                     (mode {:o}); run `chmod 600 {}`, or move the password to a password_file",
                    mode & 0o777,
                    path.display()
                ),
            });
        }
        Ok(())
    }

    fn validate(&self, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid {
            path: origin.to_owned(),
            key,
            reason,
        };
        if self.max_frame_size.0 == 0 || self.max_frame_size.0 > u64::from(u32::MAX) {
            return Err(invalid(
                "max_frame_size".into(),
                "must be between 1 byte and 4 GiB".into(),
            ));
        }
        let c = &self.connections;
        if c.max_connections == 0
            || c.max_per_address == 0
            || c.header_timeout.is_zero()
            || c.tls_handshake_timeout.is_zero()
            || c.body_timeout.is_zero()
            || c.min_body_rate.0 == 0
        {
            return Err(invalid(
                "connections".into(),
                "max_connections, max_per_address, header_timeout, tls_handshake_timeout, \
                 body_timeout and min_body_rate must be above 0"
                    .into(),
            ));
        }
        // The budget must hold at least one whole frame from an agent.
        if c.memory_budget.0 < self.max_frame_size.0 + 64 * 1024 {
            return Err(invalid(
                "connections.memory_budget".into(),
                format!(
                    "must hold at least one frame: max_frame_size + 64 KiB = {} bytes",
                    self.max_frame_size.0 + 64 * 1024
                ),
            ));
        }
        for (i, o) in self.cors_origins.iter().enumerate() {
            if let Err(reason) = check_origin(o) {
                return Err(invalid(format!("cors_origins[{i}]"), reason));
            }
        }
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let key = |k: &str| format!("camera[{i}].{k}");
            if c.id == 0 {
                return Err(invalid(key("id"), "must be 1 or more".into()));
            }
            if !ids.insert(c.id) {
                return Err(invalid(key("id"), format!("id {} is used twice", c.id)));
            }
            if !valid_name(&c.name) {
                return Err(invalid(
                    key("name"),
                    format!(
                        "{:?} must be 1-64 characters of letters, digits, '-' and '_'",
                        c.name
                    ),
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(invalid(
                    key("name"),
                    format!("name {:?} is used twice", c.name),
                ));
            }
            if let Err((k, reason)) = c.source.validate() {
                return Err(invalid(key(k), reason));
            }
            if let Err((k, reason)) =
                recordings::validate_camera(c.segment_duration, c.retention.as_ref())
            {
                return Err(invalid(key(k), reason));
            }
        }
        if let Err((k, reason)) = recordings::validate(&self.recordings, &self.retention) {
            return Err(invalid(k, reason));
        }
        let h = &self.health;
        if h.check_interval.is_zero() || h.offline_after.is_zero() || h.disk_forecast_days == 0 {
            return Err(invalid(
                "health".into(),
                "check_interval, offline_after and disk_forecast_days must be above 0".into(),
            ));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            if let Err((k, reason)) = w.validate() {
                return Err(invalid(format!("webhook[{i}].{k}"), reason));
            }
        }
        if let Some(Err((k, reason))) = self.mqtt.as_ref().map(MqttConfig::validate) {
            return Err(invalid(format!("mqtt.{k}"), reason));
        }
        if let Some(o) = &self.offsite {
            if let Err(e) = o.validate() {
                return Err(invalid(e.key, e.reason));
            }
            for name in o.cameras.iter().flatten() {
                if !self.cameras.iter().any(|c| &c.name == name) {
                    return Err(invalid(
                        "offsite.cameras".into(),
                        format!("{name:?} is not a configured camera"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// An origin as browsers send it: `http://` or `https://`, a host, an optional port,
/// nothing after (no path, no trailing slash, no wildcard).
fn check_origin(o: &str) -> Result<(), String> {
    let rest = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"))
        .ok_or_else(|| format!("{o:?} must start with http:// or https://"))?;
    let ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok {
        return Err(format!(
            "{o:?} must be scheme://host[:port] exactly as the browser sends it \
             (no path, no trailing slash, no wildcard)"
        ));
    }
    Ok(())
}

/// Writes `text` to a secret file at `path`, readable by its owner only (mode 0600,
/// also when the file was there with another mode), and syncs it to disk.
pub fn write_secret_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The text of a secret file named by `key` (a password or token file), without its
/// trailing line break. Refused if group or others can read it.
pub fn read_secret_file(key: &str, path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{key} {}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{key} {}: readable by group or others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{key} {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Camera names appear in URLs; keep them to a safe alphabet.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("test.toml"))
    }

    #[test]
    fn cors_origins_must_be_exact_origins() {
        let c = parse(
            "data_dir = \"d\"\ncors_origins = [\"http://frontend.lan:3000\", \"https://[::1]\"]\n",
        )
        .unwrap();
        assert_eq!(c.cors_origins.len(), 2);
        for bad in [
            "*",
            "frontend.lan",
            "http://frontend.lan/",
            "https://a.b/path",
            "http://",
        ] {
            let e = parse(&format!("data_dir = \"d\"\ncors_origins = [\"{bad}\"]\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("cors_origins[0]"), "{bad}: {e}");
        }
    }

    #[test]
    fn offsite_is_read_strictly_and_names_its_keys() {
        let base = "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n";
        let offsite = "[offsite]\nendpoint = \"http://127.0.0.1:3900\"\nbucket = \"cams\"\n\
                       access_key_id = \"GK1\"\nsecret_access_key_file = \"s3.secret\"\n";
        let c = parse(&format!("{base}{offsite}cameras = [\"porch\"]\n")).unwrap();
        let o = c.offsite.unwrap();
        assert_eq!(o.bucket, "cams");
        assert!(o.includes_camera("porch"));
        let e = parse(&format!("{base}{offsite}cameras = [\"garden\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("offsite.cameras") && e.contains("garden"), "{e}");
        let e = parse(&format!("{base}{offsite}part_size = \"1MiB\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("offsite.part_size"), "{e}");
        let e = parse(&format!("{base}{offsite}bucket_name = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bucket_name"), "{e}");
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let c = parse("data_dir = \"d\"\n").unwrap();
        assert_eq!(c.listen, default_listen());
        assert_eq!(c.max_frame_size.0, 8 * 1024 * 1024);
        assert!(!c.allow_anonymous_viewing);
        assert!(c.cameras.is_empty());
    }

    #[test]
    fn cameras_parse_with_kinds() {
        let c = parse(
            r#"
data_dir = "d"
max_frame_size = "2MiB"
[[camera]]
id = 1
name = "front"
kind = "agent"
token_scheme = "legacy-sha256"
[[camera]]
id = 2
name = "demo"
kind = "demo"
fps = 5
"#,
        )
        .unwrap();
        assert_eq!(c.max_frame_size.0, 2 * 1024 * 1024);
        assert!(matches!(
            c.cameras[0].source,
            SourceConfig::Agent {
                token_scheme: wire::TokenScheme::LegacySha256,
                token_file: None
            }
        ));
        assert!(matches!(
            c.cameras[1].source,
            SourceConfig::Demo(DemoSettings { fps: 5, .. })
        ));
    }

    #[test]
    fn errors_name_the_key_and_reason() {
        let check = |text: &str, needle: &str| {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{e:?} should mention {needle:?}");
        };
        check("data_dir = \"d\"\nlisten = 5\n", "listen");
        check("data_dir = \"d\"\nbogus = 1\n", "bogus");
        check(
            "data_dir = \"d\"\nmax_frame_size = \"8 parsecs\"\n",
            "max_frame_size",
        );
        check(
            "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"a b\"\nkind = \"agent\"\n",
            "camera[0].name",
        );
        check(
            "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"a\"\nkind = \"agent\"\n[[camera]]\nid = 1\nname = \"b\"\nkind = \"agent\"\n",
            "camera[1].id",
        );
        check(
            "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"a\"\nkind = \"agent\"\ntoken_scheme = \"md5\"\n",
            "md5",
        );
        check(
            "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"a\"\nkind = \"webcam\"\n",
            "webcam",
        );
        check(
            "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"a\"\nkind = \"agent\"\ncolour = 1\n",
            "colour",
        );
    }
}

#[cfg(test)]
mod source_tests {
    use std::path::Path;

    use super::{Config, SourceConfig};

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
    fn reolink_stream_mode_defaults_by_transport_and_old_profile_spelling_reads() {
        use super::{ReolinkStream, StreamMode};
        let reolink = |extra: &str| {
            let c = parse(extra).unwrap();
            let SourceConfig::Reolink(r) = &c.cameras[0].source else {
                panic!()
            };
            (
                r.stream_mode(),
                r.profile(),
                r.idle_timeout().as_secs(),
                c.cameras[0].source.on_demand().map(|d| d.as_secs()),
            )
        };
        let udp = "kind = \"reolink\"\ntransport = \"udp\"\nuid = \"X\"\n";
        let tcp = "kind = \"reolink\"\nhost = \"h\"\n";
        assert_eq!(
            reolink(udp),
            (StreamMode::OnDemand, ReolinkStream::Main, 30, Some(30))
        );
        assert_eq!(
            reolink(tcp),
            (StreamMode::Always, ReolinkStream::Main, 30, None)
        );
        assert_eq!(
            reolink(&format!("{udp}stream = \"always\"\n")),
            (StreamMode::Always, ReolinkStream::Main, 30, None)
        );
        assert_eq!(
            reolink(&format!(
                "{tcp}stream = \"on-demand\"\nidle_timeout = \"2m\"\nprofile = \"sub\"\n"
            )),
            (StreamMode::OnDemand, ReolinkStream::Sub, 120, Some(120))
        );
        // Files from before: stream = "sub" is the profile; the mode keeps its default.
        assert_eq!(
            reolink(&format!("{udp}stream = \"sub\"\n")),
            (StreamMode::OnDemand, ReolinkStream::Sub, 30, Some(30))
        );
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
                "stream: \"fluent\" is neither \"always\" nor \"on-demand\"",
            ),
            (
                "kind = \"reolink\"\nhost = \"h\"\nidle_timeout = \"10s\"\n",
                "camera[0].idle_timeout: applies only to stream = \"on-demand\"",
            ),
            (
                "kind = \"reolink\"\ntransport = \"udp\"\nuid = \"X\"\nidle_timeout = \"0s\"\n",
                "camera[0].idle_timeout: must be 1s..=24h",
            ),
            (
                "kind = \"reolink\"\nhost = \"h\"\nstream = \"main\"\nprofile = \"sub\"\n",
                "camera[0].stream",
            ),
            (
                "kind = \"reolink\"\nhost = \"h\"\nprofile = \"fluent\"\n",
                "fluent",
            ),
        ] {
            let e = parse(extra).unwrap_err();
            assert!(e.contains(needle), "{extra:?}: {e}");
        }
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_deploy_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hub.example.toml");
        let cfg = Config::load(&path).expect("deploy/hub.example.toml parses");
        assert_eq!(cfg.cameras.len(), 4);
        assert!(matches!(cfg.cameras[2].source, SourceConfig::Rtsp(_)));
        assert!(matches!(cfg.cameras[3].source, SourceConfig::Reolink(_)));
        assert_eq!(cfg.cameras[0].name, "front-door");
        assert_eq!(cfg.session_lifetime, Dur::from_secs(30 * 86400));
        assert_eq!(cfg.connections.max_connections, 8192);
        assert_eq!(cfg.connections.header_timeout, Dur::from_secs(15));
    }

    #[test]
    fn an_inline_camera_password_needs_a_private_config_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hub.toml");
        let text = "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"c\"\nkind = \"rtsp\"\nhost = \"h\"\nusername = \"u\"\npassword = \"pw\"\n";
        std::fs::write(&p, text).unwrap();
        for (mode, ok) in [
            (0o644, false),
            (0o640, false),
            (0o604, false),
            (0o600, true),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            match Config::load(&p) {
                Ok(_) => assert!(ok, "mode {mode:o} accepted"),
                Err(e) => {
                    assert!(!ok, "mode {mode:o} refused: {e}");
                    let e = e.to_string();
                    assert!(
                        e.contains("camera[0].password") && e.contains("chmod 600"),
                        "{e}"
                    );
                    assert!(!e.contains("\"pw\""), "{e}");
                }
            }
        }
        // Without a password inline, the mode of the config file is the owner's business.
        std::fs::write(&p, "data_dir = \"d\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        Config::load(&p).unwrap();
    }

    #[test]
    fn connection_bounds_must_be_positive() {
        for bad in [
            "max_connections = 0",
            "header_timeout = \"0s\"",
            "tls_handshake_timeout = 0",
        ] {
            let text = format!("data_dir = \"d\"\n[connections]\n{bad}\n");
            let e = Config::parse(&text, Path::new("t.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("connections"), "{bad}: {e}");
        }
    }
}

#[cfg(test)]
mod recordings_tests {
    use std::path::Path;
    use std::time::Duration;

    use super::Config;
    use units::{ByteSize, Dur};

    fn parse(s: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(s, Path::new("test.toml"))
    }

    #[test]
    fn defaults_and_per_camera_settings() {
        let c = parse("data_dir = \"d\"\n").unwrap();
        assert_eq!(c.recordings.segment_duration, Dur::from_secs(60));
        assert_eq!(c.recordings.max_segment_size, ByteSize(512 << 20));
        assert!(c.retention.is_unlimited());
        let c = parse(
            r#"
data_dir = "d"
[recordings]
segment_duration = "2m"
[retention]
max_size = "1GiB"
min_free = "100MiB"
[[camera]]
id = 1
name = "a"
kind = "agent"
segment_duration = "10s"
[camera.retention]
max_age = "7d"
"#,
        )
        .unwrap();
        assert_eq!(c.recordings.segment_duration, Dur::from_secs(120));
        let p = store::RetentionPolicy::from_config(&c.retention, false);
        assert_eq!(
            (p.max_bytes, p.min_free_bytes, p.max_age),
            (Some(1 << 30), Some(100 << 20), None)
        );
        assert_eq!(c.cameras[0].segment_duration, Some(Dur::from_secs(10)));
        let r = store::RetentionPolicy::from_config(&c.cameras[0].retention.unwrap(), false);
        assert_eq!(r.max_age, Some(Duration::from_secs(7 * 86400)));
        // The agent's "unlimited" means the same here as a key left out.
        let c =
            parse("data_dir = \"d\"\n[retention]\nmax_age = \"unlimited\"\nmax_size = \"1GiB\"\n")
                .unwrap();
        assert_eq!(
            (c.retention.max_age(), c.retention.max_bytes()),
            (None, Some(1 << 30))
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let check = |text: &str, needle: &str| {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{e:?} should mention {needle:?}");
        };
        check(
            "data_dir = \"d\"\n[retention]\nmax_age = \"0s\"\n",
            "retention.max_age",
        );
        check(
            "data_dir = \"d\"\n[retention]\nmax_ages = \"1d\"\n",
            "max_ages",
        );
        check(
            "data_dir = \"d\"\n[recordings]\nsegment_duration = \"2h\"\n",
            "recordings.segment_duration",
        );
        check(
            "data_dir = \"d\"\n[[camera]]\nid = 1\nname = \"a\"\nkind = \"agent\"\n[camera.retention]\nmax_size = \"0B\"\n",
            "camera[0].retention.max_size",
        );
        check(
            "data_dir = \"d\"\n[recordings]\ndisk_warning = \"3d\"\n",
            "recordings.disk_warning: moved: one disk check covers the hub's disk and the \
             agents'; set [health] disk_forecast_days",
        );
    }

    #[test]
    fn the_deploy_example_documents_retention() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hub.example.toml");
        let cfg = Config::load(&path).expect("deploy/hub.example.toml parses");
        assert_eq!(cfg.recordings.segment_duration, Dur::from_secs(60));
        assert_eq!(cfg.retention.min_free_bytes(), Some(2 << 30));
        assert_eq!(
            cfg.cameras[0].retention.unwrap().max_age(),
            Some(Duration::from_secs(14 * 86400))
        );
    }
}
