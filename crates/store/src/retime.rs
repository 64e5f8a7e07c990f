//! Finished segments whose media time does not start at 0 (written before every segment
//! file started at 0: a run's later files continued its running time, so players showed a
//! long seek bar and started mid-way) are rewritten to start at 0 with
//! [`media::retime`]: only the fragments' `tfdt` values change.
//!
//! The order keeps the segment whole at every moment and lets an index follow:
//!
//! 1. the retimed copy is written to `NAME.mp4.retime` and fsynced;
//! 2. it is renamed to `NAME.mp4.retimed` and the directory fsynced: the copy is complete;
//! 3. the caller updates what it knows of the file (the hub: its index row's SHA-256), see
//!    [`PreparedRetime`];
//! 4. `NAME.mp4.retimed` is renamed over `NAME.mp4` and the directory fsynced.
//!
//! After a crash, [`SegmentDir::recover_partials`] deletes a `.retime` (torn) and finishes
//! a `.retimed` (step 4, reported as [`RecoveryAction::Retimed`](crate::RecoveryAction), so
//! the caller updates its index again), or deletes it if its segment is gone.
//!
//! Checking a file reads its init segment and first fragment only (two small reads), and
//! a pass over a directory ([`SegmentDir::retime_segments`]) remembers how far it got (the
//! file `.media-time-checked`), so a start-up checks only the segments that are new since
//! the previous one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use media::Time90k;
use media::recover::Scanner;

use crate::dir::SegmentDir;
use crate::error::{Result, StoreError};
use crate::name::{RETIME_EXT, RETIMED_EXT, TMP_EXT, parse_segment_name};
use crate::writer::read_at_most;

/// The file that records how far the last pass over a directory got.
pub const MEDIA_TIME_CHECKED: &str = ".media-time-checked";
/// Its first line.
const CHECKED_MAGIC: &str = "media-time-checked 1";
/// Bytes copied per read while rewriting a file.
const COPY_CHUNK: usize = 1 << 20;

/// One segment whose media time was moved to start at 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetimeReport {
    /// The segment, e.g. `2026-11-21T07-31-50.123Z.mp4`.
    pub name: String,
    /// Where its media time started before (now 0).
    pub was_at: Time90k,
    /// Fragments whose decode time was moved.
    pub fragments: usize,
    pub size_bytes: u64,
}

/// Which finished segments a pass checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetimeScope {
    /// Every one (`hub check`).
    All,
    /// Those starting at or after where the previous complete pass stopped (all if there
    /// was none): for every start-up.
    SincePreviousPass,
}

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetimePass {
    /// Segments checked.
    pub checked: usize,
    pub retimed: Vec<RetimeReport>,
    /// Segments that could not be checked or rewritten (name, why); left as they were and
    /// checked again by the next pass.
    pub failed: Vec<(String, String)>,
}

/// A retimed copy, complete and durable as `NAME.mp4.retimed`, not yet in place. Update
/// whatever describes the file (its hash: read [`path`](Self::path)), then
/// [`commit`](Self::commit). Dropped without committing, the copy stays and the next
/// [`SegmentDir::recover_partials`] puts it in place.
#[derive(Debug)]
pub struct PreparedRetime {
    dir: SegmentDir,
    report: RetimeReport,
    path: PathBuf,
}

impl PreparedRetime {
    /// The retimed copy (same length as the segment).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn report(&self) -> &RetimeReport {
        &self.report
    }

    /// Renames the copy over the segment and fsyncs the directory. If the segment was
    /// deleted meanwhile, the copy is deleted instead (retention wins) and `NotFound`
    /// returned.
    pub fn commit(self) -> Result<RetimeReport> {
        let target = self.dir.file_path(&self.report.name);
        if !target.exists() {
            let _ = fs::remove_file(&self.path);
            self.dir.sync_dir()?;
            return Err(StoreError::NotFound(self.report.name));
        }
        fs::rename(&self.path, &target).map_err(|e| StoreError::io("rename", &self.path, e))?;
        self.dir.sync_dir()?;
        Ok(self.report)
    }
}

