//! Store and forward: every finished segment is uploaded to the hub, oldest first, resumably.
//!
//! The recorder writes segments into its [`SegmentDir`] whether or not the hub is
//! reachable; the [`Uploader`] is a separate task that forwards them. It never slows the
//! recorder: it only reads finished files, lists the directory and writes sidecars, all on
//! the blocking pool, one upload at a time. The backlog is whatever is on disk (bounded by
//! the recorder's retention, which with `prefer_uploaded` deletes uploaded segments first).
//!
//! One segment, per the hub's protocol (README.md, "Segment upload"):
//!
//! 1. hash the whole file (SHA-256, streamed from disk on the blocking pool);
//! 2. `GET` the segment's URL: how much the hub holds (`none`, `partial` with the same hash
//!    and size → resume there, `complete` with the same hash → done, another hash → 409);
//! 3. `PUT` parts of at most [`UploadConfig::chunk_size`] with `Content-Range`, each body
//!    streamed from the file, until the hub answers 201 (stored) or 200 (already had it);
//! 4. [`SegmentDir::mark_uploaded`] (a crash-safe sidecar).
//!
//! Failures and what they do:
//!
//! | answer | meaning | action |
//! |---|---|---|
//! | connection error, timeout, 5xx, 507, 404 | hub down or unable | stop the pass, back off (exponential, full jitter) |
//! | 401 | token refused | logged once at ERROR, wait [`UploadConfig::unauthorized_backoff`] |
//! | 202, 416 | the hub holds N bytes | send from N |
//! | 409 | a conflict; `GET` tells which | another file of that name stored → rejected; another hash staged → restart at 0; an upload in progress → retry later |
//! | 422 | hash or format mismatch, upload discarded | re-hash and send again from 0 once, then rejected |
//! | 413 | over the hub's `max_segment_size` (answered before the body is read, though up to one part may be in flight already) | rejected |
//! | 400 | bad request or short body | retry this segment at the next pass; the others go on |
//!
//! A rejected segment is kept locally and gets a sidecar `NAME.mp4.rejected` (holding the
//! hub's answer) so it is not retried forever; delete the sidecar to retry it. A segment
//! that disappears from the directory before it was uploaded (retention under disk
//! pressure, or `max_age` during a long outage) is logged at WARN: that footage is lost.
//!
//! The token travels only in `Authorization: Bearer`: never in a URL, `Debug` or a log line.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use store::SegmentDir;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};
use wire::upload::{
    Answer, BACKLOG_HEADER, ContentRange, Held, OFFSET_HEADER, SHA256_HEADER, UploadStatus,
};

use crate::backoff::{Backoff, Problem, sleep_or_cancel};
pub use crate::config::UploadConfig;

/// Suffix of the sidecar that marks a segment the hub refused for good.
pub const REJECTED_EXT: &str = ".rejected";
/// Most of a hub's answer kept for a log line or a rejected sidecar.
const MAX_MESSAGE_BYTES: usize = 512;
/// `416`s in a row for one segment before giving up on it for this pass.
const MAX_OFFSET_CORRECTIONS: u32 = 3;
/// Read size when hashing and streaming a file.
const READ_BUF: usize = 256 << 10;

/// Counters, for the stats line, `status.json` and tests.
#[derive(Debug, Default)]
pub struct UploadStats {
    /// Segments the hub now has (stored by us, or it had them already).
    pub uploaded: AtomicU64,
    /// Of those, segments the hub already had (nothing sent).
    pub already_had: AtomicU64,
    /// Body bytes handed to the connection.
    pub bytes_sent: AtomicU64,
    /// Uploads that started past byte 0 (resumed from the hub's offset).
    pub resumed: AtomicU64,
    /// The offset the latest resumed upload started at.
    pub last_resume_offset: AtomicU64,
    /// HTTP requests made (GET and PUT).
    pub requests: AtomicU64,
    /// Passes that ended in a failure (then backoff).
    pub failures: AtomicU64,
    /// 401 answers.
    pub unauthorized: AtomicU64,
    /// Segments marked `.rejected`.
    pub rejected: AtomicU64,
    /// Segments deleted locally before they were uploaded.
    pub lost: AtomicU64,
    /// Segments waiting, and their bytes, at the latest listing.
    pub pending: AtomicU64,
    pub pending_bytes: AtomicU64,
}

