//! The hub's SQLite database (`DATA_DIR/hub.db`): users, sessions, the recordings
//! index and the events. Schema changes are numbered migrations applied at
//! open; each is tested from an empty database.
//!
//! One connection behind a mutex, used only from blocking threads
//! (`spawn_blocking`), never on the async runtime.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

/// Numbered schema migrations. Append only; never edit a released one.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        // 1: people who may log in, and their sessions.
        M::up(
            "CREATE TABLE user (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                password_phc TEXT NOT NULL,
                api_token_sha256 TEXT UNIQUE,
                created_ms INTEGER NOT NULL
            ) STRICT;
            CREATE TABLE session (
                id_sha256 TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                created_ms INTEGER NOT NULL,
                expires_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX session_expiry ON session(expires_ms);",
        ),
        // 2: the recordings index (see `crate::recordings::index`). `file_name` is the
        // store's name inside DATA_DIR/recordings/CAMERA/; times in unix ms (UTC).
        M::up(
            "CREATE TABLE recording (
                id INTEGER PRIMARY KEY,
                camera TEXT NOT NULL,
                file_name TEXT NOT NULL,
                start_ms INTEGER NOT NULL,
                duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
                size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
                sha256 TEXT NOT NULL,
                codec TEXT NOT NULL,
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                source TEXT NOT NULL CHECK (source IN ('upload', 'recorder', 'found')),
                indexed_ms INTEGER NOT NULL,
                UNIQUE (camera, file_name)
            ) STRICT;
            CREATE INDEX recording_camera_start ON recording(camera, start_ms);",
        ),
        // 3: events (see `crate::event_store`): motion, camera alarms, health. Times in unix
        // ms; `end_ms` NULL while an event goes on; `source_key` the source's own id of an
        // event that may be delivered twice (an agent's), unique per camera; `thumbnail` a
        // small JPEG.
        M::up(
            "CREATE TABLE event (
                id INTEGER PRIMARY KEY,
                camera TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('motion', 'alarm', 'health')),
                label TEXT,
                start_ms INTEGER NOT NULL,
                end_ms INTEGER CHECK (end_ms IS NULL OR end_ms >= start_ms),
                score REAL CHECK (score IS NULL OR (score >= 0 AND score <= 1)),
                zone TEXT,
                message TEXT,
                origin TEXT NOT NULL CHECK (origin IN ('camera', 'agent', 'hub')),
                source_key TEXT,
                thumbnail BLOB,
                updated_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX event_camera_start ON event(camera, start_ms);
            CREATE UNIQUE INDEX event_source_key ON event(camera, source_key)
                WHERE source_key IS NOT NULL;",
        ),
        // 4: where each session signed in from, for the user's list of sessions.
        M::up(
            "ALTER TABLE session ADD COLUMN address TEXT NOT NULL DEFAULT '';
            ALTER TABLE session ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
            CREATE INDEX session_user ON session(user_id);",
        ),
        // 5: off-site copies (see `offsite` and `crate::recordings`). The recording table
        // is rebuilt to know two more sources (`imported` from another system, `offsite`
        // restored from the bucket) and to say whether the file is on the local disk
        // (`local` 0: only the bucket holds it). `replication` is the durable queue of
        // objects to copy, one row per object key: a segment (`recording_id`), an event
        // record or its thumbnail (`event_id`), or a camera's day index; a row is `done`
        // only after the store acknowledged the object and its SHA-256 matched.
        // `multipart_upload` is the journal of multipart uploads in progress (the JSON of
        // `offsite::MultipartState`), so a kill -9 resumes the same upload.
        M::up(
            "CREATE TABLE recording_new (
                id INTEGER PRIMARY KEY,
                camera TEXT NOT NULL,
                file_name TEXT NOT NULL,
                start_ms INTEGER NOT NULL,
                duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
                size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
                sha256 TEXT NOT NULL,
                codec TEXT NOT NULL,
                width INTEGER NOT NULL,
                height INTEGER NOT NULL,
                source TEXT NOT NULL
                    CHECK (source IN ('upload', 'recorder', 'found', 'imported', 'offsite')),
                indexed_ms INTEGER NOT NULL,
                local INTEGER NOT NULL DEFAULT 1 CHECK (local IN (0, 1)),
                UNIQUE (camera, file_name)
            ) STRICT;
            INSERT INTO recording_new (id, camera, file_name, start_ms, duration_ms, size_bytes,
                    sha256, codec, width, height, source, indexed_ms, local)
                SELECT id, camera, file_name, start_ms, duration_ms, size_bytes, sha256, codec,
                    width, height, source, indexed_ms, 1 FROM recording;
            DROP TABLE recording;
            ALTER TABLE recording_new RENAME TO recording;
            CREATE INDEX recording_camera_start ON recording(camera, start_ms);
            CREATE TABLE replication (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL
                    CHECK (kind IN ('segment', 'event', 'thumbnail', 'day_index')),
                camera TEXT NOT NULL,
                recording_id INTEGER,
                event_id INTEGER,
                key TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                next_try_ms INTEGER NOT NULL,
                last_error TEXT,
                etag TEXT,
                queued_ms INTEGER NOT NULL,
                done_ms INTEGER
            ) STRICT;
            CREATE INDEX replication_due ON replication(state, next_try_ms);
            CREATE INDEX replication_recording ON replication(recording_id)
                WHERE recording_id IS NOT NULL;
            CREATE TABLE multipart_upload (
                key TEXT PRIMARY KEY,
                state TEXT NOT NULL,
                updated_ms INTEGER NOT NULL
            ) STRICT;",
        ),
        // 6: per camera and UTC day, the number of segments starting that day and the
        // longest of them (an upper bound: it never shrinks), kept by triggers in the same
        // transaction as the `recording` rows ([`RECORDING_DAYS`]). `/api/recordings/days`
        // reads this table, not millions of rows, and a time-range query bounds its index
        // scan from below with the longest duration. `event_long` indexes the events longer than a day and the
        // ongoing ones (`event_store::rows::LONG_EVENT_MS`), so that a time range of one
        // camera's events is a bounded index scan plus these few.
        M::up(&RECORDING_DAYS),
        // 7: per camera and day also the bytes of all its segments, the number, bytes and
        // media time of those with a local file (`local = 1`), and the latest time one of them was indexed (an upper
        // bound, like `max_duration_ms`), kept by new triggers ([`RECORDING_DAY_SUMS`]);
        // `recording_local` indexes the segments on the local disk by start. Retention
        // plans from these (oldest local rows first, the sums for the size limit) and the
        // status pages read their totals here, not from millions of rows. The day rows
        // are counted again from the rows there are.
        M::up(&RECORDING_DAY_SUMS),
    ])
}

