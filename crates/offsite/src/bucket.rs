//! One hub's view of its bucket: verified uploads (single request or resumable
//! multipart), ranged and whole reads that decrypt, listing, deletion, and the
//! per-upload bookkeeping. Built on `object_store`'s S3 client.
//!
//! An object counts as replicated ([`Replicated`]) only after the store acknowledged
//! it *and* a HEAD shows the size, the ETag computed from the bytes sent (MD5, or for
//! multipart the MD5 of the parts' MD5s with `-N`) and the SHA-256 metadata expected.

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use md5::{Digest as _, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjPath;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, GetOptions, HeaderMap,
    HeaderValue, ObjectStore, ObjectStoreExt, PutOptions, PutPayload, RetryConfig,
};

use crate::config::{Addressing, Credentials, OffsiteConfig};
use crate::http::{Connector, Traffic};
use crate::journal::{MultipartState, PartDone, UploadJournal};
use crate::layout::Layout;
use crate::manifest::SegmentRecord;
use crate::retention::Listed;
use crate::source::{Body, Plain};
use crate::{Error, ErrorKind};
use chunkseal::{self as crypto, HEADER_LEN, Header, Key, Opener, Sealer};

/// Metadata names (sent as `x-amz-meta-NAME`).
pub const META_SHA256: &str = "sha256";
pub const META_PLAIN_SIZE: &str = "plain-size";
pub const META_ENCRYPTION: &str = "enc";
pub const META_RECORD: &str = "record";
/// The `enc` value of objects sealed by [`crate::crypto`] version 1.
pub const ENCRYPTION_V1: &str = "xchacha20poly1305-chunked-v1";

/// Requests the S3 client retries by itself before reporting [`ErrorKind::RetryLater`]:
/// few and short, so an outage shows at once and the hub's queue does the waiting.
const RETRY: RetryConfig = RetryConfig {
    backoff: BackoffConfig {
        init_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        base: 2.0,
    },
    max_retries: 2,
    retry_timeout: Duration::from_secs(20),
};

/// A bucket (and prefix) as one hub sees it.
#[derive(Debug)]
pub struct Bucket {
    store: Arc<AmazonS3>,
    settings: Settings,
    layout: Layout,
    key: Option<Key>,
    part_size: u64,
    read_only: bool,
    journal: Arc<dyn UploadJournal>,
}

/// The outcome of a verified upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replicated {
    pub key: String,
    /// SHA-256 (hex) of the plaintext.
    pub sha256: String,
    pub plain_len: u64,
    pub stored_len: u64,
    /// The ETag the store reported (without quotes).
    pub e_tag: String,
    /// 0 for a single request, else the number of parts.
    pub parts: u32,
    /// The object was already in the bucket with this hash (a previous run finished
    /// it but did not get to record it): nothing was sent.
    pub already_present: bool,
    /// Parts found sent by a previous run of a multipart upload.
    pub resumed_parts: u32,
}

/// An object's facts from a HEAD (and, when sealed, its header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub stored_len: u64,
    pub plain_len: u64,
    pub e_tag: Option<String>,
    /// SHA-256 (hex) of the plaintext from metadata, if the object carries it.
    pub sha256: Option<String>,
    pub record: Option<String>,
    /// The encryption header of a sealed object.
    pub sealed: Option<Header>,
}

/// A listing: this layout's objects, and keys under the prefix it does not recognise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<Listed>,
    pub foreign: Vec<String>,
}

fn attr_str(a: &Attributes, name: &'static str) -> Option<String> {
    a.get(&Attribute::Metadata(Cow::Borrowed(name)))
        .map(|v| v.as_ref().to_owned())
}

fn unquote(e: &str) -> String {
    e.trim_matches('"').to_owned()
}

fn path(key: &str) -> Result<ObjPath, Error> {
    ObjPath::parse(key).map_err(|e| Error::invalid(format!("bad key {key:?}: {e}")))
}

