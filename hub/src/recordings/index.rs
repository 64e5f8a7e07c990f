//! The recordings index in SQLite (table `recording`, migration 2): one row per
//! finished segment file. Blocking functions; call them through `Db::call`.
//!
//! Public names: a segment `2026-11-21T07-31-50.123Z.mp4` of camera `porch` is
//! published as `porch_2026-11-21T07-31-50.123Z.mp4`, unique across cameras (camera
//! names have no `.`, store names no `_`), so Pi-Cam's flat `/recordings/NAME` works.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::db::DbError;

/// Where a segment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Uploaded by the camera's agent.
    Upload,
    /// Recorded by the hub from the camera's video feed.
    Recorder,
    /// A file neither recorded by the hub nor uploaded by an agent: one `hub check`
    /// found on disk without a row (e.g. the hub stopped between the rename and the
    /// insert).
    Found,
    /// Imported from another system (`hub import-picam`).
    Imported,
    /// Restored from the off-site bucket (`hub restore --from-offsite`).
    Offsite,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Upload => "upload",
            Source::Recorder => "recorder",
            Source::Found => "found",
            Source::Imported => "imported",
            Source::Offsite => "offsite",
        }
    }

    fn parse(s: &str) -> Source {
        match s {
            "upload" => Source::Upload,
            "recorder" => Source::Recorder,
            "imported" => Source::Imported,
            "offsite" => Source::Offsite,
            _ => Source::Found,
        }
    }
}

/// One indexed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub camera: String,
    /// The store's file name (`2026-11-21T07-31-50.123Z.mp4`).
    pub file_name: String,
    pub start_ms: i64,
    pub duration_ms: i64,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// RFC 6381 codec string, e.g. `avc1.42C01E`.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub source: Source,
}

impl Segment {
    /// The name in URLs: `CAMERA_FILENAME`.
    pub fn public_name(&self) -> String {
        public_name(&self.camera, &self.file_name)
    }

    pub fn end_ms(&self) -> i64 {
        self.start_ms.saturating_add(self.duration_ms)
    }
}

pub fn public_name(camera: &str, file_name: &str) -> String {
    format!("{camera}_{file_name}")
}

/// Splits a public name into (camera, store file name). Strict: the camera part
/// must be a valid camera name and the rest a canonical store segment name, so
/// the result never holds `/`, `.` sequences or anything else a path could use.
pub fn parse_public_name(name: &str) -> Option<(&str, &str)> {
    let (camera, file) = name.rsplit_once('_')?;
    if !crate::config::valid_name(camera) || store::parse_segment_name(file).is_none() {
        return None;
    }
    Some((camera, file))
}

const COLUMNS: &str =
    "camera, file_name, start_ms, duration_ms, size_bytes, sha256, codec, width, height, source";

fn row(r: &Row<'_>) -> rusqlite::Result<Segment> {
    let source: String = r.get(9)?;
    Ok(Segment {
        camera: r.get(0)?,
        file_name: r.get(1)?,
        start_ms: r.get(2)?,
        duration_ms: r.get(3)?,
        size_bytes: r.get::<_, i64>(4)?.max(0) as u64,
        sha256: r.get(5)?,
        codec: r.get(6)?,
        width: r.get(7)?,
        height: r.get(8)?,
        source: Source::parse(&source),
    })
}

/// Adds a row (or replaces the row of the same camera and file) for a file on the local
/// disk: a row that said the file was only in the bucket says it is local again.
pub fn insert(c: &Connection, s: &Segment, now_ms: i64) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO recording (camera, file_name, start_ms, duration_ms, size_bytes, sha256,
             codec, width, height, source, indexed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (camera, file_name) DO UPDATE SET start_ms = ?3, duration_ms = ?4,
             size_bytes = ?5, sha256 = ?6, codec = ?7, width = ?8, height = ?9, source = ?10,
             indexed_ms = ?11, local = 1",
        params![
            s.camera,
            s.file_name,
            s.start_ms,
            s.duration_ms,
            s.size_bytes as i64,
            s.sha256,
            s.codec,
            s.width,
            s.height,
            s.source.as_str(),
            now_ms
        ],
    )?;
    Ok(())
}

