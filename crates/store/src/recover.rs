//! Start-up reconciliation: [`SegmentDir::recover_partials`] turns `.partial` files left by
//! a crash or power cut into finished segments (cut to their last complete fragment) or
//! deletes them, and removes stray temporary files and orphan sidecars.

use std::fs::{self, OpenOptions};
use std::io;

use media::Duration90k;

use crate::dir::SegmentDir;
use crate::error::{Result, StoreError};
use crate::name::{
    MARKER, PARTIAL_EXT, RETIME_EXT, RETIMED_EXT, SEGMENT_EXT, TMP_EXT, UPLOADED_EXT,
    parse_segment_name, segment_name,
};
use crate::retime::MEDIA_TIME_CHECKED;
use crate::writer::{ScanError, scan, set_end_mtime};

/// What [`SegmentDir::recover_partials`] did with one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The file found, e.g. `2026-11-21T07-31-50.123Z.mp4.partial`.
    pub file: String,
    pub action: RecoveryAction,
    /// Bytes kept (the valid prefix; 0 if deleted).
    pub bytes_kept: u64,
    /// Bytes cut off or deleted.
    pub bytes_dropped: u64,
    /// Complete fragments kept.
    pub fragments: u32,
    /// Frames kept.
    pub samples: u64,
    /// Media kept.
    pub duration: Duration90k,
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryAction {
    /// Truncated to its last complete fragment and renamed to `name` (the partial's own
    /// name, unless a finished segment already had it).
    Finished { name: String },
    /// Nothing playable (torn init segment, or no complete fragment): deleted.
    Deleted { why: String },
    /// A temporary file or a sidecar without its segment: deleted.
    RemovedStray,
    /// A complete retimed copy (see [`crate::retime`]) was put in place of segment `name`
    /// (a crash came between writing it and renaming it): the segment's bytes changed,
    /// so an index of them must be updated.
    Retimed { name: String },
    /// An I/O error; the file is left as it was (and retried at the next call).
    Failed { error: String },
}