/// Why a pass (or one segment) failed. [`UploadError::scope`] drives what happens next.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("cannot reach the hub: {0}")]
    Unreachable(String),
    #[error("the hub refused the agent token (HTTP 401): check camera_id and the token")]
    Unauthorized,
    #[error("the hub answered HTTP {status}: {message}")]
    Hub { status: u16, message: String },
    #[error("segment {name}: {why}")]
    Segment { name: String, why: String },
    #[error("the recordings directory is not open (yet)")]
    NoDirectory,
    #[error("{0}")]
    Local(String),
}

/// What an error stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only this segment, for this pass: the next ones go on.
    Segment,
    /// The pass: back off, then start again from the oldest.
    Pass,
    /// The token is refused: wait long.
    Unauthorized,
    /// Nothing to upload from: wait for the directory.
    Idle,
}

impl UploadError {
    pub fn scope(&self) -> Scope {
        match self {
            UploadError::Segment { .. } => Scope::Segment,
            UploadError::Unauthorized => Scope::Unauthorized,
            UploadError::NoDirectory => Scope::Idle,
            UploadError::Unreachable(_) | UploadError::Hub { .. } | UploadError::Local(_) => {
                Scope::Pass
            }
        }
    }
}

/// What the hub's answer to a `PUT` means (one place maps statuses to behaviour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutAnswer {
    /// 201: stored and indexed.
    Stored,
    /// 200: it had a segment of that name and hash already.
    AlreadyHad,
    /// 202 (part stored) or 416 (wrong start): the hub holds this many bytes.
    HubHolds { offset: u64, wrong_start: bool },
    /// 409: ask the hub what it has to tell the cases apart.
    Conflict,
    /// 422: hash or format mismatch; the hub discarded the upload.
    Invalid,
    /// 413: over the hub's size limit.
    TooLarge,
    /// 401.
    Unauthorized,
    /// 400 (or 202/416 without an offset): this segment's request failed.
    SegmentFailed,
    /// Anything else (5xx, 507 disk full, 404 unknown camera or route): the hub cannot take
    /// uploads now.
    HubFailed,
}

impl PutAnswer {
    /// The protocol's meaning of `status` ([`Answer`]) as what the uploader does next.
    pub fn classify(status: u16, upload_offset: Option<u64>) -> PutAnswer {
        match (Answer::of_status(status), upload_offset) {
            (Some(Answer::Stored), _) => PutAnswer::Stored,
            (Some(Answer::AlreadyHad), _) => PutAnswer::AlreadyHad,
            (Some(Answer::PartStored), Some(offset)) => PutAnswer::HubHolds {
                offset,
                wrong_start: false,
            },
            (Some(Answer::WrongOffset), Some(offset)) => PutAnswer::HubHolds {
                offset,
                wrong_start: true,
            },
            (Some(Answer::Conflict), _) => PutAnswer::Conflict,
            (Some(Answer::Rejected), _) => PutAnswer::Invalid,
            (Some(Answer::TooLarge), _) => PutAnswer::TooLarge,
            (Some(Answer::Unauthorized), _) => PutAnswer::Unauthorized,
            (Some(Answer::BadRequest | Answer::PartStored | Answer::WrongOffset), _) => {
                PutAnswer::SegmentFailed
            }
            (Some(Answer::NotFound | Answer::NoSpace) | None, _) => PutAnswer::HubFailed,
        }
    }
}

/// The hub's `GET` answer (the segment's description is not needed here).
type HubState = UploadStatus<serde::de::IgnoredAny>;

/// Where an upload starts, from the hub's state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    At(u64),
    /// Nothing to send: the hub has it.
    Done,
    /// The hub has another file of this name.
    Conflict(String),
}

fn start_from(state: &HubState, sha256: &str, size: u64) -> Start {
    let same_hash = state
        .sha256
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case(sha256));
    match state.state {
        Held::Complete if same_hash => Start::Done,
        Held::Complete => Start::Conflict(format!(
            "the hub stores another file of this name (SHA-256 {})",
            state.sha256.as_deref().unwrap_or("unknown")
        )),
        // A part staged with our hash and size: resume after it.
        Held::Partial
            if same_hash && state.total_bytes == Some(size) && state.received_bytes > 0 =>
        {
            Start::At(state.received_bytes)
        }
        // Nothing, or a stale part of another file (a PUT from 0 replaces it).
        _ => Start::At(0),
    }
}

