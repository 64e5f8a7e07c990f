//! Retention for the hub's recordings, like the agent's: age, bytes and a
//! free-space floor, per camera (`[camera.retention]`) and over all cameras
//! (`[retention]`). A pass plans from the index, not from the directories: the per-day
//! byte sums (`recording_day`) give what each camera holds, and only the oldest rows
//! with a local file are read (every one the age limits may take, and under size or
//! free-space pressure an oldest part that grows until the store's pure
//! [`store::plan_oldest`] is decided); the files the plan deletes are the only ones
//! touched, so a pass with nothing due reads a few index pages whatever the footage.
//! The segments being written (`.partial`, one `stat` each) and staged uploads count as
//! bytes that are never deleted. Each planned deletion removes the index row first,
//! then the file (the reverse of the creation order); a crash in between leaves a file
//! without a row, and files without rows are the start-up check's and `hub check`'s to
//! find (they re-index them), not every pass's.
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
use store::{Keep, Reason, RetentionPolicy, SegmentInfo};

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

/// What some cameras' footage holds, from the index.
#[derive(Debug, Default)]
struct HeldFootage {
    held: store::Held,
    /// Each camera's newest finished segments.
    recent: Vec<SegmentInfo>,
    /// The start of the oldest.
    oldest_ms: Option<i64>,
}

