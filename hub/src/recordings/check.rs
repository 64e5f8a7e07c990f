//! Reconciling the index with the files (`hub check`, and at every start-up):
//!
//! 1. `.partial` files (a crash mid-segment) are cut to their last complete
//!    fragment and finished by the store ([`store::SegmentDir::recover_partials`]),
//!    then indexed;
//! 2. finished files without a row (a crash between rename and insert, or between
//!    deleting a row and its file) are probed ([`media::probe`]) and indexed;
//! 3. rows whose file is gone (a crash between deleting a file and its row, or a
//!    file removed by hand) are dropped, unless the off-site bucket holds the segment
//!    (the row stays, marked not local);
//! 4. upload staging files untouched for [`STALE_UPLOAD`] are removed;
//! 5. segments whose media time does not start at 0 (recorded before every file
//!    started at 0) are rewritten to start at 0 ([`store::retime`]: crash-safe, the
//!    index row updated from the new bytes before they replace the old). `hub check`
//!    looks at every segment ([`run`]); the start-up check ([`run_at_start`]) only at
//!    those new since its previous pass, and at files without a row;
//! 6. event thumbnails (JPEGs in the `event` rows) that a decoder cannot read are
//!    dropped from their event (the event stays).
//!
//! At start-up, steps 1, 4 and 5 run before the hub listens and records
//! ([`run_at_start`]); steps 2, 3 and 6, which read every directory entry and every
//! row (millions after a year), run while it serves ([`run_after_start`]).
//!
//! Every action is reported; nothing is silently changed.

use std::time::{Duration, SystemTime};

use media::Time90k;
use store::{RecoveryAction, RetimeScope};

use super::{Recordings, Result, Source, UPLOADS_DIR, index};

/// Index rows read per database call while comparing them with the files.
const ROW_PAGE: usize = 10_000;

/// Unfinished uploads older than this are given up.
pub const STALE_UPLOAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a check did.
#[derive(Debug, Default, Clone)]
pub struct CheckReport {
    /// `.partial` files recovered and indexed (camera, file name).
    pub recovered: Vec<(String, String)>,
    /// `.partial` files with nothing playable, deleted (camera, file, why).
    pub deleted_partials: Vec<(String, String, String)>,
    /// Files that had no index row and now have one.
    pub indexed_orphans: Vec<(String, String)>,
    /// Rows removed because their file is missing.
    pub removed_rows: Vec<(String, String)>,
    /// Rows whose file is missing and whose segment the off-site bucket holds: kept,
    /// marked as not local.
    pub now_bucket_only: Vec<(String, String)>,
    /// Stale upload staging files removed.
    pub removed_uploads: Vec<String>,
    /// Segments whose media time was moved to start at 0 (camera, file, where it
    /// started before).
    pub retimed: Vec<(String, String, Time90k)>,
    /// Segments whose interrupted retiming was finished and re-indexed.
    pub retimes_finished: Vec<(String, String)>,
    /// Events whose unreadable thumbnail was dropped (event id).
    pub dropped_thumbnails: Vec<i64>,
    /// Problems left as they are (camera, file, error).
    pub failed: Vec<(String, String, String)>,
    /// Uploads staged and not finished (listed, left for their agents to resume).
    pub unfinished_uploads: Vec<super::upload::Unfinished>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.recovered.is_empty()
            && self.deleted_partials.is_empty()
            && self.indexed_orphans.is_empty()
            && self.removed_rows.is_empty()
            && self.now_bucket_only.is_empty()
            && self.removed_uploads.is_empty()
            && self.retimed.is_empty()
            && self.retimes_finished.is_empty()
            && self.dropped_thumbnails.is_empty()
            && self.failed.is_empty()
    }

    /// One line per action, for `hub check` and the start-up log.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (c, f) in &self.recovered {
            out.push(format!("recovered partial segment {c}/{f} and indexed it"));
        }
        for (c, f, why) in &self.deleted_partials {
            out.push(format!("deleted unplayable partial segment {c}/{f}: {why}"));
        }
        for (c, f) in &self.indexed_orphans {
            out.push(format!("indexed file without an index row {c}/{f}"));
        }
        for (c, f) in &self.removed_rows {
            out.push(format!("removed index row of missing file {c}/{f}"));
        }
        for (c, f) in &self.now_bucket_only {
            out.push(format!(
                "file of {c}/{f} is missing; the off-site bucket holds it (row kept)"
            ));
        }
        for f in &self.removed_uploads {
            out.push(format!("removed stale unfinished upload {f}"));
        }
        for (c, f, was) in &self.retimed {
            out.push(format!(
                "moved the media time of {c}/{f} to start at 0 (it started at {})",
                *was - Time90k::ZERO
            ));
        }
        for (c, f) in &self.retimes_finished {
            out.push(format!(
                "finished moving the media time of {c}/{f} to start at 0 and re-indexed it"
            ));
        }
        for id in &self.dropped_thumbnails {
            out.push(format!("dropped the unreadable thumbnail of event {id}"));
        }
        for (c, f, e) in &self.failed {
            out.push(format!("could not fix {c}/{f}: {e}"));
        }
        for u in &self.unfinished_uploads {
            let age = u
                .modified
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .map(|d| format!(", last written {} min ago", d.as_secs() / 60))
                .unwrap_or_default();
            out.push(format!(
                "unfinished upload {}/{}: {} of {} bytes staged{age}",
                u.camera, u.name, u.received, u.total
            ));
        }
        out
    }
}

