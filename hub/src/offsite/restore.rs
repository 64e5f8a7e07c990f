//! The index rebuilt from the bucket: `hub restore --from-offsite` on a new hub after the
//! old one is lost ([`restore`]), and a read-only hub keeping its index in step with the
//! bucket another hub writes ([`refresh`], [`spawn_refresh`]).
//!
//! Each segment the bucket holds becomes an index row of source `offsite` with no local
//! file (`local = 0`) and a `replication` row of kind `segment` in state `done` naming
//! its key: what [`crate::recordings::Recordings::open_segment`] reads from. A row that
//! is already there with the same SHA-256 is kept as it is (its local file, if any,
//! still plays first); one with another hash is reported and left alone. Segments of
//! cameras this hub does not configure are counted, not indexed (nothing could play
//! them). Events and their thumbnails come back too ([`super::events`]). Running either
//! again changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use offsite::{Bucket, ErrorKind, ObjectName, SegmentRecord};
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::{Db, DbError};
use crate::recordings::{Segment, Source, index};

/// What a restore or refresh did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Segments indexed (camera, file name).
    pub added: Vec<(String, String)>,
    /// Segments already indexed with the same hash.
    pub already: usize,
    /// Segments whose row has another hash than the bucket's copy (camera, file, why):
    /// left as they are.
    pub conflicts: Vec<(String, String, String)>,
    /// Segments of cameras this hub does not configure, by camera.
    pub other_cameras: BTreeMap<String, usize>,
    /// Rows dropped because the bucket no longer holds their segment (refresh only).
    pub removed: Vec<(String, String)>,
    /// Segment objects with no record to index them from.
    pub without_record: Vec<String>,
    /// Keys under the prefix that are not this layout's.
    pub foreign: usize,
    /// Events added to the event table from the bucket.
    pub events_added: usize,
    /// Event objects that could not be added (key, why).
    pub events_skipped: Vec<(String, String)>,
}

impl Report {
    /// One line per segment that is not simply indexed, then a summary.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (c, f, why) in &self.conflicts {
            out.push(format!("left {c}/{f} as it is: {why}"));
        }
        for k in &self.without_record {
            out.push(format!("skipped {k}: it carries no segment record"));
        }
        for (c, n) in &self.other_cameras {
            out.push(format!(
                "skipped {n} segments of camera {c}, which this hub's configuration does not name"
            ));
        }
        for (c, f) in &self.removed {
            out.push(format!("dropped {c}/{f}: the bucket no longer holds it"));
        }
        for (k, why) in &self.events_skipped {
            out.push(format!("skipped event {k}: {why}"));
        }
        if self.foreign > 0 {
            out.push(format!(
                "ignored {} objects under the prefix that are not the hub's",
                self.foreign
            ));
        }
        out.push(format!(
            "restore: {} segments indexed, {} already indexed, {} left as they are, {} skipped, {} dropped; {} events added",
            self.added.len(),
            self.already,
            self.conflicts.len(),
            self.without_record.len() + self.other_cameras.values().sum::<usize>(),
            self.removed.len(),
            self.events_added
        ));
        out
    }

    /// True when something could not be indexed.
    pub fn has_problems(&self) -> bool {
        !self.conflicts.is_empty() || !self.without_record.is_empty()
    }
}

