//! The `event` table (migration 3): one row per event of a camera, its thumbnail a small
//! JPEG stored in the row. Blocking functions; call them through `Db::call`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Kind, NewEvent, Query, StoredEvent};
use crate::db::DbError;

/// Events longer than this (and ongoing ones) are found through the `event_long` index;
/// the shorter ones by a start at most this long before a range.
pub const LONG_EVENT_MS: i64 = 86_400_000;

const COLUMNS: &str =
    "id, camera, kind, label, start_ms, end_ms, score, zone, message, thumbnail IS NOT NULL";

fn row(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let kind: String = r.get(2)?;
    Ok(StoredEvent {
        id: r.get(0)?,
        camera: r.get(1)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::Health),
        label: r.get(3)?,
        start_ms: r.get(4)?,
        end_ms: r.get(5)?,
        score: r.get(6)?,
        zone: r.get(7)?,
        message: r.get(8)?,
        has_thumbnail: r.get(9)?,
    })
}

/// Adds an event; its id.
pub fn insert(c: &Connection, e: &NewEvent, now_ms: i64) -> Result<i64, DbError> {
    c.execute(
        "INSERT INTO event (camera, kind, label, start_ms, end_ms, score, zone, message, origin,
             source_key, thumbnail, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            e.camera,
            e.kind.as_str(),
            e.label,
            e.start_ms,
            e.end_ms,
            e.score,
            e.zone,
            e.message,
            e.origin,
            e.key,
            e.thumbnail,
            now_ms
        ],
    )?;
    Ok(c.last_insert_rowid())
}

/// Adds an event that carries its source's key, or updates the row of that key (its end,
/// score, zone, thumbnail). `None` when the row already said exactly this (a repeated
/// delivery), else the row's id.
pub fn upsert_keyed(c: &mut Connection, e: &NewEvent, now_ms: i64) -> Result<Option<i64>, DbError> {
    let Some(key) = e.key.as_deref() else {
        return insert(c, e, now_ms).map(Some);
    };
    let tx = c.transaction()?;
    let existing = tx
        .query_row(
            "SELECT id, end_ms, score, zone, thumbnail, label, start_ms FROM event
             WHERE camera = ?1 AND source_key = ?2",
            params![e.camera, key],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let id = match existing {
        None => insert(&tx, e, now_ms)?,
        Some((id, end, score, zone, thumb, label, start)) => {
            let thumbnail = e.thumbnail.clone().or(thumb.clone());
            if end == e.end_ms
                && score == e.score
                && zone == e.zone
                && thumb == thumbnail
                && label == e.label
                && start == e.start_ms
            {
                return Ok(None);
            }
            tx.execute(
                "UPDATE event SET start_ms = ?2, end_ms = ?3, score = ?4, zone = ?5,
                     thumbnail = ?6, label = ?7, updated_ms = ?8 WHERE id = ?1",
                params![
                    id, e.start_ms, e.end_ms, e.score, e.zone, thumbnail, e.label, now_ms
                ],
            )?;
            id
        }
    };
    tx.commit()?;
    Ok(Some(id))
}

/// The id of `camera`'s event with source key `key`.
pub fn id_of_key(c: &Connection, camera: &str, key: &str) -> Result<Option<i64>, DbError> {
    Ok(c.query_row(
        "SELECT id FROM event WHERE camera = ?1 AND source_key = ?2",
        params![camera, key],
        |r| r.get(0),
    )
    .optional()?)
}

/// The open (unended) event of `camera` of this kind and label, if any.
pub fn find_open(
    c: &Connection,
    camera: &str,
    kind: Kind,
    label: Option<&str>,
) -> Result<Option<i64>, DbError> {
    Ok(c.query_row(
        "SELECT id FROM event WHERE camera = ?1 AND kind = ?2 AND label IS ?3
             AND end_ms IS NULL AND source_key IS NULL
         ORDER BY id DESC LIMIT 1",
        params![camera, kind.as_str(), label],
        |r| r.get(0),
    )
    .optional()?)
}

/// Ends event `id` at `end_ms` (never before its start), in detection zone `zone` when
/// given (else its zone stays).
pub fn end(
    c: &Connection,
    id: i64,
    end_ms: i64,
    zone: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE event SET end_ms = max(start_ms, ?2), updated_ms = ?3, zone = coalesce(?4, zone)
         WHERE id = ?1",
        params![id, end_ms, now_ms, zone],
    )?;
    Ok(())
}

