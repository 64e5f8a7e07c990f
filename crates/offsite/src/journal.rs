//! The durable record of multipart uploads in progress, so an upload cut by a crash
//! (kill -9, power loss) resumes with the same upload id and the parts already sent, or
//! is aborted on the store, instead of leaving parts behind or counting as done.
//!
//! The hub keeps these rows in its SQLite index next to the replication queue;
//! [`DirJournal`] keeps them as files (one JSON file per object, written crash-safely),
//! for tools and tests. Calls block: run them off the async runtime.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultipartState {
    /// The object's key.
    pub key: String,
    /// The store's upload id.
    pub upload_id: String,
    /// SHA-256 (hex) of the local file: a changed file is not resumed.
    pub sha256: String,
    /// Plaintext length of the local file.
    pub plain_len: u64,
    /// Stored length (larger when encrypted).
    pub stored_len: u64,
    pub part_size: u64,
    /// The encryption nonce prefix (hex), so resumed parts are the same ciphertext.
    pub nonce_prefix: Option<String>,
    /// Parts the store has acknowledged, in order.
    pub parts: Vec<PartDone>,
    /// When the upload was created (unix ms), to abort abandoned ones.
    pub created_ms: i64,
}

/// One acknowledged part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartDone {
    /// 0-based part index.
    pub index: u32,
    /// What the store answered for it (its ETag), needed to complete the upload.
    pub content_id: String,
    /// MD5 (hex) of the bytes sent, to predict the object's ETag.
    pub md5: String,
}

/// Where multipart states are kept. Implementations must make `save` durable before
/// returning (the next part is sent only after).
pub trait UploadJournal: Send + Sync + std::fmt::Debug {
    fn load(&self, key: &str) -> Result<Option<MultipartState>, Error>;
    fn save(&self, state: &MultipartState) -> Result<(), Error>;
    fn remove(&self, key: &str) -> Result<(), Error>;
    /// Every upload in progress (to resume or abort at start-up).
    fn all(&self) -> Result<Vec<MultipartState>, Error>;
}

/// A journal in a directory: `SHA256(key).json` per upload (the key itself is inside;
/// keys can be longer than a file name may be), written to a temporary file, fsynced,
/// renamed, directory fsynced.
#[derive(Debug, Clone)]
pub struct DirJournal {
    dir: PathBuf,
}

impl DirJournal {
    pub fn open(dir: &Path) -> Result<DirJournal, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::local(dir.display(), e))?;
        Ok(DirJournal {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        use sha2::Digest;
        self.dir
            .join(format!("{}.json", hex::encode(sha2::Sha256::digest(key))))
    }

    fn sync_dir(&self) -> Result<(), Error> {
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::local(self.dir.display(), e))
    }
}

impl UploadJournal for DirJournal {
    fn load(&self, key: &str) -> Result<Option<MultipartState>, Error> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::new(crate::ErrorKind::Local, format!("{}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::local(path.display(), e)),
        }
    }

    fn save(&self, state: &MultipartState) -> Result<(), Error> {
        use std::io::Write;
        let path = self.path(&state.key);
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec(state).expect("a MultipartState serialises");
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::local(tmp.display(), e))?;
        f.write_all(&json)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::local(tmp.display(), e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::local(path.display(), e))?;
        self.sync_dir()
    }

    fn remove(&self, key: &str) -> Result<(), Error> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::local(path.display(), e)),
        }
    }

    fn all(&self) -> Result<Vec<MultipartState>, Error> {
        let mut out = Vec::new();
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| Error::local(self.dir.display(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::local(self.dir.display(), e))?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(|n| n.ends_with(".json")) {
                continue;
            }
            let path = entry.path();
            let bytes = std::fs::read(&path).map_err(|e| Error::local(path.display(), e))?;
            let state: MultipartState = serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(crate::ErrorKind::Local, format!("{}: {e}", path.display()))
            })?;
            out.push(state);
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_lists_removes() {
        let dir = tempfile::tempdir().unwrap();
        let j = DirJournal::open(dir.path()).unwrap();
        let mut s = MultipartState {
            // Longer than a file name may be.
            key: format!(
                "{}/rec/porch/2026-11-21T07-31-50.123Z.mp4",
                "p/".repeat(63) + "p"
            ),
            upload_id: "u1".into(),
            sha256: "ab".repeat(32),
            plain_len: 20 << 20,
            stored_len: 20 << 20,
            part_size: 8 << 20,
            nonce_prefix: None,
            parts: vec![],
            created_ms: 1,
        };
        assert_eq!(j.load(&s.key).unwrap(), None);
        j.save(&s).unwrap();
        s.parts.push(PartDone {
            index: 0,
            content_id: "\"e\"".into(),
            md5: "00".repeat(16),
        });
        j.save(&s).unwrap();
        assert_eq!(j.load(&s.key).unwrap(), Some(s.clone()));
        assert_eq!(j.all().unwrap(), vec![s.clone()]);
        // A reopened journal (after a restart) sees the same.
        assert_eq!(
            DirJournal::open(dir.path()).unwrap().load(&s.key).unwrap(),
            Some(s.clone())
        );
        j.remove(&s.key).unwrap();
        j.remove(&s.key).unwrap();
        assert!(j.all().unwrap().is_empty());
    }
}
