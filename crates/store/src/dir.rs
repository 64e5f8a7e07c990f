//! [`SegmentDir`]: one camera's recordings directory. Set-up checks the ownership marker,
//! listing reads names and sizes, deletions follow the reverse of the creation order.
//!
//! Files in the directory:
//!
//! | name | meaning |
//! |---|---|
//! | `.camera-recordings` | marker: format version, random directory id, camera name |
//! | `NAME.mp4.partial` | segment being written, or torn by a crash ([`SegmentDir::recover_partials`]) |
//! | `NAME.mp4` | finished segment; its mtime is set to the end of its media |
//! | `NAME.mp4.uploaded` | empty sidecar: the segment has been delivered to the hub |
//! | `NAME.mp4.retime`, `NAME.mp4.retimed` | a copy whose media time starts at 0, being written / complete ([`crate::retime`]) |
//! | `.media-time-checked` | how far the last pass of [`SegmentDir::retime_segments`] got |
//! | `*.tmp` | a marker (or `.media-time-checked`) being written; removed at start-up |

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use crate::clock::FsStats;
use crate::error::{Result, StoreError};
use crate::handle::DirHandle;
use crate::name::{MARKER, PARTIAL_EXT, TMP_EXT, UPLOADED_EXT, parse_segment_name, segment_name};
use crate::retention::{self, Deletion, RetentionPolicy};
use crate::segment::SegmentInfo;
use crate::writer::{SegmentWriter, SyncPolicy};

/// First line of the marker file.
const MARKER_MAGIC: &str = "camera-recordings 1";
/// Longest camera name accepted.
pub const MAX_CAMERA_NAME_LEN: usize = 128;
/// A finished segment's duration is read from its mtime only if it is at most this long
/// (a copied or touched file gives nonsense, which is ignored).
pub const MAX_SEGMENT_DURATION_MS: i64 = 24 * 3600 * 1000;

/// What [`SegmentDir::open`] may do when the directory is missing or unmarked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetUp {
    /// Create the directory if it is missing (its parent must exist; parents are never
    /// created) or adopt an existing empty one, and write the marker. For first set-up.
    CreateIfMissing,
    /// The directory must exist and carry this camera's marker. For every run after set-up:
    /// an unmounted disk then stops recording instead of filling the root filesystem.
    MustExist,
}

/// What [`SegmentDir::apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// The deletions carried out (a segment already gone is left out).
    pub deleted: Vec<Deletion>,
    /// Sum of the deleted files' sizes.
    pub bytes_freed: u64,
}

/// A camera's recordings directory, locked for this process while any clone (or writer) of
/// it lives. Cheap to clone: share it between the recorder and the uploader threads. All
/// methods block on disk I/O: call them from a dedicated thread, never an async task.
#[derive(Clone, Debug)]
pub struct SegmentDir {
    inner: Arc<DirHandle>,
    sync: SyncPolicy,
}

impl SegmentDir {
    /// Opens (or, with [`SetUp::CreateIfMissing`], sets up) `path` as the recordings
    /// directory of `camera`. Refuses a directory without the marker (it may be an empty
    /// mount point whose disk is missing), one marked for another camera, and one locked by
    /// another recorder.
    pub fn open(path: impl AsRef<Path>, camera: &str, setup: SetUp) -> Result<SegmentDir> {
        validate_camera(camera)?;
        let path = path.as_ref().to_path_buf();
        let created = match fs::metadata(&path) {
            Ok(m) if m.is_dir() => false,
            Ok(_) => return Err(StoreError::NotADirectory { path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if setup == SetUp::MustExist {
                    return Err(StoreError::Missing { path });
                }
                fs::create_dir(&path).map_err(|e| StoreError::io("create directory", &path, e))?;
                true
            }
            Err(e) => return Err(StoreError::io("stat", &path, e)),
        };
        let dir = File::open(&path).map_err(|e| StoreError::io("open directory", &path, e))?;
        lock_dir(&dir, &path)?;
        let marker_path = path.join(MARKER);
        let id = match fs::read_to_string(&marker_path) {
            Ok(text) => {
                let (id, found) = parse_marker(&text).map_err(|why| StoreError::BadMarker {
                    path: marker_path.clone(),
                    why,
                })?;
                if found != camera {
                    return Err(StoreError::WrongCamera {
                        path,
                        expected: camera.into(),
                        found,
                    });
                }
                id
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !created && (setup == SetUp::MustExist || !is_empty(&path)?) {
                    return Err(StoreError::NotRecordingsDir { path });
                }
                let id = random_id()?;
                write_marker(&path, &dir, &id, camera)?;
                if created && let Some(parent) = path.parent() {
                    // Make the new directory's own entry durable.
                    let parent = if parent.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        parent
                    };
                    sync_path(parent)?;
                }
                tracing::info!(path = %path.display(), camera, id, "set up recordings directory");
                id
            }
            Err(e) => return Err(StoreError::io("read", marker_path, e)),
        };
        Ok(SegmentDir {
            inner: Arc::new(DirHandle {
                path,
                camera: camera.into(),
                id,
                dir,
                active: Mutex::new(BTreeSet::new()),
                listings: AtomicU64::new(0),
            }),
            sync: SyncPolicy::default(),
        })
    }

