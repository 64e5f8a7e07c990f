//! The replication queue in the index (table `replication`, migration 5): one row per
//! object key, `pending` until the store acknowledged the object and its hash matched,
//! then `done` with the ETag. Blocking functions on a connection; the recordings call
//! [`enqueue_segment`] inside the transaction that writes a segment's index row, so a
//! segment is never indexed without its row (nor the other way round).
//!
//! Meaning shared with the reading side: a row of kind `segment` that is `done`, with
//! `recording_id` set, says the bucket holds that segment under `key`; a recording row
//! with `local = 0` has no local file any more.

use std::collections::{BTreeMap, HashSet};

use offsite::{Layout, OffsiteConfig};
use rusqlite::{Connection, OptionalExtension, params};

use super::Segment;
use crate::db::DbError;

/// What the recordings need to know to queue a segment: which cameras are copied and
/// where their objects go. `None` on a hub without `[offsite]` or reading only.
#[derive(Debug, Clone)]
pub struct Enqueue {
    layout: Layout,
    cameras: Option<Vec<String>>,
}

impl Enqueue {
    pub fn from_config(cfg: Option<&OffsiteConfig>) -> Option<Enqueue> {
        let cfg = cfg.filter(|c| !c.read_only)?;
        Some(Enqueue {
            layout: Layout::new(&cfg.prefix).ok()?,
            cameras: cfg.cameras.clone(),
        })
    }