/// Runs the whole check over every configured camera (`hub check`).
pub fn run(rec: &Recordings) -> Result<CheckReport> {
    let mut report = before_recording(rec, RetimeScope::All)?;
    compare_and_thumbnails(rec, &|| false, &mut report)?;
    log(&report);
    Ok(report)
}

/// The part of the start-up check that must end before recording starts: partial
/// segments recovered (steps 1 and 5, the media time only of segments new since the
/// previous pass, so a start reads two small pieces of the new files rather than of
/// every file) and stale uploads (step 4). The rest is [`run_after_start`]'s.
pub fn run_at_start(rec: &Recordings) -> Result<CheckReport> {
    let report = before_recording(rec, RetimeScope::SincePreviousPass)?;
    log(&report);
    Ok(report)
}

/// The part of the start-up check that runs while the hub serves (on a blocking
/// thread, one camera and one page of rows at a time): files against rows (steps 2
/// and 3) and event thumbnails (step 6). Each repair is checked again under the
/// retention lock just before it is made, as recorders, uploads and retention change
/// files and rows meanwhile: a file without a row is indexed only if it still has none
/// and was last written before the recordings were opened (a newer one is a writer's
/// of this process, which indexes it itself), and a row is dropped only if its file is
/// still missing. `stop` ends the check early (shutdown).
pub fn run_after_start(rec: &Recordings, stop: &dyn Fn() -> bool) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    use super::FileCheck;
    use std::sync::atomic::Ordering;
    rec.checking
        .store(FileCheck::Running as u8, Ordering::Relaxed);
    let r = compare_and_thumbnails(rec, stop, &mut report);
    rec.checking.store(FileCheck::Done as u8, Ordering::Relaxed);
    r?;
    log(&report);
    Ok(report)
}

fn log(report: &CheckReport) {
    for line in report.lines() {
        tracing::info!("check: {line}");
    }
}

fn before_recording(rec: &Recordings, scope: RetimeScope) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    for camera in &sorted_cameras(rec) {
        recover_camera(rec, camera, scope, &mut report)?;
    }
    remove_stale_uploads(rec, &mut report);
    report.unfinished_uploads = rec.unfinished_uploads();
    Ok(report)
}

fn compare_and_thumbnails(
    rec: &Recordings,
    stop: &dyn Fn() -> bool,
    report: &mut CheckReport,
) -> Result<()> {
    for camera in &sorted_cameras(rec) {
        if stop() {
            return Ok(());
        }
        compare_camera(rec, camera, stop, report)?;
    }
    check_thumbnails(rec, stop, report)
}

fn sorted_cameras(rec: &Recordings) -> Vec<String> {
    let mut cameras: Vec<String> = rec.camera_names().map(str::to_owned).collect();
    cameras.sort();
    cameras
}

fn recover_camera(
    rec: &Recordings,
    camera: &str,
    scope: RetimeScope,
    report: &mut CheckReport,
) -> Result<()> {
    let Some(dir) = rec.dir(camera) else {
        return Ok(());
    };
    for r in dir.recover_partials()? {
        match r.action {
            RecoveryAction::Finished { name } => {
                match rec.index_file(camera, &name, Source::Recorder) {
                    Ok(_) => report.recovered.push((camera.to_owned(), name)),
                    Err(e) => report.failed.push((camera.to_owned(), name, e.to_string())),
                }
            }
            RecoveryAction::Deleted { why } => {
                report
                    .deleted_partials
                    .push((camera.to_owned(), r.file, why));
            }
            RecoveryAction::Retimed { name } => match rec.reindex(camera, &name) {
                Ok(_) => report.retimes_finished.push((camera.to_owned(), name)),
                Err(e) => report.failed.push((camera.to_owned(), name, e.to_string())),
            },
            RecoveryAction::Failed { error } => {
                report.failed.push((camera.to_owned(), r.file, error));
            }
            _ => {}
        }
    }
    let pass = dir.retime_segments(scope, &mut |p| rec.reindex_from(camera, p))?;
    for r in pass.retimed {
        report.retimed.push((camera.to_owned(), r.name, r.was_at));
    }
    for (name, why) in pass.failed {
        report.failed.push((camera.to_owned(), name, why));
    }
    Ok(())
}

