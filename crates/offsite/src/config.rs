//! The `[offsite]` section of the hub's configuration: typed and strict (unknown keys
//! refused, sizes, durations and rates with units), secrets in mode-0600 files.
//!
//! Self-contained so it can move: the hub embeds [`OffsiteConfig`] as
//! `offsite: Option<offsite::OffsiteConfig>` and maps [`ConfigError`] (key + reason) to
//! its own error, adding the file's path. Sizes and durations are written in the dialect
//! both binaries share (`crates/units`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

pub use units::{ByteSize, Dur};

use crate::layout::{valid_camera, valid_prefix};
use chunkseal::Key;

/// Smallest multipart part S3 accepts (every part but the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Largest part this crate sends (each part is held in memory once while it is sent).
pub const MAX_PART_SIZE: u64 = 256 << 20;

/// `[offsite]`: where and how recordings are copied off site.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsiteConfig {
    /// The S3 endpoint, `https://…` (or `http://…` for a store on a trusted network).
    pub endpoint: String,
    /// The region the store signs for (`garage` for a default Garage, `us-east-1`…).
    #[serde(default = "default_region")]
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// `path` (`endpoint/bucket/key`, what self-hosted stores want) or `virtual-host`
    /// (`bucket.endpoint/key`).
    #[serde(default)]
    pub addressing: Addressing,
    /// The access key id (not secret).
    pub access_key_id: String,
    /// File holding the secret access key; refused if group or others can read it.
    pub secret_access_key_file: PathBuf,
    /// Key prefix, so several hubs can share a bucket (`"home"` → `home/rec/…`).
    #[serde(default)]
    pub prefix: String,
    /// Which cameras are copied: absent means all.
    #[serde(default)]
    pub cameras: Option<Vec<String>>,
    /// Upload bandwidth cap (`"4Mbit/s"`, `"512KiB/s"`); absent means no cap.
    #[serde(default)]
    pub max_upload_rate: Option<Rate>,
    /// Objects larger than this go up in parts of this size (5 MiB to 256 MiB).
    #[serde(default = "default_part_size")]
    pub part_size: ByteSize,
    /// File holding a 256-bit key (64 hex digits) for client-side encryption; absent
    /// means objects are stored as they are. Refused if group or others can read it.
    #[serde(default)]
    pub encryption_key_file: Option<PathBuf>,
    /// A second hub reading the same bucket and prefix: lists and plays, never writes
    /// or deletes.
    #[serde(default)]
    pub read_only: bool,
    /// How often a read-only hub lists the bucket again for segments added or deleted
    /// since (1 s to 1 day).
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: Dur,
    /// How often a read-only hub lists the whole bucket (between, it asks only for keys
    /// after the newest it knows): segments deleted there, and segments the writing hub
    /// copied late (after an outage), show from then. Not shorter than
    /// `refresh_interval`.
    #[serde(default = "default_full_refresh_interval")]
    pub full_refresh_interval: Dur,
    /// The bucket's own retention, independent of the hub's disk (`[offsite.retention]`).
    #[serde(default)]
    pub retention: BucketRetention,
}

/// Path-style or virtual-host addressing of the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Addressing {
    #[default]
    Path,
    VirtualHost,
}

/// `[offsite.retention]`: how long the bucket keeps footage. Absent limits mean none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketRetention {
    /// Segments older than this are deleted from the bucket (by their start time).
    #[serde(default)]
    pub max_age: Option<Dur>,
    /// Above this total, the oldest ordinary segments go first, then event footage.
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// Segments that overlap an event, and the events and thumbnails themselves, are
    /// kept this long instead of `max_age` (must not be shorter).
    #[serde(default)]
    pub event_max_age: Option<Dur>,
}

