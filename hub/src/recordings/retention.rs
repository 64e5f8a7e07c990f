//! Retention for the hub's recordings, like the agent's: age, bytes and a
//! free-space floor, per camera (`[camera.retention]`) and over all cameras
//! (`[retention]`). Planning is the store's pure [`store::retention::plan`]; each
//! planned deletion removes the index row first, then the file (the reverse of the
//! creation order), so a crash in between leaves a file without a row, which
//! `hub check` re-indexes or the next pass deletes.
//!
//! Event-aware: footage with a motion or alarm event in it (the event with its pre- and
//! post-roll) keeps `recordings.event_max_age` (never less than the camera's `max_age`),
//! and under size or free-space pressure all other footage goes first
//! ([`store::plan_keeping`]).
//!
//! With `[offsite]`, segments the bucket holds go first under pressure, and deleting
//! one locally keeps its index row (`local = 0`: playable from the bucket); a segment
//! deleted before it was copied is counted and logged
//! ([`Recordings::lost_before_replication`]).
//!
//! Events go with their footage: after a pass deleted footage of a camera, its events
//! that ended before its oldest footage left are deleted (with their thumbnails).
//!
//! Runs every `recordings.retention_interval`, after each finished segment, and
//! when a write fails for lack of space.

use std::collections::HashSet;

use store::retention::Deletion;
use store::{Keep, Reason, RetentionPolicy, SegmentInfo, plan_keeping};

use super::{Recordings, Result, index};
use crate::recordings::replication::LocalDeletion;

/// What the hub's storage holds and how long it lasts: the store's forecast over every
/// camera's footage, the free space and the global limits.
#[derive(Debug, Clone)]
pub struct StorageForecast {
    /// All footage: the store's forecast (bitrate, capacity, days at that rate).
    pub continuous: store::Forecast,
    /// Footage with motion or alarm events in it.
    pub events: EventForecast,
}

/// How long footage with events lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct EventForecast {
    /// Bytes of the segments with events in them.
    pub bytes: u64,
    /// Days of event footage the storage holds at the rate events have been recorded
    /// (capped by the event age limit); `None` before any event footage.
    pub days_possible: Option<f64>,
}

/// What one pass deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// (camera, file name, reason).
    pub deleted: Vec<(String, String, Reason)>,
    pub bytes_freed: u64,
}

