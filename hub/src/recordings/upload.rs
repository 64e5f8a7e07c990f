//! Store-and-forward, hub side: agents upload the segment files they recorded.
//! The HTTP protocol is in `web::upload`; this is the disk side.
//!
//! An upload of `NAME` (a store segment name) for camera `C` is staged in
//! `DATA_DIR/recordings/.uploads/C/NAME.data`, with `NAME.meta` holding the
//! announced SHA-256 and total size, so it can resume after a broken connection
//! (even across a hub restart). When the last byte arrives the whole file is
//! hashed and must match; it is then probed (a complete fMP4 with at least one
//! fragment), copied into the camera's [`store::SegmentDir`] with the crash-safe
//! order (`.partial`, fsync, rename, fsync dir), indexed, and the staging files
//! are removed. A file that fails either test is deleted and nothing is indexed.
//!
//! Bounds: a segment's start (its name) must lie within `max_clock_skew` after and
//! `max_upload_age` before the hub's clock; a camera has at most
//! `max_unfinished_uploads` staged at once, and a new one must fit, with what the
//! unfinished ones still announce, above the free-space floor (retention counts
//! staged bytes and announced ones, [`Recordings::unfinished_uploads`]); a codec the
//! pages cannot play (anything but H.264 and H.265) is refused after the probe.
//!
//! An agent from before every segment file's media time started at 0 sends its
//! later segments with media time continuing its run: such a file is retimed first
//! (`NAME.retimed` in staging, [`store::write_retimed_copy`]), so the hub stores
//! one that plays from 0 and indexes the hash of what it stores (so the index's
//! hash is not the one that agent announced; a current agent retimes its own files
//! at start-up and so announces the same bytes the hub stores).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use media::{SegmentSummary, Time90k};
use wire::upload::ContentRange;

use super::{RecError, Recordings, Result, Segment, Source, UPLOADS_DIR, UploadClaim, index};

/// One upload staged and not finished (`hub check` lists them; retention counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub camera: String,
    /// The segment's name.
    pub name: String,
    /// Bytes staged so far, and announced in all.
    pub received: u64,
    pub total: u64,
    /// When the staging file was last written.
    pub modified: Option<std::time::SystemTime>,
}

impl Unfinished {
    /// Bytes still to arrive.
    pub fn pending(&self) -> u64 {
        self.total.saturating_sub(self.received)
    }
}

/// Codecs of uploads the hub's pages can play (RFC 6381 sample entry prefixes).
const PLAYABLE: &[&str] = &["avc1.", "avc3.", "hvc1.", "hev1."];

/// How much of a segment the hub holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadState {
    /// Committed and indexed.
    Complete(Segment),
    /// Staged: this many bytes of `total` received so far.
    Partial {
        received: u64,
        total: u64,
        sha256: String,
    },
    /// Nothing.
    None,
}

/// What [`Recordings::begin_upload`] decided.
#[derive(Debug)]
pub enum Begin {
    /// The segment is already committed with the same hash: nothing to do.
    AlreadyHave(Segment),
    /// Write the body at `offset` of `data`; then call [`Recordings::finish_upload`]
    /// if the file is complete. The claim keeps other requests for the same
    /// segment out until dropped.
    Write {
        data: PathBuf,
        offset: u64,
        claim: UploadClaim,
    },
    /// Every byte is already staged (the hub stopped between receiving the
    /// last byte and committing): ignore the body and commit now.
    AllStaged { claim: UploadClaim },
}

/// The most segments one upload may delete to find room on a full disk (per camera).
const MAX_DELETIONS_FOR_ONE_UPLOAD: usize = 64;

impl Recordings {
    /// (data, meta, directory, retimed copy of data) of an upload's staging.
    fn staging(&self, camera: &str, name: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
        let dir = self.root().join(UPLOADS_DIR).join(camera);
        (
            dir.join(format!("{name}.data")),
            dir.join(format!("{name}.meta")),
            dir.clone(),
            dir.join(format!("{name}.retimed")),
        )
    }

