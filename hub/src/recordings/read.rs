//! Reading recorded segments through one interface, wherever they are kept: a segment named
//! by its index row is opened ([`Recordings::open_segment`]) and read by byte range
//! ([`SegmentFile::read_at`]). Downloads with HTTP Range, the playback page and export read
//! only through this, never by path.
//!
//! A segment is a file in its camera's [`store::SegmentDir`] ([`LocalFile`]) or, when
//! that file is gone (its row says `local = 0`, or the file went missing) and the
//! off-site bucket holds the segment, an object read by byte range through the
//! [`SecondTier`] the hub attaches (`crate::offsite::read`). Blocking: call it from a
//! blocking thread.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{RecError, Recordings, Result, Segment, index};

/// A second place segments are kept, behind the local files (the off-site bucket):
/// opens the object `key` that holds a segment of `expected_len` bytes.
pub trait SecondTier: Send + Sync + std::fmt::Debug {
    fn open(&self, key: &str, expected_len: u64) -> Result<Box<dyn SegmentFile>>;
}

/// An open recorded segment.
pub trait SegmentFile: Send + Sync + std::fmt::Debug {
    /// Its length in bytes.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the segment.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize>;

    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let n = self.read_at(offset, buf)?;
        if n < buf.len() {
            return Err(RecError::NotFound(format!(
                "the recording ends at byte {} (wanted {})",
                offset.saturating_add(n as u64),
                offset.saturating_add(buf.len() as u64)
            )));
        }
        Ok(())
    }
}

/// A segment file in its camera's directory on this machine.
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    len: u64,
    path: PathBuf,
}

impl LocalFile {
    /// Opens a local file for reading; [`RecError::NotFound`] when it is not there.
    pub fn open(path: &std::path::Path) -> Result<LocalFile> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecError::NotFound("no such recording".into()));
            }
            Err(e) => return Err(RecError::io("open", path, e)),
        };
        let meta = file.metadata().map_err(|e| RecError::io("stat", path, e))?;
        if !meta.is_file() {
            return Err(RecError::NotFound("no such recording".into()));
        }
        Ok(LocalFile {
            file,
            len: meta.len(),
            path: path.to_owned(),
        })
    }
}

impl SegmentFile for LocalFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RecError::io("read", &self.path, e)),
            }
        }
        Ok(got)
    }
}

impl Recordings {
    /// Opens an indexed segment for reading: its local file, else the off-site copy
    /// when the bucket holds it; [`RecError::NotFound`] when it is in neither (e.g.
    /// deleted by retention since the row was read).
    pub fn open_segment(&self, seg: &Segment) -> Result<Box<dyn SegmentFile>> {
        let path = self
            .file_path(&seg.camera, &seg.file_name)
            .ok_or_else(|| RecError::NotFound("no such recording".into()))?;
        let Some(offsite) = &self.offsite_reader else {
            return Ok(Box::new(LocalFile::open(&path)?));
        };
        let (camera, file) = (seg.camera.clone(), seg.file_name.clone());
        let stored = self
            .db
            .call_blocking(|c| index::stored(c, &camera, &file))?;
        let (local, key) = match stored {
            Some(s) => (s.local, s.offsite_key),
            None => (true, None),
        };
        if local {
            match LocalFile::open(&path) {
                Ok(f) => return Ok(Box::new(f)),
                Err(RecError::NotFound(_)) if key.is_some() => {}
                Err(e) => return Err(e),
            }
        }
        match key {
            Some(key) => offsite.open(&key, seg.size_bytes),
            None => Err(RecError::NotFound(
                "no such recording: its local file is gone and the off-site bucket holds no copy"
                    .into(),
            )),
        }
    }

    /// Opens a segment by its public name (`CAMERA_FILENAME`): an exact match in the index,
    /// whose file is there.
    pub fn open_public(&self, public: &str) -> Result<(Segment, Box<dyn SegmentFile>)> {
        let gone = || RecError::NotFound("no such recording".into());
        let (camera, file) = index::parse_public_name(public).ok_or_else(gone)?;
        let (camera, file) = (camera.to_owned(), file.to_owned());
        let seg = self
            .db
            .call_blocking(|c| index::get(c, &camera, &file))?
            .ok_or_else(gone)?;
        let reader = self.open_segment(&seg)?;
        Ok((seg, reader))
    }
}
