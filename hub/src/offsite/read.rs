//! Segments played from the off-site bucket: the second implementation of
//! [`SegmentFile`] behind [`crate::recordings::Recordings::open_segment`]. An object is
//! opened with one HEAD ([`Bucket::head`], kept in a bounded cache per key) and read in
//! aligned blocks of [`BLOCK`] bytes with [`Bucket::read_range`] (which fetches only the
//! chunks covering a block of an encrypted object, and decrypts and authenticates them);
//! the last block read is kept, so the 64 KiB pieces of a download cost one request per
//! block.
//!
//! Every request to the store runs on the async runtime and is bounded by
//! [`REQUEST_TIMEOUT`]; the blocking caller waits for it. A failure becomes
//! [`RecError::Offsite`] (an HTTP 502, a missing object 404) or
//! [`RecError::OffsiteTimeout`] (504), never a panic or a hang.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use offsite::{Bucket, ErrorKind, StoredObject};

use crate::recordings::{RecError, Result, SegmentFile};

/// How long one request to the store (a HEAD, one block) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Objects whose HEAD is remembered.
pub const HEAD_CACHE_ENTRIES: usize = 1024;
/// How long a remembered HEAD is trusted (the bucket's retention may delete objects).
pub const HEAD_CACHE_TTL: Duration = Duration::from_secs(600);
/// Bytes fetched per ranged read.
pub const BLOCK: u64 = 1 << 20;

/// Opens segments the bucket holds. One per hub, shared by every reader.
pub struct OffsiteReader {
    bucket: Arc<Bucket>,
    runtime: tokio::runtime::Handle,
    heads: Mutex<HeadCache>,
}

impl std::fmt::Debug for OffsiteReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsiteReader").finish_non_exhaustive()
    }
}

impl OffsiteReader {
    /// A reader of `bucket` whose requests run on `runtime`.
    pub fn new(bucket: Arc<Bucket>, runtime: tokio::runtime::Handle) -> Arc<OffsiteReader> {
        Arc::new(OffsiteReader {
            bucket,
            runtime,
            heads: Mutex::new(HeadCache::default()),
        })
    }