/// Migration 7: the per-day sums, their triggers (replacing migration 6's) and the index
/// of local segments.
static RECORDING_DAY_SUMS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "DROP TRIGGER recording_day_insert;
        DROP TRIGGER recording_day_delete;
        DROP TRIGGER recording_day_update;
        ALTER TABLE recording_day ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0
            CHECK (bytes >= 0);
        ALTER TABLE recording_day ADD COLUMN local_bytes INTEGER NOT NULL DEFAULT 0
            CHECK (local_bytes >= 0);
        ALTER TABLE recording_day ADD COLUMN max_indexed_ms INTEGER;
        ALTER TABLE recording_day ADD COLUMN local_segments INTEGER NOT NULL DEFAULT 0
            CHECK (local_segments >= 0);
        ALTER TABLE recording_day ADD COLUMN local_ms INTEGER NOT NULL DEFAULT 0
            CHECK (local_ms >= 0);
        DELETE FROM recording_day;
        INSERT INTO recording_day (camera, day, segments, max_duration_ms, bytes, local_bytes,
                max_indexed_ms, local_segments, local_ms)
            SELECT camera, strftime('%Y-%m-%d', start_ms / 1000, 'unixepoch'), count(*),
                max(duration_ms), sum(size_bytes), sum(size_bytes * local), max(indexed_ms),
                sum(local), sum(duration_ms * local)
            FROM recording GROUP BY 1, 2;
        CREATE TRIGGER recording_day_insert AFTER INSERT ON recording BEGIN {} END;
        CREATE TRIGGER recording_day_delete AFTER DELETE ON recording BEGIN {} END;
        CREATE TRIGGER recording_day_update AFTER UPDATE OF camera, start_ms, duration_ms,
                size_bytes, local, indexed_ms
            ON recording BEGIN {} {} END;
        CREATE INDEX recording_local ON recording(camera, start_ms) WHERE local = 1;",
        day_sums_add("NEW"),
        day_sums_remove("OLD"),
        day_sums_remove("OLD"),
        day_sums_add("NEW")
    )
});