impl Recordings {
    /// One retention pass over every camera, then the global limits.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        let _guard = self
            .retention_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now_ms = self.clock.now_ms();
        let mut report = RetentionReport::default();
        let mut names: Vec<String> = self.camera_names().map(str::to_owned).collect();
        names.sort();
        let mut listings = Vec::new();
        // Unfinished uploads count: their staged bytes as segments retention never
        // deletes, the bytes they still announce as space already taken.
        let staged = self.unfinished_uploads();
        let pending: u64 = staged
            .iter()
            .map(super::upload::Unfinished::pending)
            .fold(0, u64::saturating_add);
        // (camera, file name) of the segments with events in them.
        let mut with_events: HashSet<String> = HashSet::new();
        for camera in &names {
            let Some(dir) = self.dir(camera) else {
                continue;
            };
            let mut segments = dir.segments()?;
            self.mark_replicated(camera, &mut segments)?;
            segments.extend(
                staged
                    .iter()
                    .filter(|u| &u.camera == camera)
                    .map(|u| SegmentInfo {
                        name: format!("{}{}", super::UPLOADS_DIR, u.name),
                        start_ms: store::parse_segment_name(&u.name).unwrap_or(now_ms),
                        duration_ms: None,
                        size_bytes: u.received,
                        uploaded: false,
                        partial: true,
                    }),
            );
            let cam = camera.clone();
            let intervals = self
                .db
                .call_blocking(|c| crate::event_store::rows::footage_intervals(c, &cam))?;
            for s in event_footage(&segments, &intervals, now_ms) {
                with_events.insert(format!("{camera}/{s}"));
            }
            if let Some(r) = self.camera_retention(camera)
                && !r.is_unlimited()
            {
                let free = self.free_bytes(dir.path()).saturating_sub(pending);
                let marked =
                    |s: &SegmentInfo| with_events.contains(&format!("{camera}/{}", s.name));
                let policy = RetentionPolicy::from_config(&r, self.offsite.is_some());
                let deletions = plan_keeping(
                    &segments,
                    &policy,
                    now_ms,
                    free,
                    None,
                    &Keep {
                        marked: &marked,
                        max_age: self.event_max_age(policy.max_age),
                    },
                );
                self.delete(camera, &deletions, &mut report)?;
                let gone: HashSet<&str> = deletions.iter().map(|d| d.name.as_str()).collect();
                segments.retain(|s| !gone.contains(s.name.as_str()));
            }
            listings.push((camera.clone(), segments));
        }
        let global = self.global_retention();
        if !global.is_unlimited() {
            // One listing over all cameras; names carry their camera so they stay unique.
            let all: Vec<SegmentInfo> = listings
                .iter()
                .flat_map(|(camera, segs)| {
                    segs.iter().map(move |s| SegmentInfo {
                        name: format!("{camera}/{}", s.name),
                        ..s.clone()
                    })
                })
                .collect();
            let free = self.free_bytes(self.root()).saturating_sub(pending);
            let marked = |s: &SegmentInfo| with_events.contains(&s.name);
            let policy = RetentionPolicy::from_config(&global, self.offsite.is_some());
            for d in plan_keeping(
                &all,
                &policy,
                now_ms,
                free,
                None,
                &Keep {
                    marked: &marked,
                    max_age: self.event_max_age(policy.max_age),
                },
            ) {
                if let Some((camera, name)) = d.name.split_once('/') {
                    let one = Deletion {
                        name: name.to_owned(),
                        ..d.clone()
                    };
                    self.delete(camera, &[one], &mut report)?;
                }
            }
        }
        self.delete_events_without_footage(&report)?;
        Ok(report)
    }

    /// Makes room after a write failed with no space: applies the limits, and if
    /// that frees nothing, deletes `camera`'s oldest finished segment (a full disk
    /// must not stop recording for good). Returns the bytes freed.
    pub fn make_room(&self, camera: &str) -> Result<u64> {
        let report = self.enforce_retention()?;
        if report.bytes_freed > 0 {
            return Ok(report.bytes_freed);
        }
        self.delete_oldest(camera)
    }

    /// Deletes `camera`'s oldest finished segment (its row first, then the file), without
    /// a retention pass. Returns the bytes freed (0: nothing to delete).
    pub fn delete_oldest(&self, camera: &str) -> Result<u64> {
        let _guard = self
            .retention_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(dir) = self.dir(camera) else {
            return Ok(0);
        };
        let mut segments: Vec<SegmentInfo> =
            dir.segments()?.into_iter().filter(|s| !s.partial).collect();
        // Segments the bucket holds go first.
        self.mark_replicated(camera, &mut segments)?;
        segments.sort_by_key(|s| (!s.uploaded, s.start_ms));
        let Some(oldest) = segments.first() else {
            return Ok(0);
        };
        let d = Deletion {
            name: oldest.name.clone(),
            reason: Reason::FreeSpace,
            size_bytes: oldest.size_bytes,
        };
        let mut report = RetentionReport::default();
        self.delete(camera, &[d], &mut report)?;
        self.delete_events_without_footage(&report)?;
        Ok(report.bytes_freed)
    }

    /// With `[offsite]`, marks the segments the bucket holds as `uploaded`, so that
    /// retention under pressure deletes them first (as an agent does with the segments
    /// the hub has).
    fn mark_replicated(&self, camera: &str, segments: &mut [SegmentInfo]) -> Result<()> {
        if self.offsite.is_none() {
            return Ok(());
        }
        let cam = camera.to_owned();
        let done = self
            .db
            .call_blocking(|c| crate::recordings::replication::replicated_files(c, &cam))?;
        for s in segments.iter_mut() {
            s.uploaded = !s.partial && done.contains(&s.name);
        }
        Ok(())
    }

    /// The age limit of footage with events: `recordings.event_max_age`, never less than
    /// the continuous footage's own `max_age`.
    fn event_max_age(
        &self,
        continuous: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        Some(match continuous {
            Some(c) => c.max(self.event_max_age),
            None => return None,
        })
    }

    /// The storage forecast over all cameras under the global limits (reads every
    /// camera's listing): days of all footage at the current rate, and days of event
    /// footage at the rate events have been recorded, which under pressure keeps the whole
    /// capacity once continuous footage is gone.
    pub fn forecast(&self) -> Result<StorageForecast> {
        let mut names: Vec<&str> = self.camera_names().collect();
        names.sort();
        self.forecast_of(&names, &self.global_retention())
    }

    /// The forecast of one camera under its own limits (the global ones if it has none).
    pub fn camera_forecast(&self, camera: &str) -> Result<StorageForecast> {
        let limits = self
            .camera_retention(camera)
            .filter(|r| !r.is_unlimited())
            .unwrap_or_else(|| self.global_retention());
        self.forecast_of(&[camera], &limits)
    }

    fn forecast_of(&self, cameras: &[&str], limits: &units::Retention) -> Result<StorageForecast> {
        let now_ms = self.clock.now_ms();
        let mut all = Vec::new();
        let mut event_bytes = 0u64;
        for &camera in cameras {
            if let Some(dir) = self.dir(camera) {
                let segments = dir.segments()?;
                let cam = camera.to_owned();
                let intervals = self
                    .db
                    .call_blocking(|c| crate::event_store::rows::footage_intervals(c, &cam))?;
                let marked: HashSet<String> = event_footage(&segments, &intervals, now_ms)
                    .into_iter()
                    .collect();
                event_bytes += segments
                    .iter()
                    .filter(|s| marked.contains(&s.name))
                    .map(|s| s.size_bytes)
                    .sum::<u64>();
                all.extend(segments.into_iter().map(|s| SegmentInfo {
                    name: format!("{camera}/{}", s.name),
                    ..s
                }));
            }
        }
        let free = self.free_bytes(self.root());
        let policy = RetentionPolicy::from_config(limits, false);
        let continuous = store::forecast(&all, free, &policy);
        let span_ms = all
            .iter()
            .map(|s| s.start_ms)
            .min()
            .map(|oldest| (now_ms - oldest).max(3_600_000));
        let days_possible = match span_ms {
            Some(span) if event_bytes > 0 => {
                let per_day = event_bytes as f64 * 86_400_000.0 / span as f64;
                let days = continuous.capacity_bytes as f64 / per_day;
                Some(match self.event_max_age(policy.max_age) {
                    Some(age) => days.min(age.as_secs_f64() / 86_400.0),
                    None => days,
                })
            }
            _ => None,
        };
        Ok(StorageForecast {
            continuous,
            events: EventForecast {
                bytes: event_bytes,
                days_possible,
            },
        })
    }

    /// The events of each camera `report` deleted footage of that ended before the
    /// camera's oldest footage left (before the start of the newest deleted, if none is
    /// left).
    fn delete_events_without_footage(&self, report: &RetentionReport) -> Result<()> {
        let mut cameras: Vec<&str> = report.deleted.iter().map(|(c, _, _)| c.as_str()).collect();
        cameras.sort();
        cameras.dedup();
        for camera in cameras {
            let cam = camera.to_owned();
            let oldest = self.db.call_blocking(|c| index::oldest_start(c, &cam))?;
            let cutoff = match oldest {
                Some(ms) => ms,
                None => report
                    .deleted
                    .iter()
                    .filter(|(c, _, _)| c == camera)
                    .filter_map(|(_, name, _)| store::parse_segment_name(name))
                    .max()
                    .unwrap_or(i64::MIN),
            };
            let n = self.db.call_blocking(|c| {
                crate::event_store::rows::delete_ended_before(c, &cam, cutoff)
            })?;
            if n > 0 {
                tracing::info!(
                    camera,
                    events = n,
                    "retention deleted events with their footage"
                );
            }
        }
        Ok(())
    }

    fn free_bytes(&self, path: &std::path::Path) -> u64 {
        self.fs.free_bytes(path).unwrap_or(u64::MAX)
    }

    /// Index row first, then the file.
    fn delete(
        &self,
        camera: &str,
        deletions: &[Deletion],
        report: &mut RetentionReport,
    ) -> Result<()> {
        let Some(dir) = self.dir(camera) else {
            return Ok(());
        };
        for d in deletions {
            let (cam, name) = (camera.to_owned(), d.name.clone());
            if self.offsite.is_some() {
                let how = self.db.call_blocking(|c| {
                    crate::recordings::replication::delete_local(c, &cam, &name)
                })?;
                if how == (LocalDeletion::NotReplicated { was_queued: true }) {
                    self.count_lost_before_replication(camera);
                    tracing::warn!(
                        camera,
                        segment = %name,
                        reason = ?d.reason,
                        "segment deleted locally before it was copied off-site"
                    );
                }
            } else {
                self.db.call_blocking(|c| index::delete(c, &cam, &name))?;
            }
            let applied = dir.apply(std::slice::from_ref(d))?;
            report.bytes_freed += applied.bytes_freed;
            {
                let mut counts = self
                    .retention_deleted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let c = counts.entry(camera.to_owned()).or_default();
                c.0 += applied.deleted.len() as u64;
                c.1 += applied.bytes_freed;
            }
            for a in applied.deleted {
                report.deleted.push((camera.to_owned(), a.name, a.reason));
            }
        }
        Ok(())
    }
}

/// Names of the segments that overlap an event (from `intervals`, by start: an event's
/// start minus the pre-roll to its end, or `now_ms` while it goes on, plus the post-roll).
pub fn event_footage(
    segments: &[SegmentInfo],
    intervals: &[(i64, Option<i64>)],
    now_ms: i64,
) -> Vec<String> {
    use crate::event_store::{POST_ROLL_MS, PRE_ROLL_MS};
    let starts: Vec<i64> = intervals.iter().map(|(s, _)| s - PRE_ROLL_MS).collect();
    // The latest end among the first k intervals (by start).
    let mut max_end = Vec::with_capacity(intervals.len());
    let mut m = i64::MIN;
    for (s, e) in intervals {
        m = m.max(e.unwrap_or(now_ms).max(*s) + POST_ROLL_MS);
        max_end.push(m);
    }
    segments
        .iter()
        .filter(|seg| {
            let k = starts.partition_point(|&s| s < seg.end_ms());
            k > 0 && max_end[k - 1] > seg.start_ms
        })
        .map(|seg| seg.name.clone())
        .collect()
}