/// Ends every open motion and alarm event the hub opened from source events (a previous
/// run stopped before their end): each ends at its last update. Their ids.
pub fn end_dangling(c: &Connection) -> Result<Vec<i64>, DbError> {
    let mut st = c.prepare(
        "UPDATE event SET end_ms = max(start_ms, updated_ms)
         WHERE end_ms IS NULL AND source_key IS NULL AND kind IN ('motion', 'alarm')
         RETURNING id",
    )?;
    let ids = st
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

pub fn get(c: &Connection, id: i64) -> Result<Option<StoredEvent>, DbError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM event WHERE id = ?1"),
        [id],
        row,
    )
    .optional()?)
}

/// The query of [`list`]: `camera` ?1 (NULL: every camera, then `one_camera` is false),
/// the range ?2..?3, `before` ?4, the limit ?5; `kinds` spelled in.
fn list_sql(one_camera: bool, kinds: &str) -> String {
    if one_camera {
        // One camera: the events of at most a day (nearly all) start at most a day before
        // the range, so their index scan is bounded on both sides; the longer and the
        // ongoing ones have an index of their own (`event_long`, migration 6), small.
        format!(
            "SELECT {COLUMNS} FROM (
             SELECT * FROM event
             WHERE camera = ?1 AND start_ms < ?3 AND start_ms >= ?2 - {LONG_EVENT_MS}
                 AND end_ms IS NOT NULL AND end_ms - start_ms <= {LONG_EVENT_MS}
                 AND max(end_ms, start_ms + 1) > ?2
             UNION ALL
             SELECT * FROM event
             WHERE (end_ms IS NULL OR end_ms - start_ms > {LONG_EVENT_MS})
                 AND camera = ?1 AND start_ms < ?3
                 AND (end_ms IS NULL OR max(end_ms, start_ms + 1) > ?2))
         WHERE kind IN ({kinds}) AND id < ?4 AND (?6 IS NULL OR zone = ?6)
         ORDER BY id DESC LIMIT ?5"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM event
         WHERE ?1 IS NULL AND start_ms < ?3
             AND (end_ms IS NULL OR max(end_ms, start_ms + 1) > ?2)
             AND kind IN ({kinds}) AND id < ?4 AND (?6 IS NULL OR zone = ?6)
         ORDER BY id DESC LIMIT ?5"
        )
    }
}