    /// The same directory with writers from [`begin`](Self::begin) using `sync`.
    pub fn with_sync_policy(mut self, sync: SyncPolicy) -> SegmentDir {
        self.sync = sync;
        self
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn camera(&self) -> &str {
        &self.inner.camera
    }

    /// How many times this directory (through any clone) has been listed: a listing of a
    /// year of one-minute segments is half a million entries, so callers that must not
    /// list on every pass can be shown not to.
    pub fn listings(&self) -> u64 {
        self.inner.listings.load(Ordering::Relaxed)
    }

    /// Bytes of the `.partial` files this directory's writers have open (one `stat` each,
    /// no listing). A file gone since (finished or given up) counts 0.
    pub fn active_partial_bytes(&self) -> u64 {
        let names: Vec<String> = self.active().iter().cloned().collect();
        names
            .iter()
            .filter_map(|n| fs::metadata(self.partial_path(n)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// The random id written into the marker at set-up (to tell directories apart).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Starts a segment whose first frame was captured at `start_ms` (UTC ms): creates
    /// `NAME.mp4.partial` and makes its directory entry durable. If a segment of that name
    /// exists already (the clock stepped back), the start is moved on by a millisecond at a
    /// time until the name is free; [`SegmentWriter::start_ms`] tells which was used.
    pub fn begin(&self, start_ms: i64) -> Result<SegmentWriter> {
        let mut active = self.active();
        let mut start_ms = start_ms;
        for _ in 0..1000 {
            let name = segment_name(start_ms).ok_or_else(|| {
                StoreError::Config(format!("start time {start_ms} ms is outside years 0-9999"))
            })?;
            let partial = self.partial_path(&name);
            if active.contains(&name) || self.file_path(&name).exists() {
                start_ms += 1;
                continue;
            }
            // A sidecar without its segment (a crash between the two deletions) must not
            // make the new segment look uploaded.
            let sidecar = self.sidecar_path(&name);
            match fs::remove_file(&sidecar) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(StoreError::io("delete", sidecar, e));
                }
                _ => {}
            }
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&partial)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    start_ms += 1;
                    continue;
                }
                Err(e) => return Err(StoreError::io("create", partial, e)),
            };
            if let Err(e) = self.sync_dir() {
                drop(file);
                let _ = fs::remove_file(&partial);
                return Err(e);
            }
            active.insert(name.clone());
            drop(active);
            return Ok(SegmentWriter::new(
                self.inner.clone(),
                name,
                start_ms,
                file,
                self.sync,
            ));
        }
        Err(StoreError::Config(format!(
            "no free segment name within 1 s of {start_ms} ms"
        )))
    }

    /// Every segment file, finished and partial, oldest first (by start time, then name).
    pub fn segments(&self) -> Result<Vec<SegmentInfo>> {
        let mut out = Vec::new();
        let mut uploaded = HashSet::new();
        for entry in self.read_dir()? {
            let entry = entry.map_err(|e| StoreError::io("list", self.path(), e))?;
            let Ok(file_name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(seg) = file_name.strip_suffix(UPLOADED_EXT) {
                uploaded.insert(seg.to_owned());
                continue;
            }
            let (name, partial) = match file_name.strip_suffix(PARTIAL_EXT) {
                Some(n) => (n.to_owned(), true),
                None => (file_name, false),
            };
            let Some(start_ms) = parse_segment_name(&name) else {
                continue;
            };
            let meta = match entry.metadata() {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                // Deleted since read_dir (retention on another thread): not listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("stat", entry.path(), e)),
            };
            let duration_ms = if partial {
                None
            } else {
                meta.modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_millis()).ok())
                    .map(|end| end - start_ms)
                    .filter(|d| (0..=MAX_SEGMENT_DURATION_MS).contains(d))
            };
            out.push(SegmentInfo {
                name,
                start_ms,
                duration_ms,
                size_bytes: meta.len(),
                uploaded: false,
                partial,
            });
        }
        for s in &mut out {
            s.uploaded = !s.partial && uploaded.contains(&s.name);
        }
        out.sort_by(|a, b| (a.start_ms, &a.name, a.partial).cmp(&(b.start_ms, &b.name, b.partial)));
        Ok(out)
    }

    /// The names of the finished segment files (no `.partial`), oldest first, with their
    /// start times. Reads the directory only (no `stat` per file), so that a check over a
    /// year of one-minute segments costs one pass over the directory entries.
    pub fn finished_segment_names(&self) -> Result<Vec<(i64, String)>> {
        let mut out = Vec::new();
        for entry in self.read_dir()? {
            let entry = entry.map_err(|e| StoreError::io("list", self.path(), e))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some(start_ms) = parse_segment_name(&name) else {
                continue;
            };
            // The type comes with the entry; a filesystem without it costs a stat.
            match entry.file_type() {
                Ok(t) if t.is_file() => out.push((start_ms, name)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("stat", entry.path(), e)),
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Marks a finished segment as delivered to the hub: creates the empty sidecar
    /// `NAME.mp4.uploaded` and fsyncs the directory. Idempotent.
    pub fn mark_uploaded(&self, name: &str) -> Result<()> {
        check_name(name)?;
        if !self.file_path(name).is_file() {
            return Err(StoreError::NotFound(name.into()));
        }
        let sidecar = self.sidecar_path(name);
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&sidecar)
            .map_err(|e| StoreError::io("create", &sidecar, e))?;
        self.sync_dir()
    }

    /// Carries out deletions from [`retention::plan`], in order: for each, the segment file,
    /// then its sidecar (the reverse of their creation, so a crash in between leaves an
    /// orphan sidecar, removed at start-up, never an uploaded segment that looks new); then
    /// one directory fsync. Never touches a `.partial` file or a segment being written.
    pub fn apply(&self, plan: &[Deletion]) -> Result<ApplyReport> {
        let mut report = ApplyReport::default();
        let mut result = Ok(());
        for d in plan {
            if let Err(e) = self.delete_one(d, &mut report) {
                result = Err(e);
                break;
            }
        }
        if !report.deleted.is_empty() {
            self.sync_dir()?;
        }
        for d in &report.deleted {
            tracing::info!(camera = self.camera(), segment = d.name, reason = ?d.reason, size_bytes = d.size_bytes, "deleted segment");
        }
        result.map(|()| report)
    }

    fn delete_one(&self, d: &Deletion, report: &mut ApplyReport) -> Result<()> {
        check_name(&d.name)?;
        if self.active().contains(&d.name) {
            return Err(StoreError::Config(format!(
                "refusing to delete {}: it is being written",
                d.name
            )));
        }
        let path = self.file_path(&d.name);
        let size_bytes = match fs::symlink_metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("stat", path, e)),
        };
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("delete", path, e)),
        }
        report.bytes_freed += size_bytes;
        report.deleted.push(Deletion {
            size_bytes,
            ..d.clone()
        });
        let sidecar = self.sidecar_path(&d.name);
        match fs::remove_file(&sidecar) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StoreError::io("delete", sidecar, e))
            }
            _ => Ok(()),
        }
    }

    /// Retention in one call: lists the segments, reads the free space from `fs`, plans
    /// with [`retention::plan`] and applies the plan. Call it periodically (e.g. at every
    /// segment end) and when a write fails with [`StoreError::NoSpace`].
    pub fn enforce(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
        fs: &dyn FsStats,
        current_segment: Option<&str>,
    ) -> Result<ApplyReport> {
        let segments = self.segments()?;
        let free = fs
            .free_bytes(self.path())
            .map_err(|e| StoreError::io("statvfs", self.path(), e))?;
        let plan = retention::plan(&segments, policy, now_ms, free, current_segment);
        self.apply(&plan)
    }

    /// fsyncs the directory itself (entries created, renamed or removed).
    pub(crate) fn sync_dir(&self) -> Result<()> {
        self.inner.sync_dir()
    }

    pub(crate) fn read_dir(&self) -> Result<fs::ReadDir> {
        self.inner.listings.fetch_add(1, Ordering::Relaxed);
        fs::read_dir(self.path()).map_err(|e| StoreError::io("list", self.path(), e))
    }

    pub(crate) fn active(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.inner.active()
    }

    pub(crate) fn file_path(&self, name: &str) -> PathBuf {
        self.inner.file_path(name)
    }

    pub(crate) fn partial_path(&self, name: &str) -> PathBuf {
        self.inner.partial_path(name)
    }

    pub(crate) fn sidecar_path(&self, name: &str) -> PathBuf {
        self.inner.sidecar_path(name)
    }
}

