//! The replicator: one task on the writing hub that copies what the queue
//! ([`crate::recordings::replication`]) holds to the bucket, oldest first, and applies the bucket's own
//! retention.
//!
//! * A row is marked `done` (with the ETag) only when [`offsite::Bucket`] returns `Ok`,
//!   that is after the store acknowledged the object and a HEAD showed its size, ETag and
//!   SHA-256. Segments are read from disk and hashed under `spawn_blocking` (inside the
//!   bucket's calls); the index is only touched through [`crate::db::Db::call`].
//! * [`ErrorKind::RetryLater`] (and an object the store holds differently, or lost): the
//!   row stays pending and the whole queue waits, from [`BACKOFF_START`] doubling to
//!   [`BACKOFF_MAX`], so an outage costs one request per wait, not one per row.
//! * [`ErrorKind::AuthRefused`] and [`ErrorKind::QuotaReached`]: replication pauses for
//!   [`PAUSE`] between tries and every copied camera gets an open health event naming the
//!   cause (`offsite_refused`, `offsite_quota`), closed by the next object that goes
//!   through. Recording goes on; nothing local is deleted because of it.
//! * [`ErrorKind::Local`] and [`ErrorKind::Invalid`] (the file is gone or differs from
//!   the index, a name the layout refuses): the row is dropped with a warning.
//! * At start, local footage without a queue row (indexed before `[offsite]` named its
//!   camera) is queued; a multipart upload a previous run left in the journal is resumed
//!   first (its row is the first due); one whose row is gone is aborted on the store.
//! * Finished events (motion, alarm, health) are queued with their thumbnails, and a camera's
//!   day index once its UTC day is over and all its segments are in the bucket
//!   ([`RESCAN`]).
//! * The bucket's retention (`[offsite.retention]`) runs every [`RETENTION_EVERY`];
//!   rows of segments gone from the bucket and from the disk are removed.

use std::sync::Arc;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use offsite::{Bucket, ErrorKind, EventSpan, SegmentRecord};

use super::restore::record_of;
use rusqlite::OptionalExtension;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::stats::{Paused, Stats, lock};
use crate::app::Hub;
use crate::db::DbError;
use crate::event_store::{self, NewEvent};
use crate::recordings::index;
use crate::recordings::replication::{self as queue, Enqueue, Kind, Row};

/// The first wait after the store could not be reached.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest wait between tries while the store cannot be reached.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The wait between tries while the store refuses the key or the bucket is full.
pub const PAUSE: Duration = Duration::from_secs(60);
/// How often finished events and days are looked for, and the backlog counted.
pub const RESCAN: Duration = Duration::from_secs(5);
/// How often the bucket's retention runs (the first time a minute after start).
pub const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// The most often the backlog is counted while objects go.
const COUNT_EVERY: Duration = Duration::from_secs(1);
/// How long the queue sleeps when nothing is due.
const IDLE: Duration = Duration::from_secs(1);

/// Starts the replicator on a hub with a writable `[offsite]` bucket.
pub fn spawn(hub: &Arc<Hub>, tracker: &TaskTracker, stop: &CancellationToken) {
    let (Some(bucket), Some(q)) = (hub.offsite.clone(), hub.recordings.offsite.clone()) else {
        return;
    };
    let (hub, stop) = (Arc::clone(hub), stop.clone());
    tracker.spawn(async move {
        Replicator { hub, bucket, q }.run(stop).await;
    });
}

struct Replicator {
    hub: Arc<Hub>,
    bucket: Arc<Bucket>,
    q: Enqueue,
}

/// What one try did.
enum Outcome {
    /// The row is settled (done or dropped): go on with the next.
    Settled,
    /// The store could not be reached: wait (growing) before any other try.
    Backoff,
    /// The store refuses: wait [`PAUSE`].
    Pause,
}

impl Replicator {
    fn stats(&self) -> &Stats {
        &self.hub.replication
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        self.hub.recordings.db.call(f).await
    }

