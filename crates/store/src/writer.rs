//! [`SegmentWriter`]: one segment file written crash-safely. Bytes go to `NAME.mp4.partial`
//! at explicit offsets; fragments are fdatasync'ed per [`SyncPolicy`]; `finish` does fsync
//! file → rename to `NAME.mp4` → fsync directory. Every method is all-or-nothing: on error
//! the file is cut back to its length before the call, so the caller can retry the same
//! bytes (after making room, for [`StoreError::NoSpace`]).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use media::recover::Scanner;
use media::{Duration90k, Fragment, SegmentSummary};

use crate::error::{Result, StoreError};
use crate::handle::DirHandle;

/// Most buffers given to one `pwritev` (Linux allows 1024).
const MAX_IOVECS: usize = 512;

/// Writes every byte of `parts` at `offset` onwards, retrying short writes.
fn pwrite_all(file: &File, parts: &[&[u8]], mut offset: u64) -> io::Result<()> {
    let (mut i, mut skip) = (0, 0);
    loop {
        // Past the parts written whole (and empty ones).
        while i < parts.len() && skip == parts[i].len() {
            i += 1;
            skip = 0;
        }
        if i == parts.len() {
            return Ok(());
        }
        let iov: Vec<io::IoSlice<'_>> = std::iter::once(&parts[i][skip..])
            .chain(parts[i + 1..].iter().copied())
            .take(MAX_IOVECS)
            .map(io::IoSlice::new)
            .collect();
        let mut n = match rustix::io::pwritev(file, &iov, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        offset += n as u64;
        while n > 0 {
            let left = parts[i].len() - skip;
            if n >= left {
                n -= left;
                i += 1;
                skip = 0;
            } else {
                skip += n;
                n = 0;
            }
        }
    }
}

/// When a writer fdatasyncs fragments. Whatever the policy, [`SegmentWriter::finish`]
/// fsyncs the whole file before renaming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// After every fragment: a power cut loses at most the fragment being written.
    #[default]
    EveryFragment,
    /// Once at least this much media has been appended since the last sync (e.g. 10 s):
    /// fewer flushes for an SD card, at most about this much footage lost on a power cut.
    /// Media time rather than the wall clock, so the bound holds and tests are exact.
    EveryMedia(Duration90k),
    /// Only at `finish`: a power cut may lose the whole segment in progress.
    OnFinish,
}

/// A segment that [`SegmentWriter::finish`] has renamed into place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedSegment {
    /// `2026-11-21T07-31-50.123Z.mp4`.
    pub name: String,
    pub start_ms: i64,
    /// Media duration (also stored as the file's mtime, `start_ms + duration`).
    pub duration: Duration90k,
    pub size_bytes: u64,
}

/// Writes one segment; made by [`crate::SegmentDir::begin`]. Dropping it without `finish`
/// leaves the `.partial` file for [`crate::SegmentDir::recover_partials`], as a crash would.
/// A recorder writes through a [`crate::SegmentSink`], which makes room on a full disk.
#[derive(Debug)]
pub struct SegmentWriter {
    dir: Arc<DirHandle>,
    name: String,
    start_ms: i64,
    file: File,
    path: PathBuf,
    /// Bytes written successfully: the next write goes here, a failed one is cut back here.
    len: u64,
    /// Media appended since the last fdatasync.
    unsynced: Duration90k,
    sync: SyncPolicy,
    syncs: u64,
}

impl SegmentWriter {
    pub(crate) fn new(
        dir: Arc<DirHandle>,
        name: String,
        start_ms: i64,
        file: File,
        sync: SyncPolicy,
    ) -> SegmentWriter {
        let path = dir.partial_path(&name);
        SegmentWriter {
            dir,
            name,
            start_ms,
            file,
            path,
            len: 0,
            unsynced: Duration90k::ZERO,
            sync,
            syncs: 0,
        }
    }

    /// The finished name (`….mp4`), for `retention::plan`'s `current_segment`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// UTC start (ms), possibly moved on from the one asked for (see [`crate::SegmentDir::begin`]).
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// fdatasyncs done so far (for metrics and tests).
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Appends `bytes` (the init segment, or a whole fragment). On error (short write,
    /// `ENOSPC`) the file is truncated back to its previous length, so retrying the same
    /// bytes is safe.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.append_parts(std::iter::once(bytes))
    }

