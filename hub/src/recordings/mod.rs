//! The hub's recordings: segment files under `DATA_DIR/recordings/CAMERA/` (one
//! [`store::SegmentDir`] per camera, with its ownership marker and crash-safe write
//! order) and their index in SQLite ([`index`]). Segments arrive two ways: agents
//! upload the files they recorded ([`upload`], `PUT /api/v1/agents/{id}/segments/{name}`),
//! and the hub records cameras that give it encoded video ([`recorder`]). They are read
//! back only through [`read`] (open a segment, read a byte range): downloads, playback
//! and [`export`].
//!
//! Order of operations (house style rule 12): write `.partial`, fsync, rename, fsync
//! the directory, *then* insert the index row. Deleting goes the other way: index row,
//! then file. [`check`] reconciles both directions at start-up and as `hub check`:
//! a file without a row is indexed, a row without a file is dropped.
//!
//! Everything here blocks (disk, SQLite, hashing): call it from a dedicated thread or
//! `spawn_blocking`, never on the async runtime.

pub mod check;
pub mod export;
pub mod index;
pub mod picam;
pub mod read;
pub mod recorder;
pub mod replication;
pub mod retention;
pub mod upload;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use store::{Clock, FsStats, SegmentDir, SetUp, StoreError};

use crate::config::Config;
use crate::db::{Db, DbError};
use units::Retention;

pub use index::{Segment, Source};
pub use read::SegmentFile;

/// Directory (under the recordings root) where unfinished uploads are staged.
pub const UPLOADS_DIR: &str = ".uploads";

/// What can go wrong with recordings. [`RecError::kind`] says what it means for whoever
/// asked; the web layer maps the kinds to HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum RecError {
    /// A name, range or request the recordings cannot take.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// It collides with what is there (another hash, an upload in progress).
    #[error("{0}")]
    Conflict(String),
    /// The client's byte offset is not where the hub is (`expected` is).
    #[error("upload offset {got} does not match the {expected} bytes the hub holds")]
    WrongOffset { got: u64, expected: u64 },
    #[error("{0}")]
    TooLarge(String),
    /// No room for it now (too many unfinished uploads, not enough free space for what
    /// they announced): try again later.
    #[error("{0}")]
    NoRoom(String),
    /// The content failed verification (hash, format) and was discarded.
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("task failed: {0}")]
    Join(String),
    /// The off-site bucket failed, refused, or holds something other than the index
    /// says (a missing object is [`ErrorKind::NotFound`]).
    #[error("off-site copy: {}", .0.message())]
    Offsite(offsite::Error),
    /// The off-site bucket did not answer in time.
    #[error("off-site copy: {0}")]
    OffsiteTimeout(String),
}

/// What a [`RecError`] means to the one who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Invalid,
    NotFound,
    Conflict,
    /// Resume at `expected` bytes.
    WrongOffset {
        expected: u64,
    },
    TooLarge,
    Rejected,
    /// The disk is full: try again later.
    NoSpace,
    /// A fault of the hub (I/O, database, a task).
    Internal,
    /// The off-site store failed or answered something unusable.
    BadGateway,
    /// The off-site store did not answer in time.
    GatewayTimeout,
}

impl RecError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RecError::Invalid(_) => ErrorKind::Invalid,
            RecError::NotFound(_) => ErrorKind::NotFound,
            RecError::Conflict(_) => ErrorKind::Conflict,
            RecError::WrongOffset { expected, .. } => ErrorKind::WrongOffset {
                expected: *expected,
            },
            RecError::TooLarge(_) => ErrorKind::TooLarge,
            RecError::NoRoom(_) => ErrorKind::NoSpace,
            RecError::Rejected(_) => ErrorKind::Rejected,
            RecError::Store(e) if e.is_no_space() => ErrorKind::NoSpace,
            RecError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                ErrorKind::NoSpace
            }
            RecError::Store(_) | RecError::Db(_) | RecError::Io { .. } | RecError::Join(_) => {
                ErrorKind::Internal
            }
            RecError::Offsite(e) if e.kind() == offsite::ErrorKind::NotFound => ErrorKind::NotFound,
            RecError::Offsite(_) => ErrorKind::BadGateway,
            RecError::OffsiteTimeout(_) => ErrorKind::GatewayTimeout,
        }
    }
}