/// Indexes every segment the bucket holds (of `camera`, or of every camera in
/// `cameras`) with [`Bucket::restore`]: day indexes first, each object's metadata for
/// segments no index covers.
pub async fn restore(
    bucket: &Bucket,
    db: &Db,
    cameras: &HashSet<String>,
    camera: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<Report> {
    let restored = bucket
        .restore(camera)
        .await
        .map_err(|e| anyhow::anyhow!("reading the bucket: {e}"))?;
    let mut records = Vec::with_capacity(restored.segments.len());
    for r in restored.segments {
        let key = bucket
            .layout()
            .segment(&r.camera, &r.file_name)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        records.push((key, r));
    }
    let mut report = Report {
        without_record: restored.without_record,
        foreign: restored.foreign.len(),
        ..Report::default()
    };
    let cams = cameras.clone();
    let applied = db
        .call(move |c| apply(c, &records, &cams, None, now_ms))
        .await?;
    merge(&mut report, applied);
    add_events(&mut report, bucket, db, cameras, camera, now_ms).await?;
    Ok(report)
}

async fn add_events(
    report: &mut Report,
    bucket: &Bucket,
    db: &Db,
    cameras: &HashSet<String>,
    camera: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<()> {
    let events = super::events::restore(bucket, db, cameras, camera, now_ms).await?;
    report.events_added += events.added;
    report.events_skipped.extend(events.skipped);
    Ok(())
}

/// Brings the index in step with the bucket (a read-only hub, periodically): segments
/// new in the bucket are indexed (from their day's index when there is one, else from
/// their metadata: one request per new segment, none per known one). A `full` pass
/// lists the whole bucket and also drops rows restored from it whose object is gone
/// (deleted by the writing hub's bucket retention); otherwise only keys after the
/// newest each camera has are asked for (one cheap listing per camera).
pub async fn refresh(
    bucket: &Bucket,
    db: &Db,
    cameras: &HashSet<String>,
    full: bool,
    now_ms: i64,
) -> anyhow::Result<Report> {
    let listing = if full {
        bucket
            .list("rec", None)
            .await
            .map_err(|e| anyhow::anyhow!("listing the bucket: {e}"))?
    } else {
        let newest = db.call(newest_segment_keys).await?;
        let mut names: Vec<&String> = cameras.iter().collect();
        names.sort();
        let mut all = offsite::Listing::default();
        for cam in names {
            let part = match newest.get(cam) {
                Some(after) => bucket.list_after("rec", cam, after).await,
                None => bucket.list("rec", Some(cam)).await,
            }
            .map_err(|e| anyhow::anyhow!("listing the bucket: {e}"))?;
            all.objects.extend(part.objects);
            all.foreign.extend(part.foreign);
        }
        all
    };
    let known: HashSet<String> = db.call(done_segment_keys).await?;
    let mut report = Report {
        foreign: listing.foreign.len(),
        ..Report::default()
    };
    // New keys, by (camera, UTC day): each day's index is read once.
    let mut new: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for l in &listing.objects {
        if known.contains(&l.key) {
            continue;
        }
        if let ObjectName::Segment {
            camera, start_ms, ..
        } = &l.name
        {
            if !cameras.contains(camera) {
                *report.other_cameras.entry(camera.clone()).or_default() += 1;
                continue;
            }
            let day = offsite::layout::day_of(*start_ms).unwrap_or_default();
            new.entry((camera.clone(), day))
                .or_default()
                .push(l.key.clone());
        }
    }
    let mut records = Vec::new();
    for ((camera, day), keys) in new {
        let mut from_index: HashMap<String, SegmentRecord> = HashMap::new();
        if let Ok(k) = bucket.layout().day_index(&camera, &day) {
            match bucket.read_all(&k).await {
                Ok(bytes) => {
                    let d = offsite::DayIndex::parse(&bytes)
                        .map_err(|e| anyhow::anyhow!("{k}: {e}"))?;
                    for s in d.segments {
                        if let Ok(key) = bucket.layout().segment(&s.camera, &s.file_name) {
                            from_index.insert(key, s);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!("reading {k}: {e}"),
            }
        }
        for key in keys {
            if let Some(r) = from_index.remove(&key) {
                records.push((key, r));
                continue;
            }
            let o = match bucket.head(&key).await {
                Ok(o) => o,
                // Deleted since the listing.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => anyhow::bail!("reading {key}'s metadata: {e}"),
            };
            match o.record.as_deref().map(SegmentRecord::from_meta) {
                Some(Ok(r)) => records.push((key, r)),
                _ => report.without_record.push(key),
            }
        }
    }
    let present: Option<HashSet<String>> =
        full.then(|| listing.objects.into_iter().map(|l| l.key).collect());
    let cams = cameras.clone();
    let applied = db
        .call(move |c| apply(c, &records, &cams, present.as_ref(), now_ms))
        .await?;
    merge(&mut report, applied);
    add_events(&mut report, bucket, db, cameras, None, now_ms).await?;
    Ok(report)
}

fn merge(into: &mut Report, from: Report) {
    into.added.extend(from.added);
    into.already += from.already;
    into.conflicts.extend(from.conflicts);
    for (c, n) in from.other_cameras {
        *into.other_cameras.entry(c).or_default() += n;
    }
    into.removed.extend(from.removed);
}

/// Keys of every segment the index says the bucket holds.
fn done_segment_keys(c: &mut Connection) -> Result<HashSet<String>, DbError> {
    let mut st = c.prepare(
        "SELECT r.key FROM replication r JOIN recording s ON s.id = r.recording_id
         WHERE r.kind = 'segment' AND r.state = 'done'",
    )?;
    let keys = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(keys)
}

/// The newest segment key the index records as copied, by camera.
fn newest_segment_keys(c: &mut Connection) -> Result<HashMap<String, String>, DbError> {
    let mut st = c.prepare(
        "SELECT camera, max(key) FROM replication
         WHERE kind = 'segment' AND state = 'done' GROUP BY camera",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Indexes `records` (key, record) in one transaction; with `present`, drops the rows
/// restored from the bucket (source `offsite`, no local file) whose key it lacks.
fn apply(
    c: &mut Connection,
    records: &[(String, SegmentRecord)],
    cameras: &HashSet<String>,
    present: Option<&HashSet<String>>,
    now_ms: i64,
) -> Result<Report, DbError> {
    let mut report = Report::default();
    let tx = c.transaction()?;
    for (key, r) in records {
        if !cameras.contains(&r.camera) {
            *report.other_cameras.entry(r.camera.clone()).or_default() += 1;
            continue;
        }
        let existing: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, sha256 FROM recording WHERE camera = ?1 AND file_name = ?2",
                params![r.camera, r.file_name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let id = match existing {
            Some((id, sha)) if sha.eq_ignore_ascii_case(&r.sha256) => {
                report.already += 1;
                id
            }
            Some((_, sha)) => {
                report.conflicts.push((
                    r.camera.clone(),
                    r.file_name.clone(),
                    format!(
                        "the index has SHA-256 {sha}, the bucket's copy {}",
                        r.sha256
                    ),
                ));
                continue;
            }
            None => {
                index::insert(&tx, &segment_of(r), now_ms)?;
                index::mark_not_local(&tx, &r.camera, &r.file_name)?;
                report.added.push((r.camera.clone(), r.file_name.clone()));
                tx.last_insert_rowid()
            }
        };
        tx.execute(
            "INSERT INTO replication (kind, camera, recording_id, key, state, attempts,
                 next_try_ms, queued_ms, done_ms)
             VALUES ('segment', ?1, ?2, ?3, 'done', 0, ?4, ?4, ?4)
             ON CONFLICT (key) DO UPDATE SET kind = 'segment', camera = ?1, recording_id = ?2,
                 state = 'done', last_error = NULL, done_ms = coalesce(done_ms, ?4)",
            params![r.camera, id, key, now_ms],
        )?;
    }
    if let Some(present) = present {
        let gone: Vec<(i64, String, String, String)> = {
            let mut st = tx.prepare(
                "SELECT s.id, s.camera, s.file_name, r.key FROM recording s
                 JOIN replication r ON r.recording_id = s.id AND r.kind = 'segment'
                 WHERE s.source = 'offsite' AND s.local = 0",
            )?;
            st.query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|(_, _, _, key)| !present.contains(key))
            .collect()
        };
        for (id, camera, file, key) in gone {
            tx.execute("DELETE FROM replication WHERE key = ?1", [&key])?;
            tx.execute("DELETE FROM recording WHERE id = ?1", [id])?;
            report.removed.push((camera, file));
        }
    }
    tx.commit()?;
    Ok(report)
}

fn segment_of(r: &SegmentRecord) -> Segment {
    Segment {
        camera: r.camera.clone(),
        file_name: r.file_name.clone(),
        start_ms: r.start_ms,
        duration_ms: r.duration_ms,
        size_bytes: r.size_bytes,
        sha256: r.sha256.to_ascii_lowercase(),
        codec: r.codec.clone(),
        width: r.width,
        height: r.height,
        source: Source::Offsite,
    }
}

/// The record a segment's object carries (what [`restore`] indexes it from).
pub fn record_of(s: &Segment) -> SegmentRecord {
    SegmentRecord {
        camera: s.camera.clone(),
        file_name: s.file_name.clone(),
        start_ms: s.start_ms,
        duration_ms: s.duration_ms,
        size_bytes: s.size_bytes,
        sha256: s.sha256.clone(),
        codec: s.codec.clone(),
        width: s.width,
        height: s.height,
    }
}

/// On a read-only hub: [`refresh`] at start and then every `offsite.refresh_interval`,
/// a full pass at start and every `offsite.full_refresh_interval`, until `shutdown`. A
/// failed pass is logged and tried again at the next (a failed full pass, in full).
pub fn spawn_refresh(
    hub: &Arc<crate::app::Hub>,
    tracker: &tokio_util::task::TaskTracker,
    shutdown: &tokio_util::sync::CancellationToken,
) {
    let (Some(cfg), Some(bucket)) = (&hub.cfg.offsite, &hub.offsite) else {
        return;
    };
    if !cfg.read_only {
        return;
    }
    let every = cfg.refresh_interval.as_duration();
    let full_every = cfg.full_refresh_interval.as_duration();
    let bucket = bucket.clone();
    let db = hub.recordings.db.clone();
    let cameras: HashSet<String> = hub.cfg.cameras.iter().map(|c| c.name.clone()).collect();
    let stop = shutdown.clone();
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_full: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let full = last_full.is_none_or(|t| t.elapsed() >= full_every);
            let pass = refresh(&bucket, &db, &cameras, full, crate::camera::now_ms());
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                r = pass => r,
            };
            if full && outcome.is_ok() {
                last_full = Some(tokio::time::Instant::now());
            }
            match outcome {
                Ok(r) if r.added.is_empty() && r.removed.is_empty() && r.events_added == 0 => {}
                Ok(r) => tracing::info!(
                    added = r.added.len(),
                    removed = r.removed.len(),
                    events = r.events_added,
                    "off-site index refreshed"
                ),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "off-site index refresh failed")
                }
            }
        }
    });
}
