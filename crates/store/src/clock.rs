//! Injected time and filesystem statistics: [`Clock`] (UTC wall time in ms) and [`FsStats`]
//! (free and total bytes), each with a real implementation and a fake for tests.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// UTC wall-clock time. Segment names and retention ages use it; media durations do not.
pub trait Clock: Send + Sync {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug, Default)]
pub struct SimClock {
    now_ms: AtomicI64,
}

impl SimClock {
    pub fn new(now_ms: i64) -> SimClock {
        SimClock {
            now_ms: AtomicI64::new(now_ms),
        }
    }

    pub fn set_ms(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// Space on the filesystem holding a path.
pub trait FsStats: Send + Sync {
    /// Bytes an unprivileged writer may still use (`f_bavail * f_frsize`).
    fn free_bytes(&self, path: &Path) -> io::Result<u64>;
    /// Size of the filesystem (`f_blocks * f_frsize`).
    fn total_bytes(&self, path: &Path) -> io::Result<u64>;
}

/// [`FsStats`] from `statvfs(2)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Statvfs;

impl FsStats for Statvfs {
    fn free_bytes(&self, path: &Path) -> io::Result<u64> {
        let s = rustix::fs::statvfs(path)?;
        Ok(s.f_bavail.saturating_mul(s.f_frsize))
    }

    fn total_bytes(&self, path: &Path) -> io::Result<u64> {
        let s = rustix::fs::statvfs(path)?;
        Ok(s.f_blocks.saturating_mul(s.f_frsize))
    }
}

/// [`FsStats`] with numbers set by the test.
#[derive(Debug, Default)]
pub struct FakeFsStats {
    free_bytes: AtomicU64,
    total_bytes: AtomicU64,
}

impl FakeFsStats {
    pub fn new(free_bytes: u64, total_bytes: u64) -> FakeFsStats {
        FakeFsStats {
            free_bytes: AtomicU64::new(free_bytes),
            total_bytes: AtomicU64::new(total_bytes),
        }
    }

    pub fn set_free_bytes(&self, free_bytes: u64) {
        self.free_bytes.store(free_bytes, Ordering::SeqCst);
    }
}

impl FsStats for FakeFsStats {
    fn free_bytes(&self, _path: &Path) -> io::Result<u64> {
        Ok(self.free_bytes.load(Ordering::SeqCst))
    }

    fn total_bytes(&self, _path: &Path) -> io::Result<u64> {
        Ok(self.total_bytes.load(Ordering::SeqCst))
    }
}