/// A transfer rate in bytes per second, written `"4Mbit/s"`, `"500kbit/s"`,
/// `"1MiB/s"`, `"800kB/s"` (bits for what broadband is sold in, bytes otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate {
    pub bytes_per_sec: u64,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let body = t.strip_suffix("/s").ok_or_else(|| {
            format!("rate {s:?} must end in /s (e.g. \"4Mbit/s\" or \"512KiB/s\")")
        })?;
        let bits = [
            ("kbit", 1_000u64),
            ("Mbit", 1_000_000),
            ("Gbit", 1_000_000_000),
        ]
        .iter()
        .find_map(|(u, m)| body.trim_end().strip_suffix(u).map(|n| (n.trim(), *m)));
        let bytes_per_sec = match bits {
            Some((num, mult)) => {
                let n: f64 = num
                    .parse()
                    .map_err(|_| format!("rate {s:?} does not start with a number"))?;
                let v = n * mult as f64 / 8.0;
                if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
                    return Err(format!("rate {s:?} is out of range"));
                }
                v.round() as u64
            }
            None => {
                body.parse::<ByteSize>()
                    .map_err(|e| format!("rate: {e}"))?
                    .0
            }
        };
        if bytes_per_sec == 0 {
            return Err(format!(
                "rate {s:?} is zero (leave max_upload_rate out for no cap)"
            ));
        }
        Ok(Rate { bytes_per_sec })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} Mbit/s", self.bytes_per_sec as f64 * 8.0 / 1e6)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate such as \"4Mbit/s\" or \"512KiB/s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

fn default_refresh_interval() -> Dur {
    Dur::from_secs(60)
}

fn default_full_refresh_interval() -> Dur {
    Dur::from_secs(3600)
}

fn default_part_size() -> ByteSize {
    ByteSize(8 << 20)
}

/// A bad `[offsite]` value: the key (as written in the file, `offsite.bucket`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

fn bad(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: format!("offsite.{key}"),
        reason: reason.into(),
    }
}

impl OffsiteConfig {
    /// Parses a TOML text holding the keys of `[offsite]` (for tests and tools; the hub
    /// parses the section as part of its own file), then [`OffsiteConfig::validate`]s it.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: OffsiteConfig = toml::from_str(text).map_err(|e| ConfigError {
            key: "offsite".into(),
            reason: e.to_string().trim_end().to_owned(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every value that serde alone cannot (files are read by
    /// [`OffsiteConfig::credentials`] and [`OffsiteConfig::encryption_key`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.endpoint.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                bad(
                    "endpoint",
                    format!("{url:?} must start with https:// or http://"),
                )
            })?;
        if rest.is_empty() || rest.contains(['?', '#', '@', ' ']) {
            return Err(bad(
                "endpoint",
                format!(
                    "{url:?} must be scheme://host[:port][/path], without credentials or a query"
                ),
            ));
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad(
                "region",
                format!("{:?} must be letters, digits, '-' and '_'", self.region),
            ));
        }
        let b = &self.bucket;
        if !(3..=63).contains(&b.len())
            || !b
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
            || b.starts_with(['-', '.'])
            || b.ends_with(['-', '.'])
        {
            return Err(bad(
                "bucket",
                format!("{b:?} must be 3-63 characters of lowercase letters, digits, '-' and '.'"),
            ));
        }
        if self.access_key_id.is_empty()
            || self.access_key_id.len() > 128
            || !self
                .access_key_id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(bad("access_key_id", "must be 1-128 letters and digits"));
        }
        if !valid_prefix(&self.prefix) {
            return Err(bad(
                "prefix",
                format!(
                    "{:?} must be up to 128 characters of letters, digits, '-', '_' and '/' \
                     (no leading, trailing or doubled '/')",
                    self.prefix
                ),
            ));
        }
        if let Some(cams) = &self.cameras {
            for (i, c) in cams.iter().enumerate() {
                if !valid_camera(c) {
                    return Err(bad(
                        &format!("cameras[{i}]"),
                        format!("{c:?} must be 1-64 characters of letters, digits, '-' and '_'"),
                    ));
                }
            }
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size.0) {
            return Err(bad(
                "part_size",
                format!("{} must be between 5 MiB and 256 MiB", self.part_size),
            ));
        }
        let refresh = self.refresh_interval.as_duration();
        if refresh < std::time::Duration::from_secs(1)
            || refresh > std::time::Duration::from_secs(86_400)
        {
            return Err(bad(
                "refresh_interval",
                format!("{refresh:?} must be between 1 s and 1 day"),
            ));
        }
        if self.full_refresh_interval < self.refresh_interval {
            return Err(bad(
                "full_refresh_interval",
                "must not be shorter than refresh_interval",
            ));
        }
        let r = &self.retention;
        if let (Some(age), Some(ev)) = (r.max_age, r.event_max_age)
            && ev < age
        {
            return Err(bad(
                "retention.event_max_age",
                "must not be shorter than retention.max_age (event footage is kept longer)",
            ));
        }
        if r.max_age.is_some_and(Dur::is_zero) || r.event_max_age.is_some_and(Dur::is_zero) {
            return Err(bad(
                "retention",
                "a max_age of 0 would delete everything; leave it out for no limit",
            ));
        }
        Ok(())
    }

    /// Whether `camera`'s recordings are copied.
    pub fn includes_camera(&self, camera: &str) -> bool {
        self.cameras
            .as_ref()
            .is_none_or(|c| c.iter().any(|n| n == camera))
    }

    /// Resolves relative file paths against the configuration file's directory.
    pub fn resolve_relative(&mut self, base: &Path) {
        for p in [
            Some(&mut self.secret_access_key_file),
            self.encryption_key_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Reads the secret access key (blocking): the file must be private.
    pub fn credentials(&self) -> Result<Credentials, ConfigError> {
        let text = read_private(&self.secret_access_key_file, "secret_access_key_file")?;
        let secret = text.trim();
        if secret.is_empty() || secret.len() > 256 || secret.contains(char::is_whitespace) {
            return Err(bad(
                "secret_access_key_file",
                "must hold the secret on one line (1-256 characters)",
            ));
        }
        Ok(Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: secret.to_owned(),
        })
    }

    /// Reads the encryption key if one is configured (blocking): the file must be private.
    pub fn encryption_key(&self) -> Result<Option<Key>, ConfigError> {
        let Some(path) = &self.encryption_key_file else {
            return Ok(None);
        };
        let text = read_private(path, "encryption_key_file")?;
        Key::from_hex(text.trim())
            .map(Some)
            .map_err(|e| bad("encryption_key_file", e))
    }
}