    async fn run(self, stop: CancellationToken) {
        self.start_up().await;
        let mut backoff = BACKOFF_START;
        let mut next_scan = tokio::time::Instant::now();
        let mut next_count = tokio::time::Instant::now();
        let mut next_retention = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if stop.is_cancelled() {
                return;
            }
            let now = tokio::time::Instant::now();
            if now >= next_scan {
                self.rescan().await;
                next_scan = now + RESCAN;
            }
            if now >= next_retention {
                self.bucket_retention().await;
                next_retention = now + RETENTION_EVERY;
            }
            // Stopping drops an upload in flight: its parts are journaled and the next
            // start resumes it (or finds it complete and records it).
            let step = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.step() => r,
            };
            let wait = match step {
                Ok(Some(Outcome::Settled)) => {
                    backoff = BACKOFF_START;
                    // The counts the camera status shows, at most a second behind.
                    if now >= next_count {
                        self.count().await;
                        next_count = now + COUNT_EVERY;
                    }
                    continue;
                }
                Ok(Some(Outcome::Backoff)) => {
                    let d = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    self.rescan().await;
                    d
                }
                Ok(Some(Outcome::Pause)) => {
                    self.rescan().await;
                    PAUSE
                }
                Ok(None) => IDLE,
                Err(e) => {
                    tracing::warn!(error = %e, "off-site queue: database error");
                    IDLE
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Queues local footage that has no queue row yet, and aborts journaled multipart
    /// uploads whose object is no longer queued (the others are resumed by the queue,
    /// first).
    async fn start_up(&self) {
        let q = self.q.clone();
        let now = crate::camera::now_ms();
        match self
            .db(move |c| queue::enqueue_unqueued_segments(c, &q, now))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(segments = n, "queued earlier footage for off-site copies"),
            Err(e) => tracing::warn!(error = %e, "off-site queue: cannot queue earlier footage"),
        }
        let pending = match self.db(|c| queue::pending_keys(c)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "off-site queue: cannot read the queue");
                return;
            }
        };
        let journal = super::SqlJournal::new(self.hub.recordings.db.clone());
        let all = tokio::task::spawn_blocking(move || offsite::UploadJournal::all(&journal)).await;
        let Ok(Ok(all)) = all else {
            tracing::warn!("off-site queue: cannot read the multipart journal");
            return;
        };
        for s in all {
            if pending.contains(&s.key) {
                tracing::info!(key = %s.key, parts = s.parts.len(), "resuming an off-site upload");
                continue;
            }
            match self.bucket.abort_journaled(&s.key).await {
                Ok(_) => tracing::info!(key = %s.key, "aborted an abandoned off-site upload"),
                Err(e) => {
                    tracing::warn!(key = %s.key, error = %e, "aborting an abandoned off-site upload")
                }
            }
        }
    }

    /// Queues finished events and days, and counts the backlog.
    async fn rescan(&self) {
        let q = self.q.clone();
        let now = crate::camera::now_ms();
        let today = offsite::layout::day_of(now).unwrap_or_default();
        let r = self
            .db(move |c| {
                queue::enqueue_ended_events(c, &q, now)?;
                queue::enqueue_day_indexes(c, &q, &today, now)?;
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "off-site queue: cannot queue events and days");
        }
        self.count().await;
    }

    /// Counts each camera's queue for the camera status.
    async fn count(&self) {
        match self.db(|c| queue::backlog(c)).await {
            Ok(b) => *lock(&self.stats().backlog) = b,
            Err(e) => tracing::warn!(error = %e, "off-site queue: cannot count the backlog"),
        }
    }

    /// Tries the next due row, if any.
    async fn step(&self) -> Result<Option<Outcome>, DbError> {
        let now = crate::camera::now_ms();
        let Some(row) = self.db(move |c| queue::next_due(c, now)).await? else {
            return Ok(None);
        };
        let result = match self.send(&row).await? {
            Some(r) => r,
            None => {
                tracing::warn!(key = %row.key, "off-site copy dropped: its source is gone");
                let id = row.id;
                self.db(move |c| queue::drop_row(c, id)).await?;
                return Ok(Some(Outcome::Settled));
            }
        };
        match result {
            Ok(r) => {
                let (id, e_tag) = (row.id, r.e_tag.clone());
                let now = crate::camera::now_ms();
                self.db(move |c| queue::mark_done(c, id, &e_tag, now))
                    .await?;
                if !r.already_present {
                    let s = self.stats();
                    s.bytes_replicated
                        .fetch_add(r.stored_len, Ordering::Relaxed);
                    s.objects_replicated.fetch_add(1, Ordering::Relaxed);
                }
                tracing::debug!(key = %r.key, bytes = r.stored_len, resumed_parts = r.resumed_parts, "copied off-site");
                self.resume().await;
                Ok(Some(Outcome::Settled))
            }
            Err(e) => self.failed(&row, e).await.map(Some),
        }
    }

    /// Copies `row`'s object; `None` if what it names is gone.
    async fn send(
        &self,
        row: &Row,
    ) -> Result<Option<Result<offsite::Replicated, offsite::Error>>, DbError> {
        let b = &self.bucket;
        Ok(Some(match row.kind {
            Kind::Segment => {
                let Some(id) = row.recording_id else {
                    return Ok(None);
                };
                let Some((record, local)) = self.db(move |c| segment_record(c, id)).await? else {
                    return Ok(None);
                };
                let path = self
                    .hub
                    .recordings
                    .file_path(&record.camera, &record.file_name);
                let Some(path) = path.filter(|_| local) else {
                    return Ok(None);
                };
                b.replicate_file(&row.key, &path, Some(&record.sha256), Some(&record))
                    .await
            }
            Kind::Event => {
                let Some(id) = row.event_id else {
                    return Ok(None);
                };
                let found = self
                    .db(move |c| {
                        let origin: Option<String> = c
                            .query_row("SELECT origin FROM event WHERE id = ?1", [id], |r| r.get(0))
                            .optional()?;
                        Ok(event_store::rows::get(c, id)?.zip(origin))
                    })
                    .await?;
                let Some((e, origin)) = found else {
                    return Ok(None);
                };
                let record = super::events::EventRecord::of(&e, &origin);
                b.replicate_bytes(&row.key, record.to_json(), None).await
            }
            Kind::Thumbnail => {
                let Some(id) = row.event_id else {
                    return Ok(None);
                };
                let Some(jpeg) = self
                    .db(move |c| event_store::rows::thumbnail(c, id))
                    .await?
                else {
                    return Ok(None);
                };
                b.replicate_bytes(&row.key, Bytes::from(jpeg), None).await
            }
            Kind::DayIndex => {
                let Some(offsite::ObjectName::DayIndex { camera, day }) =
                    b.layout().parse(&row.key)
                else {
                    return Ok(None);
                };
                let (cam, d) = (camera.clone(), day.clone());
                let segments = self.db(move |c| day_records(c, &cam, &d)).await?;
                if segments.is_empty() {
                    return Ok(None);
                }
                b.write_day_index(&camera, &day, segments).await
            }
        }))
    }

    /// Handles a failed try of `row` (see the module docs).
    async fn failed(&self, row: &Row, e: offsite::Error) -> Result<Outcome, DbError> {
        let kind = e.kind();
        *lock(&self.stats().errors).entry(kind.as_str()).or_default() += 1;
        *lock(&self.stats().last_error) = Some(e.to_string());
        let id = row.id;
        let now = crate::camera::now_ms();
        match kind {
            ErrorKind::Local | ErrorKind::Invalid => {
                tracing::warn!(key = %row.key, error = %e, "off-site copy dropped");
                self.db(move |c| queue::drop_row(c, id)).await?;
                Ok(Outcome::Settled)
            }
            ErrorKind::AuthRefused | ErrorKind::QuotaReached => {
                tracing::error!(key = %row.key, error = %e, "off-site copies paused");
                let next = now + PAUSE.as_millis() as i64;
                self.db(move |c| queue::mark_retry(c, id, kind.as_str(), next))
                    .await?;
                self.pause(kind, e.message().to_owned()).await;
                Ok(Outcome::Pause)
            }
            ErrorKind::RetryLater | ErrorKind::Corrupt | ErrorKind::NotFound => {
                tracing::warn!(key = %row.key, error = %e, attempts = row.attempts + 1, "off-site copy failed; will retry");
                let next = now + BACKOFF_START.as_millis() as i64;
                self.db(move |c| queue::mark_retry(c, id, kind.as_str(), next))
                    .await?;
                Ok(Outcome::Backoff)
            }
        }
    }

    /// The cameras whose footage is copied.
    fn cameras(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .hub
            .recordings
            .camera_names()
            .filter(|c| self.q.includes(c))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    async fn pause(&self, kind: ErrorKind, message: String) {
        let (code, text) = health_code(kind);
        let paused = Paused {
            cause: kind.as_str(),
            message: message.clone(),
        };
        let previous = lock(&self.stats().paused).replace(paused);
        if previous.as_ref().is_some_and(|p| p.cause == kind.as_str()) {
            return;
        }
        let (events, cameras) = (self.hub.events.clone(), self.cameras());
        let other = previous.map(|p| p.cause);
        let now = crate::camera::now_ms();
        let r = tokio::task::spawn_blocking(move || -> Result<(), DbError> {
            for camera in &cameras {
                if let Some(o) = other.and_then(code_of) {
                    events.close(camera, event_store::Kind::Health, Some(o), now)?;
                }
                events.open(NewEvent::health(
                    camera,
                    code,
                    format!("{text}: {message}"),
                    now,
                ))?;
            }
            Ok(())
        })
        .await;
        if !matches!(r, Ok(Ok(()))) {
            tracing::warn!("off-site copies: cannot store the health event");
        }
    }

    /// Ends a pause after an object went through.
    async fn resume(&self) {
        let Some(p) = lock(&self.stats().paused).take() else {
            return;
        };
        tracing::info!(cause = p.cause, "off-site copies work again");
        let Some(code) = code_of(p.cause) else {
            return;
        };
        let (events, cameras) = (self.hub.events.clone(), self.cameras());
        let now = crate::camera::now_ms();
        let _ = tokio::task::spawn_blocking(move || -> Result<(), DbError> {
            for camera in &cameras {
                events.close(camera, event_store::Kind::Health, Some(code), now)?;
            }
            Ok(())
        })
        .await;
    }

    /// One pass of the bucket's retention (when `[offsite.retention]` sets a limit).
    async fn bucket_retention(&self) {
        let Some(policy) = self.hub.cfg.offsite.as_ref().map(|o| o.retention) else {
            return;
        };
        if policy.max_age.is_none() && policy.max_size.is_none() {
            return;
        }
        let spans = match self.db(|c| event_spans(c)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "off-site retention: cannot read the events");
                return;
            }
        };
        let deleted = match self
            .bucket
            .apply_retention(&policy, &spans, crate::camera::now_ms())
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "off-site retention failed");
                return;
            }
        };
        if deleted.is_empty() {
            return;
        }
        let n = deleted.len();
        match self.db(move |c| queue::forget_deleted(c, &deleted)).await {
            Ok(rows) => tracing::info!(objects = n, index_rows = rows, "off-site retention"),
            Err(e) => tracing::warn!(error = %e, "off-site retention: cannot update the index"),
        }
    }
}