/// How one segment ended.
#[derive(Debug)]
enum Outcome {
    Delivered {
        already_had: bool,
        sent: u64,
    },
    Rejected {
        status: u16,
        message: String,
    },
    /// The file went away (retention) before it was delivered.
    Gone,
}

/// A finished segment the hub does not have yet.
#[derive(Debug, Clone)]
struct Pending {
    name: String,
    path: PathBuf,
    size_bytes: u64,
}

/// One listing of the directory.
#[derive(Debug, Default)]
struct Listing {
    /// Oldest first.
    pending: Vec<Pending>,
    /// Every segment name present (finished or partial, uploaded or not).
    present: HashSet<String>,
}

/// The uploader task; see the module docs.
pub struct Uploader {
    cfg: UploadConfig,
    dirs: watch::Receiver<Option<SegmentDir>>,
    dirs_closed: bool,
    wake: Arc<Notify>,
    stats: Arc<UploadStats>,
    client: reqwest::Client,
    backoff: Backoff,
    problem: Problem,
    /// The latest hash: (name, size, SHA-256 hex).
    hashed: Option<(String, u64, String)>,
    /// Segments that got a 422 once (a second one rejects them).
    invalid_once: HashSet<String>,
    /// Segments seen pending at the previous listing (to notice deletions).
    pending_seen: BTreeSet<String>,
    /// Per-segment failures of this pass, logged once per change of message.
    segment_problems: HashMap<String, String>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("hub_base_url", &self.cfg.hub_base_url)
            .field("camera_id", &self.cfg.camera_id)
            .finish_non_exhaustive()
    }
}

impl Uploader {
    /// An uploader for a directory that stays open (tests, or a caller that owns it).
    pub fn new(cfg: UploadConfig, dir: SegmentDir) -> Result<Uploader, UploadError> {
        let (_tx, rx) = watch::channel(Some(dir));
        Uploader::with_dir_watch(cfg, rx)
    }