impl SegmentDir {
    /// Reconciles the directory after a crash; call it at start-up before recording (it
    /// skips the partial files of this process's open writers, so calling it later is safe
    /// too). For each `NAME.mp4.partial`: scans it (reading only headers), truncates it to
    /// its valid prefix (every complete fragment, no torn tail), and if at least one
    /// fragment remains fsyncs it and renames it to `NAME.mp4`; otherwise deletes it.
    /// A file that cannot be read or changed is reported as [`RecoveryAction::Failed`] and
    /// left alone. Then removes `*.tmp` files and `.uploaded` sidecars whose segment is gone, and
    /// fsyncs the directory.
    pub fn recover_partials(&self) -> Result<Vec<RecoveryReport>> {
        let active = self.active().clone();
        let mut partials = Vec::new();
        let mut strays = Vec::new();
        let mut sidecars = Vec::new();
        let mut retimes = Vec::new();
        for entry in self.read_dir()? {
            let entry = entry.map_err(|e| StoreError::io("list", self.path(), e))?;
            let Ok(file_name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(name) = file_name.strip_suffix(PARTIAL_EXT) {
                if parse_segment_name(name).is_some() && !active.contains(name) {
                    partials.push(file_name);
                }
            } else if let Some(name) = file_name.strip_suffix(UPLOADED_EXT) {
                if parse_segment_name(name).is_some() {
                    sidecars.push(file_name);
                }
            } else if let Some(name) = file_name
                .strip_suffix(RETIME_EXT)
                .or_else(|| file_name.strip_suffix(RETIMED_EXT))
            {
                if parse_segment_name(name).is_some() {
                    retimes.push(file_name);
                }
            } else if file_name == format!("{MARKER}{TMP_EXT}")
                || file_name == format!("{MEDIA_TIME_CHECKED}{TMP_EXT}")
            {
                strays.push(file_name);
            }
        }
        partials.sort();
        let mut reports = Vec::new();
        for file in partials {
            // One unreadable file must not keep the camera from recording: report, go on.
            let report = self
                .recover_one(file.clone())
                .unwrap_or_else(|e| RecoveryReport {
                    file,
                    action: RecoveryAction::Failed {
                        error: e.to_string(),
                    },
                    bytes_kept: 0,
                    bytes_dropped: 0,
                    fragments: 0,
                    samples: 0,
                    duration: Duration90k::ZERO,
                });
            match report.action {
                RecoveryAction::Failed { .. } => {
                    tracing::warn!(
                        camera = self.camera(),
                        ?report,
                        "could not recover partial segment"
                    );
                }
                _ => tracing::info!(camera = self.camera(), ?report, "recovered partial segment"),
            }
            reports.push(report);
        }
        retimes.sort();
        for file in retimes {
            let action = match self.finish_retime(&file) {
                Ok(Some(name)) => RecoveryAction::Retimed { name },
                Ok(None) => RecoveryAction::RemovedStray,
                Err(e) => RecoveryAction::Failed {
                    error: e.to_string(),
                },
            };
            tracing::info!(
                camera = self.camera(),
                file,
                ?action,
                "interrupted retiming"
            );
            reports.push(RecoveryReport {
                file,
                action,
                bytes_kept: 0,
                bytes_dropped: 0,
                fragments: 0,
                samples: 0,
                duration: Duration90k::ZERO,
            });
        }
        for sidecar in sidecars {
            let seg = &sidecar[..sidecar.len() - UPLOADED_EXT.len()];
            if !self.file_path(seg).exists() {
                strays.push(sidecar);
            }
        }
        for stray in strays {
            let path = self.path().join(&stray);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("delete", path, e)),
            }
            reports.push(RecoveryReport {
                file: stray,
                action: RecoveryAction::RemovedStray,
                bytes_kept: 0,
                bytes_dropped: 0,
                fragments: 0,
                samples: 0,
                duration: Duration90k::ZERO,
            });
        }
        if !reports.is_empty() {
            self.sync_dir()?;
        }
        Ok(reports)
    }

    fn recover_one(&self, file_name: String) -> Result<RecoveryReport> {
        let path = self.path().join(&file_name);
        let name = file_name[..file_name.len() - PARTIAL_EXT.len()].to_owned();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("open", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("stat", &path, e))?
            .len();
        let mut report = RecoveryReport {
            file: file_name,
            action: RecoveryAction::Deleted { why: String::new() },
            bytes_kept: 0,
            bytes_dropped: len,
            fragments: 0,
            samples: 0,
            duration: Duration90k::ZERO,
        };
        let why = match scan(&file, len) {
            Err(ScanError::Io(e)) => return Err(StoreError::io("read", &path, e)),
            Err(ScanError::Media(e)) => e.to_string(),
            Ok(r) if r.fragments == 0 => "no complete fragment".to_owned(),
            Ok(r) => {
                if r.valid_len < len {
                    file.set_len(r.valid_len)
                        .map_err(|e| StoreError::io("truncate", &path, e))?;
                }
                let mut start_ms = parse_segment_name(&name).unwrap_or_default();
                let mut final_name = name;
                // A finished segment already has this name (should not happen): take the
                // next free millisecond rather than overwrite either.
                while self.file_path(&final_name).exists() {
                    start_ms += 1;
                    final_name = segment_name(start_ms)
                        .ok_or_else(|| StoreError::BadName(final_name.clone()))?;
                }
                set_end_mtime(&file, start_ms, r.duration);
                file.sync_all()
                    .map_err(|e| StoreError::io("fsync", &path, e))?;
                let to = self.file_path(&final_name);
                fs::rename(&path, &to).map_err(|e| StoreError::io("rename", &path, e))?;
                debug_assert!(final_name.ends_with(SEGMENT_EXT));
                report.action = RecoveryAction::Finished { name: final_name };
                report.bytes_kept = r.valid_len;
                report.bytes_dropped = len - r.valid_len;
                report.fragments = r.fragments;
                report.samples = r.samples;
                report.duration = r.duration;
                return Ok(report);
            }
        };
        drop(file);
        fs::remove_file(&path).map_err(|e| StoreError::io("delete", &path, e))?;
        report.action = RecoveryAction::Deleted { why };
        Ok(report)
    }
}
