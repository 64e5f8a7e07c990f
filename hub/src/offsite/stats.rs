//! The replicator's state as the camera status, `/api/offsite`, `/status` and `/metrics`
//! read it (kept apart from the replicator, which needs the whole hub).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use crate::recordings::replication::Backlog;

/// Why replication is paused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Paused {
    /// `auth-refused` or `quota-reached`.
    pub cause: &'static str,
    /// The store's answer, for people (never a secret).
    pub message: String,
}

/// The replicator's state for the camera status, `/status` and `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes of objects stored (as stored: sealed when encrypting), since start.
    pub bytes_replicated: AtomicU64,
    /// Objects stored since start (not counting ones found already there).
    pub objects_replicated: AtomicU64,
    /// Failed tries since start, by error kind.
    pub(super) errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Each camera's queue, as of the last count.
    pub(super) backlog: Mutex<BTreeMap<String, Backlog>>,
    pub(super) paused: Mutex<Option<Paused>>,
    /// The last error, for people.
    pub(super) last_error: Mutex<Option<String>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stats {
    pub fn errors(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.errors).clone()
    }

    pub fn backlog(&self) -> BTreeMap<String, Backlog> {
        lock(&self.backlog).clone()
    }

    pub fn camera(&self, camera: &str) -> Backlog {
        lock(&self.backlog).get(camera).cloned().unwrap_or_default()
    }

    pub fn paused(&self) -> Option<Paused> {
        lock(&self.paused).clone()
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }
}