pub fn get(c: &Connection, camera: &str, file_name: &str) -> Result<Option<Segment>, DbError> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM recording WHERE camera = ?1 AND file_name = ?2"),
        params![camera, file_name],
        row,
    )
    .optional()?)
}

pub fn delete(c: &Connection, camera: &str, file_name: &str) -> Result<bool, DbError> {
    Ok(c.execute(
        "DELETE FROM recording WHERE camera = ?1 AND file_name = ?2",
        params![camera, file_name],
    )? > 0)
}

/// Segments of `camera` overlapping `[start_ms, end_ms)`, oldest first.
pub fn range(
    c: &Connection,
    camera: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Segment>, DbError> {
    // No segment of the camera lasts longer than its days' longest, so one that overlaps
    // the range starts at most that long before it: the index scan is bounded on both
    // sides, whatever the size of the index.
    let mut st = c.prepare_cached(&range_sql())?;
    let rows = st
        .query_map(params![camera, start_ms, end_ms], row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The query of [`range`]: `camera` ?1, `start_ms` ?2, `end_ms` ?3.
fn range_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM recording
         WHERE camera = ?1 AND start_ms < ?3
             AND start_ms >= ?2 - (SELECT coalesce(max(max_duration_ms), 0)
                                   FROM recording_day WHERE camera = ?1)
             AND start_ms + duration_ms > ?2
         ORDER BY start_ms, file_name"
    )
}

/// The query of [`days`]: `camera` ?1.
const DAYS_SQL: &str = "SELECT day, segments FROM recording_day WHERE camera = ?1 AND segments > 0
     ORDER BY day DESC";

/// The start of `camera`'s oldest indexed segment.
pub fn oldest_start(c: &Connection, camera: &str) -> Result<Option<i64>, DbError> {
    Ok(c.query_row(
        "SELECT min(start_ms) FROM recording WHERE camera = ?1",
        params![camera],
        |r| r.get(0),
    )?)
}

/// A segment with a local file, as retention plans over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRow {
    pub file_name: String,
    pub start_ms: i64,
    pub duration_ms: i64,
    pub size_bytes: u64,
    /// The off-site bucket holds it (its copy is done).
    pub replicated: bool,
}

impl LocalRow {
    /// As the store's retention sees a listed file, named `CAMERA/FILE`; `uploaded` if
    /// the bucket holds it and `replicated_first`.
    pub fn listed(self, camera: &str, replicated_first: bool) -> store::SegmentInfo {
        store::SegmentInfo {
            name: format!("{camera}/{}", self.file_name),
            start_ms: self.start_ms,
            duration_ms: Some(self.duration_ms),
            size_bytes: self.size_bytes,
            uploaded: replicated_first && self.replicated,
            partial: false,
        }
    }
}

/// A [`LocalRow`] from `file_name, start_ms, duration_ms, size_bytes, replicated`.
fn local_row(r: &Row<'_>) -> rusqlite::Result<LocalRow> {
    Ok(LocalRow {
        file_name: r.get(0)?,
        start_ms: r.get(1)?,
        duration_ms: r.get(2)?,
        size_bytes: r.get::<_, i64>(3)?.max(0) as u64,
        replicated: r.get(4)?,
    })
}

/// Whether row `g`'s segment is in the bucket (as [`super::replication::replicated_files`]).
const REPLICATED: &str = "EXISTS (SELECT 1 FROM replication r WHERE r.recording_id = g.id
     AND r.kind = 'segment' AND r.state = 'done')";

/// The query of [`local_before`]: `camera` ?1, before ?2.
fn local_before_sql() -> String {
    format!(
        "SELECT g.file_name, g.start_ms, g.duration_ms, g.size_bytes, {REPLICATED}
         FROM recording g WHERE g.camera = ?1 AND g.local = 1 AND g.start_ms < ?2
         ORDER BY g.start_ms, g.file_name"
    )
}