    /// Every unfinished upload in the staging area (all cameras), in name order.
    pub fn unfinished_uploads(&self) -> Vec<Unfinished> {
        let mut out = Vec::new();
        let Ok(cameras) = fs::read_dir(self.root().join(UPLOADS_DIR)) else {
            return out;
        };
        for cam in cameras.flatten() {
            let camera = cam.file_name().to_string_lossy().into_owned();
            let Ok(files) = fs::read_dir(cam.path()) else {
                continue;
            };
            for f in files.flatten() {
                let file = f.file_name().to_string_lossy().into_owned();
                let Some(name) = file.strip_suffix(".meta") else {
                    continue;
                };
                let Some((_, total)) = read_meta(&f.path()) else {
                    continue;
                };
                let data = cam.path().join(format!("{name}.data"));
                let meta = fs::metadata(&data).ok();
                out.push(Unfinished {
                    camera: camera.clone(),
                    name: name.to_owned(),
                    received: meta.as_ref().map_or(0, |m| m.len()),
                    total,
                    modified: meta.and_then(|m| m.modified().ok()),
                });
            }
        }
        out.sort_by(|a, b| (&a.camera, &a.name).cmp(&(&b.camera, &b.name)));
        out
    }

    /// Refuses a segment whose start (from its name) is far from the hub's clock.
    fn check_start_time(&self, name: &str, start_ms: i64) -> Result<()> {
        let now = self.clock.now_ms();
        if start_ms > now.saturating_add(self.max_clock_skew_ms) {
            return Err(RecError::Invalid(format!(
                "segment {name} starts more than recordings.max_clock_skew ({} s) after the \
                 hub's clock: check the agent's clock",
                self.max_clock_skew_ms / 1000
            )));
        }
        if start_ms < now.saturating_sub(self.max_upload_age_ms) {
            return Err(RecError::Invalid(format!(
                "segment {name} starts more than recordings.max_upload_age ({} days) before the \
                 hub's clock: check the agent's clock",
                self.max_upload_age_ms / 86_400_000
            )));
        }
        Ok(())
    }