    /// Runs `f` on the runtime, waits at most [`REQUEST_TIMEOUT`] for it. Blocking: never
    /// call it from an async task.
    fn call<T, F>(&self, what: &str, f: impl FnOnce(Arc<Bucket>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = std::result::Result<T, offsite::Error>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let fut = f(self.bucket.clone());
        self.runtime.spawn(async move {
            let _ = tx.send(tokio::time::timeout(REQUEST_TIMEOUT, fut).await);
        });
        let late = || {
            RecError::OffsiteTimeout(format!(
                "{what}: no answer from the store within {} s",
                REQUEST_TIMEOUT.as_secs()
            ))
        };
        // A little longer than the timeout on the runtime, in case it is starved.
        match rx.recv_timeout(REQUEST_TIMEOUT + Duration::from_secs(5)) {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(RecError::Offsite(e)),
            Ok(Err(_elapsed)) => Err(late()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(late()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(RecError::Join("the off-site read was cancelled".into()))
            }
        }
    }

    /// Opens object `key`, which the index says holds `expected_len` bytes (a different
    /// size is refused as corrupt). Blocking.
    pub fn open(self: &Arc<Self>, key: &str, expected_len: u64) -> Result<OffsiteFile> {
        let cached = self.heads().get(key, Instant::now());
        let object = match cached {
            Some(o) => o,
            None => {
                let k = key.to_owned();
                let o = Arc::new(self.call(key, |b| async move { b.head(&k).await })?);
                self.heads().put(key, o.clone(), Instant::now());
                o
            }
        };
        if object.plain_len != expected_len {
            self.heads().forget(key);
            return Err(RecError::Offsite(offsite::Error::new(
                ErrorKind::Corrupt,
                format!(
                    "{key} holds {} bytes, the index says {expected_len}",
                    object.plain_len
                ),
            )));
        }
        Ok(OffsiteFile {
            reader: self.clone(),
            object,
            block: Mutex::new(None),
        })
    }

    fn read(&self, object: &Arc<StoredObject>, range: Range<u64>) -> Result<Bytes> {
        let o = object.clone();
        let got = self.call(
            &object.key,
            |b| async move { b.read_range(&o, range).await },
        );
        if let Err(RecError::Offsite(e)) = &got
            && e.kind() == ErrorKind::NotFound
        {
            self.heads().forget(&object.key);
        }
        got
    }

    fn heads(&self) -> std::sync::MutexGuard<'_, HeadCache> {
        self.heads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// HEADs by key, at most [`HEAD_CACHE_ENTRIES`], the oldest inserted evicted first.
#[derive(Default)]
struct HeadCache {
    map: HashMap<String, (Arc<StoredObject>, Instant)>,
    order: VecDeque<String>,
}

impl HeadCache {
    fn get(&mut self, key: &str, now: Instant) -> Option<Arc<StoredObject>> {
        match self.map.get(key) {
            Some((o, at)) if now.duration_since(*at) < HEAD_CACHE_TTL => Some(o.clone()),
            Some(_) => {
                self.forget(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: &str, o: Arc<StoredObject>, now: Instant) {
        if self.map.insert(key.to_owned(), (o, now)).is_none() {
            self.order.push_back(key.to_owned());
        }
        while self.map.len() > HEAD_CACHE_ENTRIES {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
    }

    fn forget(&mut self, key: &str) {
        if self.map.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }
}

/// A segment read from the bucket.
pub struct OffsiteFile {
    reader: Arc<OffsiteReader>,
    object: Arc<StoredObject>,
    /// The last block read: (its offset, its bytes).
    block: Mutex<Option<(u64, Bytes)>>,
}

impl std::fmt::Debug for OffsiteFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsiteFile")
            .field("key", &self.object.key)
            .field("len", &self.object.plain_len)
            .finish_non_exhaustive()
    }
}

impl OffsiteFile {
    fn block_at(&self, start: u64) -> Result<Bytes> {
        if let Some((at, b)) = &*self.block.lock().unwrap_or_else(|e| e.into_inner())
            && *at == start
        {
            return Ok(b.clone());
        }
        let end = (start + BLOCK).min(self.object.plain_len);
        let b = self.reader.read(&self.object, start..end)?;
        if b.len() as u64 != end - start {
            return Err(RecError::Offsite(offsite::Error::new(
                ErrorKind::Corrupt,
                format!(
                    "{}: asked for {} bytes at {start}, got {}",
                    self.object.key,
                    end - start,
                    b.len()
                ),
            )));
        }
        *self.block.lock().unwrap_or_else(|e| e.into_inner()) = Some((start, b.clone()));
        Ok(b)
    }
}

impl crate::recordings::read::SecondTier for Arc<OffsiteReader> {
    fn open(&self, key: &str, expected_len: u64) -> Result<Box<dyn SegmentFile>> {
        Ok(Box::new(OffsiteReader::open(self, key, expected_len)?))
    }
}

impl SegmentFile for OffsiteFile {
    fn len(&self) -> u64 {
        self.object.plain_len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let len = self.len();
        let mut got = 0usize;
        while got < buf.len() && offset + (got as u64) < len {
            let at = offset + got as u64;
            let start = at - at % BLOCK;
            let block = self.block_at(start)?;
            let within = (at - start) as usize;
            let n = (block.len() - within).min(buf.len() - got);
            buf[got..got + n].copy_from_slice(&block[within..within + n]);
            got += n;
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str) -> Arc<StoredObject> {
        Arc::new(StoredObject {
            key: key.into(),
            stored_len: 1,
            plain_len: 1,
            e_tag: None,
            sha256: None,
            record: None,
            sealed: None,
        })
    }

    #[test]
    fn the_head_cache_is_bounded_and_expires() {
        let mut c = HeadCache::default();
        let t0 = Instant::now();
        for i in 0..HEAD_CACHE_ENTRIES + 10 {
            c.put(&format!("k{i}"), object(&format!("k{i}")), t0);
        }
        assert_eq!(c.map.len(), HEAD_CACHE_ENTRIES);
        assert_eq!(c.order.len(), HEAD_CACHE_ENTRIES);
        assert!(c.get("k0", t0).is_none(), "the oldest went first");
        assert!(c.get(&format!("k{}", HEAD_CACHE_ENTRIES + 9), t0).is_some());
        assert!(c.get("k20", t0 + HEAD_CACHE_TTL).is_none(), "expired");
        assert_eq!(c.order.len(), HEAD_CACHE_ENTRIES - 1);
        c.forget("k21");
        assert!(c.get("k21", t0).is_none());
        assert_eq!(c.map.len(), c.order.len());
    }
}