    /// An uploader for the directory the recorder publishes: `Some` while it has the
    /// directory open, `None` while it waits for it. The uploader clones the
    /// [`SegmentDir`] only for each short blocking call (listing, marking), never across
    /// a network request, so it never keeps the directory's lock from a recorder that
    /// closes and reopens it.
    pub fn with_dir_watch(
        cfg: UploadConfig,
        dirs: watch::Receiver<Option<SegmentDir>>,
    ) -> Result<Uploader, UploadError> {
        cfg.validate().map_err(UploadError::Local)?;
        // Straight to the hub on the LAN, like the websocket uplink: no proxy from the
        // environment.
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(cfg.connect_timeout)
            .tcp_keepalive(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("camera-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| UploadError::Local(format!("HTTP client: {}", describe(e))))?;
        let backoff = Backoff::new(cfg.backoff_initial, cfg.backoff_max);
        Ok(Uploader {
            cfg,
            dirs,
            dirs_closed: false,
            wake: Arc::new(Notify::new()),
            stats: Arc::new(UploadStats::default()),
            client,
            backoff,
            problem: Problem::new("segment upload"),
            hashed: None,
            invalid_once: HashSet::new(),
            pending_seen: BTreeSet::new(),
            segment_problems: HashMap::new(),
        })
    }

    /// Wake on `notify` (e.g. the recorder's "segment finished" signal) instead of the
    /// uploader's own [`waker`](Self::waker).
    pub fn with_waker(mut self, notify: Arc<Notify>) -> Uploader {
        self.wake = notify;
        self
    }

    /// Call `notify_one()` on this when a segment is finished (any thread: the recorder's
    /// is fine) to start its upload at once instead of at the next rescan.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn stats(&self) -> Arc<UploadStats> {
        self.stats.clone()
    }

    /// Upload until `cancel` fires. Cancelling mid-upload drops the request; the hub keeps
    /// what arrived and the next run resumes there.
    pub async fn run(mut self, cancel: CancellationToken) {
        info!(hub = %self.cfg.hub_base_url, camera_id = self.cfg.camera_id, "uploader started");
        let mut unauthorized_logged = false;
        loop {
            let result = tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.pass() => r,
            };
            let wait = match result {
                Ok(delivered) => {
                    self.problem.clear();
                    unauthorized_logged = false;
                    if delivered > 0 {
                        // More may have finished meanwhile: list again.
                        continue;
                    }
                    None
                }
                Err(e) => match e.scope() {
                    Scope::Idle => {
                        debug!(error = %e, "nothing to upload from");
                        None
                    }
                    Scope::Unauthorized => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        let d = jittered(self.cfg.unauthorized_backoff);
                        if unauthorized_logged {
                            debug!(retry_in = ?d, "uploads still refused (401)");
                        } else {
                            error!(retry_in = ?d, "{e}; segments stay on local storage until it is fixed");
                            unauthorized_logged = true;
                        }
                        Some(d)
                    }
                    Scope::Pass | Scope::Segment => {
                        self.stats.failures.fetch_add(1, Ordering::Relaxed);
                        let d = self.backoff.next_delay();
                        self.problem.report(&e, d);
                        Some(d)
                    }
                },
            };
            let cancelled = match wait {
                Some(d) => sleep_or_cancel(d, &cancel).await,
                None => self.idle(&cancel).await,
            };
            if cancelled {
                break;
            }
        }
        info!(
            uploaded = self.stats.uploaded.load(Ordering::Relaxed),
            pending = self.stats.pending.load(Ordering::Relaxed),
            "uploader stopped"
        );
    }

    /// Wait for a finished segment, a change of directory, the rescan or `cancel`; true if
    /// cancelled.
    async fn idle(&mut self, cancel: &CancellationToken) -> bool {
        let dirs_closed = self.dirs_closed;
        let dirs = &mut self.dirs;
        let dir_changed = async move {
            if dirs_closed {
                std::future::pending::<()>().await;
            }
            dirs.changed().await.is_err()
        };
        tokio::select! {
            _ = cancel.cancelled() => true,
            _ = self.wake.notified() => false,
            _ = tokio::time::sleep(self.cfg.rescan_interval) => false,
            closed = dir_changed => {
                // A closed channel keeps its last value (a fixed directory): stop
                // watching it rather than wake at once forever.
                if closed {
                    self.dirs_closed = true;
                }
                false
            }
        }
    }

    fn dir(&self) -> Option<SegmentDir> {
        self.dirs.borrow().clone()
    }

    /// One pass over the backlog, oldest first. Returns how many segments were delivered.
    async fn pass(&mut self) -> Result<usize, UploadError> {
        let dir = self.dir().ok_or(UploadError::NoDirectory)?;
        let listing = blocking(move || list(&dir))
            .await?
            .map_err(|e| UploadError::Local(format!("listing the recordings: {e}")))?;
        self.note_losses(&listing);
        self.stats
            .pending
            .store(listing.pending.len() as u64, Ordering::Relaxed);
        self.stats.pending_bytes.store(
            listing.pending.iter().map(|p| p.size_bytes).sum(),
            Ordering::Relaxed,
        );
        let mut delivered = 0;
        let mut first_segment_error = None;
        for seg in &listing.pending {
            let outcome = match self.upload_one(seg).await {
                Ok(o) => o,
                Err(e) if e.scope() == Scope::Segment => {
                    self.segment_failed(&seg.name, &e);
                    first_segment_error.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.segment_problems.remove(&seg.name);
            self.pending_seen.remove(&seg.name);
            match outcome {
                Outcome::Delivered { already_had, sent } => {
                    self.mark_uploaded(&seg.name).await;
                    delivered += 1;
                    self.backoff.reset();
                    self.problem.clear();
                    self.stats.uploaded.fetch_add(1, Ordering::Relaxed);
                    self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                    if already_had {
                        self.stats.already_had.fetch_add(1, Ordering::Relaxed);
                        info!(segment = seg.name, "the hub already had this segment");
                    } else {
                        info!(
                            segment = seg.name,
                            bytes = seg.size_bytes,
                            sent,
                            "segment uploaded"
                        );
                    }
                }
                Outcome::Rejected { status, message } => {
                    self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    error!(
                        segment = seg.name,
                        status,
                        hub_said = message,
                        "the hub refused this segment for good; it is kept locally and not retried \
                         (delete {}{REJECTED_EXT} to retry)",
                        seg.name
                    );
                    let path = seg
                        .path
                        .with_file_name(format!("{}{REJECTED_EXT}", seg.name));
                    let text = format!("HTTP {status}: {message}\n");
                    match blocking(move || write_sidecar(&path, &text)).await? {
                        Ok(()) => {}
                        Err(e) => warn!(
                            segment = seg.name,
                            error = %e,
                            "cannot write the rejected sidecar; the segment will be tried again at the next start"
                        ),
                    }
                }
                Outcome::Gone => {
                    self.note_lost(&seg.name);
                }
            }
        }
        match first_segment_error {
            Some(e) if delivered == 0 => Err(e),
            _ => Ok(delivered),
        }
    }

    /// A per-segment failure, logged at WARN once per change of message.
    fn segment_failed(&mut self, name: &str, e: &UploadError) {
        let msg = e.to_string();
        if self.segment_problems.get(name) != Some(&msg) {
            warn!(error = %msg, "upload of one segment failed; the others go on, it is retried later");
            self.segment_problems.insert(name.to_owned(), msg);
        } else {
            debug!(error = %msg, "upload of one segment still failing");
        }
    }

    /// Warns about segments that were pending at the previous listing and are gone now.
    fn note_losses(&mut self, listing: &Listing) {
        let vanished: Vec<String> = self
            .pending_seen
            .iter()
            .filter(|n| !listing.present.contains(*n))
            .cloned()
            .collect();
        for name in vanished {
            self.note_lost(&name);
        }
        self.pending_seen = listing.pending.iter().map(|p| p.name.clone()).collect();
        self.segment_problems
            .retain(|name, _| listing.present.contains(name));
        self.invalid_once
            .retain(|name| listing.present.contains(name));
    }

    fn note_lost(&mut self, name: &str) {
        self.pending_seen.remove(name);
        self.stats.lost.fetch_add(1, Ordering::Relaxed);
        warn!(
            segment = name,
            "a segment the hub does not have yet was deleted locally (retention: disk pressure \
             or max_age during the outage); its footage is lost"
        );
    }

    async fn mark_uploaded(&mut self, name: &str) {
        let Some(dir) = self.dir() else {
            // The hub answers "already have it" when it is found again.
            debug!(
                segment = name,
                "directory closed; cannot mark the segment uploaded now"
            );
            return;
        };
        let n = name.to_owned();
        match blocking(move || dir.mark_uploaded(&n)).await {
            Ok(Ok(())) => {}
            Ok(Err(store::StoreError::NotFound(_))) => {
                debug!(
                    segment = name,
                    "uploaded segment deleted before it was marked"
                )
            }
            Ok(Err(e)) => {
                warn!(segment = name, error = %e, "cannot mark the segment uploaded; the hub will say it has it")
            }
            Err(e) => warn!(segment = name, error = %e, "cannot mark the segment uploaded"),
        }
    }

    fn url(&self, name: &str) -> String {
        format!(
            "{}{}",
            self.cfg.hub_base_url.trim_end_matches('/'),
            wire::upload::segment_path(self.cfg.camera_id, name)
        )
    }

    /// The SHA-256 and size of a finished segment (cached for the latest one); `None` if
    /// the file is gone.
    async fn hash(&mut self, seg: &Pending) -> Result<Option<(u64, String)>, UploadError> {
        if let Some((name, size, sha)) = &self.hashed
            && *name == seg.name
        {
            return Ok(Some((*size, sha.clone())));
        }
        let path = seg.path.clone();
        match blocking(move || hash_file(&path)).await? {
            Ok((size, sha)) => {
                self.hashed = Some((seg.name.clone(), size, sha.clone()));
                Ok(Some((size, sha)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(UploadError::Segment {
                name: seg.name.clone(),
                why: format!("reading {}: {e}", seg.path.display()),
            }),
        }
    }

    /// Uploads one segment to the end (or to a rejection).
    async fn upload_one(&mut self, seg: &Pending) -> Result<Outcome, UploadError> {
        let Some((size, sha)) = self.hash(seg).await? else {
            return Ok(Outcome::Gone);
        };
        let seg_err = |why: String| UploadError::Segment {
            name: seg.name.clone(),
            why,
        };
        if size == 0 {
            return Ok(Outcome::Rejected {
                status: 0,
                message: "the file is empty (not sent)".into(),
            });
        }
        let url = self.url(&seg.name);
        let mut offset = match start_from(&self.hub_state(&url).await?, &sha, size) {
            Start::Done => {
                return Ok(Outcome::Delivered {
                    already_had: true,
                    sent: 0,
                });
            }
            Start::Conflict(message) => {
                return Ok(Outcome::Rejected {
                    status: 409,
                    message,
                });
            }
            Start::At(o) if o >= size => {
                // Every byte staged but not committed (the hub stopped in between):
                // any PUT of the same file makes the hub commit what it holds, so
                // send just the last byte.
                info!(
                    segment = seg.name,
                    size, "the hub holds every byte; asking it to commit"
                );
                size.saturating_sub(1)
            }
            Start::At(o) => o,
        };
        if offset > 0 {
            self.stats.resumed.fetch_add(1, Ordering::Relaxed);
            self.stats
                .last_resume_offset
                .store(offset, Ordering::Relaxed);
            info!(
                segment = seg.name,
                offset, size, "resuming an upload from where the hub is"
            );
        }
        let mut sent = 0u64;
        let mut corrections = 0u32;
        let mut restarted = false;
        loop {
            let end = offset.saturating_add(self.cfg.chunk_size).min(size);
            let (status, hub_offset, message) =
                match self.put(&url, &seg.path, &sha, offset, end, size).await {
                    Ok(r) => r,
                    Err(PutError::FileGone) => return Ok(Outcome::Gone),
                    Err(PutError::File(e)) => {
                        return Err(seg_err(format!("reading {}: {e}", seg.path.display())));
                    }
                    Err(PutError::Http(e)) => return Err(e),
                };
            match PutAnswer::classify(status, hub_offset) {
                PutAnswer::Stored => {
                    sent += end - offset;
                    return Ok(Outcome::Delivered {
                        already_had: false,
                        sent,
                    });
                }
                PutAnswer::AlreadyHad => {
                    return Ok(Outcome::Delivered {
                        already_had: sent == 0,
                        sent,
                    });
                }
                PutAnswer::HubHolds {
                    offset: held,
                    wrong_start,
                } => {
                    if !wrong_start {
                        sent += end - offset;
                    }
                    if held >= size {
                        return Err(seg_err(format!(
                            "the hub holds all {size} bytes but has not stored the segment"
                        )));
                    }
                    if wrong_start {
                        corrections += 1;
                        if corrections > MAX_OFFSET_CORRECTIONS {
                            return Err(seg_err(format!(
                                "the hub keeps moving its offset (now {held})"
                            )));
                        }
                        debug!(
                            segment = seg.name,
                            from = offset,
                            to = held,
                            "the hub asked to resume elsewhere"
                        );
                    } else if held <= offset {
                        return Err(seg_err(format!(
                            "the hub accepted a part but holds {held} bytes, not more than {offset}"
                        )));
                    } else {
                        corrections = 0;
                    }
                    offset = held;
                }
                PutAnswer::Conflict => {
                    match start_from(&self.hub_state(&url).await?, &sha, size) {
                        Start::Done => {
                            return Ok(Outcome::Delivered {
                                already_had: sent == 0,
                                sent,
                            });
                        }
                        Start::Conflict(message) => {
                            return Ok(Outcome::Rejected {
                                status: 409,
                                message,
                            });
                        }
                        // Another hash staged: a PUT from 0 replaces it (once).
                        Start::At(0) if offset != 0 && !restarted => {
                            restarted = true;
                            offset = 0;
                        }
                        Start::At(_) => {
                            return Err(seg_err(format!("HTTP 409: {message}")));
                        }
                    }
                }
                PutAnswer::Invalid => {
                    self.hashed = None;
                    if self.invalid_once.insert(seg.name.clone()) {
                        warn!(
                            segment = seg.name,
                            hub_said = message,
                            "the hub discarded the upload (422); sending it again from the start"
                        );
                        return Err(seg_err(format!("HTTP 422: {message}")));
                    }
                    return Ok(Outcome::Rejected { status, message });
                }
                PutAnswer::TooLarge => {
                    return Ok(Outcome::Rejected { status, message });
                }
                PutAnswer::Unauthorized => return Err(UploadError::Unauthorized),
                PutAnswer::SegmentFailed => {
                    return Err(seg_err(format!("HTTP {status}: {message}")));
                }
                PutAnswer::HubFailed => return Err(UploadError::Hub { status, message }),
            }
        }
    }

    /// `GET` the segment's URL.
    async fn hub_state(&self, url: &str) -> Result<HubState, UploadError> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .client
            .get(url)
            .bearer_auth(self.cfg.token.expose())
            .timeout(self.cfg.request_timeout)
            .send()
            .await
            .map_err(|e| UploadError::Unreachable(describe(e)))?;
        let status = resp.status().as_u16();
        match status {
            200 => {
                let body = read_limited(resp, 64 << 10).await?;
                serde_json::from_slice(&body).map_err(|e| UploadError::Hub {
                    status,
                    message: format!("unreadable upload state: {e}"),
                })
            }
            401 => {
                self.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
                Err(UploadError::Unauthorized)
            }
            _ => {
                let message = message_of(resp).await;
                Err(UploadError::Hub { status, message })
            }
        }
    }

    /// `PUT` bytes `start..end` (end exclusive) of the file, streamed. Returns the status,
    /// the hub's `Upload-Offset` and its message.
    async fn put(
        &self,
        url: &str,
        path: &Path,
        sha256: &str,
        start: u64,
        end: u64,
        total: u64,
    ) -> Result<(u16, Option<u64>, String), PutError> {
        let mut file = match tokio::fs::File::open(path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(PutError::FileGone),
            Err(e) => return Err(PutError::File(e)),
        };
        file.seek(io::SeekFrom::Start(start))
            .await
            .map_err(PutError::File)?;
        let len = end - start;
        let stats = self.stats.clone();
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(len), READ_BUF).map(
            move |chunk| {
                if let Ok(b) = &chunk {
                    stats
                        .bytes_sent
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                }
                chunk
            },
        );
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .client
            .put(url)
            .bearer_auth(self.cfg.token.expose())
            .header(SHA256_HEADER, sha256)
            .header(BACKLOG_HEADER, self.stats.pending.load(Ordering::Relaxed))
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(
                reqwest::header::CONTENT_RANGE,
                ContentRange::of(start, end, total)
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            )
            .timeout(self.cfg.request_timeout)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|e| PutError::Http(UploadError::Unreachable(describe(e))))?;
        let status = resp.status().as_u16();
        if status == 401 {
            self.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
        }
        let offset = resp
            .headers()
            .get(OFFSET_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse().ok());
        let message = message_of(resp).await;
        Ok((status, offset, message))
    }
}

#[derive(Debug)]
enum PutError {
    FileGone,
    File(io::Error),
    Http(UploadError),
}

/// The directory's finished segments not yet uploaded nor rejected, oldest first; removes
/// rejected sidecars whose segment is gone. Blocking.
fn list(dir: &SegmentDir) -> Result<Listing, String> {
    let segments = dir.segments().map_err(|e| e.to_string())?;
    let mut rejected = HashSet::new();
    let entries = std::fs::read_dir(dir.path())
        .map_err(|e| format!("listing {}: {e}", dir.path().display()))?;
    for entry in entries.flatten() {
        if let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(REJECTED_EXT))
        {
            rejected.insert(name.to_owned());
        }
    }
    let present: HashSet<String> = segments.iter().map(|s| s.name.clone()).collect();
    for orphan in rejected.iter().filter(|n| !present.contains(*n)) {
        let _ = std::fs::remove_file(dir.path().join(format!("{orphan}{REJECTED_EXT}")));
    }
    let pending = segments
        .into_iter()
        .filter(|s| !s.partial && !s.uploaded && !rejected.contains(&s.name))
        .map(|s| Pending {
            path: dir.path().join(&s.name),
            name: s.name,
            size_bytes: s.size_bytes,
        })
        .collect();
    Ok(Listing { pending, present })
}