/// [`day_count_add`] with the byte sums and the latest indexing time.
fn day_sums_add(row: &str) -> String {
    let day = day_of(row);
    format!(
        "INSERT INTO recording_day (camera, day, segments, max_duration_ms)
            SELECT {row}.camera, {day}, 0, 0
            WHERE NOT EXISTS (SELECT 1 FROM recording_day
                WHERE camera = {row}.camera AND day = {day});
        UPDATE recording_day SET segments = segments + 1,
                max_duration_ms = max(max_duration_ms, {row}.duration_ms),
                bytes = bytes + {row}.size_bytes,
                local_bytes = local_bytes + {row}.size_bytes * {row}.local,
                local_segments = local_segments + {row}.local,
                local_ms = local_ms + {row}.duration_ms * {row}.local,
                max_indexed_ms = max(coalesce(max_indexed_ms, {row}.indexed_ms), {row}.indexed_ms)
            WHERE camera = {row}.camera AND day = {day};"
    )
}

/// [`day_count_remove`] with the byte sums.
fn day_sums_remove(row: &str) -> String {
    let day = day_of(row);
    format!(
        "UPDATE recording_day SET segments = segments - 1,
                bytes = bytes - {row}.size_bytes,
                local_bytes = local_bytes - {row}.size_bytes * {row}.local,
                local_segments = local_segments - {row}.local,
                local_ms = local_ms - {row}.duration_ms * {row}.local
            WHERE camera = {row}.camera AND day = {day};
        DELETE FROM recording_day
            WHERE camera = {row}.camera AND day = {day} AND segments <= 0;"
    )
}

/// Migration 9: the per-day table filled from the rows there are, the triggers that keep
/// it, and the index of long events.
static RECORDING_DAYS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "CREATE TABLE recording_day (
            camera TEXT NOT NULL,
            day TEXT NOT NULL,
            segments INTEGER NOT NULL CHECK (segments >= 0),
            max_duration_ms INTEGER NOT NULL CHECK (max_duration_ms >= 0),
            PRIMARY KEY (camera, day)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO recording_day (camera, day, segments, max_duration_ms)
            SELECT camera, strftime('%Y-%m-%d', start_ms / 1000, 'unixepoch'), count(*),
                max(duration_ms)
            FROM recording GROUP BY 1, 2;
        CREATE TRIGGER recording_day_insert AFTER INSERT ON recording BEGIN {} END;
        CREATE TRIGGER recording_day_delete AFTER DELETE ON recording BEGIN {} END;
        CREATE TRIGGER recording_day_update AFTER UPDATE OF camera, start_ms, duration_ms
            ON recording BEGIN {} {} END;
        CREATE INDEX event_long ON event(camera, start_ms)
            WHERE end_ms IS NULL OR end_ms - start_ms > 86400000;",
        day_count_add("NEW"),
        day_count_remove("OLD"),
        day_count_remove("OLD"),
        day_count_add("NEW")
    )
});

/// The UTC day (`YYYY-MM-DD`) of a `recording` row (`NEW` or `OLD` in a trigger).
fn day_of(row: &str) -> String {
    format!("strftime('%Y-%m-%d', {row}.start_ms / 1000, 'unixepoch')")
}

/// Counts row `row` into its day, creating the day's row. No `OR IGNORE`: a trigger takes
/// the conflict policy of the statement that fired it, an upsert's among them.
fn day_count_add(row: &str) -> String {
    let day = day_of(row);
    format!(
        "INSERT INTO recording_day (camera, day, segments, max_duration_ms)
            SELECT {row}.camera, {day}, 0, 0
            WHERE NOT EXISTS (SELECT 1 FROM recording_day
                WHERE camera = {row}.camera AND day = {day});
        UPDATE recording_day SET segments = segments + 1,
                max_duration_ms = max(max_duration_ms, {row}.duration_ms)
            WHERE camera = {row}.camera AND day = {day};"
    )
}

/// Counts row `row` out of its day, dropping the day's row at 0.
fn day_count_remove(row: &str) -> String {
    let day = day_of(row);
    format!(
        "UPDATE recording_day SET segments = segments - 1
            WHERE camera = {row}.camera AND day = {day};
        DELETE FROM recording_day
            WHERE camera = {row}.camera AND day = {day} AND segments <= 0;"
    )
}