impl RecError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> RecError {
        RecError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = RecError> = std::result::Result<T, E>;

/// Per-camera settings resolved from the configuration.
#[derive(Debug, Clone)]
struct CameraSettings {
    segment_duration_secs: u64,
    retention: Option<Retention>,
}

/// The recordings of every configured camera. Shared (`Arc`) by the web handlers,
/// the recorders and the retention task.
pub struct Recordings {
    pub db: Db,
    root: PathBuf,
    dirs: HashMap<String, SegmentDir>,
    cameras: HashMap<String, CameraSettings>,
    pub max_segment_size: u64,
    /// Unfinished uploads per camera.
    pub max_unfinished_uploads: usize,
    /// Uploaded segments must start within this after and before the hub's clock (ms).
    pub max_clock_skew_ms: i64,
    pub max_upload_age_ms: i64,
    pub retention_interval: std::time::Duration,
    global: Retention,
    /// How long footage with events is kept (`recordings.event_max_age`).
    event_max_age: std::time::Duration,
    pub clock: Arc<dyn Clock>,
    pub fs: Arc<dyn FsStats>,
    /// Uploads being received (camera, file name): one request at a time each.
    uploads_in_progress: Arc<Mutex<HashSet<(String, String)>>>,
    /// Serialises retention passes (periodic, after a segment, on a full disk).
    retention_lock: Mutex<()>,
    /// When the directories were opened: files last written since are this process's.
    opened_at: std::time::SystemTime,
    /// Where the files-against-rows part of the start-up check is ([`FileCheck`]).
    checking: std::sync::atomic::AtomicU8,
    /// Segments and bytes retention deleted since start, by camera (for `/metrics`).
    retention_deleted: Mutex<HashMap<String, (u64, u64)>>,
    /// Reads segments the off-site bucket holds when their local file is gone.
    offsite_reader: Option<Box<dyn read::SecondTier>>,
    /// Which cameras' segments are queued for the off-site bucket (`[offsite]`).
    pub(crate) offsite: Option<replication::Enqueue>,
    /// Segments deleted locally before they reached the bucket, since start, by camera.
    lost_before_replication: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// `DATA_DIR/recordings`.
pub fn root_dir(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("recordings")
}

impl Recordings {
    /// Opens (setting up if needed) every camera's directory. Does not reconcile:
    /// call [`check::run`] next (the server does, at start-up).
    pub fn open(cfg: &Config, db: Db) -> Result<Recordings> {
        Self::open_with(
            cfg,
            db,
            Arc::new(store::SystemClock),
            Arc::new(store::Statvfs),
        )
    }