/// `camera`'s segments with a local file that start before `before_ms`, oldest first (an
/// index range of `recording_local`).
pub fn local_before(
    c: &Connection,
    camera: &str,
    before_ms: i64,
) -> Result<Vec<LocalRow>, DbError> {
    let mut st = c.prepare_cached(&local_before_sql())?;
    let rows = st
        .query_map(params![camera, before_ms], local_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The first and last start of `camera`'s segments with a local file.
pub fn local_span(c: &Connection, camera: &str) -> Result<Option<(i64, i64)>, DbError> {
    let (first, last): (Option<i64>, Option<i64>) = c.query_row(
        "SELECT (SELECT min(start_ms) FROM recording WHERE camera = ?1 AND local = 1),
                (SELECT max(start_ms) FROM recording WHERE camera = ?1 AND local = 1)",
        params![camera],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(first.zip(last))
}

/// The bytes of `camera`'s segments with a local file (the per-day sums).
pub fn local_bytes(c: &Connection, camera: &str) -> Result<u64, DbError> {
    let sum: i64 = c.query_row(
        "SELECT coalesce(sum(local_bytes), 0) FROM recording_day WHERE camera = ?1",
        params![camera],
        |r| r.get(0),
    )?;
    Ok(sum.max(0) as u64)
}

/// What `camera`'s segments with a local file hold (the per-day sums): how many, their
/// bytes and their media time.
pub fn local_held(c: &Connection, camera: &str) -> Result<(u64, u64, i64), DbError> {
    let (n, bytes, ms): (i64, i64, i64) = c.query_row(
        "SELECT coalesce(sum(local_segments), 0), coalesce(sum(local_bytes), 0),
             coalesce(sum(local_ms), 0) FROM recording_day WHERE camera = ?1",
        params![camera],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok((n.max(0) as u64, bytes.max(0) as u64, ms))
}

/// `camera`'s newest `n` segments with a local file and media in them, newest first.
pub fn newest_local(c: &Connection, camera: &str, n: usize) -> Result<Vec<LocalRow>, DbError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT g.file_name, g.start_ms, g.duration_ms, g.size_bytes, {REPLICATED}
         FROM recording g WHERE g.camera = ?1 AND g.local = 1 AND g.duration_ms > 0
         ORDER BY g.start_ms DESC LIMIT ?2"
    ))?;
    let rows = st
        .query_map(
            params![camera, i64::try_from(n).unwrap_or(i64::MAX)],
            local_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Bytes of `camera`'s segments with a local file that overlap any of `spans` (`[from,
/// to)`, sorted by `from`), each counted once: one bounded index range per run of
/// overlapping spans.
pub fn local_bytes_overlapping(
    c: &Connection,
    camera: &str,
    spans: &[(i64, i64)],
) -> Result<u64, DbError> {
    let mut st = c.prepare_cached(
        "SELECT start_ms, size_bytes FROM recording
         WHERE camera = ?1 AND local = 1 AND start_ms < ?3
             AND start_ms >= ?2 - (SELECT coalesce(max(max_duration_ms), 0)
                                   FROM recording_day WHERE camera = ?1)
             AND start_ms + duration_ms > ?2
         ORDER BY start_ms",
    )?;
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for &(a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let mut total = 0u64;
    // A segment overlapping two runs is counted in the first.
    let mut counted_through = i64::MIN;
    for (a, b) in merged {
        let rows = st
            .query_map(params![camera, a, b], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        for (start, size) in rows {
            if start > counted_through {
                total = total.saturating_add(size.max(0) as u64);
                counted_through = start;
            }
        }
    }
    Ok(total)
}

/// `camera`'s oldest segment with a local file, of those in the bucket if `replicated`.
pub fn oldest_local(
    c: &Connection,
    camera: &str,
    replicated: bool,
) -> Result<Option<LocalRow>, DbError> {
    let only = if replicated {
        format!("AND {REPLICATED}")
    } else {
        String::new()
    };
    Ok(c.query_row(
        &format!(
            "SELECT g.file_name, g.start_ms, g.duration_ms, g.size_bytes, {REPLICATED}
             FROM recording g WHERE g.camera = ?1 AND g.local = 1 {only}
             ORDER BY g.start_ms, g.file_name LIMIT 1"
        ),
        params![camera],
        local_row,
    )
    .optional()?)
}

/// What the index holds of one camera, from the per-day sums and two index look-ups.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Rows (with a local file or only in the bucket).
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The end of the newest segment (unix ms).
    pub newest_end_ms: Option<i64>,
    /// The latest time a segment was indexed (unix ms; an upper bound: a day keeps it
    /// while it has rows).
    pub newest_indexed_ms: Option<i64>,
}

/// [`Totals`] of every camera with rows.
pub fn totals(c: &Connection) -> Result<Vec<(String, Totals)>, DbError> {
    let mut st = c.prepare_cached(
        "SELECT camera, sum(segments), sum(bytes), max(max_indexed_ms),
             max(max_duration_ms) FROM recording_day GROUP BY camera",
    )?;
    let cams = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut newest = c.prepare_cached(
        "SELECT max(start_ms + duration_ms) FROM recording
         WHERE camera = ?1 AND start_ms >= (SELECT max(start_ms) FROM recording
                                            WHERE camera = ?1) - ?2",
    )?;
    let mut out = Vec::with_capacity(cams.len());
    for (camera, segments, bytes, indexed, longest) in cams {
        let newest_end_ms = newest.query_row(params![camera, longest], |r| r.get(0))?;
        out.push((
            camera,
            Totals {
                segments: segments.max(0) as u64,
                bytes: bytes.max(0) as u64,
                newest_end_ms,
                newest_indexed_ms: indexed,
            },
        ));
    }
    Ok(out)
}

/// Up to `limit` file names of `camera`'s rows after `after` (`""`: from the first), in
/// name order: a page of a walk over the index that holds the database for one page only.
pub fn names_after(
    c: &Connection,
    camera: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    let mut st = c.prepare_cached(
        "SELECT file_name FROM recording WHERE camera = ?1 AND file_name > ?2
         ORDER BY file_name LIMIT ?3",
    )?;
    let rows = st
        .query_map(
            params![camera, after, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| r.get(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every segment of `camera` (all cameras if `None`), newest first.
pub fn all(c: &Connection, camera: Option<&str>) -> Result<Vec<Segment>, DbError> {
    let mut st = c.prepare(&format!(
        "SELECT {COLUMNS} FROM recording WHERE ?1 IS NULL OR camera = ?1
         ORDER BY start_ms DESC, camera, file_name DESC"
    ))?;
    let rows = st
        .query_map(params![camera], row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Where an indexed segment is kept: on this machine's disk (`local`), in the off-site
/// bucket (`offsite_key`: a `replication` row of kind `segment` in state `done`), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub local: bool,
    pub offsite_key: Option<String>,
}

impl Stored {
    /// `local`, `offsite`, `both`, or `unavailable` (neither: the local copy was
    /// deleted before the bucket acknowledged one).
    pub fn place(&self) -> &'static str {
        match (self.local, self.offsite_key.is_some()) {
            (true, true) => "both",
            (true, false) => "local",
            (false, true) => "offsite",
            (false, false) => "unavailable",
        }
    }
}

const STORED: &str = "SELECT s.file_name, s.local,
        (SELECT r.key FROM replication r WHERE r.recording_id = s.id AND r.kind = 'segment'
            AND r.state = 'done' ORDER BY r.id LIMIT 1)
    FROM recording s";

fn stored_row(r: &Row<'_>) -> rusqlite::Result<(String, Stored)> {
    Ok((
        r.get(0)?,
        Stored {
            local: r.get::<_, i64>(1)? != 0,
            offsite_key: r.get(2)?,
        },
    ))
}

/// Where segment `file_name` of `camera` is kept; `None` without a row.
pub fn stored(c: &Connection, camera: &str, file_name: &str) -> Result<Option<Stored>, DbError> {
    Ok(c.query_row(
        &format!("{STORED} WHERE s.camera = ?1 AND s.file_name = ?2"),
        params![camera, file_name],
        stored_row,
    )
    .optional()?
    .map(|(_, s)| s))
}

/// The query of [`stored_range`]: `camera` ?1, `start_ms` ?2, `end_ms` ?3; bounded from
/// below as [`range`] is.
fn stored_range_sql() -> String {
    format!(
        "{STORED} WHERE s.camera = ?1 AND s.start_ms < ?3
             AND s.start_ms >= ?2 - (SELECT coalesce(max(max_duration_ms), 0)
                                     FROM recording_day WHERE camera = ?1)
             AND s.start_ms + s.duration_ms > ?2"
    )
}

/// Where each segment of `camera` overlapping `[start_ms, end_ms)` is kept, by file name.
pub fn stored_range(
    c: &Connection,
    camera: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<std::collections::HashMap<String, Stored>, DbError> {
    let mut st = c.prepare_cached(&stored_range_sql())?;
    let rows = st
        .query_map(params![camera, start_ms, end_ms], stored_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Records that the local file of a segment is gone (the bucket's copy remains).
pub fn mark_not_local(c: &Connection, camera: &str, file_name: &str) -> Result<bool, DbError> {
    Ok(c.execute(
        "UPDATE recording SET local = 0 WHERE camera = ?1 AND file_name = ?2",
        params![camera, file_name],
    )? > 0)
}

/// UTC days (`YYYY-MM-DD`) with footage of `camera`, newest first, with the
/// number of segments starting that day.
pub fn days(c: &Connection, camera: &str) -> Result<Vec<(String, i64)>, DbError> {
    // Counted as rows come and go (migration 6's triggers): a read of one row per day.
    let mut st = c.prepare_cached(DAYS_SQL)?;
    let rows = st
        .query_map(params![camera], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    const DAY: i64 = 86_400_000;
    /// 2026-11-21T00:00:00Z.
    const T0: i64 = 1_795_219_200_000;

    fn seg(start_ms: i64, duration_ms: i64) -> Segment {
        Segment {
            camera: "porch".into(),
            file_name: store::segment_name(start_ms).unwrap(),
            start_ms,
            duration_ms,
            size_bytes: 10,
            sha256: "ab".repeat(32),
            codec: "avc1.42C01E".into(),
            width: 640,
            height: 480,
            source: Source::Recorder,
        }
    }

    /// What `days` must answer: a count over every row.
    fn counted(c: &Connection) -> Vec<(String, i64)> {
        let mut st = c
            .prepare(
                "SELECT strftime('%Y-%m-%d', start_ms / 1000, 'unixepoch') AS day, count(*)
                 FROM recording WHERE camera = 'porch' GROUP BY day ORDER BY day DESC",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn plan(c: &Connection, sql: &str, p: impl rusqlite::Params) -> String {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows: Vec<String> = st
            .query_map(p, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.join("; ")
    }

    #[test]
    fn day_counts_follow_inserts_deletes_and_reindexing() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            for i in 0..3 {
                insert(c, &seg(T0 + i * 60_000, 60_000), 0)?;
            }
            insert(c, &seg(T0 + DAY + 5, 60_000), 0)?;
            insert(c, &seg(T0 + DAY + 70_000, 60_000), 0)?;
            // Another camera's rows are its own.
            insert(
                c,
                &Segment {
                    camera: "yard".into(),
                    ..seg(T0, 1)
                },
                0,
            )?;
            assert_eq!(
                days(c, "porch")?,
                vec![("2026-11-22".into(), 2), ("2026-11-21".into(), 3)]
            );
            // Re-indexing a file (same name, new bytes) counts it once.
            insert(c, &seg(T0, 59_000), 0)?;
            assert!(delete(
                c,
                "porch",
                &store::segment_name(T0 + 60_000).unwrap()
            )?);
            assert!(!delete(
                c,
                "porch",
                &store::segment_name(T0 + 60_000).unwrap()
            )?);
            assert_eq!(days(c, "porch")?, counted(c));
            assert_eq!(days(c, "porch")?[1], ("2026-11-21".into(), 2));
            // A day whose last segment goes is no longer listed.
            delete(c, "porch", &store::segment_name(T0 + DAY + 5).unwrap())?;
            delete(c, "porch", &store::segment_name(T0 + DAY + 70_000).unwrap())?;
            assert_eq!(days(c, "porch")?, vec![("2026-11-21".into(), 2)]);
            assert_eq!(days(c, "yard")?, vec![("2026-11-21".into(), 1)]);
            Ok(())
        })
        .unwrap();
    }

    /// The per-day byte sums follow every change of a row: insert, re-index, the local
    /// file going (`local = 0`) and coming back, delete; and match a count of the rows.
    #[test]
    fn day_sums_follow_local_files_and_match_the_rows() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            let sized = |start_ms, size_bytes| Segment {
                size_bytes,
                ..seg(start_ms, 60_000)
            };
            for i in 0..4 {
                insert(c, &sized(T0 + i * 60_000, 100 + i as u64), 10 + i)?;
            }
            insert(c, &sized(T0 + DAY, 1000), 50)?;
            let name = |ms| store::segment_name(ms).unwrap();
            let counted = |c: &Connection| -> (i64, i64, i64, i64) {
                c.query_row(
                    "SELECT count(*), coalesce(sum(size_bytes), 0),
                         coalesce(sum(size_bytes * local), 0), coalesce(max(indexed_ms), 0)
                     FROM recording WHERE camera = 'porch'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap()
            };
            let summed = |c: &Connection| -> (i64, i64, i64, i64) {
                c.query_row(
                    "SELECT sum(segments), sum(bytes), sum(local_bytes), max(max_indexed_ms)
                     FROM recording_day WHERE camera = 'porch'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap()
            };
            assert_eq!(summed(c), (5, 1406, 1406, 50));
            assert_eq!(local_bytes(c, "porch")?, 1406);
            mark_not_local(c, "porch", &name(T0 + 60_000))?;
            assert_eq!(summed(c), counted(c));
            assert_eq!(local_bytes(c, "porch")?, 1305);
            // Re-indexed with other bytes: local again, counted once.
            insert(c, &sized(T0 + 60_000, 7), 60)?;
            assert_eq!(summed(c), counted(c));
            assert_eq!(local_bytes(c, "porch")?, 1312);
            delete(c, "porch", &name(T0))?;
            assert_eq!(summed(c), counted(c));
            assert_eq!(
                local_before(c, "porch", T0 + 2 * 60_000)?
                    .iter()
                    .map(|r| (r.start_ms, r.size_bytes, r.replicated))
                    .collect::<Vec<_>>(),
                vec![(T0 + 60_000, 7, false)]
            );
            assert_eq!(local_span(c, "porch")?, Some((T0 + 60_000, T0 + DAY)));
            assert_eq!(local_held(c, "porch")?, (4, 1212, 4 * 60_000));
            // Footage around events: each segment once, however many spans touch it.
            let spans = [
                (T0 + 60_000, T0 + 60_001),
                (T0 + 60_500, T0 + 130_000),
                (T0 + 170_000, T0 + 170_001),
            ];
            assert_eq!(local_bytes_overlapping(c, "porch", &spans)?, 7 + 102);
            assert_eq!(
                local_bytes_overlapping(c, "porch", &[(T0, T0 + 2 * DAY)])?,
                1212
            );
            let t = totals(c)?;
            assert_eq!(t.len(), 1);
            assert_eq!(
                t[0].1,
                Totals {
                    segments: 4,
                    bytes: 1212,
                    newest_end_ms: Some(T0 + DAY + 60_000),
                    newest_indexed_ms: Some(60),
                }
            );
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_range_finds_a_long_segment_that_started_before_it() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            for i in 0..10 {
                insert(c, &seg(T0 + i * 60_000, 60_000), 0)?;
            }
            // Two hours, from a day before.
            insert(c, &seg(T0 - DAY, 2 * 3_600_000), 0)?;
            insert(c, &seg(T0 - DAY + 7_200_000, 60_000), 0)?;
            let names = |a, b| -> Vec<i64> {
                range(c, "porch", a, b)
                    .unwrap()
                    .iter()
                    .map(|s| s.start_ms)
                    .collect()
            };
            assert_eq!(
                names(T0 - DAY + 3_600_000, T0 - DAY + 3_600_001),
                vec![T0 - DAY]
            );
            assert_eq!(
                names(T0 - DAY + 7_199_999, T0 - DAY + 7_200_001),
                vec![T0 - DAY, T0 - DAY + 7_200_000]
            );
            assert_eq!(names(T0 + 60_000, T0 + 120_000), vec![T0 + 60_000]);
            assert_eq!(names(T0 + 59_999, T0 + 60_001), vec![T0, T0 + 60_000]);
            assert_eq!(names(T0 + 600_000, T0 + DAY), Vec::<i64>::new());
            assert_eq!(names(i64::MIN / 2, i64::MAX / 2).len(), 12);
            Ok(())
        })
        .unwrap();
    }

    /// The day-sized queries read an index range bounded on both sides (or the per-day
    /// table), never every row of the camera; retention's oldest local rows are a range
    /// of the index of local rows.
    #[test]
    fn day_queries_are_bounded_index_searches() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            let range_plan = plan(c, &range_sql(), params!["porch", T0, T0 + DAY]);
            assert!(
                range_plan.contains(
                    "SEARCH recording USING INDEX recording_camera_start (camera=? AND start_ms>? AND start_ms<?)"
                ),
                "{range_plan}"
            );
            let stored_plan = plan(c, &stored_range_sql(), params!["porch", T0, T0 + DAY]);
            assert!(
                stored_plan.contains(
                    "SEARCH s USING INDEX recording_camera_start (camera=? AND start_ms>? AND start_ms<?)"
                ),
                "{stored_plan}"
            );
            let local_plan = plan(c, &local_before_sql(), params!["porch", T0]);
            assert!(
                local_plan.contains("SEARCH g USING INDEX recording_local (camera=? AND start_ms<?)"),
                "{local_plan}"
            );
            let days_plan = plan(c, DAYS_SQL, params!["porch"]);
            assert!(!days_plan.contains("recording "), "{days_plan}");
            assert!(days_plan.contains("SEARCH recording_day USING PRIMARY KEY (camera=?)"), "{days_plan}");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn upgrading_counts_the_existing_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.db");
        Db::migrate_file_to(&path, 5).unwrap();
        {
            let c = Connection::open(&path).unwrap();
            for (i, start) in [T0, T0 + 1, T0 + DAY].into_iter().enumerate() {
                c.execute(
                    "INSERT INTO recording (camera, file_name, start_ms, duration_ms, size_bytes,
                         sha256, codec, width, height, source, indexed_ms)
                     VALUES ('porch', ?1, ?2, ?3, 1, '', 'avc1', 1, 1, 'recorder', 0)",
                    params![format!("f{i}"), start, 60_000 * (i as i64 + 1)],
                )
                .unwrap();
            }
        }
        let db = Db::open(&path).unwrap();
        db.call_blocking(|c| {
            assert_eq!(
                days(c, "porch")?,
                vec![("2026-11-22".into(), 1), ("2026-11-21".into(), 2)]
            );
            let longest: i64 = c.query_row(
                "SELECT max(max_duration_ms) FROM recording_day WHERE camera = 'porch'",
                [],
                |r| r.get(0),
            )?;
            assert_eq!(longest, 180_000);
            // Migration 7 sums what the rows hold.
            assert_eq!(local_bytes(c, "porch")?, 3);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn public_names_are_strict() {
        let ok = "porch_2026-11-21T07-31-50.123Z.mp4";
        assert_eq!(
            parse_public_name(ok),
            Some(("porch", "2026-11-21T07-31-50.123Z.mp4"))
        );
        assert_eq!(
            parse_public_name("back_yard_2026-11-21T07-31-50.123Z.mp4"),
            Some(("back_yard", "2026-11-21T07-31-50.123Z.mp4"))
        );
        for bad in [
            "",
            "porch",
            "_2026-11-21T07-31-50.123Z.mp4",
            "../x_2026-11-21T07-31-50.123Z.mp4",
            "a/b_2026-11-21T07-31-50.123Z.mp4",
            "porch_2026-11-21T07-31-50.123Z.mp4/..",
            "porch_2026-11-21T07-31-50.123Z.h264",
            "porch_2026-02-30T07-31-50.123Z.mp4",
            "porch_2026-11-21T07-31-50.123Z.mp4\0",
            "por.ch_2026-11-21T07-31-50.123Z.mp4",
        ] {
            assert_eq!(parse_public_name(bad), None, "{bad:?}");
        }
    }
}
