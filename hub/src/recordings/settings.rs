//! Recording configuration: `[recordings]` (segment length, upload bound),
//! `[retention]` (global limits) and a camera's own `retention` sub-table.
//! Parsed as part of [`crate::config::Config`]; defaults live here.

use serde::Deserialize;

use crate::config::{CameraConfig, Config};
use units::{ByteSize, Dur};

/// `[recordings]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsConfig {
    /// Target length of the segments the hub records itself (a segment ends
    /// at the first key frame after this).
    #[serde(default = "default_segment_duration")]
    pub segment_duration: Dur,
    /// Largest segment an agent may upload.
    #[serde(default = "default_max_segment_size")]
    pub max_segment_size: ByteSize,
    /// How often retention runs (also after each segment and on a full disk).
    #[serde(default = "default_retention_interval")]
    pub retention_interval: Dur,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        RecordingsConfig {
            segment_duration: default_segment_duration(),
            max_segment_size: default_max_segment_size(),
            retention_interval: default_retention_interval(),
        }
    }
}

fn default_segment_duration() -> Dur {
    Dur::from_secs(60)
}
fn default_max_segment_size() -> ByteSize {
    ByteSize(512 << 20)
}
fn default_retention_interval() -> Dur {
    Dur::from_secs(60)
}

/// Checks `[recordings]` and `[retention]`; the key named is relative to the file.
pub fn validate(cfg: &Config) -> Result<(), (String, String)> {
    let r = &cfg.recordings;
    if !(1..=3600).contains(&r.segment_duration.as_secs()) {
        return Err((
            "recordings.segment_duration".into(),
            "must be 1s..=1h".into(),
        ));
    }
    if r.max_segment_size.0 < 1024 || r.max_segment_size.0 > 16 << 30 {
        return Err((
            "recordings.max_segment_size".into(),
            "must be 1KiB..=16GiB".into(),
        ));
    }
    if !(1..=86_400).contains(&r.retention_interval.as_secs()) {
        return Err((
            "recordings.retention_interval".into(),
            "must be 1s..=1d".into(),
        ));
    }
    cfg.retention
        .check()
        .map_err(|(k, why)| (format!("retention.{k}"), why))
}

/// Checks a camera's `segment_duration` and `retention`; the key is relative to the camera.
pub fn validate_camera(c: &CameraConfig) -> Result<(), (&'static str, String)> {
    if let Some(d) = c.segment_duration
        && !(1..=3600).contains(&d.as_secs())
    {
        return Err(("segment_duration", "must be 1s..=1h".into()));
    }
    if let Some(r) = &c.retention {
        r.check().map_err(|(k, why)| {
            (
                match k {
                    "max_age" => "retention.max_age",
                    "max_size" => "retention.max_size",
                    _ => "retention.min_free",
                },
                why,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

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
