//! The health checks, every `[health] check_interval`, for every camera: each problem is
//! a health event (`events::What::Health`) on the camera's event feed when it begins and
//! again when it ends.
//!
//! | code | active while |
//! |---|---|
//! | `under_voltage` | the agent's Pi reports under-voltage now |
//! | `throttled` | the Pi's firmware throttles or caps the CPU frequency now |
//! | `recording_stopped` | the camera is online, has recordings, and none newer than twice its segment length |
//! | `offline` | the camera has sent nothing for longer than `[health] offline_after` |
//! | `disk_low` | [`DiskForecast::days`] is under `[health] disk_forecast_days`: the hub's disk holds fewer days of footage than that (free space, not a quota, being the limit; cameras with footage on the hub), or the agent's Pi fills within them |
//!
//! The events go to every consumer of the feed: the timeline (`crate::event_store`),
//! MQTT, webhooks.

use std::sync::Arc;

use events::{Event, Origin, What};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::Hub;
use crate::camera::{Camera, now_ms, unix_ms};

/// Every problem code, for `/metrics`.
pub const CODES: [&str; 5] = [
    "under_voltage",
    "throttled",
    "recording_stopped",
    "offline",
    "disk_low",
];

/// The codes checked for a camera of `kind`: the Pi's own only where an agent reports.
pub fn codes_for(kind: crate::config::SourceKind) -> impl Iterator<Item = &'static &'static str> {
    let agent = kind.agent_token.is_some();
    CODES
        .iter()
        .filter(move |c| agent || matches!(**c, "recording_stopped" | "offline" | "disk_low"))
}

/// A camera's disk forecast: the one the `disk_low` check, `/status` and the API share.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct DiskForecast {
    /// Days of footage the hub's disk holds at the current rate, when its free space (not
    /// a quota) is the limit and the camera has footage there.
    pub hub_days: Option<f64>,
    /// Days until the agent's Pi fills ([`forecast_days`] of its free-space readings).
    pub agent_days: Option<f64>,
}

impl DiskForecast {
    /// `hub_free_days`: the hub's forecast when free space limits it ([`hub_free_days`]);
    /// `has_footage`: the camera has segments on the hub.
    pub fn of(cam: &Camera, has_footage: bool, hub_free_days: Option<f64>) -> DiskForecast {
        DiskForecast {
            hub_days: hub_free_days.filter(|_| has_footage),
            agent_days: cam
                .kind
                .agent_token
                .is_some()
                .then(|| forecast_days(&cam.agent_health.free_samples()))
                .flatten(),
        }
    }