    pub fn open_with(
        cfg: &Config,
        db: Db,
        clock: Arc<dyn Clock>,
        fs: Arc<dyn FsStats>,
    ) -> Result<Recordings> {
        let root = root_dir(cfg);
        make_private_dir(&root)?;
        make_private_dir(&root.join(UPLOADS_DIR))?;
        let mut dirs = HashMap::new();
        let mut cameras = HashMap::new();
        for c in &cfg.cameras {
            let dir = SegmentDir::open(root.join(&c.name), &c.name, SetUp::CreateIfMissing)?;
            dirs.insert(c.name.clone(), dir);
            cameras.insert(
                c.name.clone(),
                CameraSettings {
                    segment_duration_secs: c
                        .segment_duration
                        .unwrap_or(cfg.recordings.segment_duration)
                        .as_secs(),
                    retention: c.retention,
                },
            );
        }
        Ok(Recordings {
            db,
            root,
            dirs,
            cameras,
            max_segment_size: cfg.recordings.max_segment_size.0,
            max_unfinished_uploads: cfg.recordings.max_unfinished_uploads,
            max_clock_skew_ms: i64::try_from(
                cfg.recordings.max_clock_skew.as_duration().as_millis(),
            )
            .unwrap_or(i64::MAX),
            max_upload_age_ms: i64::try_from(
                cfg.recordings.max_upload_age.as_duration().as_millis(),
            )
            .unwrap_or(i64::MAX),
            retention_interval: cfg.recordings.retention_interval.as_duration(),
            global: cfg.retention,
            event_max_age: cfg.recordings.event_max_age.as_duration(),
            clock,
            fs,
            uploads_in_progress: Arc::new(Mutex::new(HashSet::new())),
            retention_lock: Mutex::new(()),
            opened_at: std::time::SystemTime::now(),
            checking: std::sync::atomic::AtomicU8::new(FileCheck::Pending as u8),
            retention_deleted: Mutex::default(),
            offsite_reader: None,
            offsite: replication::Enqueue::from_config(cfg.offsite.as_ref()),
            lost_before_replication: Mutex::default(),
        })
    }

    /// Where the part of the start-up check that runs while the hub serves
    /// ([`check::run_after_start`]) is.
    pub fn file_check(&self) -> FileCheck {
        match self.checking.load(std::sync::atomic::Ordering::Relaxed) {
            0 => FileCheck::Pending,
            1 => FileCheck::Running,
            _ => FileCheck::Done,
        }
    }

    /// Lets [`Recordings::open_segment`] read segments from the off-site bucket.
    pub fn set_offsite(&mut self, reader: Box<dyn read::SecondTier>) {
        self.offsite_reader = Some(reader);
    }

    /// Segments and bytes retention deleted from `camera` since start.
    pub fn retention_deleted(&self, camera: &str) -> (u64, u64) {
        let counts = self
            .retention_deleted
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.get(camera).copied().unwrap_or_default()
    }

    /// Segments of `camera` deleted locally before they were copied off-site, since
    /// start.
    pub fn lost_before_replication(&self, camera: &str) -> u64 {
        let counts = self
            .lost_before_replication
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.get(camera).copied().unwrap_or_default()
    }