impl Bucket {
    /// A bucket handle from the configuration, its secret and key (read by the caller
    /// with [`OffsiteConfig::credentials`] and [`OffsiteConfig::encryption_key`]), and
    /// where multipart uploads in progress are recorded.
    pub fn new(
        cfg: &OffsiteConfig,
        credentials: Credentials,
        key: Option<Key>,
        journal: Arc<dyn UploadJournal>,
    ) -> Result<Bucket, Error> {
        cfg.validate().map_err(|e| Error::invalid(e.to_string()))?;
        let settings = Settings {
            endpoint: cfg.endpoint.trim_end_matches('/').to_owned(),
            region: cfg.region.clone(),
            bucket: cfg.bucket.clone(),
            addressing: cfg.addressing,
            credentials,
            connector: Connector::new(cfg.max_upload_rate.map(|r| r.bytes_per_sec))?,
        };
        Ok(Bucket {
            store: Arc::new(settings.build_store(HeaderMap::new())?),
            settings,
            layout: Layout::new(&cfg.prefix)?,
            key,
            part_size: cfg.part_size.0,
            read_only: cfg.read_only,
            journal,
        })
    }

    fn build_store(&self, default_headers: HeaderMap) -> Result<AmazonS3, Error> {
        self.settings.build_store(default_headers)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn is_encrypting(&self) -> bool {
        self.key.is_some()
    }

    /// Bytes and requests sent so far (for `/metrics`).
    pub fn traffic(&self) -> Arc<Traffic> {
        self.settings.connector.traffic()
    }

    fn writable(&self) -> Result<(), Error> {
        if self.read_only {
            return Err(Error::invalid(
                "this hub reads the bucket only (offsite.read_only = true)",
            ));
        }
        Ok(())
    }

    /// Copies a local file to `key` once and verifies it (see the module docs).
    /// `expected_sha256` (the index's hash) guards against uploading a file that
    /// changed on disk; `record` goes into the object's metadata for restore.
    pub async fn replicate_file(
        &self,
        key: &str,
        file: &Path,
        expected_sha256: Option<&str>,
        record: Option<&SegmentRecord>,
    ) -> Result<Replicated, Error> {
        let file = file.to_owned();
        let plain = tokio::task::spawn_blocking(move || Plain::open(file))
            .await
            .map_err(|e| Error::new(ErrorKind::Local, e.to_string()))??;
        self.replicate(key, plain, expected_sha256, record).await
    }

    /// Copies bytes in memory (an event's JSON, a thumbnail, an index) to `key`.
    pub async fn replicate_bytes(
        &self,
        key: &str,
        bytes: Bytes,
        record: Option<&SegmentRecord>,
    ) -> Result<Replicated, Error> {
        self.replicate(key, Plain::Bytes(bytes), None, record).await
    }

    async fn replicate(
        &self,
        key: &str,
        plain: Plain,
        expected_sha256: Option<&str>,
        record: Option<&SegmentRecord>,
    ) -> Result<Replicated, Error> {
        self.writable()?;
        let object_id = self
            .layout
            .relative(key)
            .ok_or_else(|| Error::invalid(format!("{key:?} is outside the prefix")))?
            .to_owned();
        let record_meta = record.map(SegmentRecord::to_meta).transpose()?;
        let hashing = plain.clone();
        let sha256 = blocking(move || hashing.sha256()).await?;
        if let Some(want) = expected_sha256
            && !want.eq_ignore_ascii_case(&sha256)
        {
            return Err(Error::new(
                ErrorKind::Local,
                format!("local copy of {key} has SHA-256 {sha256}, the index says {want}"),
            ));
        }
        let plain_len = plain.len();
        let stored_len = match &self.key {
            Some(k) => Header::new(k, [0; 16]).sealed_len(plain_len),
            None => plain_len,
        };

        // Already there (a previous run completed it, then crashed before recording)?
        match self.head(key).await {
            Ok(o) if o.sha256.as_deref() == Some(sha256.as_str()) && o.stored_len == stored_len => {
                let _ = self.journal_remove(key).await;
                return Ok(Replicated {
                    key: key.to_owned(),
                    sha256,
                    plain_len,
                    stored_len,
                    e_tag: o.e_tag.unwrap_or_default(),
                    parts: 0,
                    already_present: true,
                    resumed_parts: 0,
                });
            }
            // Absent, different, or the HEAD failed (the upload will say why): send it.
            _ => {}
        }

        let mut meta: Vec<(&'static str, String)> = vec![
            (META_SHA256, sha256.clone()),
            (META_PLAIN_SIZE, plain_len.to_string()),
        ];
        if self.key.is_some() {
            meta.push((META_ENCRYPTION, ENCRYPTION_V1.to_owned()));
        }
        if let Some(r) = record_meta {
            meta.push((META_RECORD, r));
        }

        if stored_len <= self.part_size {
            let body = self.body(&object_id, plain, None)?;
            return self.put_single(key, body, &sha256, meta).await;
        }
        self.put_multipart(key, &object_id, plain, &sha256, stored_len, meta)
            .await
    }

    fn body(&self, object_id: &str, plain: Plain, nonce: Option<[u8; 16]>) -> Result<Body, Error> {
        let sealer = match &self.key {
            None => None,
            Some(k) => {
                let nonce = match nonce {
                    Some(n) => n,
                    None => {
                        let mut n = [0u8; 16];
                        getrandom::fill(&mut n)
                            .map_err(|e| Error::new(ErrorKind::Local, format!("getrandom: {e}")))?;
                        n
                    }
                };
                Some(
                    Sealer::new(k, object_id, nonce, plain.len())
                        .map_err(|e| Error::invalid(e.to_string()))?,
                )
            }
        };
        Ok(Body { plain, sealer })
    }

    async fn put_single(
        &self,
        key: &str,
        body: Body,
        sha256: &str,
        meta: Vec<(&'static str, String)>,
    ) -> Result<Replicated, Error> {
        let stored_len = body.stored_len();
        let plain_len = body.plain.len();
        let body = Arc::new(body);
        let (bytes, md5) = blocking(move || body.read_stored(0..stored_len)).await?;
        let mut attributes = Attributes::new();
        for (k, v) in meta {
            attributes.insert(
                Attribute::Metadata(Cow::Borrowed(k)),
                AttributeValue::from(v),
            );
        }
        let opts = PutOptions {
            attributes,
            ..Default::default()
        };
        let res = self
            .store
            .put_opts(&path(key)?, PutPayload::from(bytes), opts)
            .await
            .map_err(|e| Error::from_store(&format!("uploading {key}"), e))?;
        let expected = hex::encode(md5);
        let reported = res.e_tag.as_deref().map(unquote);
        if reported.as_deref() != Some(expected.as_str()) {
            return Err(Error::corrupt(format!(
                "{key}: the store reports ETag {reported:?} for bytes whose MD5 is {expected}"
            )));
        }
        self.verify(key, &expected, stored_len, sha256).await?;
        Ok(Replicated {
            key: key.to_owned(),
            sha256: sha256.to_owned(),
            plain_len,
            stored_len,
            e_tag: expected,
            parts: 0,
            already_present: false,
            resumed_parts: 0,
        })
    }

    /// HEAD `key` and check it is what was sent.
    async fn verify(
        &self,
        key: &str,
        e_tag: &str,
        stored_len: u64,
        sha256: &str,
    ) -> Result<(), Error> {
        let o = self.head(key).await?;
        let problems: Vec<String> = [
            (o.stored_len != stored_len)
                .then(|| format!("size {} instead of {stored_len}", o.stored_len)),
            (o.e_tag.as_deref() != Some(e_tag))
                .then(|| format!("ETag {:?} instead of {e_tag}", o.e_tag)),
            (o.sha256.as_deref() != Some(sha256))
                .then(|| format!("SHA-256 metadata {:?} instead of {sha256}", o.sha256)),
        ]
        .into_iter()
        .flatten()
        .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupt(format!(
                "{key} after upload: {}",
                problems.join(", ")
            )))
        }
    }