/// The health event code and sentence of a pause's cause.
fn health_code(kind: ErrorKind) -> (&'static str, &'static str) {
    match kind {
        ErrorKind::QuotaReached => (
            "offsite_quota",
            "Off-site copies stopped: the bucket's quota is reached",
        ),
        _ => (
            "offsite_refused",
            "Off-site copies stopped: the store refuses the access key",
        ),
    }
}

fn code_of(cause: &str) -> Option<&'static str> {
    match cause {
        "quota-reached" => Some("offsite_quota"),
        "auth-refused" => Some("offsite_refused"),
        _ => None,
    }
}

/// Recording `id` as the bucket describes it, and whether its file is local.
fn segment_record(
    c: &rusqlite::Connection,
    id: i64,
) -> Result<Option<(SegmentRecord, bool)>, DbError> {
    let Some((camera, file_name, local)) = c
        .query_row(
            "SELECT camera, file_name, local FROM recording WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            },
        )
        .optional()?
    else {
        return Ok(None);
    };
    Ok(index::get(c, &camera, &file_name)?.map(|s| (record_of(&s), local)))
}

/// `camera`'s segments of UTC `day` (`YYYY-MM-DD`) the bucket holds, oldest first.
fn day_records(
    c: &rusqlite::Connection,
    camera: &str,
    day: &str,
) -> Result<Vec<SegmentRecord>, DbError> {
    let Some(start) =
        store::parse_segment_name(&format!("{day}T00-00-00.000Z{}", store::SEGMENT_EXT))
    else {
        return Ok(Vec::new());
    };
    let in_bucket = queue::replicated_files(c, camera)?;
    Ok(index::range(c, camera, start, start + 86_400_000)?
        .iter()
        .filter(|s| offsite::layout::day_of(s.start_ms).as_deref() == Some(day))
        .filter(|s| in_bucket.contains(&s.file_name))
        .map(record_of)
        .collect())
}

/// The finished motion and alarm events, for the bucket's retention.
fn event_spans(c: &rusqlite::Connection) -> Result<Vec<EventSpan>, DbError> {
    let mut st = c.prepare(
        "SELECT camera, start_ms, end_ms FROM event
         WHERE kind IN ('motion', 'alarm') AND end_ms IS NOT NULL",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(EventSpan {
                camera: r.get(0)?,
                start_ms: r.get(1)?,
                end_ms: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
