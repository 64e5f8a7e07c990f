//! The hub's side of off-site copies (`[offsite]`, the `offsite` crate): opening the
//! bucket with its secret and key files, and the multipart journal kept in the index
//! (table `multipart_upload`, migration 5) so an upload cut by a crash resumes.
//!
//! The replication queue (table `replication`, [`crate::recordings::replication`]) and the task that empties it
//! ([`replicate`]) build on the [`offsite::Bucket`] held in [`crate::app::Hub::offsite`];
//! so do playback from the bucket ([`read`]), the index rebuilt from it and kept in step
//! on a read-only hub ([`restore`]) and the check of the bucket against the index
//! ([`check`]).

pub mod check;
pub mod events;
pub mod read;
pub mod replicate;
pub mod restore;
pub mod stats;

use std::sync::Arc;

use anyhow::Context;
use offsite::{Bucket, ErrorKind, MultipartState, OffsiteConfig, UploadJournal};
use rusqlite::{OptionalExtension, params};

use crate::db::Db;

/// Opens the configured bucket: reads the secret (and the encryption key, if any) from
/// their private files; multipart uploads in progress are journaled in `db`. Makes no
/// request to the store.
pub fn open_bucket(cfg: &OffsiteConfig, db: Db) -> anyhow::Result<Arc<Bucket>> {
    let credentials = cfg.credentials().map_err(anyhow::Error::msg)?;
    let key = cfg.encryption_key().map_err(anyhow::Error::msg)?;
    let bucket = Bucket::new(cfg, credentials, key, Arc::new(SqlJournal { db }))
        .map_err(|e| anyhow::anyhow!("offsite: {}", e.message()))
        .context("opening the off-site bucket")?;
    Ok(Arc::new(bucket))
}

/// What `hub check-config` reports about the `[offsite]` files (secret, key).
pub fn check_files(cfg: &OffsiteConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = cfg.credentials() {
        problems.push(e.to_string());
    }
    if let Err(e) = cfg.encryption_key() {
        problems.push(e.to_string());
    }
    problems
}

/// The multipart journal in the index. Each `save` is a committed transaction before
/// it returns (WAL, `synchronous = NORMAL`: it survives the process being killed; after
/// a power loss the last part may be sent again, or the upload restarted and the
/// abandoned one aborted by [`Bucket::abort_abandoned`]). Blocking.
#[derive(Clone)]
pub struct SqlJournal {
    db: Db,
}

impl std::fmt::Debug for SqlJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlJournal").finish_non_exhaustive()
    }
}

impl SqlJournal {
    pub fn new(db: Db) -> SqlJournal {
        SqlJournal { db }
    }
}

fn journal_error(e: impl std::fmt::Display) -> offsite::Error {
    offsite::Error::new(ErrorKind::Local, format!("multipart journal: {e}"))
}

fn decode(text: &str) -> Result<MultipartState, offsite::Error> {
    serde_json::from_str(text).map_err(journal_error)
}

impl UploadJournal for SqlJournal {
    fn load(&self, key: &str) -> Result<Option<MultipartState>, offsite::Error> {
        let text = self
            .db
            .call_blocking(|c| {
                Ok(c.query_row(
                    "SELECT state FROM multipart_upload WHERE key = ?1",
                    [key],
                    |r| r.get::<_, String>(0),
                )
                .optional()?)
            })
            .map_err(journal_error)?;
        text.as_deref().map(decode).transpose()
    }

    fn save(&self, state: &MultipartState) -> Result<(), offsite::Error> {
        let text = serde_json::to_string(state).map_err(journal_error)?;
        let now = crate::camera::now_ms();
        self.db
            .call_blocking(|c| {
                c.execute(
                    "INSERT INTO multipart_upload (key, state, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET state = ?2, updated_ms = ?3",
                    params![state.key, text, now],
                )?;
                Ok(())
            })
            .map_err(journal_error)
    }

    fn remove(&self, key: &str) -> Result<(), offsite::Error> {
        self.db
            .call_blocking(|c| {
                c.execute("DELETE FROM multipart_upload WHERE key = ?1", [key])?;
                Ok(())
            })
            .map_err(journal_error)
    }

    fn all(&self) -> Result<Vec<MultipartState>, offsite::Error> {
        let texts = self
            .db
            .call_blocking(|c| {
                let mut st = c.prepare("SELECT state FROM multipart_upload ORDER BY key")?;
                let rows = st
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .map_err(journal_error)?;
        texts.iter().map(|t| decode(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_test_state(key: &str) -> MultipartState {
        MultipartState {
            key: key.into(),
            upload_id: "u1".into(),
            sha256: "ab".repeat(32),
            plain_len: 20 << 20,
            stored_len: 20 << 20,
            part_size: 8 << 20,
            nonce_prefix: None,
            parts: vec![],
            created_ms: 1,
        }
    }

    #[test]
    fn the_journal_in_the_index_saves_loads_lists_and_removes() {
        let j = SqlJournal::new(Db::open_in_memory().unwrap());
        assert_eq!(j.load("a/b").unwrap(), None);
        let mut s = journal_test_state("a/b");
        j.save(&s).unwrap();
        assert_eq!(j.load("a/b").unwrap(), Some(s.clone()));
        s.parts.push(offsite::PartDone {
            index: 0,
            content_id: "etag0".into(),
            md5: "00".repeat(16),
        });
        j.save(&s).unwrap();
        j.save(&journal_test_state("c")).unwrap();
        assert_eq!(j.all().unwrap(), vec![s.clone(), journal_test_state("c")]);
        j.remove("a/b").unwrap();
        assert_eq!(j.load("a/b").unwrap(), None);
        assert_eq!(j.all().unwrap().len(), 1);
    }
}