/// The key pair the store signs with. `Debug` does not show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Reads a secret file, refusing one that group or others can read (the key is named).
fn read_private(path: &Path, key: &str) -> Result<String, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| bad(key, format!("cannot read {}: {e}", path.display())))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(bad(
            key,
            format!(
                "{} is readable by group or others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ),
        ));
    }
    if meta.len() > 4096 {
        return Err(bad(key, format!("{} is larger than 4 KiB", path.display())));
    }
    std::fs::read_to_string(path)
        .map_err(|e| bad(key, format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        endpoint = "http://127.0.0.1:3900"
        bucket = "cameras"
        access_key_id = "GK31c2f218a2e44f485b94239e"
        secret_access_key_file = "offsite-secret"
    "#;

    #[test]
    fn minimal_gets_defaults() {
        let c = OffsiteConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.addressing, Addressing::Path);
        assert_eq!(c.part_size, ByteSize(8 << 20));
        assert_eq!(c.prefix, "");
        assert!(c.includes_camera("anything"));
        assert_eq!(c.max_upload_rate, None);
        assert!(!c.read_only);
        assert_eq!(c.retention, BucketRetention::default());
    }

    #[test]
    fn full() {
        let c = OffsiteConfig::from_toml(&format!(
            "{MINIMAL}
            region = \"garage\"
            addressing = \"virtual-host\"
            prefix = \"home/hub-1\"
            cameras = [\"porch\", \"garden\"]
            max_upload_rate = \"4Mbit/s\"
            part_size = \"16MiB\"
            encryption_key_file = \"offsite-key\"
            read_only = true
            refresh_interval = \"30s\"
            [retention]
            max_age = \"365d\"
            max_size = \"2TiB\"
            event_max_age = \"730d\"
            "
        ))
        .unwrap();
        assert_eq!(c.addressing, Addressing::VirtualHost);
        assert_eq!(
            c.max_upload_rate,
            Some(Rate {
                bytes_per_sec: 500_000
            })
        );
        assert!(c.includes_camera("porch") && !c.includes_camera("attic"));
        assert_eq!(c.retention.max_age, Some(Dur::from_secs(365 * 86400)));
        assert_eq!(c.retention.max_size, Some(ByteSize(2 << 40)));
        assert_eq!(c.refresh_interval, Dur::from_secs(30));
    }

    /// Each bad line is refused with the key it is on.
    #[test]
    fn bad_values_name_their_key() {
        let check = |extra: &str, key: &str| {
            let e = OffsiteConfig::from_toml(&format!("{MINIMAL}\n{extra}")).unwrap_err();
            assert!(e.to_string().contains(key), "{extra}: {e}");
        };
        check(
            "secret_access_key = \"inline\"",
            "unknown field `secret_access_key`",
        );
        check("part_size = \"1MiB\"", "offsite.part_size");
        check("refresh_interval = \"500ms\"", "offsite.refresh_interval");
        check(
            "refresh_interval = \"2m\"\nfull_refresh_interval = \"1m\"",
            "offsite.full_refresh_interval",
        );
        check("max_upload_rate = \"4Mbit\"", "must end in /s");
        check("max_upload_rate = \"0Mbit/s\"", "zero");
        check("addressing = \"dns\"", "unknown variant");
        check("prefix = \"/abs\"", "offsite.prefix");
        check("prefix = \"a//b\"", "offsite.prefix");
        check("cameras = [\"../x\"]", "offsite.cameras[0]");
        check(
            "[retention]\nmax_age = \"30d\"\nevent_max_age = \"7d\"",
            "offsite.retention.event_max_age",
        );
        check("[retention]\nmax_age = 0", "offsite.retention");
        check("[retention]\nkeep = 1", "unknown field `keep`");
        let e = OffsiteConfig::from_toml(&MINIMAL.replace("cameras", "UPPER")).unwrap_err();
        assert!(e.to_string().contains("offsite.bucket"), "{e}");
        let e = OffsiteConfig::from_toml(&MINIMAL.replace("http://", "ftp://")).unwrap_err();
        assert!(e.to_string().contains("offsite.endpoint"), "{e}");
        let e = OffsiteConfig::from_toml(&MINIMAL.replace("127.0.0.1", "user:pw@127.0.0.1"))
            .unwrap_err();
        assert!(e.to_string().contains("without credentials"), "{e}");
    }

    /// The documented example parses, with every key set.
    #[test]
    fn example_file_parses() {
        let text = include_str!("../offsite.example.toml");
        let c = OffsiteConfig::from_toml(text).unwrap();
        assert_eq!(c.prefix, "home");
        assert_eq!(
            c.max_upload_rate,
            Some(Rate {
                bytes_per_sec: 500_000
            })
        );
        assert!(c.encryption_key_file.is_some());
        assert_eq!(c.retention.event_max_age, Some(Dur::from_secs(730 * 86400)));
    }

    #[test]
    fn rates() {
        let r = |s: &str| s.parse::<Rate>().map(|r| r.bytes_per_sec);
        assert_eq!(r("8Mbit/s"), Ok(1_000_000));
        assert_eq!(r("500kbit/s"), Ok(62_500));
        assert_eq!(r("1MiB/s"), Ok(1 << 20));
        assert_eq!(r("800kB/s"), Ok(800_000));
        assert_eq!(r("1.5 Mbit/s"), Ok(187_500));
        assert!(r("fast").is_err());
        assert_eq!(
            Rate {
                bytes_per_sec: 500_000
            }
            .to_string(),
            "4.00 Mbit/s"
        );
    }

    #[test]
    fn secret_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut c =
            OffsiteConfig::from_toml(&format!("{MINIMAL}\nencryption_key_file = \"offsite-key\""))
                .unwrap();
        c.resolve_relative(dir.path());
        let secret = dir.path().join("offsite-secret");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = c.credentials().unwrap_err();
        assert_eq!(e.key, "offsite.secret_access_key_file");
        assert!(e.reason.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let creds = c.credentials().unwrap();
        assert_eq!(creds.secret_access_key, "s3cr3t");
        assert!(!format!("{creds:?}").contains("s3cr3t"));

        let key = dir.path().join("offsite-key");
        std::fs::write(&key, "00".repeat(32)).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            c.encryption_key().unwrap_err().key,
            "offsite.encryption_key_file"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(c.encryption_key().unwrap().is_some());
        std::fs::write(&key, "not hex").unwrap();
        let e = c.encryption_key().unwrap_err();
        assert!(e.reason.contains("64 hex digits"), "{e}");
    }
}