    /// Room for a new upload of `total` bytes for `camera`: fewer than
    /// `max_unfinished_uploads` unfinished for the camera, and free space for every
    /// unfinished upload's remaining bytes and this one above the free-space floor
    /// (retention runs first if that frees it).
    fn room_for_upload(&self, camera: &str, name: &str, total: u64) -> Result<()> {
        let others: Vec<Unfinished> = self
            .unfinished_uploads()
            .into_iter()
            .filter(|u| !(u.camera == camera && u.name == name))
            .collect();
        let mine = others.iter().filter(|u| u.camera == camera).count();
        if mine >= self.max_unfinished_uploads {
            return Err(RecError::NoRoom(format!(
                "camera {camera} has {mine} unfinished uploads (recordings.max_unfinished_uploads \
                 = {}); finish one first",
                self.max_unfinished_uploads
            )));
        }
        let needed = others
            .iter()
            .map(Unfinished::pending)
            .fold(total, u64::saturating_add);
        let floor = self
            .camera_retention(camera)
            .and_then(|r| r.min_free_bytes())
            .max(self.global_retention().min_free_bytes())
            .unwrap_or(0);
        let dir = self.root().join(UPLOADS_DIR);
        let short = || {
            self.fs
                .free_bytes(&dir)
                .unwrap_or(u64::MAX)
                .saturating_sub(floor)
                < needed
        };
        if short() {
            // Retention counts the uploads' pending bytes: it makes room if it can.
            let _ = self.enforce_retention();
            // A full disk without a free-space limit: the oldest footage goes, this
            // camera's first, as when a recorder's write fails (retention ran just above;
            // bounded: an upload is at most max_segment_size).
            let mut cameras: Vec<String> = vec![camera.to_owned()];
            cameras.extend(
                self.camera_names()
                    .filter(|c| *c != camera)
                    .map(str::to_owned),
            );
            'cameras: for cam in &cameras {
                for _ in 0..MAX_DELETIONS_FOR_ONE_UPLOAD {
                    if !short() {
                        break 'cameras;
                    }
                    match self.delete_oldest(cam) {
                        Ok(freed) if freed > 0 => {
                            tracing::info!(camera = %cam, freed, "made room for an upload");
                        }
                        _ => break,
                    }
                }
            }
            if short() {
                return Err(RecError::NoRoom(format!(
                    "not enough free space for {needed} more bytes of uploads above the \
                     free-space floor of {floor} bytes"
                )));
            }
        }
        Ok(())
    }

    /// Where the upload of `name` stands.
    pub fn upload_state(&self, camera: &str, name: &str) -> Result<UploadState> {
        let (c, n) = (camera.to_owned(), name.to_owned());
        if let Some(seg) = self.db.call_blocking(|db| index::get(db, &c, &n))? {
            return Ok(UploadState::Complete(seg));
        }
        let (data, meta, _, _) = self.staging(camera, name);
        match read_meta(&meta) {
            Some((sha256, total)) => {
                let received = fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
                Ok(UploadState::Partial {
                    received,
                    total,
                    sha256,
                })
            }
            None => Ok(UploadState::None),
        }
    }

    /// Checks an upload request before its body is read: idempotency (same name
    /// and hash committed: nothing to do; another hash: conflict), the size bound,
    /// and the offset against what is staged. A request starting at 0 with a new
    /// hash or size restarts the staging; resuming needs the same hash and size.
    pub fn begin_upload(
        &self,
        camera: &str,
        name: &str,
        sha256: &str,
        range: ContentRange,
    ) -> Result<Begin> {
        if self.dir(camera).is_none() {
            return Err(RecError::NotFound(format!("no camera {camera:?}")));
        }
        let Some(start_ms) = store::parse_segment_name(name) else {
            return Err(RecError::Invalid(format!("{name:?} is not a segment name")));
        };
        self.check_start_time(name, start_ms)?;
        if range.total > self.max_segment_size {
            return Err(RecError::TooLarge(format!(
                "segment of {} bytes is over the limit of {} bytes",
                range.total, self.max_segment_size
            )));
        }
        let claim = self.claim_upload(camera, name).ok_or_else(|| {
            RecError::Conflict("another upload of this segment is in progress".into())
        })?;
        let (c, n) = (camera.to_owned(), name.to_owned());
        if let Some(seg) = self.db.call_blocking(|db| index::get(db, &c, &n))? {
            if seg.sha256 == sha256 {
                return Ok(Begin::AlreadyHave(seg));
            }
            return Err(RecError::Conflict(format!(
                "segment {name} is already stored with another SHA-256"
            )));
        }
        let (data, meta, dir, _) = self.staging(camera, name);
        let staged = read_meta(&meta);
        let same = staged
            .as_ref()
            .is_some_and(|(s, t)| s == sha256 && *t == range.total);
        let offset = if same {
            fs::metadata(&data).map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        if !same {
            if range.start != 0 {
                return Err(if staged.is_some() {
                    RecError::Conflict(
                        "an unfinished upload of this segment has another SHA-256 or size; \
                         start again from byte 0"
                            .into(),
                    )
                } else {
                    RecError::WrongOffset {
                        got: range.start,
                        expected: 0,
                    }
                });
            }
            self.room_for_upload(camera, name, range.total)?;
            fs::create_dir_all(&dir).map_err(|e| RecError::io("create directory", &dir, e))?;
            let _ = fs::remove_file(&data);
            write_meta(&meta, sha256, range.total)?;
            File::create(&data).map_err(|e| RecError::io("create", &data, e))?;
        }
        if same && offset == range.total {
            return Ok(Begin::AllStaged { claim });
        }
        if offset > range.total {
            // A staged file longer than announced cannot be right: start over.
            let _ = fs::remove_file(&data);
            let _ = fs::remove_file(&meta);
            return Err(RecError::WrongOffset {
                got: range.start,
                expected: 0,
            });
        }
        if range.start != offset {
            return Err(RecError::WrongOffset {
                got: range.start,
                expected: offset,
            });
        }
        Ok(Begin::Write {
            data,
            offset,
            claim,
        })
    }

    /// The staged file is complete: verify, probe, commit and index it. On a hash
    /// or format mismatch the staging files are deleted and nothing is indexed.
    pub fn finish_upload(
        self: &Arc<Self>,
        camera: &str,
        name: &str,
        sha256: &str,
    ) -> Result<Segment> {
        let (data, meta, _, retimed) = self.staging(camera, name);
        let discard = || {
            let _ = fs::remove_file(&data);
            let _ = fs::remove_file(&meta);
            let _ = fs::remove_file(&retimed);
        };
        let got = super::sha256_file(&data)?;
        if got != sha256 {
            discard();
            return Err(RecError::Rejected(format!(
                "SHA-256 mismatch: X-Content-SHA256 was {sha256}, the received file has {got}; \
                 the upload was discarded"
            )));
        }
        self.commit_staged(camera, name, &data, &retimed, got, Source::Upload, &discard)
    }

    /// Commits a complete staged segment file `data` (SHA-256 `sha256`) as `name` of
    /// `camera`: probed (not a complete fMP4: rejected and `discard`ed), moved to start
    /// at media time 0 if it does not (through the copy `retimed`), moved into the
    /// camera's directory in the store's crash-safe order, indexed with `source`, and
    /// the staging files `discard`ed. A file of that name already on disk without a row
    /// is indexed instead (same content) or refused (other content).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_staged(
        self: &Arc<Self>,
        camera: &str,
        name: &str,
        data: &std::path::Path,
        retimed: &std::path::Path,
        got: String,
        source: Source,
        discard: &dyn Fn(),
    ) -> Result<Segment> {
        let probe = match super::probe_file(data) {
            Ok(p) if p.recovery.fragments > 0 && p.is_complete() => p,
            Ok(_) => {
                discard();
                return Err(RecError::Rejected(
                    "not a complete fMP4 segment; it was discarded".into(),
                ));
            }
            Err(e) => {
                discard();
                return Err(e);
            }
        };
        if !PLAYABLE.iter().any(|p| probe.codec_string.starts_with(p)) {
            discard();
            return Err(RecError::Rejected(format!(
                "codec {} cannot be played by the hub's pages (H.264 or H.265 only); the upload \
                 was discarded",
                probe.codec_string
            )));
        }
        let dir = self
            .dir(camera)
            .ok_or_else(|| RecError::NotFound(format!("no camera {camera:?}")))?;
        let start_ms = store::parse_segment_name(name)
            .ok_or_else(|| RecError::Invalid(format!("{name:?} is not a segment name")))?;
        // What is stored: the upload, or a copy whose media time starts at 0.
        let (src, stored_sha) = match store::write_retimed_copy(data, retimed) {
            Ok(Some(c)) => {
                tracing::info!(
                    camera,
                    segment = name,
                    was_at = %c.was_at,
                    "moved the uploaded segment's media time to start at 0"
                );
                (retimed, super::sha256_file(retimed)?)
            }
            Ok(None) => (data, got.clone()),
            Err(store::StoreError::BadSegment(why)) => {
                tracing::warn!(
                    camera,
                    segment = name,
                    why,
                    "cannot move the uploaded segment's media time to 0; storing it as sent"
                );
                (data, got.clone())
            }
            Err(e) => return Err(e.into()),
        };
        // A file of this name on disk but not in the index (a crash before the insert).
        if dir.path().join(name).exists() {
            let seg = self.index_file(camera, name, source)?;
            discard();
            if seg.sha256 == stored_sha {
                return Ok(seg);
            }
            return Err(RecError::Conflict(format!(
                "segment {name} is already stored with another SHA-256"
            )));
        }
        let done = match commit_by_rename(src, dir.path(), name, start_ms, &probe) {
            Ok(done) => done,
            Err(e) => {
                // Another filesystem (a camera directory on its own disk): copy through
                // the store's writer instead, which has the same crash-safe order.
                tracing::debug!(error = %e, "rename into place failed; copying");
                self.commit_by_copy(camera, src, name, start_ms, &probe)?
            }
        };
        let seg = Segment {
            camera: camera.to_owned(),
            file_name: done.name,
            start_ms: done.start_ms,
            duration_ms: done.duration.0.max(0) / 90,
            size_bytes: done.size_bytes,
            sha256: stored_sha,
            codec: probe.codec_string,
            width: u32::from(probe.width),
            height: u32::from(probe.height),
            source,
        };
        self.insert(&seg)?;
        discard();
        Ok(seg)
    }
}