    /// Appends `parts` one after the other with vectored writes (`pwritev`): the samples of a
    /// fragment go from their own buffers to the file without being gathered first. On
    /// error the file is cut back as in [`append`](Self::append).
    pub fn append_parts<'a>(&mut self, parts: impl Iterator<Item = &'a [u8]>) -> Result<()> {
        let parts: Vec<&[u8]> = parts.filter(|p| !p.is_empty()).collect();
        let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
        match pwrite_all(&self.file, &parts, self.len) {
            Ok(()) => {
                self.len += total;
                Ok(())
            }
            Err(e) => {
                self.cut_back();
                Err(StoreError::io("write", &self.path, e))
            }
        }
    }

    /// Tells the writer a fragment of `fragment_duration` has been appended; fdatasyncs if
    /// the [`SyncPolicy`] says so. Returns whether it synced.
    pub fn sync_fragment(&mut self, fragment_duration: Duration90k) -> Result<bool> {
        self.unsynced += fragment_duration;
        let due = match self.sync {
            SyncPolicy::EveryFragment => true,
            SyncPolicy::EveryMedia(every) => self.unsynced >= every,
            SyncPolicy::OnFinish => false,
        };
        if due {
            self.file
                .sync_data()
                .map_err(|e| StoreError::io("fdatasync", &self.path, e))?;
            self.unsynced = Duration90k::ZERO;
            self.syncs += 1;
        }
        Ok(due)
    }

    /// [`append`](Self::append) + [`sync_fragment`](Self::sync_fragment) as one step: if the
    /// sync fails too, the fragment is cut off again, so the caller retries the whole
    /// fragment.
    pub fn write_fragment(&mut self, fragment: &Fragment) -> Result<()> {
        let before = self.len;
        self.append_parts(fragment.parts())?;
        if let Err(e) = self.sync_fragment(fragment.duration) {
            self.len = before;
            self.unsynced -= fragment.duration;
            self.cut_back();
            return Err(e);
        }
        Ok(())
    }

    /// Closes the segment: fixes the length, sets the mtime to the media's end, fsyncs the
    /// file, renames `.partial` → `.mp4` and fsyncs the directory. `summary` is the
    /// segmenter's; if its `file_bytes` disagree with what was written (a fragment given up
    /// on), the duration is read back from the file instead.
    ///
    /// On error the `.partial` file stays; [`crate::SegmentDir::recover_partials`] finishes it
    /// (at the next start-up, or when the caller calls it).
    pub fn finish(self, summary: &SegmentSummary) -> Result<FinishedSegment> {
        let duration = if summary.file_bytes == self.len {
            summary.duration
        } else {
            tracing::warn!(
                segment = self.name,
                written = self.len,
                expected = summary.file_bytes,
                "segment shorter than its summary; reading its duration back"
            );
            scan(&self.file, self.len)
                .map(|r| r.duration)
                .unwrap_or(Duration90k::ZERO)
        };
        self.file
            .set_len(self.len)
            .map_err(|e| StoreError::io("truncate", &self.path, e))?;
        set_end_mtime(&self.file, self.start_ms, duration);
        self.file
            .sync_all()
            .map_err(|e| StoreError::io("fsync", &self.path, e))?;
        let to = self.dir.file_path(&self.name);
        fs::rename(&self.path, &to).map_err(|e| StoreError::io("rename", &self.path, e))?;
        self.dir.sync_dir()?;
        Ok(FinishedSegment {
            name: self.name.clone(),
            start_ms: self.start_ms,
            duration,
            size_bytes: self.len,
        })
    }

    /// Gives the segment up: deletes the `.partial` file.
    pub fn abort(self) -> Result<()> {
        fs::remove_file(&self.path).map_err(|e| StoreError::io("delete", &self.path, e))?;
        self.dir.sync_dir()
    }

    /// Truncates the file back to `self.len` after a failed write. If even that fails, the
    /// next write still goes to `self.len` and `finish` truncates again, so no garbage can
    /// end up in a finished file.
    fn cut_back(&mut self) {
        if let Err(e) = self.file.set_len(self.len) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not truncate after a failed write");
        }
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        self.dir.active().remove(&self.name);
    }
}

/// Scans an open file of `len` bytes with [`Scanner`], reading only the init segment, the
/// `moof`s and the `mdat` headers.
pub(crate) fn scan(file: &File, len: u64) -> std::result::Result<media::Recovery, ScanError> {
    Scanner::new(len)
        .drive(|offset, buf| read_at_most(file, buf, offset).map_err(ScanError::Io))?
        .into_recovery()
        .map_err(ScanError::Media)
}

#[derive(Debug)]
pub(crate) enum ScanError {
    Io(io::Error),
    Media(media::Error),
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
pub(crate) fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Records the media's end as the file's mtime (see the `dir` module docs). Best effort: a
/// filesystem that refuses only costs the duration in listings.
pub(crate) fn set_end_mtime(file: &File, start_ms: i64, duration: Duration90k) {
    let end_ms = start_ms.saturating_add(duration.0.max(0) / 90);
    let Ok(end_ms) = u64::try_from(end_ms) else {
        return;
    };
    if let Err(e) = file.set_modified(UNIX_EPOCH + Duration::from_millis(end_ms)) {
        tracing::debug!(error = %e, "could not set segment mtime");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_writes_put_every_part_in_order_past_the_iovec_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("f"))
            .unwrap();
        file.write_all_at(b"head", 0).unwrap();
        // More parts than one pwritev takes, empty ones among them.
        let owned: Vec<Vec<u8>> = (0..3 * MAX_IOVECS + 7)
            .map(|i| vec![(i % 251) as u8; i % 5])
            .chain([Vec::new(), Vec::new()])
            .collect();
        let parts: Vec<&[u8]> = owned.iter().map(|v| &v[..]).collect();
        pwrite_all(&file, &parts, 4).unwrap();
        let mut want = b"head".to_vec();
        for p in &owned {
            want.extend_from_slice(p);
        }
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), want);
    }
}
