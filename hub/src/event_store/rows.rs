//! The `event` table (migration 3): one row per event of a camera, its thumbnail a small
//! JPEG stored in the row. Blocking functions; call them through `Db::call`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Kind, NewEvent, Query, StoredEvent};
use crate::db::DbError;

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
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM event
         WHERE (?1 IS NULL OR camera = ?1) AND start_ms < ?3
             AND (end_ms IS NULL OR max(end_ms, start_ms + 1) > ?2)
             AND kind IN ({kinds}) AND id < ?4 AND (?6 IS NULL OR zone = ?6)
         ORDER BY id DESC LIMIT ?5"
    ))?;
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
    let mut st = c.prepare(
        "SELECT start_ms, end_ms FROM event
         WHERE camera = ?1 AND kind IN ('motion', 'alarm') ORDER BY start_ms",
    )?;
    let rows = st
        .query_map([camera], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