impl Recordings {
    /// Copies the staged file into the camera's directory through a [`store::SegmentSink`]
    /// (`.partial`, fsync, rename, fsync directory; on a full disk retention makes room);
    /// on failure the partial file is removed, so no half copy is ever recovered as a
    /// segment.
    fn commit_by_copy(
        self: &Arc<Self>,
        camera: &str,
        data: &std::path::Path,
        name: &str,
        start_ms: i64,
        probe: &media::ProbeInfo,
    ) -> Result<store::FinishedSegment> {
        let mut sink = self
            .sink(camera)
            .ok_or_else(|| RecError::NotFound(format!("no camera {camera:?}")))?;
        if sink.start(start_ms, &[])?.name() != name {
            sink.abort();
            return Err(RecError::Conflict(format!(
                "segment {name} is being written"
            )));
        }
        let copy = |sink: &mut store::SegmentSink| -> Result<()> {
            let mut src = File::open(data).map_err(|e| RecError::io("open", data, e))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = src
                    .read(&mut buf)
                    .map_err(|e| RecError::io("read", data, e))?;
                if n == 0 {
                    return Ok(());
                }
                sink.append(&buf[..n])?;
            }
        };
        if let Err(e) = copy(&mut sink) {
            sink.abort();
            return Err(e);
        }
        let written = sink.current().map_or(0, store::SegmentWriter::len);
        let summary = summary_of(probe, written);
        sink.finish(&summary)?
            .ok_or_else(|| RecError::Conflict(format!("segment {name} was not written")))
    }
}