/// A segment name as [`crate::segment_name`] makes them (so never a path).
fn check_name(name: &str) -> Result<()> {
    match parse_segment_name(name) {
        Some(_) => Ok(()),
        None => Err(StoreError::BadName(name.into())),
    }
}

fn validate_camera(camera: &str) -> Result<()> {
    if camera.trim().is_empty()
        || camera.len() > MAX_CAMERA_NAME_LEN
        || camera.chars().any(char::is_control)
    {
        return Err(StoreError::Config(format!(
            "camera name {camera:?} must be 1-{MAX_CAMERA_NAME_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

/// How long [`SegmentDir::open`] keeps trying a lock that is taken. A lock released by this
/// process can stay held for a moment: a thread that spawns a program at that instant gives
/// the child a copy of every descriptor until it calls `exec` (close-on-exec only acts then),
/// and the child's copy keeps the `flock`. Another recorder holds it for good, so waiting
/// this long only delays that error.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes the directory's exclusive `flock`, retrying for [`LOCK_WAIT`].
fn lock_dir(dir: &File, path: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match rustix::fs::flock(dir, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(StoreError::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(StoreError::io("lock directory", path, e.into())),
        }
    }
}

/// Empty apart from a filesystem's `lost+found` (so a disk's root can be adopted) and a
/// marker left half-written by an interrupted set-up.
fn is_empty(path: &Path) -> Result<bool> {
    let entries = fs::read_dir(path).map_err(|e| StoreError::io("list", path, e))?;
    let tmp_marker = format!("{MARKER}{TMP_EXT}");
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", path, e))?;
        let name = entry.file_name();
        if name != "lost+found" && name.to_str() != Some(tmp_marker.as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn random_id() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| StoreError::io("random id for", MARKER, io::Error::other(e.to_string())))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Writes the marker crash-safely: temp file, fsync, rename, fsync directory.
fn write_marker(path: &Path, dir: &File, id: &str, camera: &str) -> Result<()> {
    let tmp = path.join(format!("{MARKER}{TMP_EXT}"));
    let text = format!("{MARKER_MAGIC}\nid {id}\ncamera {camera}\n");
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| StoreError::io("write", &tmp, e))?;
    let marker = path.join(MARKER);
    fs::rename(&tmp, &marker).map_err(|e| StoreError::io("rename", &marker, e))?;
    dir.sync_all()
        .map_err(|e| StoreError::io("fsync directory", path, e))
}

/// (id, camera) from a marker's text.
fn parse_marker(text: &str) -> std::result::Result<(String, String), String> {
    let mut lines = text.lines();
    if lines.next() != Some(MARKER_MAGIC) {
        return Err(format!("first line is not {MARKER_MAGIC:?}"));
    }
    let (mut id, mut camera) = (None, None);
    for line in lines {
        match line.split_once(' ') {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("camera", v)) => camera = Some(v.to_owned()),
            _ => {}
        }
    }
    match (id, camera) {
        (Some(id), Some(camera)) => Ok((id, camera)),
        _ => Err("missing id or camera line".into()),
    }
}

fn sync_path(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io("fsync directory", path, e))
}