/// One page of events matching `q`, newest (highest id) first: at most `q.limit`, and
/// whether more follow.
pub fn list(c: &Connection, q: &Query) -> Result<(Vec<StoredEvent>, bool), DbError> {
    let kinds: Vec<&str> = if q.kinds.is_empty() {
        Kind::ALL.iter().map(|k| k.as_str()).collect()
    } else {
        q.kinds.iter().map(|k| k.as_str()).collect()
    };
    // The kinds are this crate's own names (no user text), so they can be spelled in.
    let kinds = kinds
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(",");
    let mut st = c.prepare_cached(&list_sql(q.camera.is_some(), &kinds))?;
    let mut rows = st
        .query_map(
            params![
                q.camera,
                q.start_ms,
                q.end_ms,
                q.before.unwrap_or(i64::MAX),
                i64::from(q.limit) + 1,
                q.zone
            ],
            row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let more = rows.len() > q.limit as usize;
    rows.truncate(q.limit as usize);
    Ok((rows, more))
}

pub fn thumbnail(c: &Connection, id: i64) -> Result<Option<Vec<u8>>, DbError> {
    Ok(
        c.query_row("SELECT thumbnail FROM event WHERE id = ?1", [id], |r| {
            r.get::<_, Option<Vec<u8>>>(0)
        })
        .optional()?
        .flatten(),
    )
}

/// Ids of the events that have a thumbnail.
pub fn with_thumbnails(c: &Connection) -> Result<Vec<i64>, DbError> {
    let mut st = c.prepare("SELECT id FROM event WHERE thumbnail IS NOT NULL ORDER BY id")?;
    let ids = st
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

pub fn drop_thumbnail(c: &Connection, id: i64) -> Result<(), DbError> {
    c.execute("UPDATE event SET thumbnail = NULL WHERE id = ?1", [id])?;
    Ok(())
}

/// Deletes the events of `camera` that ended before `ms` (with their thumbnails).
pub fn delete_ended_before(c: &Connection, camera: &str, ms: i64) -> Result<usize, DbError> {
    Ok(c.execute(
        "DELETE FROM event WHERE camera = ?1 AND end_ms IS NOT NULL AND end_ms < ?2",
        params![camera, ms],
    )?)
}

/// `(start_ms, end_ms)` of `camera`'s motion and alarm events (`None`: still going), by
/// start.
pub fn footage_intervals(c: &Connection, camera: &str) -> Result<Vec<(i64, Option<i64>)>, DbError> {
    footage_intervals_before(c, camera, i64::MAX)
}

/// [`footage_intervals`] of the events that start before `before_ms` (a range of
/// `event_camera_start`).
pub fn footage_intervals_before(
    c: &Connection,
    camera: &str,
    before_ms: i64,
) -> Result<Vec<(i64, Option<i64>)>, DbError> {
    let mut st = c.prepare_cached(
        "SELECT start_ms, end_ms FROM event
         WHERE camera = ?1 AND start_ms < ?2 AND kind IN ('motion', 'alarm') ORDER BY start_ms",
    )?;
    let rows = st
        .query_map(rusqlite::params![camera, before_ms], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    const H: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;

    fn event(camera: &str, kind: Kind, start_ms: i64, end_ms: Option<i64>) -> NewEvent {
        NewEvent {
            camera: camera.into(),
            kind,
            label: None,
            start_ms,
            end_ms,
            score: None,
            zone: None,
            message: None,
            origin: "hub",
            key: None,
            thumbnail: None,
        }
    }

    /// A day of one camera: the short events in it, one that began days before and goes
    /// on into it, one still going on, none of another camera or outside the day.
    #[test]
    fn a_cameras_day_finds_short_long_and_ongoing_events() {
        let db = Db::open_in_memory().unwrap();
        let d = 100 * DAY;
        db.call_blocking(|c| {
            let long = insert(
                c,
                &event("porch", Kind::Health, d - 3 * DAY, Some(d + H)),
                0,
            )?;
            let ended_before = insert(c, &event("porch", Kind::Health, d - 3 * DAY, Some(d)), 0)?;
            let across = insert(c, &event("porch", Kind::Motion, d - H, Some(d + 1)), 0)?;
            let inside = insert(
                c,
                &event("porch", Kind::Motion, d + 2 * H, Some(d + 3 * H)),
                0,
            )?;
            insert(c, &event("porch", Kind::Motion, d - 2 * H, Some(d - H)), 0)?;
            insert(
                c,
                &event("porch", Kind::Motion, d + DAY, Some(d + DAY + 1)),
                0,
            )?;
            insert(
                c,
                &event("yard", Kind::Motion, d + 2 * H, Some(d + 3 * H)),
                0,
            )?;
            let going = insert(c, &event("porch", Kind::Health, d - 40 * DAY, None), 0)?;
            let at_end = insert(c, &event("porch", Kind::Motion, d + DAY - 1, None), 0)?;
            let q = |kinds: Vec<Kind>, limit, before| Query {
                camera: Some("porch".into()),
                start_ms: d,
                end_ms: d + DAY,
                kinds,
                limit,
                before,
                zone: None,
            };
            let ids =
                |q: &Query| -> Vec<i64> { list(c, q).unwrap().0.iter().map(|e| e.id).collect() };
            assert_eq!(
                ids(&q(vec![], 100, None)),
                vec![at_end, going, inside, across, long]
            );
            assert!(!ids(&q(vec![], 100, None)).contains(&ended_before));
            assert_eq!(ids(&q(vec![Kind::Health], 100, None)), vec![going, long]);
            // Pages, newest first.
            let (page, more) = list(c, &q(vec![], 2, None))?;
            assert!(more);
            assert_eq!(
                page.iter().map(|e| e.id).collect::<Vec<_>>(),
                vec![at_end, going]
            );
            assert_eq!(ids(&q(vec![], 2, Some(going))), vec![inside, across]);
            // Every camera: the same query without the camera.
            let all = Query {
                camera: None,
                ..q(vec![], 100, None)
            };
            assert_eq!(ids(&all).len(), 6);

            // The short events' scan is bounded on both sides.
            let mut st = c.prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                list_sql(true, "'motion'")
            ))?;
            let plan: Vec<String> = st
                .query_map(
                    params!["porch", d, d + DAY, i64::MAX, 10, Option::<String>::None],
                    |r| r.get(3),
                )?
                .collect::<Result<_, _>>()?;
            let plan = plan.join("; ");
            assert!(
                plan.contains(
                    "USING INDEX event_camera_start (camera=? AND start_ms>? AND start_ms<?)"
                ),
                "{plan}"
            );
            assert!(
                plan.contains("USING INDEX event_long (camera=? AND start_ms<?)"),
                "{plan}"
            );
            Ok(())
        })
        .unwrap();
    }
}
