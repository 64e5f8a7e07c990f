//! Retention for the hub's recordings, like the agent's: age, bytes and a
//! free-space floor, per camera (`[camera.retention]`) and over all cameras
//! (`[retention]`). Planning is the store's pure [`store::retention::plan`]; each
//! planned deletion removes the index row first, then the file (the reverse of the
//! creation order), so a crash in between leaves a file without a row, which
//! `hub check` re-indexes or the next pass deletes.
//!
//! Runs every `recordings.retention_interval`, after each finished segment, and
//! when a write fails for lack of space.

use store::retention::{Deletion, plan};
use store::{Reason, RetentionPolicy, SegmentInfo};

use super::{Recordings, Result, index};

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
        for camera in &names {
            let Some(dir) = self.dir(camera) else {
                continue;
            };
            let mut segments = dir.segments()?;
            if let Some(r) = self.camera_retention(camera)
                && !r.is_unlimited()
            {
                let free = self.free_bytes(dir.path());
                let deletions = plan(
                    &segments,
                    &RetentionPolicy::from_config(&r, false),
                    now_ms,
                    free,
                    None,
                );
                self.delete(camera, &deletions, &mut report)?;
                segments.retain(|s| !deletions.iter().any(|d| d.name == s.name));
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
            let free = self.free_bytes(self.root());
            for d in plan(
                &all,
                &RetentionPolicy::from_config(&global, false),
                now_ms,
                free,
                None,
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
        let _guard = self
            .retention_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(dir) = self.dir(camera) else {
            return Ok(0);
        };
        let mut segments: Vec<SegmentInfo> =
            dir.segments()?.into_iter().filter(|s| !s.partial).collect();
        segments.sort_by_key(|s| s.start_ms);
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
        Ok(report.bytes_freed)
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
            self.db.call_blocking(|c| index::delete(c, &cam, &name))?;
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