impl HeldFootage {
    fn forecast(&self, free: u64, policy: &RetentionPolicy) -> store::Forecast {
        store::forecast_held(&self.held, &self.recent, free, policy)
    }
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
        // Unfinished uploads count: their staged bytes as segments retention never
        // deletes, the bytes they still announce as space already taken.
        let staged = self.unfinished_uploads();
        let pending: u64 = staged
            .iter()
            .map(super::upload::Unfinished::pending)
            .fold(0, u64::saturating_add);
        // Bytes on the disk that have no index row and are never deleted: the segments
        // being written and the staged uploads.
        let unindexed = |camera: &str| -> u64 {
            let writing = self
                .dir(camera)
                .map_or(0, store::SegmentDir::active_partial_bytes);
            staged
                .iter()
                .filter(|u| u.camera == camera)
                .map(|u| u.received)
                .fold(writing, u64::saturating_add)
        };
        let mut unindexed_all = 0u64;
        for camera in &names {
            let Some(dir) = self.dir(camera) else {
                continue;
            };
            let other = unindexed(camera);
            unindexed_all = unindexed_all.saturating_add(other);
            if let Some(r) = self.camera_retention(camera)
                && !r.is_unlimited()
            {
                let free = self.free_bytes(dir.path()).saturating_sub(pending);
                let policy = RetentionPolicy::from_config(&r, self.offsite.is_some());
                let planned =
                    self.plan_from_index(&[camera.as_str()], &policy, now_ms, free, other)?;
                for (camera, d) in planned {
                    self.delete(&camera, &[d], &mut report)?;
                }
            }
        }
        let global = self.global_retention();
        if !global.is_unlimited() {
            let free = self.free_bytes(self.root()).saturating_sub(pending);
            let policy = RetentionPolicy::from_config(&global, self.offsite.is_some());
            let cameras: Vec<&str> = names
                .iter()
                .map(String::as_str)
                .filter(|c| self.dir(c).is_some())
                .collect();
            for (camera, d) in
                self.plan_from_index(&cameras, &policy, now_ms, free, unindexed_all)?
            {
                self.delete(&camera, &[d], &mut report)?;
            }
        }
        self.delete_events_without_footage(&report)?;
        Ok(report)
    }

    /// The deletions `policy` asks for over the footage of `cameras` taken together,
    /// planned from the index: the byte sums per day for the size limit, and only the
    /// oldest rows with a local file (every one the age limit may take, and under
    /// pressure an oldest part growing until the plan is decided, see
    /// [`store::plan_oldest`]). `other_bytes` is what the cameras hold without rows.
    /// Touches no file; with nothing due it reads a few index pages.
    fn plan_from_index(
        &self,
        cameras: &[&str],
        policy: &RetentionPolicy,
        now_ms: i64,
        free: u64,
        other_bytes: u64,
    ) -> Result<Vec<(String, Deletion)>> {
        const HOUR_MS: i64 = 3_600_000;
        let cams: Vec<String> = cameras.iter().map(|&c| c.to_owned()).collect();
        let (indexed, span) = self.db.call_blocking(|c| {
            let mut bytes = 0u64;
            let mut span: Option<(i64, i64)> = None;
            for cam in &cams {
                bytes = bytes.saturating_add(index::local_bytes(c, cam)?);
                if let Some((a, b)) = index::local_span(c, cam)? {
                    span = Some(span.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
                }
            }
            Ok((bytes, span))
        })?;
        let Some((oldest, newest)) = span else {
            return Ok(Vec::new());
        };
        let used = indexed.saturating_add(other_bytes);
        let pressure = policy.max_bytes.is_some_and(|m| m > 0 && used > m)
            || policy.min_free_bytes.is_some_and(|f| f > 0 && free < f);
        let age_cutoff = policy
            .max_age
            .filter(|d| !d.is_zero())
            .map(|d| now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        if !pressure && age_cutoff.is_none_or(|c| oldest >= c) {
            return Ok(Vec::new());
        }
        let keep_age = self.event_max_age(policy.max_age);
        let mut grow = HOUR_MS;
        let mut before = age_cutoff.unwrap_or(i64::MIN);
        if pressure {
            before = before.max(oldest.saturating_add(grow));
        }
        loop {
            let all = before > newest;
            let bound = if all { i64::MAX } else { before };
            let (rows, with_events) = self.oldest_rows(cameras, bound, now_ms)?;
            let part_bytes: u64 = rows.iter().map(|s| s.size_bytes).sum();
            let marked = |s: &SegmentInfo| with_events.contains(&s.name);
            let plan = store::plan_oldest(
                &rows,
                indexed
                    .saturating_sub(part_bytes)
                    .saturating_add(other_bytes),
                policy,
                now_ms,
                free,
                None,
                &Keep {
                    marked: &marked,
                    max_age: keep_age,
                },
            );
            if plan.decided || all {
                return Ok(plan
                    .deletions
                    .into_iter()
                    .filter_map(|d| {
                        let (camera, name) = d.name.split_once('/')?;
                        Some((
                            camera.to_owned(),
                            Deletion {
                                name: name.to_owned(),
                                ..d.clone()
                            },
                        ))
                    })
                    .collect());
            }
            grow = grow.saturating_mul(8);
            before = oldest.saturating_add(grow).max(before);
        }
    }

    /// The rows with a local file of `cameras` that start before `before_ms`, named
    /// `CAMERA/FILE` (uploaded: in the bucket, with `[offsite]`), and the names of those
    /// with an event in them.
    fn oldest_rows(
        &self,
        cameras: &[&str],
        before_ms: i64,
        now_ms: i64,
    ) -> Result<(Vec<SegmentInfo>, HashSet<String>)> {
        let cams: Vec<String> = cameras.iter().map(|&c| c.to_owned()).collect();
        let prefer_replicated = self.offsite.is_some();
        let per_camera = self.db.call_blocking(|c| {
            let mut out = Vec::new();
            for cam in &cams {
                let rows = index::local_before(c, cam, before_ms)?;
                // An event overlaps a segment if it starts (less its pre-roll) before
                // the segment ends.
                let last_end = rows
                    .iter()
                    .map(|r| r.start_ms.saturating_add(r.duration_ms))
                    .max()
                    .unwrap_or(i64::MIN);
                let intervals = crate::event_store::rows::footage_intervals_before(
                    c,
                    cam,
                    last_end.saturating_add(crate::event_store::PRE_ROLL_MS),
                )?;
                out.push((cam.clone(), rows, intervals));
            }
            Ok(out)
        })?;
        let mut all = Vec::new();
        let mut with_events = HashSet::new();
        for (camera, rows, intervals) in per_camera {
            let segments: Vec<SegmentInfo> = rows
                .into_iter()
                .map(|r| r.listed(&camera, prefer_replicated))
                .collect();
            with_events.extend(event_footage(&segments, &intervals, now_ms));
            all.extend(segments);
        }
        Ok((all, with_events))
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
        if self.dir(camera).is_none() {
            return Ok(0);
        }
        let cam = camera.to_owned();
        let replicated_first = self.offsite.is_some();
        let oldest = self.db.call_blocking(|c| {
            // Segments the bucket holds go first.
            let first = if replicated_first {
                index::oldest_local(c, &cam, true)?
            } else {
                None
            };
            match first {
                Some(r) => Ok(Some(r)),
                None => index::oldest_local(c, &cam, false),
            }
        })?;
        let Some(oldest) = oldest else {
            return Ok(0);
        };
        let d = Deletion {
            name: oldest.file_name.clone(),
            reason: Reason::FreeSpace,
            size_bytes: oldest.size_bytes,
        };
        let mut report = RetentionReport::default();
        self.delete(camera, &[d], &mut report)?;
        self.delete_events_without_footage(&report)?;
        Ok(report.bytes_freed)
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

    /// The storage forecast over all cameras under the global limits (from the index: its
    /// per-day sums, newest rows and the footage around each event): days of all footage
    /// at the current rate, and days of event footage at the rate events have been
    /// recorded, which under pressure keeps the whole capacity once continuous footage is
    /// gone.
    pub fn forecast(&self) -> Result<StorageForecast> {
        let mut names: Vec<&str> = self.camera_names().collect();
        names.sort();
        self.forecast_of(&names, &self.global_retention())
    }

    /// The forecast of all footage alone (no event footage): what the health checks need,
    /// a few index reads per camera.
    pub fn continuous_forecast(&self) -> Result<store::Forecast> {
        let mut names: Vec<&str> = self.camera_names().collect();
        names.sort();
        let policy = RetentionPolicy::from_config(&self.global_retention(), false);
        Ok(self
            .held(&names)?
            .forecast(self.free_bytes(self.root()), &policy))
    }

    /// The forecast of one camera under its own limits (the global ones if it has none).
    pub fn camera_forecast(&self, camera: &str) -> Result<StorageForecast> {
        let limits = self
            .camera_retention(camera)
            .filter(|r| !r.is_unlimited())
            .unwrap_or_else(|| self.global_retention());
        self.forecast_of(&[camera], &limits)
    }

    /// What `cameras` hold, from the index (plus the segments being written).
    fn held(&self, cameras: &[&str]) -> Result<HeldFootage> {
        let cams: Vec<String> = cameras
            .iter()
            .filter(|c| self.dir(c).is_some())
            .map(|&c| c.to_owned())
            .collect();
        let mut out = self.db.call_blocking(|c| {
            let mut out = HeldFootage::default();
            for cam in &cams {
                let (n, bytes, ms) = index::local_held(c, cam)?;
                out.held.segments += usize::try_from(n).unwrap_or(usize::MAX);
                out.held.bytes = out.held.bytes.saturating_add(bytes);
                out.held.footage_ms = out.held.footage_ms.saturating_add(ms);
                if let Some((oldest, _)) = index::local_span(c, cam)? {
                    out.oldest_ms = Some(out.oldest_ms.map_or(oldest, |o: i64| o.min(oldest)));
                }
                out.recent.extend(
                    index::newest_local(c, cam, store::retention::FORECAST_RECENT_SEGMENTS)?
                        .into_iter()
                        .map(|r| r.listed(cam, false)),
                );
            }
            Ok(out)
        })?;
        for cam in &cams {
            let writing = self
                .dir(cam)
                .map_or(0, store::SegmentDir::active_partial_bytes);
            out.held.bytes = out.held.bytes.saturating_add(writing);
        }
        Ok(out)
    }

    fn forecast_of(&self, cameras: &[&str], limits: &units::Retention) -> Result<StorageForecast> {
        use crate::event_store::{POST_ROLL_MS, PRE_ROLL_MS};
        let now_ms = self.clock.now_ms();
        let held = self.held(cameras)?;
        let mut event_bytes = 0u64;
        for &camera in cameras {
            if self.dir(camera).is_none() {
                continue;
            }
            let cam = camera.to_owned();
            event_bytes += self.db.call_blocking(|c| {
                let spans: Vec<(i64, i64)> = crate::event_store::rows::footage_intervals(c, &cam)?
                    .into_iter()
                    .map(|(s, e)| {
                        (
                            s.saturating_sub(PRE_ROLL_MS),
                            e.unwrap_or(now_ms).max(s).saturating_add(POST_ROLL_MS),
                        )
                    })
                    .collect();
                index::local_bytes_overlapping(c, &cam, &spans)
            })?;
        }
        let free = self.free_bytes(self.root());
        let policy = RetentionPolicy::from_config(limits, false);
        let continuous = held.forecast(free, &policy);
        let span_ms = held
            .oldest_ms
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use store::{FakeFsStats, SimClock};

    use super::*;
    use crate::config::Config;
    use crate::db::Db;
    use crate::recordings::index::{Segment, Source};

    const MIN: i64 = 60_000;
    /// 2026-11-21T00:00:00Z.
    const T0: i64 = 1_795_219_200_000;

    /// A camera `porch` with `rows` one-minute segments of 1,000 bytes from T0 (files and
    /// rows), an age limit of `max_age` and a global size limit of `max_size` bytes; the
    /// clock at the end of the last.
    fn hub(
        rows: i64,
        max_age: &str,
        max_size: u64,
    ) -> (tempfile::TempDir, Recordings, Arc<SimClock>) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "data_dir = {:?}\n[retention]\nmax_size = \"{max_size}B\"\n\
             [[camera]]\nid = 1\nname = \"porch\"\nkind = \"agent\"\n\
             [camera.retention]\nmax_age = \"{max_age}\"\n",
            dir.path().display().to_string()
        );
        let cfg = Config::parse(&text, Path::new("t.toml")).unwrap();
        let db = Db::open(&dir.path().join("hub.db")).unwrap();
        let clock = Arc::new(SimClock::new(T0 + rows * MIN));
        let fs = Arc::new(FakeFsStats::new(1 << 40, 1 << 41));
        let rec = Recordings::open_with(&cfg, db, clock.clone(), fs).unwrap();
        for i in 0..rows {
            let start_ms = T0 + i * MIN;
            let file_name = store::segment_name(start_ms).unwrap();
            std::fs::write(
                rec.dir("porch").unwrap().path().join(&file_name),
                [0u8; 1000],
            )
            .unwrap();
            rec.insert(&Segment {
                camera: "porch".into(),
                file_name,
                start_ms,
                duration_ms: MIN,
                size_bytes: 1000,
                sha256: String::new(),
                codec: "avc1.42C01E".into(),
                width: 320,
                height: 240,
                source: Source::Recorder,
            })
            .unwrap();
        }
        (dir, rec, clock)
    }

    fn files(rec: &Recordings) -> usize {
        std::fs::read_dir(rec.dir("porch").unwrap().path())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                store::parse_segment_name(&name.to_string_lossy()).is_some()
            })
            .count()
    }

    /// A pass with nothing due lists no directory; a pass with something due deletes it
    /// without listing either, and deletes nothing else.
    #[test]
    fn passes_plan_from_the_index_without_listing() {
        let (_dir, rec, clock) = hub(300, "5h", 1_000_000);
        let listed = || rec.dir("porch").unwrap().listings();
        assert_eq!(listed(), 0);
        for _ in 0..3 {
            let r = rec.enforce_retention().unwrap();
            assert_eq!(r, RetentionReport::default(), "nothing is due");
        }
        assert_eq!(listed(), 0, "a pass with nothing due listed the directory");
        assert_eq!(files(&rec), 300);

        // Ten minutes and a millisecond later, the ten oldest ended more than 5 h ago.
        clock.set_ms(T0 + 310 * MIN + 1);
        let r = rec.enforce_retention().unwrap();
        let want: Vec<(String, String, Reason)> = (0..10)
            .map(|i| {
                (
                    "porch".to_owned(),
                    store::segment_name(T0 + i * MIN).unwrap(),
                    Reason::Age,
                )
            })
            .collect();
        assert_eq!(r.deleted, want);
        assert_eq!(r.bytes_freed, 10_000);
        assert_eq!(files(&rec), 290);
        assert_eq!(
            listed(),
            0,
            "a pass deleting ten segments listed the directory"
        );
    }

    /// Under the global size limit the oldest go, from the sums and the oldest rows.
    #[test]
    fn the_size_limit_takes_the_oldest_from_the_sums() {
        // 60 kB held, none of it old, a 50.5 kB limit: the ten oldest go.
        let (_dir, rec, _clock) = hub(60, "1d", 50_500);
        let r = rec.enforce_retention().unwrap();
        assert_eq!(r.deleted.len(), 10);
        assert!(r.deleted.iter().all(|d| d.2 == Reason::Size));
        assert_eq!(
            r.deleted.first().map(|d| d.1.clone()),
            store::segment_name(T0)
        );
        assert_eq!(files(&rec), 50);
        assert_eq!(rec.dir("porch").unwrap().listings(), 0);
        assert!(
            rec.enforce_retention().unwrap().deleted.is_empty(),
            "stable"
        );
    }
}