impl SegmentDir {
    /// Where a finished segment's media time starts: its first fragment's decode time
    /// (`None` if it has no complete fragment or no `tfdt`). Reads two small pieces.
    pub fn first_media_time(&self, name: &str) -> Result<Option<Time90k>> {
        let path = self.checked_file_path(name)?;
        let file = File::open(&path).map_err(|e| open_error(e, &path, name))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("stat", &path, e))?
            .len();
        let mut s = Scanner::new(len).first_fragment_only();
        feed(&mut s, &file, &path)?;
        let r = s
            .into_recovery()
            .map_err(|e| StoreError::BadSegment(format!("{name}: {e}")))?;
        Ok(r.first_dts)
    }

    /// Writes a copy of finished segment `name` whose media time starts at 0, if it does
    /// not already (then `None`, and nothing is written). The segment itself is untouched
    /// until [`PreparedRetime::commit`]. A file with a torn tail or more than one track is
    /// refused ([`StoreError::BadSegment`]).
    pub fn prepare_retime(&self, name: &str) -> Result<Option<PreparedRetime>> {
        let path = self.checked_file_path(name)?;
        let tmp = self.path().join(format!("{name}{RETIME_EXT}"));
        let Some(copy) = write_retimed_copy(&path, &tmp)? else {
            return Ok(None);
        };
        let done = self.path().join(format!("{name}{RETIMED_EXT}"));
        fs::rename(&tmp, &done).map_err(|e| StoreError::io("rename", &tmp, e))?;
        self.sync_dir()?;
        Ok(Some(PreparedRetime {
            dir: self.clone(),
            report: RetimeReport {
                name: name.to_owned(),
                was_at: copy.was_at,
                fragments: copy.fragments,
                size_bytes: copy.size_bytes,
            },
            path: done,
        }))
    }

    /// Checks one finished segment and, if its media time does not start at 0, retimes
    /// it: [`prepare_retime`](Self::prepare_retime), `before_commit` (e.g. update an index
    /// row from the copy; an error leaves the segment as it was), commit. `None` if the
    /// segment was fine.
    pub fn retime_one(
        &self,
        name: &str,
        before_commit: &mut dyn FnMut(&PreparedRetime) -> std::result::Result<(), String>,
    ) -> Result<Option<RetimeReport>> {
        if self
            .first_media_time(name)?
            .is_none_or(|t| t == Time90k::ZERO)
        {
            return Ok(None);
        }
        let Some(prepared) = self.prepare_retime(name)? else {
            return Ok(None);
        };
        if let Err(why) = before_commit(&prepared) {
            let _ = fs::remove_file(prepared.path());
            return Err(StoreError::BadSegment(format!("{name}: {why}")));
        }
        prepared.commit().map(Some)
    }

    /// Retimes every finished segment in `scope` whose media time does not start at 0
    /// ([`retime_one`](Self::retime_one) each); one that fails is reported and the pass
    /// goes on. Then records how far the pass got, so that the next
    /// [`RetimeScope::SincePreviousPass`] starts there (at the first failure, if any);
    /// if that cannot be written (a full disk), the next pass starts where this one did.
    pub fn retime_segments(
        &self,
        scope: RetimeScope,
        before_commit: &mut dyn FnMut(&PreparedRetime) -> std::result::Result<(), String>,
    ) -> Result<RetimePass> {
        let from = match scope {
            RetimeScope::All => None,
            RetimeScope::SincePreviousPass => self.media_time_checked_through()?,
        };
        let mut pass = RetimePass::default();
        let mut through = from;
        let mut first_failure: Option<i64> = None;
        for (start_ms, name) in self.finished_segment_names()? {
            if from.is_some_and(|f| start_ms < f) {
                continue;
            }
            pass.checked += 1;
            match self.retime_one(&name, before_commit) {
                Ok(Some(r)) => pass.retimed.push(r),
                Ok(None) => {}
                // Deleted meanwhile (retention): nothing to check.
                Err(StoreError::NotFound(_)) => {}
                Err(e) => {
                    first_failure.get_or_insert(start_ms);
                    pass.failed.push((name, e.to_string()));
                }
            }
            through = Some(through.map_or(start_ms + 1, |t| t.max(start_ms + 1)));
        }
        let through = match (through, first_failure) {
            (_, Some(f)) => Some(f),
            (t, None) => t,
        };
        if let Some(t) = through
            && through != from
            && let Err(e) = self.set_media_time_checked_through(t)
        {
            // E.g. a full disk: the next pass only looks at more files.
            tracing::warn!(camera = self.camera(), error = %e, "could not record how far the media time check got");
        }
        Ok(pass)
    }

    /// Every finished segment starting before this (UTC ms) has been checked by a pass.
    pub fn media_time_checked_through(&self) -> Result<Option<i64>> {
        let path = self.path().join(MEDIA_TIME_CHECKED);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("read", path, e)),
        };
        let mut lines = text.lines();
        let value = (lines.next() == Some(CHECKED_MAGIC))
            .then(|| lines.next()?.strip_prefix("through ")?.parse::<i64>().ok())
            .flatten();
        // An unreadable file only costs a full pass.
        Ok(value)
    }

    /// Records [`media_time_checked_through`](Self::media_time_checked_through): temp
    /// file, fsync, rename, fsync directory.
    pub fn set_media_time_checked_through(&self, ms: i64) -> Result<()> {
        let tmp = self.path().join(format!("{MEDIA_TIME_CHECKED}{TMP_EXT}"));
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            writeln!(f, "{CHECKED_MAGIC}\nthrough {ms}")?;
            f.sync_all()
        };
        write().map_err(|e| StoreError::io("write", &tmp, e))?;
        let path = self.path().join(MEDIA_TIME_CHECKED);
        fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &tmp, e))?;
        self.sync_dir()
    }

    /// The path of a finished segment `name` (a canonical segment name, so never a path).
    fn checked_file_path(&self, name: &str) -> Result<PathBuf> {
        parse_segment_name(name).ok_or_else(|| StoreError::BadName(name.into()))?;
        Ok(self.file_path(name))
    }

    /// Recovery of a retiming cut short: `file` is `NAME.mp4.retime` (torn: deleted) or
    /// `NAME.mp4.retimed` (complete: renamed over its segment, or deleted if the segment
    /// is gone). Returns the segment's name if it was retimed.
    pub(crate) fn finish_retime(&self, file: &str) -> Result<Option<String>> {
        let path = self.path().join(file);
        if let Some(name) = file.strip_suffix(RETIMED_EXT)
            && self.file_path(name).exists()
        {
            fs::rename(&path, self.file_path(name))
                .map_err(|e| StoreError::io("rename", &path, e))?;
            return Ok(Some(name.to_owned()));
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::io("delete", path, e)),
            _ => Ok(None),
        }
    }
}

