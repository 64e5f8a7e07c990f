//! [`DirHandle`]: the open, locked recordings directory that a [`crate::SegmentDir`] and
//! every [`crate::SegmentWriter`] it made share. It holds the `flock` (released when the
//! last holder is dropped), the file names of the segments being written, and the paths
//! and directory fsync both need.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};

use crate::error::{Result, StoreError};
use crate::name::{PARTIAL_EXT, UPLOADED_EXT};

#[derive(Debug)]
pub(crate) struct DirHandle {
    pub path: PathBuf,
    pub camera: String,
    pub id: String,
    /// The open directory: holds the `flock` and is what we fsync.
    pub dir: File,
    /// Final names of the segments our writers have open.
    pub active: Mutex<BTreeSet<String>>,
    /// How many times the directory was listed (see [`crate::SegmentDir::listings`]).
    pub listings: AtomicU64,
}

impl DirHandle {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsyncs the directory itself (entries created, renamed or removed).
    pub fn sync_dir(&self) -> Result<()> {
        self.dir
            .sync_all()
            .map_err(|e| StoreError::io("fsync directory", self.path(), e))
    }

    pub fn active(&self) -> MutexGuard<'_, BTreeSet<String>> {
        // The set stays consistent even if a holder panicked: every update is one call.
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn file_path(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn partial_path(&self, name: &str) -> PathBuf {
        self.path().join(format!("{name}{PARTIAL_EXT}"))
    }

    pub fn sidecar_path(&self, name: &str) -> PathBuf {
        self.path().join(format!("{name}{UPLOADED_EXT}"))
    }
}