    /// Whether `camera`'s recordings and events are copied.
    pub fn includes(&self, camera: &str) -> bool {
        self.cameras
            .as_ref()
            .is_none_or(|c| c.iter().any(|n| n == camera))
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

/// The kinds of queued objects (the `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Segment,
    Event,
    Thumbnail,
    DayIndex,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Segment => "segment",
            Kind::Event => "event",
            Kind::Thumbnail => "thumbnail",
            Kind::DayIndex => "day_index",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Segment, Kind::Event, Kind::Thumbnail, Kind::DayIndex]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Queues segment `seg` (just written to the index by the caller, in the same
/// transaction). `changed`: its bytes differ from what an earlier row said, so a copy
/// already made is stale and the segment goes again.
pub fn enqueue_segment(
    c: &Connection,
    q: &Enqueue,
    seg: &Segment,
    changed: bool,
    now_ms: i64,
) -> Result<(), DbError> {
    if !q.includes(&seg.camera) {
        return Ok(());
    }
    let Ok(key) = q.layout.segment(&seg.camera, &seg.file_name) else {
        return Ok(());
    };
    let id: i64 = c.query_row(
        "SELECT id FROM recording WHERE camera = ?1 AND file_name = ?2",
        params![seg.camera, seg.file_name],
        |r| r.get(0),
    )?;
    c.execute(
        "INSERT INTO replication (kind, camera, recording_id, key, state, next_try_ms, queued_ms)
         VALUES ('segment', ?1, ?2, ?3, 'pending', ?4, ?4)
         ON CONFLICT (key) DO UPDATE SET recording_id = ?2,
             state = CASE WHEN ?5 THEN 'pending' ELSE state END,
             attempts = CASE WHEN ?5 THEN 0 ELSE attempts END,
             next_try_ms = CASE WHEN ?5 THEN ?4 ELSE next_try_ms END,
             done_ms = CASE WHEN ?5 THEN NULL ELSE done_ms END",
        params![seg.camera, id, key, now_ms, changed],
    )?;
    Ok(())
}

/// Queues every local segment of a copied camera that has no queue row (footage indexed
/// before `[offsite]` was configured, or before its camera was added to it). Returns how
/// many were queued.
pub fn enqueue_unqueued_segments(
    c: &Connection,
    q: &Enqueue,
    now_ms: i64,
) -> Result<usize, DbError> {
    let mut st = c.prepare(
        "SELECT g.camera, g.file_name FROM recording g
         WHERE g.local = 1 AND NOT EXISTS (SELECT 1 FROM replication r
                                           WHERE r.recording_id = g.id AND r.kind = 'segment')
         ORDER BY g.start_ms",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut queued = 0;
    for (camera, file_name) in rows {
        if !q.includes(&camera) {
            continue;
        }
        if let Some(seg) = super::index::get(c, &camera, &file_name)? {
            enqueue_segment(c, q, &seg, false, now_ms)?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Queues every ended event (motion, alarm, health: outages and gaps belong to the
/// footage's story too) of a copied camera that has no row yet, with its thumbnail if it
/// has one. Returns how many rows were added.
pub fn enqueue_ended_events(c: &Connection, q: &Enqueue, now_ms: i64) -> Result<usize, DbError> {
    let mut st = c.prepare(
        "SELECT e.id, e.camera, e.start_ms, e.thumbnail IS NOT NULL FROM event e
         WHERE e.end_ms IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM replication r
                           WHERE r.event_id = e.id AND r.kind = 'event')
         ORDER BY e.id LIMIT 500",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, bool>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut added = 0;
    for (id, camera, start_ms, thumb) in rows {
        if !q.includes(&camera) {
            continue;
        }
        let sid = id.to_string();
        let mut keys = vec![(Kind::Event, q.layout.event(&camera, start_ms, &sid))];
        if thumb {
            keys.push((Kind::Thumbnail, q.layout.thumbnail(&camera, start_ms, &sid)));
        }
        for (kind, key) in keys {
            let Ok(key) = key else { continue };
            added += c.execute(
                "INSERT INTO replication (kind, camera, event_id, key, state, next_try_ms, queued_ms)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) ON CONFLICT (key) DO NOTHING",
                params![kind.as_str(), camera, id, key, now_ms],
            )?;
        }
    }
    Ok(added)
}

/// Queues the day index of every (camera, UTC day) that is over (before `today`) and has
/// segments in the bucket but no pending segment; a day whose index was written before
/// a later segment of it reached the bucket is queued again. Only days with a segment
/// pending or copied in the last [`DAY_INDEX_LOOKBACK_MS`] are looked at (not a year of
/// rows each pass). Returns the rows queued.
pub fn enqueue_day_indexes(
    c: &Connection,
    q: &Enqueue,
    today: &str,
    now_ms: i64,
) -> Result<usize, DbError> {
    let mut st = c.prepare(
        "SELECT r.camera, strftime('%Y-%m-%d', g.start_ms / 1000, 'unixepoch') AS day,
                sum(r.state = 'pending'), max(r.done_ms)
         FROM replication r JOIN recording g ON g.id = r.recording_id
         WHERE r.kind = 'segment' AND (r.state = 'pending' OR r.done_ms > ?1)
         GROUP BY r.camera, day",
    )?;
    let days = st
        .query_map([now_ms - DAY_INDEX_LOOKBACK_MS], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut queued = 0;
    for (camera, day, pending, newest_done) in days {
        let Some(newest_done) = newest_done else {
            continue;
        };
        if pending > 0 || day.as_str() >= today {
            continue;
        }
        let Ok(key) = q.layout.day_index(&camera, &day) else {
            continue;
        };
        queued += c.execute(
            "INSERT INTO replication (kind, camera, key, state, next_try_ms, queued_ms)
             VALUES ('day_index', ?1, ?2, 'pending', ?3, ?3)
             ON CONFLICT (key) DO UPDATE SET state = 'pending', attempts = 0,
                 next_try_ms = ?3, done_ms = NULL
             WHERE state = 'done' AND done_ms < ?4",
            params![camera, key, now_ms, newest_done],
        )?;
    }
    Ok(queued)
}

/// How far back [`enqueue_day_indexes`] looks for segments copied.
pub const DAY_INDEX_LOOKBACK_MS: i64 = 7 * 86_400_000;

/// One queued object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: i64,
    pub kind: Kind,
    pub camera: String,
    pub recording_id: Option<i64>,
    pub event_id: Option<i64>,
    pub key: String,
    pub attempts: u32,
    pub queued_ms: i64,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let kind: String = r.get(1)?;
    Ok(Row {
        id: r.get(0)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::Segment),
        camera: r.get(2)?,
        recording_id: r.get(3)?,
        event_id: r.get(4)?,
        key: r.get(5)?,
        attempts: r.get::<_, i64>(6)?.clamp(0, i64::from(u32::MAX)) as u32,
        queued_ms: r.get(7)?,
    })
}

const ROW_COLUMNS: &str =
    "id, kind, camera, recording_id, event_id, key, attempts, queued_ms FROM replication";

/// The oldest pending row due at `now_ms`; rows with a multipart upload in progress
/// (a previous run's, to resume) come first.
pub fn next_due(c: &Connection, now_ms: i64) -> Result<Option<Row>, DbError> {
    Ok(c.query_row(
        &format!(
            "SELECT {ROW_COLUMNS} WHERE state = 'pending' AND next_try_ms <= ?1
             ORDER BY key IN (SELECT key FROM multipart_upload) DESC, id LIMIT 1"
        ),
        [now_ms],
        row,
    )
    .optional()?)
}

/// When the next pending row is due (`None`: nothing pending).
pub fn next_try_ms(c: &Connection) -> Result<Option<i64>, DbError> {
    Ok(c.query_row(
        "SELECT min(next_try_ms) FROM replication WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

/// Pending rows' keys (the multipart uploads to keep at start-up).
pub fn pending_keys(c: &Connection) -> Result<HashSet<String>, DbError> {
    let mut st = c.prepare("SELECT key FROM replication WHERE state = 'pending'")?;
    let keys = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<HashSet<_>, _>>()?;
    Ok(keys)
}

/// Marks row `id` done with the store's ETag.
pub fn mark_done(c: &Connection, id: i64, e_tag: &str, now_ms: i64) -> Result<(), DbError> {
    c.execute(
        "UPDATE replication SET state = 'done', etag = ?2, done_ms = ?3, last_error = NULL
         WHERE id = ?1",
        params![id, e_tag, now_ms],
    )?;
    Ok(())
}

/// Leaves row `id` pending, to try again at `next_try_ms`, noting why it failed.
pub fn mark_retry(
    c: &Connection,
    id: i64,
    error_kind: &str,
    next_try_ms: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE replication SET attempts = attempts + 1, next_try_ms = ?2, last_error = ?3
         WHERE id = ?1",
        params![id, next_try_ms, error_kind],
    )?;
    Ok(())
}

/// Removes row `id` (its object will not be copied).
pub fn drop_row(c: &Connection, id: i64) -> Result<(), DbError> {
    c.execute("DELETE FROM replication WHERE id = ?1", [id])?;
    Ok(())
}

/// Whether segment `file_name` of `camera` is in the bucket (its row is `done`).
pub fn is_replicated(c: &Connection, camera: &str, file_name: &str) -> Result<bool, DbError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM replication r JOIN recording g ON g.id = r.recording_id
                        WHERE g.camera = ?1 AND g.file_name = ?2 AND r.kind = 'segment'
                          AND r.state = 'done')",
        params![camera, file_name],
        |r| r.get(0),
    )?)
}

/// File names of `camera`'s segments the bucket holds.
pub fn replicated_files(c: &Connection, camera: &str) -> Result<HashSet<String>, DbError> {
    let mut st = c.prepare(
        "SELECT g.file_name FROM replication r JOIN recording g ON g.id = r.recording_id
         WHERE g.camera = ?1 AND r.kind = 'segment' AND r.state = 'done'",
    )?;
    let names = st
        .query_map([camera], |r| r.get::<_, String>(0))?
        .collect::<Result<HashSet<_>, _>>()?;
    Ok(names)
}

/// File names of `camera`'s segments with no local file (`local = 0`).
pub fn bucket_only_files(c: &Connection, camera: &str) -> Result<HashSet<String>, DbError> {
    let mut st = c.prepare("SELECT file_name FROM recording WHERE camera = ?1 AND local = 0")?;
    let names = st
        .query_map([camera], |r| r.get::<_, String>(0))?
        .collect::<Result<HashSet<_>, _>>()?;
    Ok(names)
}

/// How the local deletion of a segment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalDeletion {
    /// It is in the bucket: its row stays, with `local = 0`.
    KeptInBucket,
    /// It was not in the bucket (yet): its row and queue row are gone.
    NotReplicated { was_queued: bool },
}

/// Deletes the index side of a segment whose local file is about to be deleted: a
/// segment the bucket holds keeps its row with `local = 0`; any other loses its row and
/// its pending queue row. One transaction.
pub fn delete_local(
    c: &mut Connection,
    camera: &str,
    file_name: &str,
) -> Result<LocalDeletion, DbError> {
    let tx = c.transaction()?;
    let out = if is_replicated(&tx, camera, file_name)? {
        tx.execute(
            "UPDATE recording SET local = 0 WHERE camera = ?1 AND file_name = ?2",
            params![camera, file_name],
        )?;
        LocalDeletion::KeptInBucket
    } else {
        let was_queued = tx.execute(
            "DELETE FROM replication WHERE kind = 'segment' AND state = 'pending'
                 AND recording_id = (SELECT id FROM recording WHERE camera = ?1 AND file_name = ?2)",
            params![camera, file_name],
        )? > 0;
        tx.execute(
            "DELETE FROM replication WHERE kind = 'segment' AND recording_id =
                 (SELECT id FROM recording WHERE camera = ?1 AND file_name = ?2)",
            params![camera, file_name],
        )?;
        super::index::delete(&tx, camera, file_name)?;
        LocalDeletion::NotReplicated { was_queued }
    };
    tx.commit()?;
    Ok(out)
}

/// After the bucket's retention deleted `keys`: the index rows of segments with no local
/// file left go with their queue rows; a segment still on the disk keeps its queue row
/// as `failed` (`bucket-retention`), so it is not copied again. Returns the index rows
/// removed.
pub fn forget_deleted(c: &mut Connection, keys: &[String]) -> Result<usize, DbError> {
    let tx = c.transaction()?;
    let mut removed = 0;
    for key in keys {
        let rec: Option<Option<i64>> = tx
            .query_row(
                "SELECT recording_id FROM replication WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(Some(id)) = rec {
            let gone = tx.execute("DELETE FROM recording WHERE id = ?1 AND local = 0", [id])?;
            removed += gone;
            if gone == 0 {
                tx.execute(
                    "UPDATE replication SET state = 'failed', last_error = 'bucket-retention',
                         done_ms = NULL WHERE key = ?1",
                    [key],
                )?;
                continue;
            }
        }
        tx.execute("DELETE FROM replication WHERE key = ?1", [key])?;
    }
    tx.commit()?;
    Ok(removed)
}

/// One camera's queue now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Rows pending.
    pub pending: u64,
    /// Bytes of the pending segments.
    pub pending_bytes: u64,
    /// When the oldest pending row was queued.
    pub oldest_queued_ms: Option<i64>,
    /// Rows done.
    pub done: u64,
    /// The last error kind of a pending row, if any failed.
    pub last_error: Option<String>,
}

/// Every camera's queue.
pub fn backlog(c: &Connection) -> Result<BTreeMap<String, Backlog>, DbError> {
    let mut st = c.prepare(
        "SELECT r.camera, sum(r.state = 'pending'),
                coalesce(sum(CASE WHEN r.state = 'pending' THEN g.size_bytes END), 0),
                min(CASE WHEN r.state = 'pending' THEN r.queued_ms END),
                sum(r.state = 'done'),
                max(CASE WHEN r.state = 'pending' THEN r.last_error END)
         FROM replication r LEFT JOIN recording g ON g.id = r.recording_id
         GROUP BY r.camera",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Backlog {
                    pending: r.get::<_, i64>(1)?.max(0) as u64,
                    pending_bytes: r.get::<_, i64>(2)?.max(0) as u64,
                    oldest_queued_ms: r.get(3)?,
                    done: r.get::<_, i64>(4)?.max(0) as u64,
                    last_error: r.get(5)?,
                },
            ))
        })?
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::recordings::{Source, index};

    fn seg(name: &str) -> Segment {
        Segment {
            camera: "porch".into(),
            file_name: name.into(),
            start_ms: store::parse_segment_name(name).unwrap(),
            duration_ms: 60_000,
            size_bytes: 1000,
            sha256: "ab".repeat(32),
            codec: "avc1.42C01E".into(),
            width: 640,
            height: 480,
            source: Source::Recorder,
        }
    }

    fn enqueue() -> Enqueue {
        Enqueue {
            layout: Layout::new("home").unwrap(),
            cameras: Some(vec!["porch".into()]),
        }
    }

    #[test]
    fn a_segment_is_queued_once_done_kept_and_requeued_when_its_bytes_change() {
        let db = Db::open_in_memory().unwrap();
        let q = enqueue();
        db.call_blocking(|c| {
            let s = seg("2026-11-21T07-31-50.123Z.mp4");
            index::insert(c, &s, 1)?;
            enqueue_segment(c, &q, &s, false, 1)?;
            enqueue_segment(c, &q, &s, false, 2)?;
            let r = next_due(c, 5)?.unwrap();
            assert_eq!(r.key, "home/rec/porch/2026-11-21T07-31-50.123Z.mp4");
            assert_eq!((r.kind, r.queued_ms), (Kind::Segment, 1));
            mark_done(c, r.id, "etag", 6)?;
            assert_eq!(next_due(c, 10)?, None);
            assert!(is_replicated(c, "porch", &s.file_name)?);
            // The same bytes indexed again: still done.
            enqueue_segment(c, &q, &s, false, 7)?;
            assert_eq!(next_due(c, 10)?, None);
            // Other bytes: pending again.
            enqueue_segment(c, &q, &s, true, 8)?;
            assert_eq!(next_due(c, 10)?.map(|r| r.id), Some(r.id));
            // A camera not copied gets no row.
            let mut other = seg("2026-11-21T07-32-50.123Z.mp4");
            other.camera = "garden".into();
            index::insert(c, &other, 1)?;
            enqueue_segment(c, &q, &other, false, 1)?;
            assert_eq!(backlog(c)?.len(), 1);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn local_deletion_keeps_replicated_rows_and_forgets_the_rest() {
        let db = Db::open_in_memory().unwrap();
        let q = enqueue();
        db.call_blocking(|c| {
            let (a, b) = (
                seg("2026-11-21T07-31-50.123Z.mp4"),
                seg("2026-11-21T07-32-50.123Z.mp4"),
            );
            for s in [&a, &b] {
                index::insert(c, s, 1)?;
                enqueue_segment(c, &q, s, false, 1)?;
            }
            let first = next_due(c, 5)?.unwrap();
            mark_done(c, first.id, "e", 6)?;
            assert_eq!(
                delete_local(c, "porch", &a.file_name)?,
                LocalDeletion::KeptInBucket
            );
            assert_eq!(
                delete_local(c, "porch", &b.file_name)?,
                LocalDeletion::NotReplicated { was_queued: true }
            );
            let local: i64 = c.query_row(
                "SELECT local FROM recording WHERE file_name = ?1",
                [&a.file_name],
                |r| r.get(0),
            )?;
            assert_eq!(local, 0);
            assert!(index::get(c, "porch", &b.file_name)?.is_none());
            let bl = backlog(c)?;
            assert_eq!((bl["porch"].pending, bl["porch"].done), (0, 1));
            // The bucket's retention deletes it too: nothing is left of it.
            assert_eq!(forget_deleted(c, &[first.key])?, 1);
            assert!(index::get(c, "porch", &a.file_name)?.is_none());
            assert!(backlog(c)?.is_empty());
            // A segment still local whose copy the bucket's retention deleted is not
            // queued again, not even by the start-up backfill.
            let d = seg("2026-11-21T07-33-50.123Z.mp4");
            index::insert(c, &d, 1)?;
            enqueue_segment(c, &q, &d, false, 1)?;
            let r = next_due(c, 5)?.unwrap();
            mark_done(c, r.id, "e", 6)?;
            assert_eq!(forget_deleted(c, &[r.key])?, 0);
            assert!(!is_replicated(c, "porch", &d.file_name)?);
            assert_eq!(enqueue_unqueued_segments(c, &q, 7)?, 0);
            assert_eq!(next_due(c, 10)?, None);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn footage_indexed_before_offsite_is_queued_once() {
        let db = Db::open_in_memory().unwrap();
        let q = enqueue();
        db.call_blocking(|c| {
            let a = seg("2026-11-21T07-31-50.123Z.mp4");
            index::insert(c, &a, 1)?;
            let mut other = seg("2026-11-21T07-32-50.123Z.mp4");
            other.camera = "garden".into();
            index::insert(c, &other, 1)?;
            assert_eq!(enqueue_unqueued_segments(c, &q, 2)?, 1);
            assert_eq!(enqueue_unqueued_segments(c, &q, 3)?, 0);
            let r = next_due(c, 5)?.unwrap();
            assert_eq!(r.key, "home/rec/porch/2026-11-21T07-31-50.123Z.mp4");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_finished_day_gets_its_index_once_and_again_after_a_late_segment() {
        let db = Db::open_in_memory().unwrap();
        let q = enqueue();
        db.call_blocking(|c| {
            let a = seg("2026-11-21T07-31-50.123Z.mp4");
            index::insert(c, &a, 1)?;
            enqueue_segment(c, &q, &a, false, 1)?;
            assert_eq!(enqueue_day_indexes(c, &q, "2026-11-22", 2)?, 0, "pending");
            let r = next_due(c, 5)?.unwrap();
            mark_done(c, r.id, "e", 6)?;
            assert_eq!(enqueue_day_indexes(c, &q, "2026-11-21", 7)?, 0, "today");
            assert_eq!(enqueue_day_indexes(c, &q, "2026-11-22", 7)?, 1);
            let d = next_due(c, 8)?.unwrap();
            assert_eq!(d.key, "home/index/porch/2026-11-21.json");
            mark_done(c, d.id, "e", 9)?;
            assert_eq!(enqueue_day_indexes(c, &q, "2026-11-22", 10)?, 0);
            let b = seg("2026-11-21T08-31-50.123Z.mp4");
            index::insert(c, &b, 11)?;
            enqueue_segment(c, &q, &b, false, 11)?;
            let r = next_due(c, 12)?.unwrap();
            mark_done(c, r.id, "e", 12)?;
            assert_eq!(enqueue_day_indexes(c, &q, "2026-11-22", 13)?, 1);
            Ok(())
        })
        .unwrap();
    }
}