fn summary_of(probe: &media::ProbeInfo, file_bytes: u64) -> SegmentSummary {
    SegmentSummary {
        index: 0,
        start: probe.recovery.first_dts.unwrap_or(Time90k::ZERO),
        duration: probe.recovery.duration,
        frames: probe.recovery.samples,
        key_frames: probe.recovery.key_frames,
        fragments: probe.recovery.fragments,
        file_bytes,
        media_bytes: 0,
    }
}

/// Moves the verified staging file into place: mtime set to the media's end (the
/// store's convention), fsync, rename to its final name, fsync the directory. The
/// file appears whole or not at all.
fn commit_by_rename(
    data: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    start_ms: i64,
    probe: &media::ProbeInfo,
) -> Result<store::FinishedSegment> {
    let f = OpenOptions::new()
        .write(true)
        .open(data)
        .map_err(|e| RecError::io("open", data, e))?;
    let size_bytes = f
        .metadata()
        .map_err(|e| RecError::io("stat", data, e))?
        .len();
    let end_ms = start_ms.saturating_add(probe.recovery.duration.0.max(0) / 90);
    if let Ok(end) = u64::try_from(end_ms) {
        let _ = f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_millis(end));
    }
    f.sync_all().map_err(|e| RecError::io("fsync", data, e))?;
    drop(f);
    let target = dir.join(name);
    // Never replace a file of that name (a recorder's, say): refuse instead.
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        data,
        rustix::fs::CWD,
        &target,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(|e| RecError::io("rename", data, e.into()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| RecError::io("fsync directory", dir, e))?;
    Ok(store::FinishedSegment {
        name: name.to_owned(),
        start_ms,
        duration: probe.recovery.duration,
        size_bytes,
    })
}

fn read_meta(path: &std::path::Path) -> Option<(String, u64)> {
    let text = fs::read_to_string(path).ok()?;
    let (sha, total) = text.trim().split_once(' ')?;
    Some((sha.to_owned(), total.parse().ok()?))
}

fn write_meta(path: &std::path::Path, sha256: &str, total: u64) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| RecError::io("create", path, e))?;
    writeln!(f, "{sha256} {total}").map_err(|e| RecError::io("write", path, e))?;
    f.sync_all().map_err(|e| RecError::io("fsync", path, e))
}
