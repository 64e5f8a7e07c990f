//! The crate's one error type. [`StoreError::NoSpace`] is the kind a recorder acts on (make
//! room, retry the same bytes); the set-up refusals explain themselves to the operator.

use std::io;
use std::path::PathBuf;

use crate::name::MARKER;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The filesystem is full (`ENOSPC`) or the quota is used up (`EDQUOT`). The failed
    /// operation left the file as it was before the call: free space (e.g.
    /// [`crate::SegmentDir::enforce`]) and retry with the same bytes.
    #[error("no space left for {op} {path}")]
    NoSpace { op: &'static str, path: PathBuf },
    /// The directory exists but carries no marker file, so it may be an empty mount point
    /// whose disk is not mounted.
    #[error(
        "{path} is not a recordings directory (no marker file {MARKER}); refusing so an \
         unmounted disk does not fill the SD card. To start a new recordings directory, \
         point the camera at a missing or empty directory with SetUp::CreateIfMissing"
    )]
    NotRecordingsDir { path: PathBuf },
    /// `SetUp::MustExist` and the directory is missing.
    #[error(
        "recordings directory {path} is missing; refusing to create it (is its disk \
         mounted?)"
    )]
    Missing { path: PathBuf },
    /// The path exists and is not a directory.
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    /// The marker names another camera: two cameras must not share a directory.
    #[error("{path} holds recordings of camera {found:?}, not {expected:?}")]
    WrongCamera {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// Another [`crate::SegmentDir`] (in this or another process) has the directory open.
    #[error("{path} is in use by another recorder (locked)")]
    Locked { path: PathBuf },
    /// The marker file exists but does not parse.
    #[error("bad marker file {path}: {why}")]
    BadMarker { path: PathBuf, why: String },
    /// An invalid camera name, retention policy or start time: a configuration mistake.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A name that is not a segment name (`2026-11-21T07-31-50.123Z.mp4`).
    #[error("{0:?} is not a segment name")]
    BadName(String),
    /// No finished segment of that name.
    #[error("segment {0} not found")]
    NotFound(String),
    /// A finished segment whose contents cannot be worked on (e.g. retimed): not a
    /// complete fMP4 file of one track. It is left as it is.
    #[error("segment {0}")]
    BadSegment(String),
    /// Any other I/O failure.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// True for [`StoreError::NoSpace`]: make room and retry.
    pub fn is_no_space(&self) -> bool {
        matches!(self, StoreError::NoSpace { .. })
    }

    /// Wraps an I/O error, turning "disk full" and "quota exceeded" into
    /// [`StoreError::NoSpace`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                StoreError::NoSpace { op, path }
            }
            _ => StoreError::Io { op, path, source },
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