/// Errors from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("database task failed: {0}")]
    Join(String),
}

/// A user row.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub password_phc: String,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

impl Db {
    /// Open (creating if needed) and migrate to the latest schema.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let mut conn = Connection::open(path)?;
        Self::setup(&mut conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Brings the database file at `path` to schema `version` (not the latest), for
    /// tests of upgrades from databases older hubs left behind.
    #[doc(hidden)]
    pub fn migrate_file_to(path: &Path, version: usize) -> Result<(), DbError> {
        let mut conn = Connection::open(path)?;
        migrations().to_version(&mut conn, version)?;
        Ok(())
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> Result<Db, DbError> {
        let mut conn = Connection::open_in_memory()?;
        Self::setup(&mut conn)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn setup(conn: &mut Connection) -> Result<(), DbError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations().to_latest(conn)?;
        Ok(())
    }

    /// Run `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| DbError::Join(e.to_string()))?
    }

    /// Run `f` with the connection on the current thread (commands, tests).
    pub fn call_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c)
    }
}

// ---- users and sessions (blocking; called through `Db::call`) ----

pub fn user_count(c: &Connection) -> Result<i64, DbError> {
    Ok(c.query_row("SELECT count(*) FROM user", [], |r| r.get(0))?)
}

/// A user from a row of `id, name, password_phc`.
fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        password_phc: r.get(2)?,
    })
}

/// The user a query of `id, name, password_phc` finds, if any.
fn one_user(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<User>, DbError> {
    Ok(c.query_row(sql, params, user_row).optional()?)
}

pub fn user_by_name(c: &Connection, name: &str) -> Result<Option<User>, DbError> {
    one_user(
        c,
        "SELECT id, name, password_phc FROM user WHERE name = ?1",
        [name],
    )
}

pub fn user_by_api_token(c: &Connection, token_sha256: &str) -> Result<Option<User>, DbError> {
    one_user(
        c,
        "SELECT id, name, password_phc FROM user WHERE api_token_sha256 = ?1",
        [token_sha256],
    )
}

pub fn user_by_id(c: &Connection, id: i64) -> Result<Option<User>, DbError> {
    one_user(
        c,
        "SELECT id, name, password_phc FROM user WHERE id = ?1",
        [id],
    )
}

/// Insert a user, or replace an existing one's password and API token; either way
/// the user has no session afterwards (a new password ends every old one). A running
/// hub sees it at once: sessions are looked up in the database on every request, and
/// its cache of Basic credentials checks the stored password hash on every hit.
pub fn upsert_user(
    c: &mut Connection,
    name: &str,
    password_phc: &str,
    api_token_sha256: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO user (name, password_phc, api_token_sha256, created_ms)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET password_phc = ?2, api_token_sha256 = ?3",
        params![name, password_phc, api_token_sha256, now_ms],
    )?;
    tx.execute(
        "DELETE FROM session WHERE user_id = (SELECT id FROM user WHERE name = ?1)",
        [name],
    )?;
    tx.commit()?;
    Ok(())
}

/// Removes a user with their sessions and API token.
pub fn delete_user(c: &mut Connection, name: &str) -> Result<bool, DbError> {
    let tx = c.transaction()?;
    tx.execute(
        "DELETE FROM session WHERE user_id = (SELECT id FROM user WHERE name = ?1)",
        [name],
    )?;
    let n = tx.execute("DELETE FROM user WHERE name = ?1", [name])?;
    tx.commit()?;
    Ok(n > 0)
}

/// One user as `hub user list` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub name: String,
    pub created_ms: i64,
    /// Sessions that have not expired.
    pub sessions: i64,
}

pub fn list_users(c: &Connection, now_ms: i64) -> Result<Vec<UserSummary>, DbError> {
    let mut st = c.prepare(
        "SELECT u.name, u.created_ms,
                (SELECT count(*) FROM session s WHERE s.user_id = u.id AND s.expires_ms > ?1)
         FROM user u ORDER BY u.name",
    )?;
    let users = st
        .query_map([now_ms], |r| {
            Ok(UserSummary {
                name: r.get(0)?,
                created_ms: r.get(1)?,
                sessions: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(users)
}

/// A new session: who, when, until when, and from where (the client's address and
/// its `User-Agent`, shown to the user in their list of sessions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession<'a> {
    pub id_sha256: &'a str,
    pub user_id: i64,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub address: &'a str,
    pub user_agent: &'a str,
}

pub fn insert_session(c: &Connection, s: &NewSession<'_>) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO session (id_sha256, user_id, created_ms, expires_ms, address, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            s.id_sha256,
            s.user_id,
            s.created_ms,
            s.expires_ms,
            s.address,
            s.user_agent
        ],
    )?;
    Ok(())
}

/// One of a user's sessions, as their list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id_sha256: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub address: String,
    pub user_agent: String,
}