    /// The sooner of the two.
    pub fn days(&self) -> Option<f64> {
        match (self.hub_days, self.agent_days) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The `disk_low` message: which disk, and how long.
    fn message(&self) -> String {
        match (self.hub_days, self.agent_days) {
            (_, Some(pi)) if self.days() == Some(pi) => {
                format!("The Pi's disk fills in about {pi:.1} days")
            }
            (Some(hub), _) => format!("Disk almost full: room for {hub:.1} days of footage"),
            _ => "Disk forecast unknown".to_owned(),
        }
    }
}

/// The hub's disk forecast when its free space is the limit: days of footage it holds at
/// the current rate (read off the async runtime).
pub async fn hub_free_days(hub: &Arc<Hub>) -> Option<f64> {
    let h = Arc::clone(hub);
    tokio::task::spawn_blocking(move || {
        let f = h.recordings.continuous_forecast().ok()?;
        (f.limited_by == store::Reason::FreeSpace)
            .then_some(f.days_of_footage_possible)
            .flatten()
    })
    .await
    .ok()
    .flatten()
}

/// Least span of free-space readings a forecast is made from.
const FORECAST_MIN_SPAN_MS: i64 = 3_600_000;

/// Days until the disk is full at the rate `samples` (unix ms, free bytes; oldest first)
/// show, or `None` when free space is not falling or the readings span under an hour.
pub fn forecast_days(samples: &[(i64, u64)]) -> Option<f64> {
    let (&(t0, f0), &(t1, f1)) = (samples.first()?, samples.last()?);
    let span = t1 - t0;
    if span < FORECAST_MIN_SPAN_MS || f1 >= f0 {
        return None;
    }
    let per_day = (f0 - f1) as f64 * 86_400_000.0 / span as f64;
    Some(f1 as f64 / per_day)
}

/// What one check found for one camera: (code, active, message).
fn findings(
    hub: &Hub,
    cam: &Camera,
    newest_indexed_ms: Option<i64>,
    hub_free_days: Option<f64>,
    started_ms: i64,
) -> Vec<(&'static str, bool, String)> {
    let cfg = &hub.cfg.health;
    let now = now_ms();
    let status = cam.status(hub.cfg.offline_after.as_duration());
    let report = cam.agent_health.latest();
    let throttled = report
        .as_ref()
        .and_then(|r| r.health.throttled)
        .unwrap_or_default();
    let mut out = Vec::new();
    if cam.kind.agent_token.is_some() {
        out.push((
            "under_voltage",
            throttled.under_voltage,
            "Under-voltage on the Pi: its power supply is too weak".to_owned(),
        ));
        out.push((
            "throttled",
            throttled.throttled || throttled.frequency_capped,
            "The Pi is throttled (too hot or under-powered)".to_owned(),
        ));
    }
    let disk = DiskForecast::of(cam, newest_indexed_ms.is_some(), hub_free_days);
    let days = f64::from(cfg.disk_forecast_days);
    out.push((
        "disk_low",
        disk.days().is_some_and(|d| d < days),
        disk.message(),
    ));
    let seg_ms = hub.recordings.segment_duration_secs(&cam.name) as i64 * 1000;
    let stopped = status.online && newest_indexed_ms.is_some_and(|t| now - t > 2 * seg_ms);
    out.push((
        "recording_stopped",
        stopped,
        format!(
            "No new recording for {} s (segments of {} s)",
            newest_indexed_ms.map(|t| (now - t) / 1000).unwrap_or(0),
            seg_ms / 1000
        ),
    ));
    let since = status.last_frame.map(unix_ms).unwrap_or(started_ms);
    let limit = cfg.offline_after.as_duration().as_millis() as i64;
    out.push((
        "offline",
        !status.online && now - since > limit,
        format!(
            "Camera offline for more than {}",
            humanize(cfg.offline_after.as_duration())
        ),
    ));
    out
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Runs the checks until `stop`.
pub fn spawn(hub: Arc<Hub>, tracker: &TaskTracker, stop: &CancellationToken) {
    let stop = stop.clone();
    tracker.spawn(async move {
        let started_ms = now_ms();
        let mut tick = tokio::time::interval(hub.cfg.health.check_interval.as_duration());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let stored = hub.recordings.stored_by_camera().await;
            let hub_days = hub_free_days(&hub).await;
            for cam in hub.cameras.iter() {
                let newest = stored.get(&cam.name).and_then(|s| s.newest_indexed_ms);
                for (code, active, message) in findings(&hub, cam, newest, hub_days, started_ms) {
                    if cam.agent_health.set_problem(code, active) {
                        if active {
                            tracing::warn!(camera = %cam.name, code, %message, "health problem");
                        } else {
                            tracing::info!(camera = %cam.name, code, "health problem over");
                        }
                        cam.events.publish(Event::new(
                            now_ms(),
                            Origin::Hub,
                            What::health(code, active, &message),
                        ));
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecast_from_a_falling_free_space() {
        let h = 3_600_000;
        // 1 GB a day falling, 3 GB left: 3 days.
        let gb = 1_000_000_000u64;
        let s = [(0, 4 * gb), (24 * h, 3 * gb)];
        assert!((forecast_days(&s).unwrap() - 3.0).abs() < 1e-9);
        // Not falling, or too short a span: no forecast.
        assert_eq!(forecast_days(&[(0, gb), (24 * h, gb)]), None);
        assert_eq!(forecast_days(&[(0, 2 * gb), (h / 2, gb)]), None);
        assert_eq!(forecast_days(&[(0, gb)]), None);
        assert_eq!(forecast_days(&[]), None);
    }

    #[test]
    fn the_sooner_disk_names_the_problem() {
        let both = DiskForecast {
            hub_days: Some(2.0),
            agent_days: Some(5.0),
        };
        assert_eq!(both.days(), Some(2.0));
        assert_eq!(
            both.message(),
            "Disk almost full: room for 2.0 days of footage"
        );
        let pi = DiskForecast {
            hub_days: Some(9.0),
            agent_days: Some(1.25),
        };
        assert_eq!(pi.days(), Some(1.25));
        assert_eq!(pi.message(), "The Pi's disk fills in about 1.2 days");
        assert_eq!(DiskForecast::default().days(), None);
    }
}