/// Size and SHA-256 (hex) of a file, streamed. Blocking.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

/// Writes a small sidecar and syncs it. Blocking.
fn write_sidecar(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, UploadError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| UploadError::Local(format!("blocking task failed: {e}")))
}

/// At most `limit` bytes of a response body.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, UploadError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| UploadError::Unreachable(describe(e)))?
    {
        if out.len() + chunk.len() > limit {
            return Err(UploadError::Hub {
                status: resp.status().as_u16(),
                message: format!("answer longer than {limit} bytes"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The hub's message: the body's first line(s), bounded, on one line.
async fn message_of(resp: reqwest::Response) -> String {
    let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let mut one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if one_line.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !one_line.is_char_boundary(cut) {
            cut -= 1;
        }
        one_line.truncate(cut);
        one_line.push('…');
    }
    if one_line.is_empty() {
        "(no message)".into()
    } else {
        one_line
    }
}

/// A reqwest error with its causes, without the URL (the same failure on another segment
/// reads the same, so it is logged once).
fn describe(e: reqwest::Error) -> String {
    use std::error::Error;
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

/// Between half and all of `d`.
fn jittered(d: Duration) -> Duration {
    let half = d / 2;
    half + Backoff::new(
        half.max(Duration::from_millis(1)),
        half.max(Duration::from_millis(1)),
    )
    .next_delay()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_answers() {
        use PutAnswer::*;
        let check = |status: u16, offset: Option<u64>, want: PutAnswer| {
            assert_eq!(
                PutAnswer::classify(status, offset),
                want,
                "{status} {offset:?}"
            );
        };
        check(201, Some(10), Stored);
        check(200, Some(10), AlreadyHad);
        check(
            202,
            Some(4),
            HubHolds {
                offset: 4,
                wrong_start: false,
            },
        );
        check(
            416,
            Some(7),
            HubHolds {
                offset: 7,
                wrong_start: true,
            },
        );
        check(202, None, SegmentFailed);
        check(416, None, SegmentFailed);
        check(400, Some(3), SegmentFailed);
        check(409, None, Conflict);
        check(422, None, Invalid);
        check(413, None, TooLarge);
        check(401, None, Unauthorized);
        for s in [404, 405, 500, 502, 503, 507] {
            check(s, None, HubFailed);
        }
    }

    #[test]
    fn where_an_upload_starts() {
        let st = |state: &str, received: u64, total: Option<u64>, sha: Option<&str>| HubState {
            name: "n".into(),
            state: match state {
                "complete" => Held::Complete,
                "partial" => Held::Partial,
                _ => Held::None,
            },
            received_bytes: received,
            total_bytes: total,
            sha256: sha.map(str::to_owned),
            segment: None,
        };
        let ours = "ab".repeat(32);
        let other = "cd".repeat(32);
        assert_eq!(
            start_from(&st("none", 0, None, None), &ours, 100),
            Start::At(0)
        );
        assert_eq!(
            start_from(&st("partial", 40, Some(100), Some(&ours)), &ours, 100),
            Start::At(40)
        );
        // Case of the hex digits does not matter.
        assert_eq!(
            start_from(
                &st("partial", 40, Some(100), Some(&ours.to_uppercase())),
                &ours,
                100
            ),
            Start::At(40)
        );
        // Another file's part, or another size: start again (a PUT from 0 replaces it).
        assert_eq!(
            start_from(&st("partial", 40, Some(100), Some(&other)), &ours, 100),
            Start::At(0)
        );
        assert_eq!(
            start_from(&st("partial", 40, Some(90), Some(&ours)), &ours, 100),
            Start::At(0)
        );
        assert_eq!(
            start_from(&st("complete", 100, Some(100), Some(&ours)), &ours, 100),
            Start::Done
        );
        assert!(matches!(
            start_from(&st("complete", 100, Some(100), Some(&other)), &ours, 100),
            Start::Conflict(_)
        ));
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..50 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(5) && d <= Duration::from_secs(10),
                "{d:?}"
            );
        }
    }
}