    async fn journal_load(&self, key: &str) -> Result<Option<MultipartState>, Error> {
        let (j, k) = (self.journal.clone(), key.to_owned());
        blocking(move || j.load(&k)).await
    }

    async fn journal_save(&self, state: &MultipartState) -> Result<(), Error> {
        let (j, s) = (self.journal.clone(), state.clone());
        blocking(move || j.save(&s)).await
    }

    async fn journal_remove(&self, key: &str) -> Result<(), Error> {
        let (j, k) = (self.journal.clone(), key.to_owned());
        blocking(move || j.remove(&k)).await
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), Error> {
        match self
            .store
            .abort_multipart(&path(key)?, &upload_id.to_owned())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = Error::from_store(&format!("aborting the upload of {key}"), e);
                if e.kind() == ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn put_multipart(
        &self,
        key: &str,
        object_id: &str,
        plain: Plain,
        sha256: &str,
        stored_len: u64,
        meta: Vec<(&'static str, String)>,
    ) -> Result<Replicated, Error> {
        let mut state = match self.journal_load(key).await? {
            Some(s)
                if s.sha256 == sha256
                    && s.plain_len == plain.len()
                    && s.stored_len == stored_len
                    && s.part_size == self.part_size
                    && s.nonce_prefix.is_some() == self.key.is_some() =>
            {
                Some(s)
            }
            Some(stale) => {
                // The file, the part size or the encryption changed: start again.
                self.abort(key, &stale.upload_id).await?;
                self.journal_remove(key).await?;
                None
            }
            None => None,
        };
        for attempt in 0..2 {
            let (s, resumed) = match state.take() {
                Some(s) => (s, true),
                None => (
                    self.create_upload(key, sha256, plain.len(), stored_len, &meta)
                        .await?,
                    false,
                ),
            };
            let nonce = match &s.nonce_prefix {
                Some(h) => {
                    let mut n = [0u8; 16];
                    hex::decode_to_slice(h, &mut n)
                        .map_err(|_| Error::new(ErrorKind::Local, "journal: bad nonce prefix"))?;
                    Some(n)
                }
                None => None,
            };
            let body = Arc::new(self.body(object_id, plain.clone(), nonce)?);
            let sent = async {
                if resumed {
                    self.check_open(key, &s).await?;
                }
                self.send_parts(key, body, s, sha256).await
            };
            match sent.await {
                Err(e) if e.kind() == ErrorKind::NotFound && attempt == 0 => {
                    // The store forgot the upload (aborted, expired): start a new one.
                    self.journal_remove(key).await?;
                }
                other => return other,
            }
        }
        Err(Error::new(
            ErrorKind::RetryLater,
            format!("{key}: the store lost the upload twice"),
        ))
    }

    async fn create_upload(
        &self,
        key: &str,
        sha256: &str,
        plain_len: u64,
        stored_len: u64,
        meta: &[(&'static str, String)],
    ) -> Result<MultipartState, Error> {
        // Metadata is given when the upload is created; object_store's MultipartStore
        // takes none, so this one request goes through a client whose default headers
        // carry it (they are signed like any other header).
        let mut headers = HeaderMap::new();
        for (k, v) in meta {
            let name: http::HeaderName = format!("x-amz-meta-{k}")
                .parse()
                .map_err(|_| Error::invalid(format!("bad metadata name {k}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| Error::invalid(format!("bad metadata value for {k}")))?;
            headers.insert(name, value);
        }
        let store = self.build_store(headers)?;
        let upload_id = store
            .create_multipart(&path(key)?)
            .await
            .map_err(|e| Error::from_store(&format!("starting the upload of {key}"), e))?;
        let nonce_prefix = if self.key.is_some() {
            let mut n = [0u8; 16];
            getrandom::fill(&mut n)
                .map_err(|e| Error::new(ErrorKind::Local, format!("getrandom: {e}")))?;
            Some(hex::encode(n))
        } else {
            None
        };
        let state = MultipartState {
            key: key.to_owned(),
            upload_id,
            sha256: sha256.to_owned(),
            plain_len,
            stored_len,
            part_size: self.part_size,
            nonce_prefix,
            parts: Vec::new(),
            created_ms: now_ms(),
        };
        // Recorded before any part is sent, so a crash from here on can be resumed or
        // aborted: no part is ever left on the store without a record of its upload.
        if let Err(e) = self.journal_save(&state).await {
            let _ = self.abort(key, &state.upload_id).await;
            return Err(e);
        }
        Ok(state)
    }

    /// Asks the store whether a journaled upload is still open before parts are sent to
    /// it, by uploading one byte as the next part (the real part replaces it; S3 keeps
    /// the last upload of a part number, and Garage refuses an empty one). A store that
    /// has forgotten the upload answers 404 at once; with a part's megabytes behind the
    /// request, it may answer and close before the client has sent them, and the client
    /// then sees a broken connection instead of the answer.
    async fn check_open(&self, key: &str, state: &MultipartState) -> Result<(), Error> {
        let next = state.parts.len() as u64;
        if next * state.part_size >= state.stored_len {
            // Every part is sent: completing the upload answers the same question.
            return Ok(());
        }
        self.store
            .put_part(
                &path(key)?,
                &state.upload_id,
                next as usize,
                PutPayload::from_static(&[0]),
            )
            .await
            .map_err(|e| Error::from_store(&format!("resuming the upload of {key}"), e))?;
        Ok(())
    }

    async fn send_parts(
        &self,
        key: &str,
        body: Arc<Body>,
        mut state: MultipartState,
        sha256: &str,
    ) -> Result<Replicated, Error> {
        let p = path(key)?;
        let n_parts = state.stored_len.div_ceil(state.part_size) as u32;
        let resumed_parts = state.parts.len() as u32;
        for index in resumed_parts..n_parts {
            let start = u64::from(index) * state.part_size;
            let range = start..(start + state.part_size).min(state.stored_len);
            let b = body.clone();
            let (bytes, md5) = blocking(move || b.read_stored(range)).await?;
            let part = self
                .store
                .put_part(
                    &p,
                    &state.upload_id,
                    index as usize,
                    PutPayload::from(bytes),
                )
                .await
                .map_err(|e| {
                    Error::from_store(&format!("uploading part {} of {key}", index + 1), e)
                })?;
            let md5 = hex::encode(md5);
            if unquote(&part.content_id) != md5 {
                return Err(Error::corrupt(format!(
                    "{key} part {}: the store reports ETag {} for bytes whose MD5 is {md5}",
                    index + 1,
                    part.content_id
                )));
            }
            state.parts.push(PartDone {
                index,
                content_id: part.content_id,
                md5,
            });
            self.journal_save(&state).await?;
        }
        let parts: Vec<PartId> = state
            .parts
            .iter()
            .map(|p| PartId {
                content_id: p.content_id.clone(),
            })
            .collect();
        let mut all = Md5::new();
        for p in &state.parts {
            let mut d = [0u8; 16];
            hex::decode_to_slice(&p.md5, &mut d)
                .map_err(|_| Error::new(ErrorKind::Local, "journal: bad part MD5"))?;
            all.update(d);
        }
        let expected = format!("{}-{}", hex::encode(all.finalize()), state.parts.len());
        let res = self
            .store
            .complete_multipart(&p, &state.upload_id, parts)
            .await
            .map_err(|e| Error::from_store(&format!("completing the upload of {key}"), e))?;
        let reported = res.e_tag.as_deref().map(unquote);
        if reported.as_deref() != Some(expected.as_str()) {
            return Err(Error::corrupt(format!(
                "{key}: the store reports ETag {reported:?} for parts whose combined MD5 is {expected}"
            )));
        }
        self.verify(key, &expected, state.stored_len, sha256)
            .await?;
        self.journal_remove(key).await?;
        Ok(Replicated {
            key: key.to_owned(),
            sha256: sha256.to_owned(),
            plain_len: state.plain_len,
            stored_len: state.stored_len,
            e_tag: expected,
            parts: n_parts,
            already_present: false,
            resumed_parts,
        })
    }

    /// Resumes nothing, aborts on the store every journaled upload started before
    /// `older_than_ms` (abandoned: its file was deleted, its camera removed), and
    /// forgets it. Returns the keys aborted.
    pub async fn abort_abandoned(&self, older_than_ms: i64) -> Result<Vec<String>, Error> {
        self.writable()?;
        let j = self.journal.clone();
        let all = blocking(move || j.all()).await?;
        let mut aborted = Vec::new();
        for s in all.into_iter().filter(|s| s.created_ms < older_than_ms) {
            self.abort(&s.key, &s.upload_id).await?;
            self.journal_remove(&s.key).await?;
            aborted.push(s.key);
        }
        Ok(aborted)
    }

    /// Aborts on the store the journaled multipart upload of `key`, if there is one (its
    /// object is no longer wanted), and forgets it. Returns whether there was one.
    pub async fn abort_journaled(&self, key: &str) -> Result<bool, Error> {
        self.writable()?;
        let Some(s) = self.journal_load(key).await? else {
            return Ok(false);
        };
        self.abort(&s.key, &s.upload_id).await?;
        self.journal_remove(&s.key).await?;
        Ok(true)
    }

    /// HEAD `key`; for a sealed object also its header.
    pub async fn head(&self, key: &str) -> Result<StoredObject, Error> {
        let p = path(key)?;
        let opts = GetOptions {
            head: true,
            ..Default::default()
        };
        let r = self
            .store
            .get_opts(&p, opts)
            .await
            .map_err(|e| Error::from_store(&format!("reading {key}'s metadata"), e))?;
        let sha256 = attr_str(&r.attributes, META_SHA256);
        let record = attr_str(&r.attributes, META_RECORD);
        let stored_len = r.meta.size;
        let e_tag = r.meta.e_tag.as_deref().map(unquote);
        let (sealed, plain_len) = match attr_str(&r.attributes, META_ENCRYPTION).as_deref() {
            None => (None, stored_len),
            Some(ENCRYPTION_V1) => {
                let h = self
                    .store
                    .get_range(&p, 0..(HEADER_LEN as u64).min(stored_len))
                    .await
                    .map_err(|e| Error::from_store(&format!("reading {key}'s header"), e))?;
                let header =
                    Header::parse(&h).map_err(|e| Error::corrupt(format!("{key}: {e}")))?;
                let plain = header
                    .plain_len(stored_len)
                    .map_err(|e| Error::corrupt(format!("{key}: {e}")))?;
                (Some(header), plain)
            }
            Some(other) => {
                return Err(Error::invalid(format!(
                    "{key} is encrypted with unknown scheme {other:?}"
                )));
            }
        };
        Ok(StoredObject {
            key: key.to_owned(),
            stored_len,
            plain_len,
            e_tag,
            sha256,
            record,
            sealed,
        })
    }

    fn opener(&self, o: &StoredObject, header: &Header) -> Result<Opener, Error> {
        let key = self.key.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::AuthRefused,
                format!(
                    "{} is encrypted and no encryption_key_file is configured",
                    o.key
                ),
            )
        })?;
        let id = self
            .layout
            .relative(&o.key)
            .ok_or_else(|| Error::invalid(format!("{:?} is outside the prefix", o.key)))?;
        Opener::new(key, id, &header.encode(), o.stored_len).map_err(|e| match e {
            crypto::CryptoError::WrongKey => Error::new(
                ErrorKind::AuthRefused,
                format!("{} was encrypted with another key", o.key),
            ),
            e => Error::corrupt(format!("{}: {e}", o.key)),
        })
    }

    /// Plaintext bytes `range` of an object (from [`Bucket::head`]): for a sealed one,
    /// only the chunks covering the range are fetched, then decrypted and checked.
    pub async fn read_range(&self, o: &StoredObject, range: Range<u64>) -> Result<Bytes, Error> {
        if range.start >= range.end || range.end > o.plain_len {
            return Err(Error::invalid(format!(
                "range {range:?} outside {}'s {} bytes",
                o.key, o.plain_len
            )));
        }
        let p = path(&o.key)?;
        let Some(header) = &o.sealed else {
            return self
                .store
                .get_range(&p, range)
                .await
                .map_err(|e| Error::from_store(&format!("reading {}", o.key), e));
        };
        let opener = self.opener(o, header)?;
        let cov = header
            .covering(range, o.plain_len)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let sealed = self
            .store
            .get_range(&p, cov.sealed.clone())
            .await
            .map_err(|e| Error::from_store(&format!("reading {}", o.key), e))?;
        let plain = blocking(move || {
            opener
                .open_range(&cov, &sealed)
                .map_err(|e| Error::corrupt(e.to_string()))
        })
        .await
        .map_err(|e| Error::new(e.kind(), format!("{}: {}", o.key, e.message())))?;
        Ok(Bytes::from(plain))
    }

    /// The whole plaintext of `key` (decrypted and checked when sealed).
    pub async fn read_all(&self, key: &str) -> Result<Bytes, Error> {
        let o = self.head(key).await?;
        if o.plain_len == 0 {
            return Ok(Bytes::new());
        }
        self.read_range(&o, 0..o.plain_len).await
    }

    /// The raw stored bytes of `key`, as they are in the bucket (ciphertext if sealed).
    pub async fn read_stored(&self, key: &str) -> Result<Bytes, Error> {
        let r = self
            .store
            .get(&path(key)?)
            .await
            .map_err(|e| Error::from_store(&format!("reading {key}"), e))?;
        r.bytes()
            .await
            .map_err(|e| Error::from_store(&format!("reading {key}"), e))
    }

    /// Lists this hub's objects of `kind` (`"rec"`, `"events"`, `"index"`), of one camera
    /// or all. Sorted by key (so by camera, then time).
    pub async fn list(&self, kind: &str, camera: Option<&str>) -> Result<Listing, Error> {
        let prefix = self.layout.list_prefix(kind, camera);
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&path(&prefix)?))
            .try_collect()
            .await
            .map_err(|e| Error::from_store(&format!("listing {prefix}/"), e))?;
        Ok(self.listing(metas))
    }

    /// As [`Bucket::list`] for one camera, only the keys after `after` (S3 `start-after`,
    /// so the store sends only those): what is new since a listing that ended there.
    pub async fn list_after(
        &self,
        kind: &str,
        camera: &str,
        after: &str,
    ) -> Result<Listing, Error> {
        let prefix = self.layout.list_prefix(kind, Some(camera));
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list_with_offset(Some(&path(&prefix)?), &path(after)?)
            .try_collect()
            .await
            .map_err(|e| Error::from_store(&format!("listing {prefix}/ after {after}"), e))?;
        Ok(self.listing(metas))
    }

    fn listing(&self, metas: Vec<object_store::ObjectMeta>) -> Listing {
        let mut out = Listing::default();
        for m in metas {
            let key = m.location.to_string();
            match self.layout.parse(&key) {
                Some(name) => out.objects.push(Listed {
                    key,
                    name,
                    size: m.size,
                    last_modified_ms: m.last_modified.timestamp_millis(),
                    e_tag: m.e_tag.as_deref().map(unquote),
                }),
                None => out.foreign.push(key),
            }
        }
        out.objects.sort_by(|a, b| a.key.cmp(&b.key));
        out.foreign.sort();
        out
    }

    /// Deletes `keys` (a missing one is not an error).
    pub async fn delete(&self, keys: &[String]) -> Result<(), Error> {
        self.writable()?;
        for k in keys {
            match self.store.delete(&path(k)?).await {
                Ok(()) => {}
                Err(e) => {
                    let e = Error::from_store(&format!("deleting {k}"), e);
                    if e.kind() != ErrorKind::NotFound {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs blocking work (file reads, hashing, sealing, the journal) off the runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Local, format!("blocking task: {e}")))?
}

/// What every S3 client of one bucket is built from.
#[derive(Debug)]
struct Settings {
    endpoint: String,
    region: String,
    bucket: String,
    addressing: Addressing,
    credentials: Credentials,
    connector: Connector,
}

impl Settings {
    fn build_store(&self, default_headers: HeaderMap) -> Result<AmazonS3, Error> {
        let endpoint = match self.addressing {
            Addressing::Path => self.endpoint.clone(),
            // object_store takes the bucket's own endpoint for virtual-host addressing.
            Addressing::VirtualHost => {
                let (scheme, host) = self
                    .endpoint
                    .split_once("://")
                    .ok_or_else(|| Error::invalid("endpoint without a scheme"))?;
                format!("{scheme}://{}.{host}", self.bucket)
            }
        };
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_region(&self.region)
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.credentials.access_key_id)
            .with_secret_access_key(&self.credentials.secret_access_key)
            .with_virtual_hosted_style_request(self.addressing == Addressing::VirtualHost)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_default_headers(default_headers),
            )
            .with_http_connector(self.connector.clone())
            .with_retry(RETRY)
            .build()
            .map_err(|e| Error::invalid(format!("S3 client: {e}")))
    }
}