/// A user's live sessions, newest first.
pub fn sessions_of(c: &Connection, user_id: i64, now_ms: i64) -> Result<Vec<SessionInfo>, DbError> {
    let mut st = c.prepare(
        "SELECT id_sha256, created_ms, expires_ms, address, user_agent FROM session
         WHERE user_id = ?1 AND expires_ms > ?2 ORDER BY created_ms DESC, rowid DESC",
    )?;
    let rows = st
        .query_map(params![user_id, now_ms], |r| {
            Ok(SessionInfo {
                id_sha256: r.get(0)?,
                created_ms: r.get(1)?,
                expires_ms: r.get(2)?,
                address: r.get(3)?,
                user_agent: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Ends every session of a user; how many there were.
pub fn delete_sessions_of(c: &Connection, user_id: i64) -> Result<usize, DbError> {
    Ok(c.execute("DELETE FROM session WHERE user_id = ?1", [user_id])?)
}

/// The user of a live session, if the session exists and has not expired.
pub fn session_user(c: &Connection, id_sha256: &str, now_ms: i64) -> Result<Option<User>, DbError> {
    one_user(
        c,
        "SELECT u.id, u.name, u.password_phc FROM session s JOIN user u ON u.id = s.user_id
         WHERE s.id_sha256 = ?1 AND s.expires_ms > ?2",
        params![id_sha256, now_ms],
    )
}

pub fn delete_session(c: &Connection, id_sha256: &str) -> Result<(), DbError> {
    c.execute("DELETE FROM session WHERE id_sha256 = ?1", [id_sha256])?;
    Ok(())
}

pub fn delete_expired_sessions(c: &Connection, now_ms: i64) -> Result<usize, DbError> {
    Ok(c.execute("DELETE FROM session WHERE expires_ms <= ?1", [now_ms])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn users_and_sessions() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            assert_eq!(user_count(c)?, 0);
            upsert_user(c, "ann", "phc1", "tok1", 1)?;
            upsert_user(c, "ann", "phc2", "tok2", 2)?;
            assert_eq!(user_count(c)?, 1);
            let u = user_by_name(c, "ann")?.unwrap();
            assert_eq!(u.password_phc, "phc2");
            assert!(user_by_api_token(c, "tok1")?.is_none());
            assert_eq!(user_by_api_token(c, "tok2")?.unwrap().name, "ann");
            let session = |id| NewSession {
                id_sha256: id,
                user_id: u.id,
                created_ms: 10,
                expires_ms: 100,
                address: "10.0.0.2",
                user_agent: "phone",
            };
            insert_session(c, &session("s1"))?;
            assert!(session_user(c, "s1", 50)?.is_some());
            assert!(session_user(c, "s1", 100)?.is_none());
            assert_eq!(delete_expired_sessions(c, 100)?, 1);
            insert_session(c, &session("s2"))?;
            let listed = sessions_of(c, u.id, 50)?;
            assert_eq!(listed.len(), 1);
            assert_eq!(
                (listed[0].address.as_str(), listed[0].user_agent.as_str()),
                ("10.0.0.2", "phone")
            );
            assert_eq!(list_users(c, 50)?[0].sessions, 1);
            // A new password ends the sessions.
            upsert_user(c, "ann", "phc3", "tok3", 3)?;
            assert!(session_user(c, "s2", 50)?.is_none());
            insert_session(c, &session("s3"))?;
            assert!(delete_user(c, "ann")?);
            assert!(
                session_user(c, "s3", 50)?.is_none(),
                "removed with the user"
            );
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn reopening_a_file_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hub.db");
        Db::open(&p)
            .unwrap()
            .call_blocking(|c| upsert_user(c, "bob", "x", "t", 0))
            .unwrap();
        let n = Db::open(&p)
            .unwrap()
            .call_blocking(|c| user_count(c))
            .unwrap();
        assert_eq!(n, 1);
    }
}