/// What [`write_retimed_copy`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetimedCopy {
    /// Where the media time started in the source (0 in the copy).
    pub was_at: Time90k,
    /// Fragments whose decode time was moved.
    pub fragments: usize,
    pub size_bytes: u64,
}

/// If the fMP4 file `src`'s media time does not start at 0, writes `dst` (created or
/// truncated; same permissions and mtime) as a copy that does, and fsyncs it; otherwise
/// writes nothing and returns `None`. On error `dst` is removed. A file with a torn tail
/// or more than one track is refused ([`StoreError::BadSegment`]). For a segment, use
/// [`SegmentDir::prepare_retime`], which names the copy so that recovery knows it.
pub fn write_retimed_copy(src: &Path, dst: &Path) -> Result<Option<RetimedCopy>> {
    let shown = src.file_name().unwrap_or_default().to_string_lossy();
    let file = File::open(src).map_err(|e| open_error(e, src, &shown))?;
    let meta = file
        .metadata()
        .map_err(|e| StoreError::io("stat", src, e))?;
    let len = meta.len();
    let mut s = Scanner::new(len).record_decode_times();
    feed(&mut s, &file, src)?;
    let bad = |why: String| StoreError::BadSegment(format!("{shown}: {why}"));
    let (r, times) = s.into_decode_times().map_err(|e| bad(e.to_string()))?;
    if r.discarded_len > 0 {
        return Err(bad(format!(
            "{} bytes after its last complete fragment",
            r.discarded_len
        )));
    }
    let patches = media::retime::rebase(&times).map_err(|e| bad(e.to_string()))?;
    if patches.is_empty() {
        return Ok(None);
    }
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)
        .map_err(|e| StoreError::io("create", dst, e))?;
    let copy = || -> io::Result<()> {
        out.set_permissions(meta.permissions())?;
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut offset = 0u64;
        while offset < len {
            let want = usize::try_from(len - offset)
                .unwrap_or(COPY_CHUNK)
                .min(COPY_CHUNK);
            let got = read_at_most(&file, &mut buf[..want], offset)?;
            if got < want {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file got shorter while it was copied",
                ));
            }
            media::retime::apply(&patches, offset, &mut buf[..got]);
            out.write_all_at(&buf[..got], offset)?;
            offset += got as u64;
        }
        if let Ok(mtime) = meta.modified() {
            out.set_modified(mtime)?;
        }
        out.sync_all()
    };
    if let Err(e) = copy() {
        drop(out);
        let _ = fs::remove_file(dst);
        return Err(StoreError::io("write", dst, e));
    }
    Ok(Some(RetimedCopy {
        was_at: r.first_dts.unwrap_or(Time90k::ZERO),
        fragments: patches.len(),
        size_bytes: len,
    }))
}

fn feed(s: &mut Scanner, file: &File, path: &Path) -> Result<()> {
    while let Some((offset, want)) = s.next_read() {
        let mut buf = vec![0u8; want];
        let got =
            read_at_most(file, &mut buf, offset).map_err(|e| StoreError::io("read", path, e))?;
        s.feed(&buf[..got]);
    }
    Ok(())
}

fn open_error(e: io::Error, path: &Path, name: &str) -> StoreError {
    if e.kind() == io::ErrorKind::NotFound {
        StoreError::NotFound(name.into())
    } else {
        StoreError::io("open", path, e)
    }
}
