//! The hub's own health events, on the same store and timeline as motion and alarms:
//! a pause in a camera's footage longer than `recordings.gap_warning` (`recording_gap`,
//! from the end of one segment to the start of the next) and an agent's upload backlog
//! (`upload_backlog`, from the count its uploads carry). Offline/online and a refused
//! password come from the cameras' source events (`crate::event_store`); the disk
//! forecast (`disk_low`) is one of the checks of `crate::health::monitor`.
//!
//! [`spawn`] runs a pass every `recordings.retention_interval`; gap events carry a key
//! (camera and gap start), so passes over the same footage store each gap once.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::Hub;
use crate::db::DbError;
use crate::event_store::{EventStore, Kind, NewEvent};
use crate::recordings::{Recordings, index};

/// How far back each pass looks for gaps.
const GAP_LOOKBACK_MS: i64 = 24 * 3600 * 1000;

/// A duration for people: `2 min 5 s`, `3 h 10 min`, `4.5 days`.
pub fn human(ms: i64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{} h {} min", s / 3600, s % 3600 / 60)
    } else {
        format!("{:.1} days", ms as f64 / 86_400_000.0)
    }
}

/// Opens or closes `camera`'s `upload_backlog` event for an agent with `waiting`
/// segments to upload (blocking).
pub fn upload_backlog(
    events: &EventStore,
    camera: &str,
    waiting: u64,
    threshold: u32,
) -> Result<(), DbError> {
    let now = crate::camera::now_ms();
    if waiting >= u64::from(threshold) {
        events.open(NewEvent::health(
            camera,
            "upload_backlog",
            format!("Upload backlog: {waiting} segments"),
            now,
        ))?;
    } else {
        events.close(camera, Kind::Health, Some("upload_backlog"), now)?;
    }
    Ok(())
}

/// Stores a `recording_gap` event for every pause longer than `min_gap_ms` between
/// `camera`'s segments starting after `since_ms` (blocking). How many were new.
pub fn record_gaps(
    rec: &Recordings,
    events: &EventStore,
    camera: &str,
    since_ms: i64,
    min_gap_ms: i64,
) -> Result<usize, DbError> {
    let cam = camera.to_owned();
    let segments = rec
        .db
        .call_blocking(|c| index::range(c, &cam, since_ms, i64::MAX / 2))?;
    let mut new = 0;
    for pair in segments.windows(2) {
        let (end, next) = (pair[0].end_ms(), pair[1].start_ms);
        if next - end > min_gap_ms {
            let mut e = NewEvent::health(
                camera,
                "recording_gap",
                format!("No recording for {}", human(next - end)),
                end,
            );
            e.end_ms = Some(next);
            e.key = Some(format!("gap:{end}"));
            if events.upsert(e)?.is_some() {
                new += 1;
            }
        }
    }
    Ok(new)
}

/// One pass over every camera's gaps.
pub fn pass(hub: &Hub) -> Result<(), DbError> {
    let rec = &hub.recordings;
    let now = crate::camera::now_ms();
    let gap_ms = hub.cfg.recordings.gap_warning.as_duration().as_millis() as i64;
    let mut names: Vec<String> = rec.camera_names().map(str::to_owned).collect();
    names.sort();
    for camera in &names {
        record_gaps(rec, &hub.events, camera, now - GAP_LOOKBACK_MS, gap_ms)?;
    }
    Ok(())
}

/// Runs [`pass`] every `recordings.retention_interval` until `stop`.
pub fn spawn(hub: &Arc<Hub>, tracker: &TaskTracker, stop: &CancellationToken) {
    let (hub, stop) = (Arc::clone(hub), stop.clone());
    tracker.spawn(async move {
        let mut every = tokio::time::interval(hub.recordings.retention_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            let h = Arc::clone(&hub);
            match tokio::task::spawn_blocking(move || pass(&h)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "health pass failed"),
                Err(e) => tracing::warn!(error = %e, "health task failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_for_people() {
        assert_eq!(super::human(58_000), "58 s");
        assert_eq!(super::human(125_000), "2 min 5 s");
        assert_eq!(super::human(3 * 3_600_000 + 600_000), "3 h 10 min");
        assert_eq!(super::human(4 * 86_400_000 + 43_200_000), "4.5 days");
    }
}
