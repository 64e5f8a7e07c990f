//! [`SegmentSink`]: where a recorder's segments go. It keeps one [`SegmentWriter`] open at a
//! time in a [`SegmentDir`] and, when a write finds the disk full, asks the recorder's
//! make-room callback to free space and writes the same bytes again (a failed write is cut
//! back, so retrying is safe).
//!
//! The callback belongs to the recorder because only the recorder knows what else must go
//! with a file: the hub deletes a segment's index row before its file, the agent applies
//! its retention policy to the directory. The store never deletes on its own here.

use media::{Fragment, SegmentSummary};

use crate::dir::SegmentDir;
use crate::error::Result;
use crate::writer::{FinishedSegment, SegmentWriter};

/// How many times one write is retried after making room on a full disk.
pub const MAX_ROOM_ATTEMPTS: usize = 8;

/// Frees space after a write failed with [`crate::StoreError::NoSpace`]. Called with the
/// directory and the name of the segment being written (never to be deleted; it is still
/// `.partial`, which retention does not touch); returns the bytes freed, 0 when nothing
/// could be freed (the sink then gives up and returns the `NoSpace` error).
pub type MakeRoom = Box<dyn FnMut(&SegmentDir, Option<&str>) -> u64 + Send>;

/// One camera's segments being written; see the module docs. Blocking, like the rest of
/// the store: use it from the recorder's own thread.
pub struct SegmentSink {
    dir: SegmentDir,
    room: MakeRoom,
    writer: Option<SegmentWriter>,
}

impl std::fmt::Debug for SegmentSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentSink")
            .field("dir", &self.dir.path())
            .field("writing", &self.writer.as_ref().map(SegmentWriter::name))
            .finish_non_exhaustive()
    }
}

impl SegmentSink {
    /// A sink into `dir` that calls `make_room` when the disk is full.
    pub fn new(
        dir: SegmentDir,
        make_room: impl FnMut(&SegmentDir, Option<&str>) -> u64 + Send + 'static,
    ) -> SegmentSink {
        SegmentSink {
            dir,
            room: Box::new(make_room),
            writer: None,
        }
    }

    pub fn dir(&self) -> &SegmentDir {
        &self.dir
    }

    /// The segment being written, if one is open.
    pub fn current(&self) -> Option<&SegmentWriter> {
        self.writer.as_ref()
    }

    /// Starts a segment whose first frame was captured at `start_ms` and writes `init` (the
    /// init segment; empty when copying a whole file with [`append`](Self::append)). A
    /// segment still open is given up first. On failure nothing of the new segment is left.
    pub fn start(&mut self, start_ms: i64, init: &[u8]) -> Result<&SegmentWriter> {
        self.abort();
        let mut attempts = 0;
        let mut w = loop {
            match self.dir.begin(start_ms) {
                Ok(w) => break w,
                Err(e) if e.is_no_space() && attempts < MAX_ROOM_ATTEMPTS => {
                    attempts += 1;
                    if (self.room)(&self.dir, None) == 0 {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        };
        if !init.is_empty()
            && let Err(e) = with_room(&self.dir, &mut self.room, &mut w, |w| w.append(init))
        {
            let _ = w.abort();
            return Err(e);
        }
        Ok(self.writer.insert(w))
    }

    /// Appends `bytes` to the open segment, making room if the disk is full. Returns false
    /// (and writes nothing) when no segment is open.
    pub fn append(&mut self, bytes: &[u8]) -> Result<bool> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(false);
        };
        with_room(&self.dir, &mut self.room, w, |w| w.append(bytes))?;
        Ok(true)
    }

    /// Writes one whole fragment (synced per the directory's [`crate::SyncPolicy`]),
    /// making room if the disk is full. Returns false (and writes nothing) when no segment
    /// is open. On an error the fragment is not in the file, which stays valid, and the
    /// segment stays open: after `NoSpace` the caller may go on with the next fragment.
    pub fn write_fragment(&mut self, fragment: &Fragment) -> Result<bool> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(false);
        };
        with_room(&self.dir, &mut self.room, w, |w| w.write_fragment(fragment))?;
        Ok(true)
    }

    /// Finishes the open segment (fsync, rename, directory fsync; see
    /// [`SegmentWriter::finish`]); `None` when none is open. On an error the `.partial`
    /// file stays for [`SegmentDir::recover_partials`].
    pub fn finish(&mut self, summary: &SegmentSummary) -> Result<Option<FinishedSegment>> {
        match self.writer.take() {
            Some(w) => w.finish(summary).map(Some),
            None => Ok(None),
        }
    }

    /// Gives the open segment up, deleting its `.partial` file.
    pub fn abort(&mut self) {
        if let Some(w) = self.writer.take()
            && let Err(e) = w.abort()
        {
            tracing::warn!(error = %e, "could not delete an abandoned segment");
        }
    }
}

/// Runs a write; on `NoSpace` makes room (never deleting the segment being written) and
/// retries the same bytes, up to [`MAX_ROOM_ATTEMPTS`] times or until nothing more can be
/// freed.
fn with_room(
    dir: &SegmentDir,
    room: &mut MakeRoom,
    w: &mut SegmentWriter,
    mut op: impl FnMut(&mut SegmentWriter) -> Result<()>,
) -> Result<()> {
    let mut attempts = 0;
    loop {
        match op(w) {
            Err(e) if e.is_no_space() && attempts < MAX_ROOM_ATTEMPTS => {
                attempts += 1;
                if room(dir, Some(w.name())) == 0 {
                    return Err(e);
                }
            }
            r => return r,
        }
    }
}
