//! Recording configuration: `[recordings]` (segment length, upload bound, how often
//! retention runs) and the checks of it, of `[retention]` (global limits, a
//! [`units::Retention`]) and of a camera's own `segment_duration` and `retention`.
//! Defaults live here.

use serde::Deserialize;
use units::{ByteSize, Dur, Retention};

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
    /// Unfinished uploads one camera may have staged at once.
    #[serde(default = "default_max_unfinished_uploads")]
    pub max_unfinished_uploads: usize,
    /// How far after the hub's clock an uploaded segment may start (the agent's
    /// clock may be ahead by this much).
    #[serde(default = "default_max_clock_skew")]
    pub max_clock_skew: Dur,
    /// How far before the hub's clock an uploaded segment may start (an agent
    /// that was offline uploads its backlog).
    #[serde(default = "default_max_upload_age")]
    pub max_upload_age: Dur,
    /// A pause in a camera's footage longer than this is a `recording_gap` health event.
    #[serde(default = "default_gap_warning")]
    pub gap_warning: Dur,
    /// Moved: the one disk check's threshold is `[health] disk_forecast_days`. Still read,
    /// so a file that sets it is refused with that explanation.
    #[serde(default)]
    pub disk_warning: Option<Dur>,
    /// An agent with this many segments waiting to be uploaded opens an
    /// `upload_backlog` health event (closed when it is below again).
    #[serde(default = "default_backlog_warning")]
    pub backlog_warning: u32,
    /// Footage with a motion or alarm event in it (with the pages' pre- and post-roll) is
    /// kept this long, and goes only after all other footage when a size or free-space
    /// limit presses; never shorter than a camera's own `max_age`.
    #[serde(default = "default_event_max_age")]
    pub event_max_age: Dur,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        RecordingsConfig {
            segment_duration: default_segment_duration(),
            max_segment_size: default_max_segment_size(),
            retention_interval: default_retention_interval(),
            max_unfinished_uploads: default_max_unfinished_uploads(),
            max_clock_skew: default_max_clock_skew(),
            max_upload_age: default_max_upload_age(),
            gap_warning: default_gap_warning(),
            disk_warning: None,
            backlog_warning: default_backlog_warning(),
            event_max_age: default_event_max_age(),
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
fn default_max_unfinished_uploads() -> usize {
    4
}
fn default_max_clock_skew() -> Dur {
    Dur::from_secs(3600)
}
fn default_max_upload_age() -> Dur {
    Dur::from_secs(365 * 86_400)
}

fn default_gap_warning() -> Dur {
    Dur::from_secs(30)
}
fn default_backlog_warning() -> u32 {
    10
}
fn default_event_max_age() -> Dur {
    Dur::from_secs(30 * 86_400)
}

/// Checks `[recordings]` and `[retention]`; the key named is relative to the file.
pub fn validate(r: &RecordingsConfig, retention: &Retention) -> Result<(), (String, String)> {
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
    if !(1..=1000).contains(&r.max_unfinished_uploads) {
        return Err((
            "recordings.max_unfinished_uploads".into(),
            "must be 1..=1000".into(),
        ));
    }
    if r.max_clock_skew.as_secs() > 30 * 86_400 {
        return Err((
            "recordings.max_clock_skew".into(),
            "must be at most 30d".into(),
        ));
    }
    if r.max_upload_age.is_zero() || r.max_upload_age.as_secs() > 100 * 365 * 86_400 {
        return Err((
            "recordings.max_upload_age".into(),
            "must be 1s..=100 years".into(),
        ));
    }
    if !(1..=86_400).contains(&r.gap_warning.as_secs()) {
        return Err(("recordings.gap_warning".into(), "must be 1s..=1d".into()));
    }
    if r.disk_warning.is_some() {
        return Err((
            "recordings.disk_warning".into(),
            "moved: one disk check covers the hub's disk and the agents'; set [health] \
             disk_forecast_days (days) instead"
                .into(),
        ));
    }
    if r.event_max_age.as_secs() < 60 {
        return Err((
            "recordings.event_max_age".into(),
            "must be at least 1m".into(),
        ));
    }
    if r.backlog_warning == 0 {
        return Err((
            "recordings.backlog_warning".into(),
            "must be at least 1 segment".into(),
        ));
    }
    retention
        .check()
        .map_err(|(k, why)| (format!("retention.{k}"), why))
}

/// Checks a camera's `segment_duration` and `retention`; the key is relative to the camera.
pub fn validate_camera(
    segment_duration: Option<Dur>,
    retention: Option<&Retention>,
) -> Result<(), (&'static str, String)> {
    if let Some(d) = segment_duration
        && !(1..=3600).contains(&d.as_secs())
    {
        return Err(("segment_duration", "must be 1s..=1h".into()));
    }
    if let Some(r) = retention {
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