fn compare_camera(
    rec: &Recordings,
    camera: &str,
    stop: &dyn Fn() -> bool,
    report: &mut CheckReport,
) -> Result<()> {
    let Some(dir) = rec.dir(camera) else {
        return Ok(());
    };
    // Files and rows side by side in name order (which is time order): the rows are read
    // a page at a time, so neither the memory nor the database lock grows with the index.
    let mut files: Vec<String> = dir
        .finished_segment_names()?
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    files.sort_unstable();
    let mut orphans: Vec<&String> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut next_file = files.iter().peekable();
    let mut after = String::new();
    loop {
        if stop() {
            return Ok(());
        }
        let (cam, from) = (camera.to_owned(), after.clone());
        let page = rec
            .db
            .call_blocking(|c| index::names_after(c, &cam, &from, ROW_PAGE))?;
        let Some(last) = page.last() else {
            break;
        };
        after.clone_from(last);
        for row in &page {
            while let Some(f) = next_file.next_if(|f| *f < row) {
                orphans.push(f);
            }
            if next_file.next_if(|f| *f == row).is_none() {
                missing.push(row.clone());
            }
        }
    }
    orphans.extend(next_file);
    for name in orphans {
        if stop() {
            return Ok(());
        }
        let _guard = rec.retention_lock.lock().unwrap_or_else(|e| e.into_inner());
        if !still_orphan(rec, camera, &dir.path().join(name), name)? {
            continue;
        }
        // Checked whatever the scope: a file copied in may be older than the last pass.
        match rec.retime(camera, name) {
            Ok(Some(r)) => report.retimed.push((camera.to_owned(), r.name, r.was_at)),
            Ok(None) => {}
            Err(e) => {
                report
                    .failed
                    .push((camera.to_owned(), name.clone(), e.to_string()));
            }
        }
        match rec.index_file(camera, name, Source::Found) {
            Ok(_) => report
                .indexed_orphans
                .push((camera.to_owned(), name.clone())),
            Err(e) => report
                .failed
                .push((camera.to_owned(), name.clone(), e.to_string())),
        }
    }
    // Rows of segments only the off-site bucket holds have no file, rightly.
    let cam = camera.to_owned();
    let bucket_only = rec
        .db
        .call_blocking(|c| crate::recordings::replication::bucket_only_files(c, &cam))?;
    for name in missing.into_iter().filter(|n| !bucket_only.contains(n)) {
        let _guard = rec.retention_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Renamed into place after the listing (a recorder finishing): not missing.
        if dir.path().join(&name).exists() {
            continue;
        }
        let (c2, n2) = (camera.to_owned(), name.clone());
        let still_local = rec.db.call_blocking(|c| index::stored(c, &c2, &n2))?;
        if still_local.is_none_or(|s| !s.local) {
            continue;
        }
        let how = rec
            .db
            .call_blocking(|c| crate::recordings::replication::delete_local(c, &c2, &n2))?;
        if how == crate::recordings::replication::LocalDeletion::KeptInBucket {
            report.now_bucket_only.push((camera.to_owned(), name));
        } else {
            report.removed_rows.push((camera.to_owned(), name));
        }
    }
    Ok(())
}

/// A file the listing found without a row still is one: it exists, has no row, and was
/// last written before the recordings were opened.
fn still_orphan(
    rec: &Recordings,
    camera: &str,
    path: &std::path::Path,
    name: &str,
) -> Result<bool> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(false);
    };
    if meta.modified().is_ok_and(|m| m >= rec.opened_at) {
        return Ok(false);
    }
    let (cam, n) = (camera.to_owned(), name.to_owned());
    Ok(rec.db.call_blocking(|c| index::get(c, &cam, &n))?.is_none())
}

fn remove_stale_uploads(rec: &Recordings, report: &mut CheckReport) {
    let root = rec.root().join(UPLOADS_DIR);
    let Ok(cameras) = std::fs::read_dir(&root) else {
        return;
    };
    let now = SystemTime::now();
    for cam in cameras.flatten() {
        let Ok(files) = std::fs::read_dir(cam.path()) else {
            continue;
        };
        for f in files.flatten() {
            let old = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_UPLOAD);
            if old && std::fs::remove_file(f.path()).is_ok() {
                report.removed_uploads.push(f.path().display().to_string());
            }
        }
    }
}

/// Step 6: every stored event thumbnail must be a JPEG; an unreadable one is dropped.
fn check_thumbnails(
    rec: &Recordings,
    stop: &dyn Fn() -> bool,
    report: &mut CheckReport,
) -> Result<()> {
    use crate::event_store::{is_jpeg, rows};
    let ids = rec.db.call_blocking(|c| rows::with_thumbnails(c))?;
    for id in ids {
        if stop() {
            return Ok(());
        }
        let ok = rec
            .db
            .call_blocking(|c| rows::thumbnail(c, id))?
            .is_some_and(|t| is_jpeg(&t));
        if !ok {
            rec.db.call_blocking(|c| rows::drop_thumbnail(c, id))?;
            report.dropped_thumbnails.push(id);
        }
    }
    Ok(())
}