    pub(crate) fn count_lost_before_replication(&self, camera: &str) {
        let mut counts = self
            .lost_before_replication
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *counts.entry(camera.to_owned()).or_default() += 1;
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The recordings directory of a configured camera.
    pub fn dir(&self, camera: &str) -> Option<&SegmentDir> {
        self.dirs.get(camera)
    }

    pub fn camera_names(&self) -> impl Iterator<Item = &str> {
        self.dirs.keys().map(String::as_str)
    }

    /// Target segment length for `camera`'s recorder, in seconds.
    pub fn segment_duration_secs(&self, camera: &str) -> u64 {
        self.cameras
            .get(camera)
            .map(|c| c.segment_duration_secs)
            .unwrap_or(60)
    }

    /// The local file of an indexed segment. Both parts were validated when the row was
    /// written (configured camera name, canonical store name); checked again here so
    /// that no row can name a path outside the store. Readers use
    /// [`Recordings::open_segment`] instead.
    pub(crate) fn file_path(&self, camera: &str, file_name: &str) -> Option<PathBuf> {
        let dir = self.dirs.get(camera)?;
        store::parse_segment_name(file_name)?;
        Some(dir.path().join(file_name))
    }

    /// A sink into `camera`'s directory whose make-room callback is [`Recordings::make_room`]
    /// (retention, index rows before files); `None` for an unknown camera.
    pub fn sink(self: &Arc<Self>, camera: &str) -> Option<store::SegmentSink> {
        let dir = self.dir(camera)?.clone();
        let (rec, camera) = (Arc::clone(self), camera.to_owned());
        Some(store::SegmentSink::new(dir, move |_, _| {
            match rec.make_room(&camera) {
                Ok(freed) => {
                    tracing::warn!(camera, freed, "disk full; made room");
                    freed
                }
                Err(e) => {
                    tracing::error!(camera, error = %e, "disk full and making room failed");
                    0
                }
            }
        }))
    }

    /// Indexes a finished file of `camera` (hashing and probing it).
    pub fn index_file(&self, camera: &str, file_name: &str, source: Source) -> Result<Segment> {
        let path = self
            .file_path(camera, file_name)
            .ok_or_else(|| RecError::Invalid(format!("{file_name:?} is not a segment")))?;
        self.index_file_from(camera, file_name, source, &path)
    }

    /// Indexes segment `file_name` of `camera` with the contents of `path` (the file
    /// itself, or the copy about to replace it).
    fn index_file_from(
        &self,
        camera: &str,
        file_name: &str,
        source: Source,
        path: &Path,
    ) -> Result<Segment> {
        let (sha256, probe) = hash_and_probe(path)?;
        let start_ms = store::parse_segment_name(file_name).unwrap_or_default();
        let size_bytes = std::fs::metadata(path)
            .map_err(|e| RecError::io("stat", path, e))?
            .len();
        let seg = Segment {
            camera: camera.to_owned(),
            file_name: file_name.to_owned(),
            start_ms,
            duration_ms: probe.recovery.duration.0.max(0) / 90,
            size_bytes,
            sha256,
            codec: probe.codec_string,
            width: u32::from(probe.width),
            height: u32::from(probe.height),
            source,
        };
        self.insert(&seg)?;
        Ok(seg)
    }

    /// Moves the media time of finished segment `file_name` to start at 0 if it does not
    /// ([`store::SegmentDir::retime_one`]); an index row it has is updated from the new
    /// bytes before they replace the old ones. `None` if the file needed nothing.
    pub fn retime(&self, camera: &str, file_name: &str) -> Result<Option<store::RetimeReport>> {
        let dir = self
            .dir(camera)
            .ok_or_else(|| RecError::NotFound(format!("no camera {camera:?}")))?;
        Ok(dir.retime_one(file_name, &mut |p| self.reindex_from(camera, p))?)
    }

    /// The hook of a retiming: the segment's row (if it has one) gets the copy's hash.
    fn reindex_from(
        &self,
        camera: &str,
        p: &store::PreparedRetime,
    ) -> std::result::Result<(), String> {
        let (c, n) = (camera.to_owned(), p.report().name.clone());
        let row = self
            .db
            .call_blocking(|db| index::get(db, &c, &n))
            .map_err(|e| e.to_string())?;
        if let Some(row) = row {
            self.index_file_from(camera, &n, row.source, p.path())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Re-indexes a segment whose bytes changed (keeping its source; `Found` if it had
    /// no row).
    pub fn reindex(&self, camera: &str, file_name: &str) -> Result<Segment> {
        let (c, n) = (camera.to_owned(), file_name.to_owned());
        let source = self
            .db
            .call_blocking(|db| index::get(db, &c, &n))?
            .map_or(Source::Found, |s| s.source);
        self.index_file(camera, file_name, source)
    }

    /// Writes `seg`'s index row and, for a camera copied off-site, its replication row,
    /// in one transaction.
    pub fn insert(&self, seg: &Segment) -> Result<()> {
        let now = self.clock.now_ms();
        self.db.call_blocking(|c| {
            let tx = c.transaction()?;
            let before = index::get(&tx, &seg.camera, &seg.file_name)?;
            index::insert(&tx, seg, now)?;
            if let Some(q) = &self.offsite {
                let changed = before.is_some_and(|b| b.sha256 != seg.sha256);
                replication::enqueue_segment(&tx, q, seg, changed, now)?;
            }
            tx.commit()?;
            Ok(())
        })?;
        Ok(())
    }

    /// Marks an upload as in progress; `None` if another request has it.
    fn claim_upload(&self, camera: &str, name: &str) -> Option<UploadClaim> {
        let key = (camera.to_owned(), name.to_owned());
        let mut set = self
            .uploads_in_progress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        set.insert(key.clone()).then(|| UploadClaim {
            set: self.uploads_in_progress.clone(),
            key,
        })
    }

    /// The global retention limits.
    pub fn global_retention(&self) -> Retention {
        self.global
    }

    /// A camera's own retention limits.
    pub fn camera_retention(&self, camera: &str) -> Option<Retention> {
        self.cameras.get(camera).and_then(|c| c.retention)
    }
}

/// Releases an upload claim when dropped.
#[derive(Debug)]
pub struct UploadClaim {
    set: Arc<Mutex<HashSet<(String, String)>>>,
    key: (String, String),
}

impl Drop for UploadClaim {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

fn make_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !path.is_dir() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(path)
            .map_err(|e| RecError::io("create directory", path, e))?;
    }
    Ok(())
}

/// SHA-256 (lower-case hex) of a whole file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| RecError::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| RecError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Describes an fMP4 file by reading only its headers ([`media::recover::Scanner`]).
pub fn probe_file(path: &Path) -> Result<media::ProbeInfo> {
    let f = read::LocalFile::open(path)?;
    media::recover::Scanner::new(f.len())
        .drive(|offset, buf| f.read_at(offset, buf))?
        .into_probe()
        .map_err(|e| RecError::Rejected(format!("not a playable fMP4 file: {e}")))
}

/// [`sha256_file`] and [`probe_file`]; the file must be complete (no torn tail)
/// and hold at least one fragment.
pub fn hash_and_probe(path: &Path) -> Result<(String, media::ProbeInfo)> {
    let probe = probe_file(path)?;
    if probe.recovery.fragments == 0 {
        return Err(RecError::Rejected(
            "the file holds no complete fragment".into(),
        ));
    }
    if !probe.is_complete() {
        return Err(RecError::Rejected(format!(
            "the file has {} bytes after its last complete fragment",
            probe.recovery.discarded_len
        )));
    }
    Ok((sha256_file(path)?, probe))
}

/// Starts a recorder for every camera of `cameras` whose source gives encoded video, and
/// the periodic retention task. Both stop with `shutdown`.
pub fn spawn_all(
    rec: &Arc<Recordings>,
    cameras: &crate::camera::Registry,
    tracker: &tokio_util::task::TaskTracker,
    shutdown: &tokio_util::sync::CancellationToken,
) {
    for cam in cameras.iter() {
        if let Some(feed) = &cam.video {
            recorder::spawn_counted(
                rec.clone(),
                cam.name.clone(),
                feed.clone(),
                cam.counters.clone(),
                tracker,
                shutdown.clone(),
            );
        }
    }
    let rec = rec.clone();
    let stop = shutdown.clone();
    tracker.spawn(async move {
        let mut every = tokio::time::interval(rec.retention_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
            }
            let r = rec.clone();
            match tokio::task::spawn_blocking(move || r.enforce_retention()).await {
                Ok(Ok(report)) if !report.deleted.is_empty() => tracing::info!(
                    deleted = report.deleted.len(),
                    bytes_freed = report.bytes_freed,
                    "retention"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "retention failed"),
                Err(e) => tracing::warn!(error = %e, "retention task failed"),
            }
        }
    });
}

/// Where the start-up check's comparison of files and rows is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCheck {
    Pending = 0,
    Running = 1,
    /// Finished (or stopped by an error or shutdown).
    Done = 2,
}

/// What the recordings index holds for one camera.
pub type CameraTotals = index::Totals;

impl Recordings {
    /// What the index holds, by camera (the per-day sums: a row per camera and day, and
    /// two index look-ups per camera for the newest end).
    pub async fn stored_by_camera(&self) -> HashMap<String, CameraTotals> {
        let r = self
            .db
            .call(|c| Ok(index::totals(c)?.into_iter().collect::<HashMap<_, _>>()))
            .await;
        r.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the recordings index");
            HashMap::new()
        })
    }
}
